// The rate limiter's decisions (GCRA maths, several rules, refunds, missing keys, Global mode)
// with an injected clock, and its response fields (IETF draft headers, legacy headers, 429 body).
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import type { PolicyKey, RateLimitPolicy, RateLimitRule } from '../../../src/config/model';
import { TrustedProxies } from '../../../src/http/forwarding';
import type { KeyInput } from '../../../src/policy/key';
import { LimitResult } from '../../../src/policy/limit-result';
import { createRateLimitTable } from '../../../src/policy/rate-limit/key-table';
import {
  createLimitResults,
  createRateLimitFields,
  createRateLimiter,
  problemBody,
  rateLimitHeaders,
  rateLimitId,
  retryAfterSeconds,
  RATE_LIMIT_PROBLEM_TYPE,
  SHARED_KEY,
  type GlobalBackend,
} from '../../../src/policy/rate-limit/rate-limit';

const T0 = 1_700_000_000_000;
const ALLOWED = -1;
const KEY_MISSING = -2;
const UNAVAILABLE = -3;
const trusted = new TrustedProxies([]);

function input(headers: string[] = [], route = 'default/r/0'): KeyInput {
  return {
    head: { method: 'GET', path: '/', query: '', httpMinor: 1, headers, remoteAddress: '192.0.2.1', scheme: 'http', headBytes: -1 },
    trusted,
    route,
    consumer: null,
  };
}

function rule(name: string, requests: number, periodMs: number, key: PolicyKey[] = [{ type: 'Route' }], onMissingKey: RateLimitRule['onMissingKey'] = 'Skip'): RateLimitRule {
  return { name, key, onMissingKey, requests, periodMs };
}

function policy(rules: RateLimitRule[], extra: Partial<RateLimitPolicy> = {}): RateLimitPolicy {
  return { policy: 'default/rl', mode: 'Local', rules, failureMode: 'open', headers: true, legacyHeaders: false, ...extra };
}

/** A limiter on a fresh table whose clock is `clock.t` ms after the table's epoch. */
function setup(p: RateLimitPolicy, maxKeys = 1024) {
  const clock = { t: 0 };
  const sab = createRateLimitTable(maxKeys, T0);
  const limiter = createRateLimiter(p, sab, undefined, { now: () => T0 + clock.t });
  return { clock, sab, limiter, results: createLimitResults(p) };
}

interface Step {
  at: number;
  /** Repeat the request this many times (default 1); expectations apply to the last. */
  times?: number;
  allowed: boolean;
  remaining?: number;
  retryAfterMs?: number;
  resetMs?: number;
}

/** `tolMs`: accepted error of retryAfterMs/resetMs: 2 units (now is floored to a unit; a rebase rounds TAT up). */
const gcraCases: { desc: string; requests: number; periodMs: number; tolMs?: number; steps: Step[] }[] = [
  {
    desc: '3 per second: 3 back to back, then one every 333.3 ms',
    requests: 3,
    periodMs: 1000,
    steps: [
      { at: 0, allowed: true, remaining: 2, resetMs: 1000 / 3 },
      { at: 0, allowed: true, remaining: 1, resetMs: 2000 / 3 },
      { at: 0, allowed: true, remaining: 0, resetMs: 1000 },
      { at: 0, allowed: false, remaining: 0, retryAfterMs: 1000 / 3, resetMs: 1000 },
      { at: 333, allowed: false, retryAfterMs: 1000 / 3 - 333 },
      { at: 333.4, allowed: true, remaining: 0 },
      { at: 333.4, allowed: false },
      { at: 5000, allowed: true, remaining: 2, resetMs: 1000 / 3 },
    ],
  },
  {
    desc: '1 per hour: the second waits the whole hour',
    requests: 1,
    periodMs: 3_600_000,
    tolMs: 0.06, // units of 3.6e6 ms / 2^27 = 26.8 µs
    steps: [
      { at: 0, allowed: true, remaining: 0, resetMs: 3_600_000 },
      { at: 1, allowed: false, retryAfterMs: 3_599_999, resetMs: 3_599_999 },
      { at: 3_599_999, allowed: false, retryAfterMs: 1 },
      { at: 3_600_000, allowed: true, remaining: 0 },
    ],
  },
  {
    desc: '500 per hour: exactly 500 back to back',
    requests: 500,
    periodMs: 3_600_000,
    tolMs: 0.06, // 7200 ms / 268,435 = 26.8 µs units
    steps: [
      { at: 10, times: 500, allowed: true, remaining: 0, resetMs: 3_600_000 },
      { at: 10, allowed: false, retryAfterMs: 7200 },
      { at: 7209, allowed: false, retryAfterMs: 1 },
      { at: 7210, allowed: true, remaining: 0 },
    ],
  },
  {
    desc: '10 per second at exactly the rate never runs out',
    requests: 10,
    periodMs: 1000,
    steps: [
      { at: 0, allowed: true, remaining: 9 },
      { at: 100, allowed: true, remaining: 9 },
      { at: 200, allowed: true, remaining: 9 },
      { at: 250, times: 9, allowed: true, remaining: 0 },
      { at: 250, allowed: false, retryAfterMs: 50 },
    ],
  },
  {
    desc: '1e6 per second (emission interval 1 µs, the finest unit) keeps its burst exact',
    requests: 1_000_000,
    periodMs: 1000,
    steps: [
      { at: 0, times: 1_000_000, allowed: true, remaining: 0 },
      { at: 0, allowed: false, retryAfterMs: 0.001 },
      // Epoch-ms doubles near 1.7e12 resolve 0.24 µs.
      { at: 0.0005, allowed: false },
      { at: 0.0015, allowed: true },
    ],
  },
  {
    desc: '2 per 2000 s across a rebase of an active slot (2^28 units after its base)',
    requests: 2,
    periodMs: 2_000_000,
    tolMs: 0.03,
    steps: [
      { at: 0, times: 2, allowed: true, remaining: 0 },
      { at: 3_500_000, allowed: true, remaining: 1 },
      { at: 3_600_000, allowed: true, remaining: 0 },
      { at: 4_100_000, allowed: false, retryAfterMs: 400_000 },
      // The rebase rounded TAT up by < 1 unit (14.9 µs): allowed just after 4,500 s, not at it.
      { at: 4_500_000, allowed: false, retryAfterMs: 0.01 },
      { at: 4_500_000.1, allowed: true, remaining: 0 },
      { at: 4_500_001, allowed: false, retryAfterMs: 999_999 },
    ],
  },
];

for (const c of gcraCases) {
  test(`rate-limit GCRA: ${c.desc}`, () => {
    const { clock, limiter, results } = setup(policy([rule('r', c.requests, c.periodMs)]));
    for (const [i, s] of c.steps.entries()) {
      clock.t = s.at;
      let v = 0;
      for (let n = 0; n < (s.times ?? 1); n++) {
        v = limiter.check(input(), results);
        if (n < (s.times ?? 1) - 1) assert.equal(v, ALLOWED, `step ${i} request ${n}`);
      }
      const r = results[0];
      const at = `step ${i} (t=${s.at})`;
      assert.equal(v, s.allowed ? ALLOWED : 0, at);
      assert.equal(r.allowed, s.allowed, at);
      assert.equal(r.limit, c.requests, at);
      if (s.remaining !== undefined) assert.equal(r.remaining, s.remaining, at);
      const tol = c.tolMs ?? 0.002;
      if (s.retryAfterMs !== undefined) assert.ok(Math.abs(r.retryAfterMs - s.retryAfterMs) < tol, `${at}: retryAfterMs ${r.retryAfterMs}`);
      if (s.resetMs !== undefined) assert.ok(Math.abs(r.resetMs - s.resetMs) < tol, `${at}: resetMs ${r.resetMs}`);
      if (s.allowed) assert.equal(r.retryAfterMs, 0, at);
    }
  });
}

test('rate-limit: keys have separate buckets; limits with other ids never share one', () => {
  const p = policy([rule('per-user', 2, 60_000, [{ type: 'Header', name: 'x-user' }])]);
  const { limiter, results, sab, clock } = setup(p);
  const other = createRateLimiter(policy([rule('per-user', 3, 60_000, [{ type: 'Header', name: 'x-user' }])]), sab, undefined, {
    now: () => T0 + clock.t,
  });
  assert.notEqual(rateLimitId('default/rl', p.rules[0]), rateLimitId('default/rl', rule('per-user', 3, 60_000)));
  const seq = (l: typeof limiter, user: string, n: number) => Array.from({ length: n }, () => l.check(input(['x-user', user]), results));
  assert.deepEqual(seq(limiter, 'alice', 3), [ALLOWED, ALLOWED, 0]);
  assert.deepEqual(seq(limiter, 'bob', 3), [ALLOWED, ALLOWED, 0]);
  assert.deepEqual(seq(other, 'alice', 4), [ALLOWED, ALLOWED, ALLOWED, 0]);
  // The same policy compiled again (a reload that keeps the limit) keeps the state.
  const again = createRateLimiter(p, sab, undefined, { now: () => T0 + clock.t });
  assert.deepEqual(seq(again, 'alice', 1), [0]);
});

const refundCases: {
  desc: string;
  rules: RateLimitRule[];
  requests: { user: string; verdict: number; remaining: number[] }[];
}[] = [
  {
    desc: 'rule 2 refuses: rule 1 is refunded, so the route budget is only spent by allowed requests',
    rules: [rule('route', 5, 3_600_000), rule('user', 2, 3_600_000, [{ type: 'Header', name: 'x-user' }])],
    requests: [
      { user: 'a', verdict: ALLOWED, remaining: [4, 1] },
      { user: 'a', verdict: ALLOWED, remaining: [3, 0] },
      { user: 'a', verdict: 1, remaining: [3, 0] },
      { user: 'a', verdict: 1, remaining: [3, 0] },
      { user: 'b', verdict: ALLOWED, remaining: [2, 1] },
      { user: 'b', verdict: ALLOWED, remaining: [1, 0] },
      { user: 'c', verdict: ALLOWED, remaining: [0, 1] },
      { user: 'd', verdict: 0, remaining: [0, 0] },
    ],
  },
  {
    desc: 'three rules, the middle one refuses: only the first is refunded, the third not reached',
    rules: [
      rule('a', 10, 3_600_000),
      rule('b', 1, 3_600_000, [{ type: 'Header', name: 'x-user' }]),
      rule('c', 10, 3_600_000, [{ type: 'Header', name: 'x-user' }]),
    ],
    requests: [
      { user: 'u', verdict: ALLOWED, remaining: [9, 0, 9] },
      { user: 'u', verdict: 1, remaining: [9, 0, 0] },
      { user: 'v', verdict: ALLOWED, remaining: [8, 0, 9] },
    ],
  },
];

for (const c of refundCases) {
  test(`rate-limit refunds: ${c.desc}`, () => {
    const p = policy(c.rules);
    const { limiter, results } = setup(p);
    for (const [i, r] of c.requests.entries()) {
      const v = limiter.check(input(['x-user', r.user]), results);
      assert.equal(v, r.verdict, `request ${i}`);
      assert.deepEqual(
        results.map((x) => x.remaining),
        r.remaining,
        `request ${i} remaining`,
      );
    }
  });
}

test('rate-limit refunds: a refused request leaves the earlier rule exactly as before (table state)', () => {
  const p = policy([rule('route', 3, 3_600_000), rule('user', 1, 3_600_000, [{ type: 'Header', name: 'x-user' }])]);
  const { limiter, results } = setup(p);
  assert.equal(limiter.check(input(['x-user', 'a']), results), ALLOWED);
  for (let i = 0; i < 50; i++) assert.equal(limiter.check(input(['x-user', 'a']), results), 1);
  // 50 refused requests cost the route nothing: two more users still pass.
  assert.equal(limiter.check(input(['x-user', 'b']), results), ALLOWED);
  assert.equal(limiter.check(input(['x-user', 'c']), results), ALLOWED);
  assert.equal(limiter.check(input(['x-user', 'd']), results), 0);
});

const missingCases: {
  desc: string;
  action: RateLimitRule['onMissingKey'];
  requests: { key: string | null; verdict: number; limit: number }[];
}[] = [
  {
    desc: 'Skip: keyless requests are not limited and get no result',
    action: 'Skip',
    requests: [
      { key: null, verdict: ALLOWED, limit: 0 },
      { key: null, verdict: ALLOWED, limit: 0 },
      { key: null, verdict: ALLOWED, limit: 0 },
      { key: 'k', verdict: ALLOWED, limit: 2 },
      { key: 'k', verdict: ALLOWED, limit: 2 },
      { key: 'k', verdict: 1, limit: 2 },
    ],
  },
  {
    desc: 'Shared: all keyless requests share one bucket, apart from keyed ones',
    action: 'Shared',
    requests: [
      { key: null, verdict: ALLOWED, limit: 2 },
      { key: null, verdict: ALLOWED, limit: 2 },
      { key: null, verdict: 1, limit: 2 },
      { key: 'k', verdict: ALLOWED, limit: 2 },
      { key: null, verdict: 1, limit: 2 },
    ],
  },
  {
    desc: 'Reject: KeyMissing, and nothing is charged to the other rule',
    action: 'Reject',
    requests: [
      { key: null, verdict: KEY_MISSING, limit: 0 },
      { key: null, verdict: KEY_MISSING, limit: 0 },
      { key: 'k', verdict: ALLOWED, limit: 2 },
      { key: 'k', verdict: ALLOWED, limit: 2 },
      { key: 'k', verdict: 1, limit: 2 },
    ],
  },
];

for (const c of missingCases) {
  test(`rate-limit onMissingKey ${c.desc}`, () => {
    // Rule 0 (route, 2 per hour) comes first so Reject is seen to charge nothing before it.
    const p = policy([rule('route', 2, 3_600_000), rule('key', 2, 3_600_000, [{ type: 'Header', name: 'x-api-key' }], c.action)]);
    const { limiter, results } = setup(p);
    // Each request on its own route, so rule 0 never refuses and rule 1 (index 1) decides.
    for (const [i, r] of c.requests.entries()) {
      const v = limiter.check(input(r.key === null ? [] : ['x-api-key', r.key], `route-${i}`), results);
      assert.equal(v, r.verdict, `request ${i}`);
      assert.equal(results[1].limit, r.limit, `request ${i} limit`);
    }
  });
}

test('rate-limit onMissingKey Reject charges no earlier rule', () => {
  const p = policy([rule('route', 1, 3_600_000), rule('key', 5, 3_600_000, [{ type: 'Header', name: 'x-api-key' }], 'Reject')]);
  const { limiter, results } = setup(p);
  for (let i = 0; i < 5; i++) assert.equal(limiter.check(input(), results), KEY_MISSING);
  assert.equal(limiter.check(input(['x-api-key', 'k']), results), ALLOWED);
  assert.equal(limiter.check(input(['x-api-key', 'k']), results), 0);
});

class FakeGlobal implements GlobalBackend {
  available = true;
  readonly used = new Map<string, number>();
  readonly calls: string[] = [];
  take(limitId: number, key: string, requests: number, periodMs: number, now: number, out: LimitResult): void {
    const k = `${limitId}:${key}`;
    const u = this.used.get(k) ?? 0;
    this.calls.push(`take ${key} ${requests}/${periodMs} @${now - T0}`);
    out.limit = requests;
    out.allowed = u < requests;
    if (out.allowed) this.used.set(k, u + 1);
    out.remaining = requests - (this.used.get(k) ?? 0);
    out.resetMs = periodMs;
    out.retryAfterMs = out.allowed ? 0 : periodMs;
  }
  refund(limitId: number, key: string, requests: number, periodMs: number): void {
    this.calls.push(`refund ${key} ${requests}/${periodMs}`);
    const k = `${limitId}:${key}`;
    this.used.set(k, (this.used.get(k) ?? 1) - 1);
  }
}

test('rate-limit Global mode: delegates each rule to the backend, refunds, failureMode', () => {
  const p = policy([rule('route', 10, 60_000), rule('user', 1, 1000, [{ type: 'Header', name: 'x-user' }], 'Shared')], { mode: 'Global' });
  assert.throws(() => createRateLimiter(p, createRateLimitTable(16, T0)), /mode Global needs the Redis backend/);
  const g = new FakeGlobal();
  const limiter = createRateLimiter(p, createRateLimitTable(16, T0), g, { now: () => T0 + 5 });
  const results = createLimitResults(p);
  assert.equal(limiter.check(input(['x-user', 'a']), results), ALLOWED);
  assert.equal(limiter.check(input(['x-user', 'a']), results), 1);
  assert.equal(limiter.check(input([]), results), ALLOWED);
  assert.deepEqual(g.calls, [
    'take default/r/0 10/60000 @5',
    'take a 1/1000 @5',
    'take default/r/0 10/60000 @5',
    'take a 1/1000 @5',
    'refund default/r/0 10/60000',
    'take default/r/0 10/60000 @5',
    `take ${SHARED_KEY} 1/1000 @5`,
  ]);
  assert.equal(results[0].remaining, 8);
  // Store unreachable: open lets requests through (degraded, no headers), closed answers Unavailable.
  g.available = false;
  assert.equal(limiter.check(input(['x-user', 'a']), results), ALLOWED);
  assert.equal(results[0].degraded, true);
  assert.equal(results[0].limit, 0);
  const closed = createRateLimiter({ ...p, failureMode: 'closed' }, createRateLimitTable(16, T0), g);
  assert.equal(closed.check(input(['x-user', 'a']), results), UNAVAILABLE);
  // Reject is decided before the store is consulted.
  const reject = createRateLimiter(policy([rule('user', 1, 1000, [{ type: 'Header', name: 'x-user' }], 'Reject')], { mode: 'Global', failureMode: 'closed' }), createRateLimitTable(16, T0), g);
  assert.equal(reject.check(input([]), createLimitResults(p)), KEY_MISSING);
});

test('rate-limit factory rejects invalid rules', () => {
  const sab = createRateLimitTable(16, T0);
  const cases: { desc: string; p: RateLimitPolicy; re: RegExp }[] = [
    { desc: 'no rules', p: policy([]), re: /no rules/ },
    { desc: 'zero requests', p: policy([rule('r', 0, 1000)]), re: /rule r: requests 0/ },
    { desc: 'fractional requests', p: policy([rule('r', 1.5, 1000)]), re: /requests 1.5/ },
    { desc: 'zero period', p: policy([rule('r', 1, 0)]), re: /period 0 ms/ },
    { desc: 'faster than the finest unit', p: policy([rule('r', 1_000_000, 1)]), re: /faster than/ },
  ];
  for (const c of cases) assert.throws(() => createRateLimiter(c.p, sab), c.re, c.desc);
});

// --- Response fields -------------------------------------------------------------------------

function result(limit: number, remaining: number, resetMs: number, allowed = true, retryAfterMs = 0): LimitResult {
  const r = new LimitResult();
  Object.assign(r, { limit, remaining, resetMs, allowed, retryAfterMs });
  return r;
}

const headerRules = [rule('default/rl/limit0', 100, 60_000), rule('per-second', 10, 1000), rule('burst "x"\\', 5, 500)];
const headerCases: { desc: string; results: LimitResult[]; legacy: boolean; want: string[] }[] = [
  {
    desc: 'one rule applied',
    results: [result(100, 42, 30_500), result(0, 0, 0), result(0, 0, 0)],
    legacy: false,
    want: ['RateLimit-Policy', '"default/rl/limit0";q=100;w=60', 'RateLimit', '"default/rl/limit0";r=42;t=31'],
  },
  {
    desc: 'all rules, with legacy headers of the rule closest to its limit; sub-second period scaled to 1 s',
    results: [result(100, 42, 30_500), result(10, 3, 700), result(5, 3, 400)],
    legacy: true,
    want: [
      'RateLimit-Policy',
      '"default/rl/limit0";q=100;w=60, "per-second";q=10;w=1, "burst \\"x\\"\\\\";q=10;w=1',
      'RateLimit',
      '"default/rl/limit0";r=42;t=31, "per-second";r=3;t=1, "burst \\"x\\"\\\\";r=3;t=1',
      'X-RateLimit-Limit',
      '10',
      'X-RateLimit-Remaining',
      '3',
      'X-RateLimit-Reset',
      '1',
    ],
  },
  {
    desc: 'refused: remaining 0, reset rounds up',
    results: [result(0, 0, 0), result(10, 0, 1000.001, false, 100), result(0, 0, 0)],
    legacy: true,
    want: [
      'RateLimit-Policy',
      '"per-second";q=10;w=1',
      'RateLimit',
      '"per-second";r=0;t=2',
      'X-RateLimit-Limit',
      '10',
      'X-RateLimit-Remaining',
      '0',
      'X-RateLimit-Reset',
      '2',
    ],
  },
  { desc: 'no rule applied: nothing', results: [result(0, 0, 0), result(0, 0, 0), result(0, 0, 0)], legacy: true, want: [] },
];

for (const c of headerCases) {
  test(`rateLimitHeaders: ${c.desc}`, () => {
    const out = ['content-type', 'text/plain'];
    rateLimitHeaders(headerRules, c.results, c.legacy, out);
    assert.deepEqual(out, ['content-type', 'text/plain', ...c.want]);
  });
}

/** The fields as rateLimitHeaders built them for every response before they were reused (the reference format). */
function referenceFields(rules: readonly RateLimitRule[], results: readonly LimitResult[], legacy: boolean): string[] {
  const sf = (s: string) => '"' + s.replace(/["\\]/g, (c) => '\\' + c).replace(/[^\x20-\x7e]/g, '_') + '"';
  const secs = (ms: number) => (ms > 0 ? Math.ceil(ms / 1000) : 0);
  const policy: string[] = [];
  const limit: string[] = [];
  let best = -1;
  rules.forEach((rule, i) => {
    const r = results[i];
    if (r.limit === 0) return;
    const w = Math.max(1, Math.ceil(rule.periodMs / 1000));
    const q = w * 1000 === rule.periodMs ? rule.requests : Math.floor((rule.requests * w * 1000) / rule.periodMs);
    policy.push(`${sf(rule.name)};q=${q};w=${w}`);
    limit.push(`${sf(rule.name)};r=${r.remaining};t=${secs(r.resetMs)}`);
    if (best < 0 || r.remaining < results[best].remaining || (r.remaining === results[best].remaining && r.resetMs > results[best].resetMs)) best = i;
  });
  if (best < 0) return [];
  const out = ['RateLimit-Policy', policy.join(', '), 'RateLimit', limit.join(', ')];
  const b = results[best];
  if (legacy) out.push('X-RateLimit-Limit', String(b.limit), 'X-RateLimit-Remaining', String(b.remaining), 'X-RateLimit-Reset', String(secs(b.resetMs)));
  return out;
}

// RateLimitFields reuses the values it built while the numbers repeat. Each step changes one number
// of one rule's result (or none), so every field is at some point the only one that changed: each
// response must still get its own fields.
test('RateLimitFields: reused values never leak between responses (property)', () => {
  const step = fc.record({
    rule: fc.nat(2),
    field: fc.constantFrom('limit', 'remaining', 'resetMs', 'none'),
    limit: fc.constantFrom(0, 10, 100),
    remaining: fc.constantFrom(0, 3, 9, 99, -0),
    resetMs: fc.constantFrom(0, 1, 999, 1000, 1000.5, 30_500, 31_000),
    legacy: fc.boolean(),
    fresh: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
      const fields = createRateLimitFields(headerRules);
      const results = [result(100, 99, 1000), result(10, 9, 1000), result(0, 0, 0)];
      for (const s of steps) {
        const r = results[s.rule];
        if (s.field === 'limit') r.limit = s.limit;
        else if (s.field === 'remaining') r.remaining = s.remaining;
        else if (s.field === 'resetMs') r.resetMs = s.resetMs;
        const want = referenceFields(headerRules, results, s.legacy);
        if (s.fresh) assert.deepEqual(fields.append(results, s.legacy, null) ?? [], want);
        else assert.deepEqual(fields.append(results, s.legacy, ['a', 'b']), ['a', 'b', ...want]);
      }
    }),
    { numRuns: 500 },
  );
});

test('rateLimitHeaders from a real decision', () => {
  const p = policy([rule('per-minute', 60, 60_000)]);
  const { limiter, results, clock } = setup(p);
  clock.t = 100;
  limiter.check(input(), results);
  const out: string[] = [];
  rateLimitHeaders(p.rules, results, false, out);
  assert.deepEqual(out, ['RateLimit-Policy', '"per-minute";q=60;w=60', 'RateLimit', '"per-minute";r=59;t=1']);
});

const retryCases: { ms: number; s: number }[] = [
  { ms: 0, s: 1 },
  { ms: 0.001, s: 1 },
  { ms: 1000, s: 1 },
  { ms: 1000.5, s: 2 },
  { ms: 3_600_000, s: 3600 },
];

test('retryAfterSeconds: whole seconds, rounded up, at least 1', () => {
  for (const c of retryCases) assert.equal(retryAfterSeconds(c.ms), c.s, `${c.ms} ms`);
});

test('problemBody: RFC 9457 problem naming the policy and rule', () => {
  const body = JSON.parse(problemBody('default/rl', 'per "user"', 7));
  assert.deepEqual(body, {
    type: RATE_LIMIT_PROBLEM_TYPE,
    title: 'Too Many Requests',
    status: 429,
    detail: 'rate limit "per "user"" of policy "default/rl" exceeded; retry in 7 s',
    'violated-policies': ['per "user"'],
    'retry-after': 7,
  });
});

test('rate-limit refundLast: a later stage (a quota) refusing gives back every charge of the last check', () => {
  // Local: a user rule (Skip when keyless) and a route rule; 2 requests/hour each.
  const p = policy([rule('route', 2, 3_600_000), rule('user', 2, 3_600_000, [{ type: 'Header', name: 'x-user' }])]);
  const { limiter, results } = setup(p);
  for (let i = 0; i < 10; i++) {
    assert.equal(limiter.check(input(['x-user', 'a']), results), ALLOWED);
    assert.equal(results[0].remaining, 1);
    limiter.refundLast(results);
    assert.equal(results[0].remaining, 2, 'the result shows the refund');
    assert.equal(results[1].remaining, 2);
  }
  // The keyless request charged only the route rule; its refund leaves the user rule alone.
  assert.equal(limiter.check(input([]), results), ALLOWED);
  limiter.refundLast(results);
  assert.equal(limiter.check(input(['x-user', 'a']), results), ALLOWED);
  assert.equal(limiter.check(input(['x-user', 'a']), results), ALLOWED);
  assert.equal(limiter.check(input(['x-user', 'a']), results), 0, 'exactly the two kept charges count');

  // Global: refunds go to the store for charged rules only; a degraded (store down, open) check refunds nothing.
  const gp = policy([rule('route', 10, 60_000), rule('user', 1, 1000, [{ type: 'Header', name: 'x-user' }])], { mode: 'Global' });
  const g = new FakeGlobal();
  const gl = createRateLimiter(gp, createRateLimitTable(16, T0), g, { now: () => T0 + 5 });
  const gr = createLimitResults(gp);
  assert.equal(gl.check(input([]), gr), ALLOWED);
  gl.refundLast(gr);
  assert.deepEqual(g.calls, ['take default/r/0 10/60000 @5', 'refund default/r/0 10/60000']);
  g.available = false;
  assert.equal(gl.check(input(['x-user', 'a']), gr), ALLOWED);
  gl.refundLast(gr);
  assert.equal(g.calls.length, 2);
});
