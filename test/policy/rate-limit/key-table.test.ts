// The shared key table on one thread: layout and stats, overflow when a probe window is full of
// active keys, eviction of idle keys, and a random-key flood checked request by request against
// an exact per-key GCRA model (no key ever gets past its limit; memory stays fixed).
import test from 'node:test';
import assert from 'node:assert/strict';

import { LimitResult } from '../../../src/policy/limit-result';
import {
  createRateLimitTable,
  DEFAULT_RATELIMIT_MAX_KEYS,
  PROBE,
  RateLimitTable,
  rateLimitTableStats,
  tableLimit,
} from '../../../src/policy/rate-limit/key-table';

const T0 = 1_700_000_000_000;

/** Deterministic PRNG (mulberry32), so a failure reproduces. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sizeCases: { desc: string; maxKeys: number; capacity: number }[] = [
  { desc: 'default', maxKeys: DEFAULT_RATELIMIT_MAX_KEYS, capacity: 65536 },
  { desc: 'rounded up to a power of two', maxKeys: 1000, capacity: 1024 },
  { desc: 'at least one probe window', maxKeys: 1, capacity: PROBE },
];

for (const c of sizeCases) {
  test(`createRateLimitTable: ${c.desc}`, () => {
    const sab = createRateLimitTable(c.maxKeys, T0);
    assert.equal(sab.byteLength, 256 + c.capacity * 32);
    assert.deepEqual(rateLimitTableStats(sab), { keys: 0, evictions: 0, overflows: 0, capacity: c.capacity });
  });
}

test('createRateLimitTable rejects bad sizes; the view rejects foreign buffers', () => {
  for (const n of [0, -1, 1.5, NaN, 2 ** 25]) assert.throws(() => createRateLimitTable(n, T0), /GATEMESH_RATELIMIT_MAX_KEYS/, String(n));
  assert.throws(() => new RateLimitTable(new SharedArrayBuffer(4096)), /not a buffer made by createRateLimitTable/);
});

test('key table: a full probe window refuses new keys (counted) until a slot goes idle, then evicts', () => {
  // 16 slots = one probe window for every key.
  const sab = createRateLimitTable(16, T0);
  const t = new RateLimitTable(sab);
  const lim = tableLimit(7, 1, 60_000);
  const out = new LimitResult();
  // Keys k0..k15 at t = i ms each: slot i goes idle at 60 s + i ms.
  for (let i = 0; i < 16; i++) {
    assert.ok(t.take(lim, `k${i}`, T0 + i, out) >= 0, `k${i}`);
  }
  assert.deepEqual(rateLimitTableStats(sab), { keys: 16, evictions: 0, overflows: 0, capacity: 16 });
  // Every slot is active: a new key is refused, with Retry-After = when the first goes idle.
  assert.ok(t.take(lim, 'new', T0 + 1000, out) < 0);
  assert.equal(out.allowed, false);
  assert.ok(Math.abs(out.retryAfterMs - (60_000 - 1000 + 1)) < 0.01, String(out.retryAfterMs));
  // Known keys are still decided by their own buckets.
  assert.ok(t.take(lim, 'k3', T0 + 1000, out) < 0);
  assert.ok(Math.abs(out.retryAfterMs - 59_003) < 0.01);
  assert.equal(rateLimitTableStats(sab).overflows, 1);
  // k0 idle (plus the eviction margin, 1 ms + 2^-22 of 60 s): 'new' takes its slot.
  assert.ok(t.take(lim, 'new', T0 + 60_000.5, out) < 0);
  assert.ok(t.take(lim, 'new', T0 + 60_002, out) >= 0);
  assert.deepEqual(rateLimitTableStats(sab), { keys: 16, evictions: 1, overflows: 2, capacity: 16 });
  assert.ok(t.take(lim, 'new', T0 + 60_002, out) < 0, 'the newcomer is limited too');
  // k0 comes back: its bucket was full when evicted, so it starts full again (it takes an idle slot).
  assert.ok(t.take(lim, 'k0', T0 + 60_003, out) >= 0);
  assert.ok(t.take(lim, 'k0', T0 + 60_003, out) < 0);
  assert.equal(rateLimitTableStats(sab).evictions, 2);
});

test('key table: refund gives back one emission interval', () => {
  const t = new RateLimitTable(createRateLimitTable(64, T0));
  const lim = tableLimit(1, 2, 1000);
  const out = new LimitResult();
  const s1 = t.take(lim, 'k', T0, out);
  const [a, b] = t.last;
  assert.ok(t.take(lim, 'k', T0, out) >= 0);
  assert.ok(t.take(lim, 'k', T0, out) < 0);
  t.refund(lim, s1, a, b);
  assert.ok(t.take(lim, 'k', T0, out) >= 0);
  assert.equal(out.remaining, 0);
  // A refund for a slot that changed hands is ignored (nothing to give back).
  t.refund(lim, s1, a ^ 4, b);
  assert.ok(t.take(lim, 'k', T0, out) < 0);
});

interface FloodCase {
  desc: string;
  maxKeys: number;
  requests: number;
  periodMs: number;
  pool: number;
  ops: number;
  /** Max clock advance per request, ms. */
  stepMs: number;
  seed: number;
}

const floodCases: FloodCase[] = [
  { desc: '256 slots, 5,000 keys, 4 per second, fast clock', maxKeys: 256, requests: 4, periodMs: 1000, pool: 5000, ops: 60_000, stepMs: 1, seed: 1 },
  { desc: '256 slots, 20,000 keys, 3 per 9 s', maxKeys: 256, requests: 3, periodMs: 9000, pool: 20_000, ops: 60_000, stepMs: 8, seed: 2 },
  { desc: '1024 slots, 300 keys (fits), 5 per 2 s: no overflow at all', maxKeys: 1024, requests: 5, periodMs: 2000, pool: 300, ops: 40_000, stepMs: 1, seed: 3 },
];

for (const c of floodCases) {
  test(`key table flood: ${c.desc}`, () => {
    const sab = createRateLimitTable(c.maxKeys, T0);
    const bytes = sab.byteLength;
    const t = new RateLimitTable(sab);
    const lim = tableLimit(99, c.requests, c.periodMs);
    const out = new LimitResult();
    const rnd = prng(c.seed);
    // Exact GCRA per key in float ms (I = P/L is a whole number of µs here, so both are exact).
    const I = c.periodMs / c.requests;
    const tat = new Map<string, number>();
    let now = 0;
    let allowed = 0;
    let overflowRefusals = 0;
    let victimAllowed = 0;
    let victimModel = 0;
    for (let i = 0; i < c.ops; i++) {
      now += Math.floor(rnd() * (c.stepMs + 1));
      // Every 4th request is the victim, a key that stays active all along.
      const key = (i & 3) === 0 ? 'victim' : `key-${Math.floor(rnd() * c.pool)}`;
      const before = rateLimitTableStats(sab).overflows;
      const ok = t.take(lim, key, T0 + now, out) >= 0;
      const start = Math.max(tat.get(key) ?? 0, now);
      const modelOk = start + I - now <= c.periodMs + 1e-9;
      if (ok) {
        assert.ok(modelOk, `request ${i}: ${key} allowed past its limit at ${now} ms`);
        tat.set(key, start + I);
        allowed++;
      } else if (modelOk) {
        // Refused although its own bucket had room: only because its window was full.
        assert.equal(rateLimitTableStats(sab).overflows, before + 1, `request ${i}: ${key} refused without overflow`);
        overflowRefusals++;
      }
      if (key === 'victim') {
        if (ok) victimAllowed++;
        if (modelOk) victimModel++;
      }
    }
    const stats = rateLimitTableStats(sab);
    assert.equal(sab.byteLength, bytes);
    assert.ok(stats.keys <= stats.capacity);
    assert.equal(stats.overflows, overflowRefusals, 'every overflow refused a request its bucket would have allowed');
    if (c.pool > c.maxKeys) {
      assert.ok(stats.evictions > 1000, `evictions ${stats.evictions}`);
      assert.ok(stats.overflows > 0, 'the flood filled some windows');
    } else {
      assert.equal(stats.overflows, 0);
    }
    // The always-active victim never loses its slot: exactly its GCRA allowance.
    assert.equal(victimAllowed, victimModel);
    assert.ok(allowed > c.ops / 10, `allowed ${allowed}`);
  });
}
