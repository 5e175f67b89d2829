// The Global rate-limit backend against a real redis-server: batching, exactness for small
// limits, credit for fresh keys, refunds, lease expiry, and an outage with recovery.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from '../../helpers/redis';
import { createGlobalBackend, type GlobalBackendHandle, type GlobalBackendOptions } from '../../../src/policy/global-limit';
import { LimitResult } from '../../../src/policy/limit-result';
import { nowMs } from '../../../src/shared/clock';
import { captureLogger, hammer, leaseCalls, resetStats, sleep, tick } from './helpers';

let redis: TestRedis;
const open: GlobalBackendHandle[] = [];
let keySeq = 0;
/** A key no earlier case used (the buckets live in the same Redis). */
const freshKey = (): string => `k${++keySeq}:${process.pid}`;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const b of open) await b.close();
  await redis.stop();
});

async function backend(over: Partial<GlobalBackendOptions> = {}): Promise<GlobalBackendHandle> {
  const b = createGlobalBackend({ url: redis.url, logger: captureLogger().logger, reconnectMaxMs: 100, ...over });
  open.push(b);
  assert.equal(await b.whenAvailable(5000), true, 'backend connects');
  return b;
}

/** Waits until no lease call is in flight (bounded). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await tick();
  await sleep(20);
}

test('batching: far fewer Redis calls than requests', async () => {
  const b = await backend();
  const L = 100000;
  const key = freshKey();
  await resetStats(redis.url);
  // Warm the key (its first lease), then the prefetch at lowWater keeps ahead of the requests.
  const out = new LimitResult();
  b.take(1, key, L, 60000, nowMs(), out);
  await settle();
  // 50 requests per ms on one key and thread (more than a gateway thread serves in all): the
  // lowWater margin of 500 tokens covers ~10 ms of lease round trip.
  const r = await hammer(b, 1, key, L, 60000, { maxTakes: 5000, burst: 50, pauseMs: 1 });
  await settle();
  const calls = await leaseCalls(redis.url);
  // lease = min(1000, 100000 / 10) = 1000 tokens per call: about 6 calls for 5001 requests.
  assert.equal(r.allowed, 5000, 'all under the limit pass, none wait for Redis');
  assert.ok(calls >= 1 && calls <= 5000 / 200, `lease calls ${calls} for 5001 requests`);
  assert.equal(b.stats.fetches, calls);
});

for (const L of [1, 2, 3, 5, 10, 37]) {
  test(`exactness: one leaser, L=${L}/min lets exactly L through`, async () => {
    const b = await backend();
    // Long enough for every lease round trip (one per token or two at L this small).
    const r = await hammer(b, 2, freshKey(), L, 60000, { untilMs: nowMs() + 300, burst: 3 });
    await settle();
    assert.equal(r.allowed, L);
  });
}

test('fresh key: answered synchronously on credit, the credit charged to the first lease', async () => {
  const b = await backend();
  const out = new LimitResult();
  const key = freshKey();
  const L = 10; // lease 1, borrow 1
  b.take(3, key, L, 60000, nowMs(), out);
  assert.equal(out.allowed, true, 'first request passes before Redis answered');
  assert.equal(out.degraded, false);
  assert.equal(out.limit, L);
  assert.equal(b.stats.borrowed, 1);
  assert.equal(b.stats.fetches, 1);
  b.take(3, key, L, 60000, nowMs(), out);
  assert.equal(out.allowed, false, 'credit is 1 while the lease is in flight');
  assert.ok(out.retryAfterMs >= 1 && out.retryAfterMs <= 1000, `retryAfterMs ${out.retryAfterMs}`);
  await settle();
  assert.equal(b.stats.granted, 1, 'the first lease paid the credit');
  // Redis now holds 9; the rest of the run must total exactly L.
  const r = await hammer(b, 3, key, L, 60000, { untilMs: nowMs() + 300, burst: 2 });
  assert.equal(1 + r.allowed, L);
});

test('refund gives the token back to the lease', async () => {
  const b = await backend();
  const out = new LimitResult();
  const key = freshKey();
  const L = 2;
  let allowed = 0;
  for (let i = 0; i < 10; i++) {
    b.take(4, key, L, 60000, nowMs(), out);
    if (out.allowed) allowed++;
    await settle();
  }
  assert.equal(allowed, L);
  b.take(4, key, L, 60000, nowMs(), out);
  assert.equal(out.allowed, false);
  assert.ok(out.retryAfterMs > 1000, 'empty bucket: retry after about T = 30 s');
  b.refund(4, key, L, 60000);
  b.take(4, key, L, 60000, nowMs(), out);
  assert.equal(out.allowed, true, 'the refunded token is spent again');
  b.take(4, key, L, 60000, nowMs(), out);
  assert.equal(out.allowed, false);
});

test('expired lease tokens go back to Redis for other leasers', async () => {
  const a = await backend({ leaseTtlMs: 100 });
  const key = freshKey();
  const L = 100; // one leaser: lease 10
  const out = new LimitResult();
  a.take(5, key, L, 60000, nowMs(), out);
  assert.equal(out.allowed, true);
  await settle();
  assert.equal(a.stats.granted, 10, 'A holds 9 after paying its credit');
  await sleep(400); // > ttl + a sweep: the 9 expire and are given back
  assert.equal(a.stats.expired, 9);
  const b = await backend();
  const r = await hammer(b, 5, key, L, 60000, { untilMs: nowMs() + 300, burst: 5 });
  await settle();
  assert.equal(r.allowed, L - 1, 'B gets everything A did not spend');
});

test('3 leasers in one process, L=10: no more than L + bound', async () => {
  const key = freshKey();
  const L = 10;
  const bs = [await backend({ instances: 3 }), await backend({ instances: 3 }), await backend({ instances: 3 })];
  const until = nowMs() + 300;
  const rs = await Promise.all(bs.map((b) => hammer(b, 6, key, L, 60000, { untilMs: until, burst: 5 })));
  const total = rs.reduce((s, r) => s + r.allowed, 0);
  const bound = bs[0].bound(L, 60000);
  assert.equal(bound, 4);
  assert.ok(total <= L + bound, `allowed ${total} > ${L} + ${bound}`);
  assert.ok(total >= L - 3, `allowed ${total}: too far under L`);
});

test('maxKeys: a flood of fresh keys stays bounded (oldest evicted, counted); negative limit ids work', async () => {
  const b = await backend({ maxKeys: 50, leaseTtlMs: 100 });
  const out = new LimitResult();
  const limitId = -1234567; // rateLimitId() is a signed 32-bit hash
  for (let i = 0; i < 500; i++) {
    b.take(limitId, `flood${i}:${process.pid}`, 5, 60000, nowMs(), out);
    assert.equal(out.allowed, true, 'each fresh key gets its first request through');
    if (i % 100 === 99) await settle(); // most of the flood arrives faster than Redis answers
  }
  assert.ok(b.trackedKeys <= 50, `tracked ${b.trackedKeys}`);
  assert.equal(b.stats.evicted, 450);
  // Idle keys are forgotten by the sweep once their bucket is full again or their lease expired.
  const k = freshKey();
  const r = await hammer(b, limitId, k, 5, 60000, { untilMs: nowMs() + 200, burst: 2 });
  assert.equal(r.allowed, 5, 'a tracked key under the flood is still exact');
});

test('Redis down: available false, one log line, no throw; back up: recovers by itself', async () => {
  const cap = captureLogger();
  const b = createGlobalBackend({ url: redis.url, logger: cap.logger, reconnectMaxMs: 100, connectTimeoutMs: 300 });
  open.push(b);
  assert.equal(await b.whenAvailable(5000), true);
  const out = new LimitResult();
  const key = freshKey();
  b.take(7, key, 1000, 60000, nowMs(), out);
  await settle();
  assert.equal(cap.lines.length, 0, 'nothing logged while healthy');

  await redis.stop();
  const t0 = Date.now();
  while (b.available && Date.now() - t0 < 3000) await sleep(10);
  assert.equal(b.available, false, 'available goes false');
  // Requests keep coming during the outage (a caller ignoring `available` included): no throw, no queueing.
  for (let i = 0; i < 2000; i++) {
    b.take(7, key, 1000, 60000, nowMs(), out);
    assert.equal(out.allowed, true);
    assert.equal(out.degraded, true);
    if (i % 100 === 0) await tick();
  }
  await sleep(600); // several reconnect attempts (100 ms apart)
  const warns = cap.lines.filter((l) => l.level === 40);
  assert.equal(warns.length, 1, `one line per outage, got ${JSON.stringify(cap.lines)}`);
  assert.match(warns[0].msg, /unreachable/);
  assert.equal(cap.lines.length, 1);

  await redis.restart();
  assert.equal(await b.whenAvailable(5000), true, 'reconnects by itself');
  const infos = cap.lines.filter((l) => l.level === 30);
  assert.equal(infos.length, 1);
  assert.match(infos[0].msg, /reachable again/);
  // The restarted Redis has no script cached (NOSCRIPT → EVAL) and a full bucket.
  const before = b.stats.granted;
  const r = await hammer(b, 7, freshKey(), 1000, 3600000, { untilMs: nowMs() + 300, burst: 10 });
  await settle();
  assert.ok(r.allowed >= 200 && r.allowed <= 1000, `allowed ${r.allowed} after the restart`);
  assert.ok(b.stats.granted > before, 'leases granted again after the restart');
  assert.equal(b.stats.outages, 1);
  assert.equal(cap.lines.length, 2, 'exactly one line at the start and one at the end of the outage');
});

test('Redis hung (SIGSTOP): a lease call times out → unavailable, one line; SIGCONT → recovers', async () => {
  const cap = captureLogger();
  const b = createGlobalBackend({ url: redis.url, logger: cap.logger, reconnectMaxMs: 100, connectTimeoutMs: 300, commandTimeoutMs: 100 });
  open.push(b);
  assert.equal(await b.whenAvailable(5000), true);
  const out = new LimitResult();
  redis.signal('SIGSTOP');
  try {
    const t0 = Date.now();
    // Requests for a fresh key need a lease call; it cannot answer, so it times out.
    while (b.available && Date.now() - t0 < 3000) {
      b.take(9, freshKey(), 100, 60000, nowMs(), out);
      await sleep(5);
    }
    assert.equal(b.available, false, 'a timed-out lease call marks the store unavailable');
    assert.ok(Date.now() - t0 < 1000, 'within about commandTimeoutMs');
    await sleep(400);
    assert.equal(cap.lines.length, 1, JSON.stringify(cap.lines));
  } finally {
    redis.signal('SIGCONT');
  }
  assert.equal(await b.whenAvailable(5000), true, 'recovers once Redis answers again');
  assert.equal(cap.lines.length, 2);
  assert.equal(b.stats.outages, 1);
});

test('unreachable at start: one line, available false, no throw', async () => {
  const cap = captureLogger();
  // A port nothing listens on: our own Redis port after stopping would race other cases, so use a closed one.
  const b = createGlobalBackend({ url: 'redis://127.0.0.1:1', logger: cap.logger, reconnectMaxMs: 50, connectTimeoutMs: 200 });
  open.push(b);
  assert.equal(await b.whenAvailable(500), false);
  const out = new LimitResult();
  b.take(8, 'x', 10, 1000, nowMs(), out);
  assert.equal(out.degraded, true);
  assert.equal(cap.lines.length, 1);
  await b.close();
});
