// Cluster accuracy of Global rate limits: 3 independent processes (each its own ioredis
// connections and event loop) hammer one key of limit L through one redis-server. The cluster
// must pass no more than an exact GCRA limiter would (L plus the refill during the run) plus the
// documented bound E (src/policy/global-limit/index.ts), and not far below L.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { startRedis, type TestRedis } from '../../helpers/redis';
import { errorBound, leasePlan } from '../../../src/policy/global-limit';
import { nowMs } from '../../../src/shared/clock';
import type { ChildMessage, ChildSpec } from './cluster-child';
import { leaseCalls, resetStats } from './helpers';

let redis: TestRedis;
const children = new Set<ChildProcess>();

before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await redis.stop();
});

const PROCESSES = 3;

const cases: { desc: string; requests: number; periodMs: number; threads: number; runMs: number }[] = [
  { desc: 'L=600/min, 3 processes × 1 thread', requests: 600, periodMs: 60000, threads: 1, runMs: 1000 },
  { desc: 'L=10/min (small L stays exact-ish), 3 × 1', requests: 10, periodMs: 60000, threads: 1, runMs: 600 },
  { desc: 'L=5000/min, 3 × 1', requests: 5000, periodMs: 60000, threads: 1, runMs: 1000 },
  { desc: 'L=600/min, 3 processes × 2 threads', requests: 600, periodMs: 60000, threads: 2, runMs: 1000 },
  { desc: 'L=200/10 s, 3 × 1 (refill during the run)', requests: 200, periodMs: 10000, threads: 1, runMs: 2000 },
];

function spawnChild(spec: ChildSpec): { child: ChildProcess; ready: Promise<void>; done: Promise<Extract<ChildMessage, { type: 'done' }>> } {
  const env: NodeJS.ProcessEnv = { ...process.env, GM_GLOBAL_LIMIT_CHILD: '1', GM_GLOBAL_LIMIT_SPEC: JSON.stringify(spec) };
  delete env.NODE_TEST_CONTEXT; // not a test-runner child
  const child = fork(path.join(__dirname, 'cluster-child.js'), [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const done = new Promise<Extract<ChildMessage, { type: 'done' }>>((resolve, reject) => {
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') readyResolve();
      else resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`child exited ${code} before reporting`)));
  });
  return { child, ready, done };
}

for (const c of cases) {
  test(`cluster accuracy: ${c.desc}`, { timeout: 30000 }, async (t) => {
    const key = `cluster:${c.requests}:${c.periodMs}:${c.threads}:${process.pid}`;
    const spec: ChildSpec = { url: redis.url, key, requests: c.requests, periodMs: c.periodMs, instances: PROCESSES, threads: c.threads };
    const procs = Array.from({ length: PROCESSES }, () => spawnChild(spec));
    await Promise.all(procs.map((p) => p.ready));
    await resetStats(redis.url);
    const untilMs = nowMs() + c.runMs;
    for (const p of procs) p.child.send({ untilMs });
    const reports = await Promise.all(procs.map((p) => p.done));
    const calls = await leaseCalls(redis.url);

    const L = c.requests;
    const leasers = PROCESSES * c.threads;
    const tuning = { leasers, divisor: 10, max: 1000, ttlMs: 1000 };
    const E = errorBound(L, c.periodMs, tuning);
    const plan = leasePlan(L, c.periodMs, tuning);
    const total = reports.reduce((s, r) => s + r.allowed, 0);
    const takes = reports.reduce((s, r) => s + r.takes, 0);
    const first = Math.min(...reports.filter((r) => r.firstMs > 0).map((r) => r.firstMs));
    const last = Math.max(...reports.map((r) => r.lastMs));
    // An exact GCRA limiter admits at most L + ⌊span / T⌋ over the span of admissions.
    const exact = L + Math.floor(((last - first) * L) / c.periodMs);
    const slack = leasers * (plan.lease + plan.lowWater);
    t.diagnostic(
      `L=${L} leasers=${leasers} lease=${plan.lease} E=${E}: allowed ${total} (per process ${reports.map((r) => r.allowed).join('/')}), ` +
        `exact GCRA max ${exact}, overshoot ${total - exact}, takes ${takes}, Redis lease calls ${calls}`,
    );
    assert.ok(total <= exact + E, `allowed ${total} > exact ${exact} + E ${E}`);
    assert.ok(total >= L - slack, `allowed ${total} < L ${L} - held-lease slack ${slack}`);
    assert.ok(calls < takes / 20, `lease calls ${calls} vs ${takes} requests`);
  });
}
