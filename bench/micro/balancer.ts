// Micro-benchmark of the balancer hot path: ns per pick() for every algorithm over 10 endpoints,
// against the peer the proxy used before balancers, a plain array round robin (`i = next;
// next = i + 1 === n ? 0 : i + 1`), in the same run. Each scenario runs twice: with every
// endpoint usable and no availability (null), and through an EndpointAvailability backed by a
// Uint8Array (what src/health/ hands in), all usable. LeastRequest and PeakEWMA are also measured
// as a whole request (pick + onStart + onEnd, the EWMA sample included). Consistent hashing reads
// an x-user header from a reused KeyInput, cycling over 1024 distinct keys. Reports the median
// (and the minimum: the least disturbed round on a busy host) ns/op over several rounds, and heap
// growth / GC count (0 B/op and no GC: nothing allocated).
//
//   npx tsc -p . && node dist/bench/micro/balancer.js [--quick] [--rounds 9] [--round-ms 150] [--only LeastRequest]

import { calibrateOps, gcCount, median, settle, stopGcCount, ROUND_MS, ROUNDS } from '../harness/micro-timing';
import v8 from 'node:v8';
import vm from 'node:vm';

import { balancerSharedBytes, createBalancer, type Balancer, type EndpointAvailability } from '../../src/balancer';
import type { Endpoint, LoadBalancerPolicy } from '../../src/config/model';
import { TrustedProxies } from '../../src/http/forwarding';
import type { KeyInput } from '../../src/policy/key';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const N = 10;
const THREADS = 4;

/** The pre-balancer proxy code: a per-thread cursor over the backend's endpoints. */
class ArrayRoundRobin implements Balancer {
  next = 0;
  constructor(private readonly pools: number[]) {}
  pick(_input: KeyInput | null, _avoid: number): number {
    const i = this.next;
    this.next = i + 1 >= this.pools.length ? 0 : i + 1;
    return this.pools[i];
  }
  onStart(_i: number): void {}
  onEnd(_i: number, _latencyMs: number): void {}
}

/** All usable, read from bytes as src/health/ would. */
class ByteAvailability implements EndpointAvailability {
  readonly state = new Uint8Array(N).fill(1);
  usable(i: number): boolean {
    return this.state[i] === 1;
  }
}

const input: KeyInput = {
  head: { method: 'GET', path: '/', query: '', httpMinor: 1, headers: ['host', 'api', 'x-user', ''], remoteAddress: '192.0.2.7', scheme: 'http', headBytes: -1 },
  trusted: new TrustedProxies([]),
  route: 'default/route/rule0',
  consumer: null,
};
const keys = Array.from({ length: 1024 }, (_, k) => `user-${(k * 2654435761) >>> 0}`);

type Mode = 'pick' | 'request' | 'keyed';

/**
 * A loop compiled per scenario (new Function), so each call site sees one balancer class, as a
 * backend's call site mostly does, instead of every class the bench creates.
 */
function makeLoop(mode: Mode): (b: Balancer, ops: number) => number {
  const body =
    mode === 'pick'
      ? 'for (let k = 0; k < ops; k++) sink = (sink + b.pick(null, -1)) | 0;'
      : mode === 'request'
        ? 'for (let k = 0; k < ops; k++) { const i = b.pick(null, -1); b.onStart(i); b.onEnd(i, 5 + (k & 7)); sink = (sink + i) | 0; }'
        : 'const h = input.head.headers; for (let k = 0; k < ops; k++) { h[3] = keys[k & 1023]; sink = (sink + b.pick(input, -1)) | 0; }';
  const f = new Function('input', 'keys', `return function (b, ops) { let sink = 0; const t0 = process.hrtime.bigint(); ${body} const ns = Number(process.hrtime.bigint() - t0) / ops; globalThis.__sink = sink; return ns; }`);
  return f(input, keys) as (b: Balancer, ops: number) => number;
}

function calibrate(loop: (b: Balancer, ops: number) => number, b: Balancer): number {
  return calibrateOps((ops) => loop(b, ops), ROUND_MS, 1000);
}


gcCount();

/** Every balancer stays alive: a dead one's GC would deoptimise code that embedded it mid-run. */
const keep: Balancer[] = [];

async function measure(make: () => Balancer, mode: Mode): Promise<{ ns: number; min: number; bytesPerOp: number; gcs: number }> {
  const b = make();
  keep.push(b);
  const loop = makeLoop(mode);
  const ops = calibrate(loop, b);
  gc();
  await settle();
  const gcsBefore = gcCount();
  const heapBefore = process.memoryUsage().heapUsed;
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) samples.push(loop(b, ops));
  const heapAfter = process.memoryUsage().heapUsed;
  await settle();
  return { ns: median(samples), min: Math.min(...samples), bytesPerOp: (heapAfter - heapBefore) / (ops * ROUNDS), gcs: gcCount() - gcsBefore };
}

const eps = (weights: number[]): Endpoint[] => weights.map((w, i) => ({ address: `10.0.0.${i}`, port: 8080, weight: w }));
const EQUAL = new Array<number>(N).fill(1);
const WEIGHTED = [5, 3, 2, 1, 1, 4, 2, 1, 3, 2];

interface Scenario {
  name: string;
  mode: Mode;
  policy: LoadBalancerPolicy | undefined | 'peer';
  weights: number[];
}

const scenarios: Scenario[] = [
  { name: 'array round robin (peer)', mode: 'pick', policy: 'peer', weights: EQUAL },
  { name: 'RoundRobin, equal weights', mode: 'pick', policy: undefined, weights: EQUAL },
  { name: 'RoundRobin, smooth weighted', mode: 'pick', policy: undefined, weights: WEIGHTED },
  { name: 'Random', mode: 'pick', policy: { type: 'Random' }, weights: EQUAL },
  { name: 'LeastRequest (P2C), pick', mode: 'pick', policy: { type: 'LeastRequest' }, weights: EQUAL },
  { name: 'LeastRequest, pick+onStart+onEnd', mode: 'request', policy: { type: 'LeastRequest' }, weights: EQUAL },
  { name: 'PeakEWMA, pick', mode: 'pick', policy: { type: 'PeakEWMA', decayMs: 10_000, defaultRttMs: 30 }, weights: EQUAL },
  { name: 'PeakEWMA, pick+onStart+onEnd', mode: 'request', policy: { type: 'PeakEWMA', decayMs: 10_000, defaultRttMs: 30 }, weights: EQUAL },
  { name: 'Maglev (header key)', mode: 'keyed', policy: { type: 'ConsistentHash', algorithm: 'Maglev', hashOn: { type: 'Header', name: 'x-user' }, tableSize: 65537 }, weights: EQUAL },
  { name: 'RingHash (header key)', mode: 'keyed', policy: { type: 'ConsistentHash', algorithm: 'RingHash', hashOn: { type: 'Header', name: 'x-user' }, tableSize: 0 }, weights: EQUAL },
];

async function main(): Promise<void> {
  console.log(`balancer: node ${process.version}, ${N} endpoints, ${THREADS} threads' slots, ${ROUNDS} rounds of ~${ROUND_MS} ms`);
  let peerNs = 0;
  const rows: string[][] = [];
  const only = process.argv.indexOf('--only');
  const filter = only >= 0 ? process.argv[only + 1] : '';
  for (const s of scenarios) {
    if (filter !== '' && s.policy !== 'peer' && !s.name.includes(filter)) continue;
    const make = (av: EndpointAvailability | null) => (): Balancer => {
      if (s.policy === 'peer') return new ArrayRoundRobin(s.weights.map((_, i) => i));
      const p = s.policy;
      const shared = new SharedArrayBuffer(balancerSharedBytes(p, N, THREADS));
      return createBalancer(p, eps(s.weights), shared, 1, THREADS, av);
    };
    const plain = await measure(make(null), s.mode);
    const avail = s.policy === 'peer' ? plain : await measure(make(new ByteAvailability()), s.mode);
    if (s.policy === 'peer') peerNs = plain.ns;
    rows.push([
      s.name, `${plain.ns.toFixed(1)} (${plain.min.toFixed(1)})`, `${avail.ns.toFixed(1)} (${avail.min.toFixed(1)})`, (plain.ns / peerNs).toFixed(1) + 'x',
      Math.max(plain.bytesPerOp, avail.bytesPerOp).toFixed(3), `${plain.gcs}/${avail.gcs}`,
    ]);
  }
  const head = ['scenario', 'ns/op, availability null: median (min)', 'ns/op, availability: median (min)', 'median vs peer', 'B/op', 'GCs (null/availability)'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
  stopGcCount();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
