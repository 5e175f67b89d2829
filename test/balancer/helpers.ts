// Shared fixtures of the balancer tests: endpoints, a seeded random source, availability sets,
// a reusable KeyInput, and counters of where picks went.
import type { Endpoint } from '../../src/config/model';
import type { Balancer, EndpointAvailability } from '../../src/balancer';
import { TrustedProxies } from '../../src/http/forwarding';
import type { KeyInput } from '../../src/policy/key';

/** Endpoints 10.0.x.y:8080, one per weight (undefined = the default weight). */
export function endpoints(weights: (number | undefined)[]): Endpoint[] {
  return weights.map((w, i) => ({ address: `10.0.${i >> 8}.${i & 255}`, port: 8080, ...(w === undefined ? {} : { weight: w }) }));
}

/** Endpoints with ids (stable names across add/remove): id → 10.1.x.y:8080. */
export function endpointsById(ids: number[]): Endpoint[] {
  return ids.map((id) => ({ address: `10.1.${id >> 8}.${id & 255}`, port: 8080 }));
}

/** mulberry32: a seeded [0, 1) source, so statistical tests are reproducible. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Availability with a mutable set of unusable endpoints. */
export function availability(down: number[] = []): EndpointAvailability & { down: Set<number> } {
  const set = new Set(down);
  return { down: set, usable: (i: number) => !set.has(i) };
}

/** Picks `count` times; returns how many went to each endpoint (index -1 counted in `none`). */
export function tally(b: Balancer, n: number, count: number, input: KeyInput | null = null, avoid = -1): { counts: number[]; none: number; seq: number[] } {
  const counts = new Array<number>(n).fill(0);
  const seq: number[] = [];
  let none = 0;
  for (let k = 0; k < count; k++) {
    const i = b.pick(input, avoid);
    seq.push(i);
    if (i < 0) none++;
    else counts[i]++;
  }
  return { counts, none, seq };
}

/** A KeyInput whose head can be edited in place between picks. */
export function keyInput(headers: string[] = [], query = '', remoteAddress = '192.0.2.1'): KeyInput {
  return {
    head: { method: 'GET', path: '/', query, httpMinor: 1, headers, remoteAddress, scheme: 'http', headBytes: -1 },
    trusted: new TrustedProxies([]),
    route: 'default/route/rule0',
    consumer: null,
  };
}
