// Multi-thread exactness: N real worker_threads share one quota table; exactly the quota passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import type { QuotaPolicy } from '../../../src/config/model';
import { createQuotaLimiter, createQuotaTable } from '../../../src/policy/quota';
import { input, policy, results, rule } from './fixtures';

const WORKER = path.join(__dirname, 'quota-worker.js');
const THREADS = 4;
const NOW = Date.parse('2024-03-10T10:00:00Z');

/** Runs THREADS workers over `keys` × `rounds` requests each; returns per-thread allowed counts per key. */
async function run(table: SharedArrayBuffer, p: QuotaPolicy, keys: string[], rounds: number): Promise<number[][]> {
  const barrier = new SharedArrayBuffer(8);
  const gate = new Int32Array(barrier);
  const workers = Array.from({ length: THREADS }, () => new Worker(WORKER, { workerData: { table, barrier, policy: p, keys, rounds, now: NOW } }));
  const done = workers.map(
    (w) =>
      new Promise<number[]>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.once('exit', (code) => (code !== 0 ? reject(new Error(`worker exit ${code}`)) : undefined));
      }),
  );
  // Release them together once all are waiting (bounded wait).
  const deadline = Date.now() + 10_000;
  while (Atomics.load(gate, 1) < THREADS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  const out = await Promise.all(done);
  await Promise.all(workers.map((w) => w.terminate()));
  return out;
}

const sumKey = (per: number[][], k: number) => per.reduce((s, t) => s + t[k], 0);

test('N threads × many requests → exactly the quota passes', async () => {
  const cases: { desc: string; policy: QuotaPolicy; keys: number; rounds: number; expectPerKey: number }[] = [
    { desc: 'calendar day, one hot key', policy: policy([rule({ requests: 25_000 })]), keys: 1, rounds: 20_000, expectPerKey: 25_000 },
    { desc: 'rolling hour, one hot key', policy: policy([rule({ requests: 10_007, window: 'Hour', alignment: 'Rolling' })]), keys: 1, rounds: 5_000, expectPerKey: 10_007 },
    { desc: 'calendar month, 300 keys inserted concurrently', policy: policy([rule({ requests: 97, window: 'Month' })]), keys: 300, rounds: 40, expectPerKey: 97 },
  ];
  for (const c of cases) {
    const table = createQuotaTable(1024);
    const keys = Array.from({ length: c.keys }, (_, i) => `key-${i}`);
    const per = await run(table, c.policy, keys, c.rounds);
    for (let k = 0; k < keys.length; k++) assert.equal(sumKey(per, k), c.expectPerKey, `${c.desc}: ${keys[k]}`);
    // The quota exceeds one thread's tries, so several threads charged the same slot.
    if (c.keys === 1) assert.ok(per.filter((t) => t[0] > 0).length >= 2, `${c.desc}: threads contended`);
  }
});

test('N threads, two rules: refusals by the route-wide rule are refunded exactly', async () => {
  const daily = rule({ name: 'per-key', requests: 1000 });
  const p = policy([daily, rule({ name: 'route', requests: 3000, window: 'Hour', key: [{ type: 'Route' }] })]);
  const table = createQuotaTable(1024);
  const keys = Array.from({ length: 10 }, (_, i) => `key-${i}`);
  const per = await run(table, p, keys, 500); // 4 × 500 = 2000 tries per key
  let total = 0;
  for (let k = 0; k < keys.length; k++) {
    const got = sumKey(per, k);
    assert.ok(got <= 1000, `per-key quota: ${got}`);
    total += got;
  }
  assert.equal(total, 3000, 'exactly the route quota passed');
  // The per-key counts hold exactly what passed: nothing refused stayed charged.
  const probe = createQuotaLimiter(policy([daily]), table, { now: () => NOW });
  const res = results(1);
  let charged = 0;
  for (let k = 0; k < keys.length; k++) {
    probe.check(input(keys[k]), res);
    charged += 1000 - res[0].remaining - 1;
  }
  assert.equal(charged, 3000);
});
