// Issue 5's accuracy test, for real: 4 worker_threads share one key table and run 200 concurrent
// async clients between them; a limit of L per hour (no refill during the test) must pass exactly
// L requests per key in total, not L per thread and not L minus lost updates.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import type { RateLimitPolicy, RateLimitRule } from '../../../src/config/model';
import { createRateLimitTable, rateLimitTableStats } from '../../../src/policy/rate-limit/key-table';

const THREADS = 4;
const CLIENTS = 200;

interface Plan {
  policy: RateLimitPolicy;
  /** Header x-client values. Round r (route `default/round-<r>`): client c sends request i for keys[r][(c * 7 + i) % keys[r].length]. */
  keys: string[][];
  perClient: number;
}

// Each worker runs CLIENTS / THREADS async clients that yield every few requests so they
// interleave, round after round; a spin barrier starts each round on all threads at once (a
// round's allowed requests take only tens of µs, less than a thread's wake-up after a wait).
// Reports allowed counts per round and key.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createRateLimiter, createLimitResults } = require(workerData.module);
const { TrustedProxies } = require(workerData.forwarding);
const { sab, gate, plan, clients, first, threads } = workerData;
const limiter = createRateLimiter(plan.policy, sab);
const trusted = new TrustedProxies([]);
const input = (k, r) => ({
  head: { method: 'GET', path: '/', query: '', httpMinor: 1, headers: ['x-client', k], remoteAddress: '127.0.0.1', scheme: 'http', headBytes: -1 },
  trusted, route: 'default/round-' + r, consumer: null,
});
const g = new Int32Array(gate);
async function client(c, inputs, allowed) {
  const results = createLimitResults(plan.policy);
  for (let i = 0; i < plan.perClient; i++) {
    const k = (c * 7 + i) % inputs.length;
    if (limiter.check(inputs[k], results) === -1) allowed[k]++;
    if ((i & 3) === 3) await null;
  }
}
async function main() {
  const out = [];
  for (let r = 0; r < plan.keys.length; r++) {
    const inputs = plan.keys[r].map((k) => input(k, r));
    const allowed = new Array(inputs.length).fill(0);
    Atomics.add(g, 0, 1);
    while (Atomics.load(g, 0) < threads * (r + 1)) {}
    await Promise.all(Array.from({ length: clients }, (_, i) => client(first + i, inputs, allowed)));
    out.push(allowed);
  }
  parentPort.postMessage(out);
}
main();
`;

/** Runs the plan on THREADS workers; returns, per round, the allowed count of each key. */
async function run(plan: Plan, sab: SharedArrayBuffer): Promise<number[][]> {
  const gate = new SharedArrayBuffer(4);
  const dist = path.resolve(__dirname, '../../../src');
  const workers: Worker[] = [];
  const done: Promise<number[][]>[] = [];
  for (let t = 0; t < THREADS; t++) {
    const w = new Worker(WORKER, {
      eval: true,
      workerData: {
        module: path.join(dist, 'policy/rate-limit/rate-limit.js'),
        forwarding: path.join(dist, 'http/forwarding.js'),
        sab,
        gate,
        plan,
        clients: CLIENTS / THREADS,
        first: t * (CLIENTS / THREADS),
        threads: THREADS,
      },
    });
    workers.push(w);
    done.push(
      new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      }),
    );
  }
  try {
    const per = await Promise.all(done);
    return plan.keys.map((keys, r) => keys.map((_, k) => per.reduce((sum, rounds) => sum + rounds[r][k], 0)));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function rule(name: string, requests: number, key: RateLimitRule['key']): RateLimitRule {
  return { name, key, onMissingKey: 'Skip', requests, periodMs: 3_600_000 };
}

function policy(rules: RateLimitRule[]): RateLimitPolicy {
  return { policy: 'default/accuracy', mode: 'Local', rules, failureMode: 'open', headers: true, legacyHeaders: false };
}


const ROUNDS = 30;

test(`accuracy: 4 threads, 200 clients, L = 500 per hour → exactly 500 per key (${ROUNDS} rounds of a fresh key)`, async () => {
  const plan: Plan = {
    policy: policy([rule('per-client', 500, [{ type: 'Header', name: 'x-client' }])]),
    keys: Array.from({ length: ROUNDS }, (_, r) => [`client-${r}`]),
    perClient: 10, // 2,000 attempts per key and round
  };
  const sab = createRateLimitTable(65536);
  const counts = await run(plan, sab);
  assert.deepEqual(
    counts.map((c) => c[0]),
    Array.from({ length: ROUNDS }, () => 500),
  );
  assert.equal(rateLimitTableStats(sab).overflows, 0);
});

test('accuracy: 3 keys at once, 4 threads, 200 clients, L = 500 per hour → exactly 500 each', async () => {
  const plan: Plan = {
    policy: policy([rule('per-client', 500, [{ type: 'Header', name: 'x-client' }])]),
    keys: Array.from({ length: 5 }, (_, r) => [`a-${r}`, `b-${r}`, `c-${r}`]),
    perClient: 30,
  };
  const counts = await run(plan, createRateLimitTable(65536));
  assert.deepEqual(counts, Array.from({ length: 5 }, () => [500, 500, 500]));
});

test('accuracy: a refused request is refunded exactly under contention (route 300 per hour, each key 1 per hour)', async () => {
  // Per round (a route of its own), 400 keys each tried 15 times: rule 1 refuses the repeats, and
  // each refusal must give rule 0 its token back, so the route passes exactly 300 (fewer if a
  // refund were lost).
  const plan: Plan = {
    policy: policy([rule('route', 300, [{ type: 'Route' }]), rule('per-user', 1, [{ type: 'Header', name: 'x-client' }])]),
    keys: Array.from({ length: 10 }, (_, r) => Array.from({ length: 400 }, (_, i) => `user-${r}-${i}`)),
    perClient: 30,
  };
  const sab = createRateLimitTable(65536);
  const counts = await run(plan, sab);
  assert.deepEqual(
    counts.map((round) => round.reduce((a, b) => a + b, 0)),
    Array.from({ length: 10 }, () => 300),
  );
  assert.ok(
    counts.flat().every((c) => c <= 1),
    'no key past 1',
  );
});

test('accuracy: concurrent inserts never give one key two slots (16 slots, 40 keys, 5 per hour)', async () => {
  // One probe window for the whole table: the first 16 keys to arrive hold a slot for the hour and
  // get exactly 5; the other 24 overflow and get nothing. A duplicate slot would show as 10.
  const plan: Plan = {
    policy: policy([rule('per-client', 5, [{ type: 'Header', name: 'x-client' }])]),
    keys: [Array.from({ length: 40 }, (_, i) => `k${i}`)],
    perClient: 40,
  };
  const sab = createRateLimitTable(16);
  const [counts] = await run(plan, sab);
  assert.ok(
    counts.every((c) => c === 0 || c === 5),
    counts.join(','),
  );
  assert.equal(counts.filter((c) => c === 5).length, 16);
  const stats = rateLimitTableStats(sab);
  assert.equal(stats.keys, 16);
  assert.ok(stats.overflows > 0);
});
