// QuotaStore on Redis (a real redis-server): two instances share one quota, the measured
// overshoot stays within the documented bound, a restart resumes, an outage loses nothing.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';

import type { QuotaPolicy } from '../../../src/config/model';
import { createQuotaLimiter, createQuotaStore, createQuotaTable, QUOTA_ALLOWED, type QuotaStore } from '../../../src/policy/quota';
import { startRedis, type TestRedis } from '../../helpers/redis';
import { clock, input, policy, results, rule, silentLogger } from './fixtures';

// Fake clocks run in 2099: Redis expires keys by its own clock, so stored windows must lie ahead.
let redis: TestRedis;
let client: Redis;

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
});

after(async () => {
  client.disconnect();
  await redis.stop();
});

/** One gatemesh instance: its own table and store, deciding with `p`. */
async function instance(p: QuotaPolicy, now: () => number): Promise<{ store: QuotaStore; table: SharedArrayBuffer; take(key: string, n: number): number }> {
  const table = createQuotaTable(64, 64);
  const store = await createQuotaStore({ table, redisUrl: redis.url, syncMs: 60_000, logger: silentLogger, now });
  const q = createQuotaLimiter(p, table, { now });
  const res = results(p.rules.length);
  return {
    store,
    table,
    take(key, n) {
      let ok = 0;
      for (let i = 0; i < n; i++) if (q.check(input(key), res) === QUOTA_ALLOWED) ok++;
      return ok;
    },
  };
}

async function storedTotal(): Promise<number> {
  let n = 0;
  for (const k of await client.keys('gatemesh:quota:*')) {
    const h = await client.hgetall(k);
    for (const f of Object.keys(h)) if (f !== 'k') n += Number(h[f]);
  }
  return n;
}

test('two instances share one quota: each learns the others\' charges at its own sync', async () => {
  const cases: { desc: string; policy: QuotaPolicy }[] = [
    { desc: 'calendar day', policy: policy([rule({ requests: 100 })]) },
    { desc: 'rolling hour', policy: policy([rule({ requests: 100, window: 'Hour', alignment: 'Rolling' })]) },
  ];
  for (const c of cases) {
    await client.flushall();
    const clk = clock('2099-03-10T10:00:00Z');
    const a = await instance(c.policy, clk.now);
    const b = await instance(c.policy, clk.now);
    assert.equal(a.store.backend, 'redis');
    assert.equal(a.take('k', 60), 60, c.desc);
    await a.store.flush();
    clk.add(90_000); // rolling: the next charges go to another sub-bucket
    // B has never seen the key: its first request passes locally, its sync reads the cluster's 61.
    assert.equal(b.take('k', 1), 1, c.desc);
    await b.store.flush();
    assert.equal(b.take('k', 100), 39, `${c.desc}: B gets exactly what is left`);
    await b.store.flush();
    // A last synced at 60: its next request passes on that view (the documented bound, here 1),
    // and the sync that request triggers brings A the cluster total.
    assert.equal(a.take('k', 1), 1, `${c.desc}: A's stale view`);
    await a.store.flush();
    assert.equal(a.take('k', 10), 0, `${c.desc}: A sees the quota spent`);
    await b.store.flush();
    assert.equal(b.take('k', 10), 0, `${c.desc}: B too`);
    assert.equal(await storedTotal(), 101, `${c.desc}: cluster total = limit + 1 stale pass`);
    await a.store.close();
    await b.store.close();
  }
});

test('concurrent instances overshoot by at most (N-1) × one interval\'s charges, then agree', async (t) => {
  await client.flushall();
  const clk = clock('2099-03-10T10:00:00Z');
  const L = 100;
  const p = policy([rule({ requests: L })]);
  const insts = [await instance(p, clk.now), await instance(p, clk.now), await instance(p, clk.now)];
  // Each interval every instance sees 30 requests, then all sync (in turn, as timers would).
  const perInstance = 30;
  let maxPassedInInterval = 0;
  let passed = 0;
  for (let interval = 0; interval < 5; interval++) {
    for (const i of insts) {
      const n = i.take('k', perInstance);
      passed += n;
      maxPassedInInterval = Math.max(maxPassedInInterval, n);
    }
    for (const i of insts) await i.store.flush();
  }
  const total = await storedTotal();
  const bound = L + (insts.length - 1) * Math.min(L, maxPassedInInterval);
  assert.equal(total, passed, 'Redis holds every pass');
  t.diagnostic(`3 instances, limit ${L}, ${perInstance} requests each per interval: cluster passed ${total} (bound ${bound})`);
  assert.ok(total > L, `measured overshoot: ${total - L}`);
  assert.ok(total <= bound, `cluster ${total} ≤ limit + (N-1) × min(limit, one interval's passes) = ${bound}`);
  // Every instance knows now: nothing more passes anywhere.
  for (const i of insts) assert.equal(i.take('k', 5), 0);
  for (const i of insts) await i.store.close();
});

test('restart on Redis resumes; an outage keeps the charges and delivers them after', async () => {
  await client.flushall();
  const clk = clock('2099-03-10T10:00:00Z');
  const p = policy([rule({ requests: 50 })]);
  const a = await instance(p, clk.now);
  assert.equal(a.take('k', 20), 20);
  await a.store.close();
  const b = await instance(p, clk.now);
  assert.equal(b.store.stats().loaded, 1);
  assert.equal(b.take('k', 50), 30, 'restart resumed from Redis');
  await b.store.flush();

  // Outage: charges made while Redis is down are kept and retried.
  const c = await instance(policy([rule({ name: 'outage', requests: 1000 })]), clk.now);
  await redis.stop();
  assert.equal(c.take('k', 7), 7);
  await c.store.flush(); // fails, logged once, charges kept
  assert.ok(c.store.stats().failedSyncs >= 1);
  await redis.restart(); // an empty Redis (no persistence in the test server)
  const deadline = Date.now() + 10_000;
  for (;;) {
    await c.store.flush();
    if (c.store.stats().failedSyncs > 0 && (await client.ping().catch(() => '')) === 'PONG') {
      const n = await storedTotal().catch(() => 0);
      if (n === 7) break;
    }
    assert.ok(Date.now() < deadline, 'charges delivered after the outage');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await storedTotal(), 7, 'the outage lost nothing');
  await b.store.close();
  await c.store.close();
});
