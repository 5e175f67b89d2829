// Retry budget: the ratio and the minimum rate, the sliding window, sharing across threads (two
// budgets on one buffer, then 4 worker threads racing for the last retries), and backoffMs.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { RetryBudget as RetryBudgetConfig } from '../../src/config/model';
import { backoffMs, BUCKETS, createRetryBudget, retryBudgetSharedBytes, type RetryBudget } from '../../src/retry/budget';

/** Retries granted in a row until the first refusal (bounded). */
function drain(b: RetryBudget): number {
  let n = 0;
  while (n < 100_000 && b.tryRetry()) n++;
  return n;
}

describe('createRetryBudget', () => {
  const cases: { desc: string; cfg: RetryBudgetConfig; requests: number; want: number }[] = [
    { desc: 'ratio: 20 % of 100 requests', cfg: { ratio: 0.2, minPerSecond: 0, windowMs: 10_000 }, requests: 100, want: 20 },
    { desc: 'ratio rounds down: 20 % of 7', cfg: { ratio: 0.2, minPerSecond: 0, windowMs: 10_000 }, requests: 7, want: 1 },
    { desc: 'min rate with no traffic: 10/s × 10 s', cfg: { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 }, requests: 0, want: 100 },
    { desc: 'min rate wins over a small ratio', cfg: { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 }, requests: 200, want: 100 },
    { desc: 'ratio wins over the min rate', cfg: { ratio: 0.5, minPerSecond: 10, windowMs: 10_000 }, requests: 1000, want: 500 },
    { desc: 'nothing allowed', cfg: { ratio: 0, minPerSecond: 0, windowMs: 1000 }, requests: 50, want: 0 },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const now = 1_700_000_000_000;
      const b = createRetryBudget(c.cfg, undefined, () => now);
      for (let i = 0; i < c.requests; i++) b.onRequest();
      assert.equal(drain(b), c.want);
      assert.equal(b.requests, c.requests);
      assert.equal(b.retries, c.want);
      assert.equal(b.exhausted, 1);
      // Refusals are not recorded as retries.
      assert.equal(b.tryRetry(), false);
      assert.equal(b.retries, c.want);
      assert.equal(b.exhausted, 2);
    });
  }

  it('more requests make room for more retries', () => {
    const now = 5_000;
    const b = createRetryBudget({ ratio: 0.1, minPerSecond: 0, windowMs: 1000 }, undefined, () => now);
    for (let i = 0; i < 10; i++) b.onRequest();
    assert.equal(drain(b), 1);
    for (let i = 0; i < 10; i++) b.onRequest();
    assert.equal(drain(b), 1);
  });

  it('the window slides: old requests and retries age out bucket by bucket', () => {
    let now = 1_000_000;
    const cfg = { ratio: 0.5, minPerSecond: 0, windowMs: 1000 };
    const b = createRetryBudget(cfg, undefined, () => now);
    for (let i = 0; i < 20; i++) b.onRequest(); // bucket 0
    now += 500;
    for (let i = 0; i < 20; i++) b.onRequest(); // bucket 5
    assert.equal(drain(b), 20);
    now += 499; // still within the 10 buckets of the first ones
    assert.equal(b.requests, 40);
    assert.equal(drain(b), 0);
    now += 1; // bucket 0 aged out: 20 requests (10 allowed) against 20 retries
    assert.equal(b.requests, 20);
    assert.equal(b.retries, 20);
    assert.equal(drain(b), 0);
    now += 1000; // everything aged out
    assert.equal(b.requests, 0);
    assert.equal(b.retries, 0);
    for (let i = 0; i < 4; i++) b.onRequest();
    assert.equal(drain(b), 2);
  });

  it('the minimum refills per window', () => {
    let now = 0;
    const b = createRetryBudget({ ratio: 0, minPerSecond: 2, windowMs: 1000 }, undefined, () => now);
    assert.equal(drain(b), 2);
    now += 1000;
    assert.equal(drain(b), 2);
    now += 100 * BUCKETS * 10;
    assert.equal(drain(b), 2);
  });

  it('two budgets on one buffer share the window', () => {
    const now = 42_000;
    const sab = new SharedArrayBuffer(retryBudgetSharedBytes());
    const cfg = { ratio: 0.25, minPerSecond: 0, windowMs: 10_000 };
    const a = createRetryBudget(cfg, sab, () => now);
    const b = createRetryBudget(cfg, sab, () => now);
    for (let i = 0; i < 8; i++) (i % 2 ? a : b).onRequest();
    assert.equal(a.tryRetry(), true);
    assert.equal(b.tryRetry(), true);
    assert.equal(a.tryRetry(), false);
    assert.equal(b.tryRetry(), false);
    assert.equal(a.exhausted, 2);
  });

  const bad: { desc: string; cfg: RetryBudgetConfig; match: RegExp }[] = [
    { desc: 'negative ratio', cfg: { ratio: -1, minPerSecond: 0, windowMs: 1000 }, match: /ratio/ },
    { desc: 'NaN min rate', cfg: { ratio: 0.2, minPerSecond: NaN, windowMs: 1000 }, match: /minPerSecond/ },
    { desc: 'window 0', cfg: { ratio: 0.2, minPerSecond: 1, windowMs: 0 }, match: /windowMs/ },
  ];
  for (const c of bad) {
    it(`rejects ${c.desc}`, () => {
      assert.throws(() => createRetryBudget(c.cfg), c.match);
    });
  }
});

const MODULE = path.resolve(__dirname, '../../src/retry/budget.js');
const WORKER = `
const { parentPort, workerData: d } = require('node:worker_threads');
const { createRetryBudget } = require(d.module);
const b = createRetryBudget(d.cfg, d.sab);
const go = new Int32Array(d.go);
Atomics.wait(go, 0, 0);
let granted = 0;
for (let i = 0; i < d.requests; i++) b.onRequest();
// Barrier: every thread's requests are in before anyone retries.
if (Atomics.add(go, 1, 1) + 1 === d.threads) Atomics.notify(go, 1);
for (let v; (v = Atomics.load(go, 1)) < d.threads; ) Atomics.wait(go, 1, v);
for (let i = 0; i < d.tries; i++) if (b.tryRetry()) granted++;
parentPort.postMessage(granted);
`;

describe('retry budget across worker threads', () => {
  it('4 threads racing for retries: exactly ratio × requests are granted, never more', async () => {
    const cfg: RetryBudgetConfig = { ratio: 0.2, minPerSecond: 0, windowMs: 60_000 };
    const sab = new SharedArrayBuffer(retryBudgetSharedBytes());
    const go = new SharedArrayBuffer(8);
    const requests = 5000; // per thread: 20 000 in all, 4000 retries allowed
    const workers = [0, 1, 2, 3].map(
      () => new Worker(WORKER, { eval: true, workerData: { module: MODULE, cfg, sab, go, requests, tries: 2000, threads: 4 } }),
    );
    const done = workers.map((w) => new Promise<number>((resolve, reject) => (w.once('message', resolve), w.once('error', reject))));
    await new Promise((r) => setTimeout(r, 50));
    Atomics.store(new Int32Array(go), 0, 1);
    Atomics.notify(new Int32Array(go), 0);
    const granted = (await Promise.all(done)).reduce((s, n) => s + n, 0);
    await Promise.all(workers.map((w) => w.terminate()));
    const view = createRetryBudget(cfg, sab);
    console.log(`retry budget: ${granted} granted of 4000 allowed (${view.requests} requests, ${view.exhausted} refused)`);
    // Never over; under only by the rare pair of threads that both add, see the excess and
    // undo (8000 tries leave plenty of room to fill the allowance afterwards).
    assert.ok(granted <= 4000, `granted ${granted}`);
    assert.ok(granted >= 3990, `granted ${granted}`);
    assert.equal(view.retries, granted);
    assert.equal(view.requests, 4 * requests);
    assert.equal(view.exhausted, 4 * 2000 - granted);
  });
});

describe('backoffMs', () => {
  const cases: { desc: string; retry: number; base: number; max: number; random: number; want: number }[] = [
    { desc: 'first retry, no jitter', retry: 1, base: 25, max: 250, random: 0, want: 25 },
    { desc: 'first retry, most jitter: +25 %', retry: 1, base: 100, max: 1000, random: 0.999999, want: 124.9999 },
    { desc: 'third retry: ×4', retry: 3, base: 25, max: 250, random: 0, want: 100 },
    { desc: 'capped at max', retry: 10, base: 25, max: 250, random: 0.5, want: 250 },
    { desc: 'a max below base: never under base', retry: 1, base: 100, max: 10, random: 0.5, want: 100 },
    { desc: 'huge retry number: no overflow', retry: 5000, base: 1, max: 60_000, random: 0, want: 60_000 },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const got = backoffMs(c.retry, c.base, c.max, c.random);
      assert.ok(Math.abs(got - c.want) < 0.001, `got ${got}`);
      assert.ok(got >= c.base);
    });
  }
});
