// Load balancing: which endpoint of a backend a request goes to. One folder per algorithm, all of
// one shape (Traefik's loadbalancer/{wrr,p2c,...}): `create<Name>Balancer(setup, ...)` returning a
// Balancer. This file checks the config once and dispatches; the main thread calls
// balancerSharedBytes at config load and allocates the backend's buffer (src/shared/registry.ts),
// each worker calls createBalancer with it.
import type { Endpoint, LoadBalancerPolicy } from '../config/model';
import { createConsistentHashBalancer } from './consistent-hash/consistent-hash';
import { createLeastRequestBalancer } from './least-request/least-request';
import { createPeakEwmaBalancer } from './peak-ewma/peak-ewma';
import { createRandomBalancer } from './random/random';
import { createRoundRobinBalancer } from './round-robin/round-robin';
import { fastRandom } from './fast-random';
import { ewmaBytes, inflightBytes } from './shared-layout';
import type { Balancer, BalancerSetup, EndpointAvailability } from './types';

export type { Balancer, EndpointAvailability } from './types';
export { clearThreadInFlight, readInFlight } from './shared-layout';

/**
 * Bytes of the backend's shared buffer for this policy (0 when the algorithm keeps no shared
 * state: RoundRobin, Random, ConsistentHash). LeastRequest: one in-flight row per thread;
 * PeakEWMA: those rows plus one EWMA record per endpoint (layout: shared-layout.ts).
 */
export function balancerSharedBytes(policy: LoadBalancerPolicy | undefined, endpoints: number, threads: number): number {
  if (endpoints === 0 || policy === undefined) return 0;
  switch (policy.type) {
    case 'LeastRequest':
      return inflightBytes(endpoints, threads);
    case 'PeakEWMA':
      return inflightBytes(endpoints, threads) + ewmaBytes(endpoints);
    default:
      return 0;
  }
}

/**
 * The balancer of one backend on one thread. `policy` undefined = RoundRobin. `shared` is the
 * buffer the main thread allocated with balancerSharedBytes(policy, endpoints.length, threads)
 * (undefined = a private one: single-threaded tests, native-free). `availability` null = every
 * endpoint is usable. `random` ([0, 1)) defaults to a per-thread mulberry32 (fast-random.ts); tests
 * inject a seeded one. Throws on a config it cannot serve, naming the field and the fix.
 */
export function createBalancer(
  policy: LoadBalancerPolicy | undefined,
  endpoints: Endpoint[],
  shared: SharedArrayBuffer | undefined,
  thread: number,
  threads: number,
  availability: EndpointAvailability | null,
  random: () => number = fastRandom,
): Balancer {
  if (!Number.isInteger(threads) || threads < 1 || !Number.isInteger(thread) || thread < 0 || thread >= threads) {
    throw new Error(`balancer: thread ${thread} of ${threads}: thread must be an integer in [0, threads)`);
  }
  const s = setup(endpoints, thread, threads, availability, random);
  const need = balancerSharedBytes(policy, s.n, threads);
  let buf = shared;
  if (need > 0) {
    if (buf === undefined) buf = new SharedArrayBuffer(need);
    else if (buf.byteLength !== need) {
      throw new Error(
        `balancer: shared buffer has ${buf.byteLength} bytes, ${policy?.type} over ${s.n} endpoints and ${threads} threads needs ${need}: ` +
          `allocate it with balancerSharedBytes(policy, endpoints.length, threads)`,
      );
    }
  }
  const type = policy?.type ?? 'RoundRobin';
  switch (type) {
    case 'RoundRobin':
      return createRoundRobinBalancer(s);
    case 'Random':
      return createRandomBalancer(s);
    case 'LeastRequest':
      return createLeastRequestBalancer(s, buf ?? new SharedArrayBuffer(0));
    case 'PeakEWMA':
      return createPeakEwmaBalancer(s, policy as Extract<LoadBalancerPolicy, { type: 'PeakEWMA' }>, buf ?? new SharedArrayBuffer(0));
    case 'ConsistentHash':
      return createConsistentHashBalancer(s, policy as Extract<LoadBalancerPolicy, { type: 'ConsistentHash' }>);
    default:
      throw new Error(`balancer: unknown loadBalancer type ${String(type)} (RoundRobin, LeastRequest, PeakEWMA, Random, ConsistentHash)`);
  }
}

/** `address:port` as the access log prints it (IPv6 in brackets): the identity hashing uses. */
function endpointName(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** Weights checked and normalised once (Endpoint.weight default 1). */
export function setup(endpoints: Endpoint[], thread: number, threads: number, availability: EndpointAvailability | null, random: () => number): BalancerSetup {
  const n = endpoints.length;
  const weights = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const w = endpoints[i].weight ?? 1;
    if (!Number.isFinite(w) || w < 0) {
      throw new Error(`balancer: endpoint ${endpointName(endpoints[i])}: weight must be a number ≥ 0 (got ${w}); default 1`);
    }
    weights[i] = w;
    total += w;
  }
  if (total === 0) weights.fill(1); // every weight 0: a backend nobody could reach helps no one
  let equalWeights = true;
  for (let i = 1; i < n; i++) if (weights[i] !== weights[0]) equalWeights = false;
  return { n, weights, equalWeights, names: endpoints.map(endpointName), availability, random, thread, threads };
}
