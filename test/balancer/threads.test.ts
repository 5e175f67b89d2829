// The balancer's shared buffer across real worker_threads: in-flight counts written concurrently
// by several threads (each to its own padded row) sum exactly, a thread's picks see the others'
// load, and one thread's latency samples steer another thread's PeakEWMA picks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { balancerSharedBytes, createBalancer, readInFlight } from '../../src/balancer';
import type { LoadBalancerPolicy } from '../../src/config/model';
import { endpoints, tally } from './helpers';

const MODULE = require.resolve('../../src/balancer');

/**
 * Worker body: waits on the start gate (so all threads run at once), then does `churn` rounds of
 * onStart/onEnd over random endpoints, leaves `hold[i]` requests in flight on endpoint i, sends
 * `samples` latency samples, and reports.
 */
const WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
const { createBalancer } = require(w.module);
const eps = Array.from({ length: w.n }, (_, i) => ({ address: '10.0.0.' + i, port: 8080 }));
const b = createBalancer(w.policy, eps, w.sab, w.thread, w.threads, null);
const gate = new Int32Array(w.gate);
Atomics.add(gate, 1, 1);
Atomics.wait(gate, 0, 0);
for (let k = 0; k < w.churn; k++) {
  const i = b.pick(null, -1);
  b.onStart(i);
  b.onStart((k * 7) % w.n);
  b.onEnd(i, 1);
  b.onEnd((k * 7) % w.n, -1);
}
w.hold.forEach((h, i) => { for (let k = 0; k < h; k++) b.onStart(i); });
for (const [i, ms] of w.samples) { b.onStart(i); b.onEnd(i, ms); }
parentPort.postMessage('done');
`;

async function runWorkers(policy: LoadBalancerPolicy, n: number, threads: number, workers: { hold: number[]; samples: [number, number][] }[], churn: number): Promise<SharedArrayBuffer> {
  const sab = new SharedArrayBuffer(balancerSharedBytes(policy, n, threads));
  const gate = new SharedArrayBuffer(8);
  const gv = new Int32Array(gate);
  const ws = workers.map(
    (w, thread) =>
      new Worker(WORKER, { eval: true, workerData: { module: MODULE, policy, n, sab, thread, threads, gate, churn, hold: w.hold, samples: w.samples } }),
  );
  const done = ws.map((w) => new Promise<void>((resolve, reject) => (w.once('message', () => resolve()), w.once('error', reject))));
  const deadline = Date.now() + 5000;
  while (Atomics.load(gv, 1) < ws.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  Atomics.store(gv, 0, 1);
  Atomics.notify(gv, 0);
  await Promise.all(done);
  await Promise.all(ws.map((w) => w.terminate()));
  return sab;
}

describe('balancer state across worker_threads', () => {
  const cases: { desc: string; policy: LoadBalancerPolicy }[] = [
    { desc: 'LeastRequest', policy: { type: 'LeastRequest' } },
    { desc: 'PeakEWMA', policy: { type: 'PeakEWMA', decayMs: 10_000, defaultRttMs: 30 } },
  ];
  for (const c of cases) {
    it(`${c.desc}: 3 threads × 200k concurrent onStart/onEnd, then in-flight sums are exact`, async () => {
      const n = 4;
      const threads = 4; // 3 workers + this thread's slot (thread 3)
      const hold = [
        [1, 0, 0, 0],
        [0, 2, 5, 0],
        [1, 1, 1, 0],
      ];
      const sab = await runWorkers(c.policy, n, threads, hold.map((h) => ({ hold: h, samples: [] })), 200_000);
      const want = [2, 3, 6, 0];
      assert.deepEqual([0, 1, 2, 3].map((i) => readInFlight(sab, n, threads, i)), want);
      // This thread's balancer reads the workers' rows: endpoint 2 (6 in flight) never wins P2C,
      // endpoint 3 (0 in flight) wins whenever it is drawn.
      const b = createBalancer(c.policy, endpoints([1, 1, 1, 1]), sab, 3, threads, null);
      const { counts } = tally(b, n, 3000);
      assert.equal(counts[2], 0, `${counts}`);
      assert.ok(counts[3] > counts[0] && counts[3] > counts[1], `${counts}`);
      b.onStart(3);
      assert.equal(readInFlight(sab, n, threads, 3), 1);
    });
  }

  it("PeakEWMA: one thread's slow samples steer another thread's picks", async () => {
    const policy: LoadBalancerPolicy = { type: 'PeakEWMA', decayMs: 10_000, defaultRttMs: 30 };
    const sab = await runWorkers(policy, 2, 2, [{ hold: [0, 0], samples: [[0, 800], [1, 4], [1, 5]] }], 0);
    const b = createBalancer(policy, endpoints([1, 1]), sab, 1, 2, null);
    assert.deepEqual(tally(b, 2, 200).counts, [0, 200]);
  });
});
