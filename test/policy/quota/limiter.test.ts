// Quota decisions on one thread with a hand-moved clock: calendar and rolling windows, refunds,
// missing keys, the Kong-style headers, the RFC 9457 body and a full table.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { QuotaRule } from '../../../src/config/model';
import { createQuotaLimiter, createQuotaTable, quotaTableStats, QUOTA_ALLOWED, QUOTA_KEY_MISSING } from '../../../src/policy/quota';
import { clock, input, policy, results, rule } from './fixtures';

interface Step {
  at: string;
  key: string | null;
  verdict: number;
  /** results[i].remaining per rule (when given). */
  remaining?: number[];
  retryAfterMs?: number;
  resetMs?: number;
}

const scenarios: { desc: string; rules: QuotaRule[]; steps: Step[] }[] = [
  {
    desc: 'calendar day: 3 a day, the 4th refused until 00:00Z',
    rules: [rule({ requests: 3, window: 'Day' })],
    steps: [
      { at: '2024-03-10T10:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [2], resetMs: 14 * 3_600_000 },
      { at: '2024-03-10T11:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [1] },
      { at: '2024-03-10T23:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [0] },
      { at: '2024-03-10T23:59:59Z', key: 'k1', verdict: 0, remaining: [0], retryAfterMs: 1000, resetMs: 1000 },
      { at: '2024-03-10T23:59:59.999Z', key: 'k1', verdict: 0, retryAfterMs: 1 },
      { at: '2024-03-11T00:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [2] },
    ],
  },
  {
    desc: 'calendar hour: each key has its own count',
    rules: [rule({ requests: 1, window: 'Hour' })],
    steps: [
      { at: '2024-03-10T10:15:00Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [0], resetMs: 45 * 60_000 },
      { at: '2024-03-10T10:16:00Z', key: 'k1', verdict: 0, retryAfterMs: 44 * 60_000 },
      { at: '2024-03-10T10:16:00Z', key: 'k2', verdict: QUOTA_ALLOWED },
      { at: '2024-03-10T11:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED },
    ],
  },
  {
    desc: 'calendar month: February 2024 ends on 1 March (29 days)',
    rules: [rule({ requests: 1, window: 'Month' })],
    steps: [
      { at: '2024-02-01T00:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED, resetMs: 29 * 86_400_000 },
      { at: '2024-02-29T23:30:00Z', key: 'k1', verdict: 0, retryAfterMs: 30 * 60_000 },
      { at: '2024-03-01T00:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED, resetMs: 31 * 86_400_000 },
    ],
  },
  {
    desc: 'rolling hour: a charge leaves with its 1-minute sub-bucket',
    rules: [rule({ requests: 2, window: 'Hour', alignment: 'Rolling' })],
    steps: [
      { at: '2024-03-10T10:00:30Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [1], resetMs: 3_600_000 - 30_000 },
      { at: '2024-03-10T10:30:00Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [0], resetMs: 3_600_000 },
      // The 10:00 sub-bucket leaves the ring at 11:00:00.
      { at: '2024-03-10T10:59:00Z', key: 'k1', verdict: 0, retryAfterMs: 60_000 },
      { at: '2024-03-10T10:59:59.999Z', key: 'k1', verdict: 0, retryAfterMs: 1 },
      { at: '2024-03-10T11:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [0] },
      // Left: 10:30 (leaves 11:30) and 11:00 (leaves 12:00).
      { at: '2024-03-10T11:10:00Z', key: 'k1', verdict: 0, retryAfterMs: 20 * 60_000, resetMs: 50 * 60_000 },
      { at: '2024-03-10T11:30:00Z', key: 'k1', verdict: QUOTA_ALLOWED },
      // Idle for more than a window: the ring empties.
      { at: '2024-03-10T15:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [1] },
    ],
  },
  {
    desc: 'rolling day: 60 sub-buckets of 24 min; a charge counts 23h36m..24h',
    rules: [rule({ requests: 1, window: 'Day', alignment: 'Rolling' })],
    steps: [
      { at: '2024-03-10T00:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED },
      { at: '2024-03-10T23:59:00Z', key: 'k1', verdict: 0, retryAfterMs: 60_000 },
      { at: '2024-03-11T00:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED },
    ],
  },
  {
    desc: 'rolling month: 30 days in 12-hour sub-buckets',
    rules: [rule({ requests: 1, window: 'Month', alignment: 'Rolling' })],
    steps: [
      { at: '2024-03-10T06:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED },
      { at: '2024-04-08T23:00:00Z', key: 'k1', verdict: 0, retryAfterMs: 3_600_000 },
      { at: '2024-04-09T00:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED },
    ],
  },
  {
    desc: 'two rules: a request the second refuses is not charged by the first',
    rules: [rule({ name: 'daily', requests: 5, window: 'Day' }), rule({ name: 'hourly', requests: 1, window: 'Hour', key: [{ type: 'Route' }] })],
    steps: [
      { at: '2024-03-10T10:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [4, 0] },
      { at: '2024-03-10T10:01:00Z', key: 'k1', verdict: 1, remaining: [4, 0] },
      { at: '2024-03-10T10:02:00Z', key: 'k1', verdict: 1, remaining: [4, 0] },
      { at: '2024-03-10T11:00:00Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [3, 0] },
    ],
  },
  {
    desc: 'missing key, Skip: the rule does not apply (limit 0)',
    rules: [rule({ requests: 1, onMissingKey: 'Skip' })],
    steps: [
      { at: '2024-03-10T10:00:00Z', key: null, verdict: QUOTA_ALLOWED, remaining: [0] },
      { at: '2024-03-10T10:00:01Z', key: null, verdict: QUOTA_ALLOWED },
      { at: '2024-03-10T10:00:02Z', key: 'k1', verdict: QUOTA_ALLOWED },
    ],
  },
  {
    desc: 'missing key, Shared: all keyless requests share one count',
    rules: [rule({ requests: 2, onMissingKey: 'Shared' })],
    steps: [
      { at: '2024-03-10T10:00:00Z', key: null, verdict: QUOTA_ALLOWED, remaining: [1] },
      { at: '2024-03-10T10:00:01Z', key: null, verdict: QUOTA_ALLOWED, remaining: [0] },
      { at: '2024-03-10T10:00:02Z', key: null, verdict: 0 },
      { at: '2024-03-10T10:00:03Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [1] },
    ],
  },
  {
    desc: 'missing key, Reject: 400 before anything is charged',
    rules: [rule({ name: 'route', requests: 1, key: [{ type: 'Route' }] }), rule({ name: 'key', requests: 5, onMissingKey: 'Reject' })],
    steps: [
      { at: '2024-03-10T10:00:00Z', key: null, verdict: QUOTA_KEY_MISSING },
      { at: '2024-03-10T10:00:01Z', key: null, verdict: QUOTA_KEY_MISSING },
      { at: '2024-03-10T10:00:02Z', key: 'k1', verdict: QUOTA_ALLOWED, remaining: [0, 4] },
    ],
  },
];

test('quota decisions (table-driven)', () => {
  for (const sc of scenarios) {
    const c = clock(sc.steps[0].at);
    const q = createQuotaLimiter(policy(sc.rules), createQuotaTable(64), { now: c.now });
    const res = results(sc.rules.length);
    sc.steps.forEach((st, n) => {
      c.set(st.at);
      const where = `${sc.desc}: step ${n} (${st.at})`;
      const v = q.check(input(st.key), res);
      assert.equal(v, st.verdict, where);
      if (st.remaining !== undefined) assert.deepEqual(res.map((r) => r.remaining), st.remaining, `${where}: remaining`);
      if (st.retryAfterMs !== undefined) assert.equal(res[v].retryAfterMs, st.retryAfterMs, `${where}: retryAfterMs`);
      if (st.resetMs !== undefined) assert.equal(res[v >= 0 ? v : 0].resetMs, st.resetMs, `${where}: resetMs`);
      if (v >= 0) assert.equal(res[v].allowed, false, `${where}: allowed flag`);
    });
  }
});

test('limiters on one table share the counts (two threads, one quota)', () => {
  const c = clock('2024-03-10T10:00:00Z');
  const table = createQuotaTable(64);
  const p = policy([rule({ requests: 3 })]);
  const a = createQuotaLimiter(p, table, { now: c.now });
  const b = createQuotaLimiter(p, table, { now: c.now });
  const res = results(1);
  assert.equal(a.check(input('k'), res), QUOTA_ALLOWED);
  assert.equal(b.check(input('k'), res), QUOTA_ALLOWED);
  assert.equal(a.check(input('k'), res), QUOTA_ALLOWED);
  assert.equal(b.check(input('k'), res), 0);
  // Another policy (other rule id) on the same table and key has its own count.
  const other = createQuotaLimiter(policy([rule({ requests: 3 })], { policy: 'default/other' }), table, { now: c.now });
  assert.equal(other.check(input('k'), res), QUOTA_ALLOWED);
});

test('headers: Kong names per window, least remaining, RateLimit-Reset, Retry-After', () => {
  const cases: { desc: string; headers: boolean; key: string; checks: number; expect: string[] }[] = [
    {
      desc: 'allowed: one pair per window (the Day rule with less left), reset of the closest to running out',
      headers: true,
      key: 'k1',
      checks: 1,
      expect: [
        'X-RateLimit-Limit-Hour', '100', 'X-RateLimit-Remaining-Hour', '99',
        'X-RateLimit-Limit-Day', '2', 'X-RateLimit-Remaining-Day', '1',
        'X-RateLimit-Limit-Month', '1000', 'X-RateLimit-Remaining-Month', '999',
        'RateLimit-Reset', String(14 * 3600),
      ],
    },
    {
      desc: 'refused by the small Day rule: remaining 0, reset and Retry-After to midnight',
      headers: true,
      key: 'k2',
      checks: 3,
      expect: [
        'X-RateLimit-Limit-Hour', '100', 'X-RateLimit-Remaining-Hour', '98',
        'X-RateLimit-Limit-Day', '2', 'X-RateLimit-Remaining-Day', '0',
        'RateLimit-Reset', String(14 * 3600),
        'Retry-After', String(14 * 3600),
      ],
    },
    { desc: 'headers off: only Retry-After on a refusal', headers: false, key: 'k3', checks: 3, expect: ['Retry-After', String(14 * 3600)] },
    { desc: 'headers off, allowed: nothing', headers: false, key: 'k4', checks: 1, expect: [] },
  ];
  for (const c of cases) {
    const clk = clock('2024-03-10T10:00:00Z');
    const p = policy(
      [
        rule({ name: 'hourly', requests: 100, window: 'Hour' }),
        rule({ name: 'daily-big', requests: 50, window: 'Day' }),
        rule({ name: 'daily', requests: 2, window: 'Day' }),
        rule({ name: 'monthly', requests: 1000, window: 'Month' }),
      ],
      { headers: c.headers },
    );
    const q = createQuotaLimiter(p, createQuotaTable(64), { now: clk.now });
    const res = results(4);
    let v = 0;
    for (let i = 0; i < c.checks; i++) v = q.check(input(c.key), res);
    const out: string[] = [];
    q.quotaHeaders(v, res, out);
    assert.deepEqual(out, c.expect, c.desc);
  }
});

test('429 body: RFC 9457 problem naming the quota and when it resets', () => {
  const clk = clock('2024-03-10T22:59:30Z');
  const q = createQuotaLimiter(policy([rule({ name: 'calls-per-day', requests: 1 })], { policy: 'shop/plan-free' }), createQuotaTable(64), { now: clk.now });
  const res = results(1);
  assert.equal(q.check(input('k'), res), QUOTA_ALLOWED);
  const v = q.check(input('k'), res);
  assert.equal(v, 0);
  const body = JSON.parse(q.quotaProblemBody(v, res));
  assert.deepEqual(body, {
    type: 'https://gatemesh.io/problems/quota-exceeded',
    title: 'Quota exceeded',
    status: 429,
    code: 'GATEMESH_ERR_QUOTA_EXCEEDED',
    policy: 'shop/plan-free',
    quota: 'calls-per-day',
    limit: 1,
    window: 'Day',
    alignment: 'Calendar',
    detail: 'quota calls-per-day of policy shop/plan-free allows 1 requests per day (calendar, UTC); it resets at 2024-03-11T00:00:00.000Z (in 3630 s)',
    resetAt: '2024-03-11T00:00:00.000Z',
    resetSeconds: 3630,
  });
  assert.equal(q.retryAfterSeconds(v, res), 3630);
});

test('bad policies are refused at compile time with the rule named', () => {
  const table = createQuotaTable(16);
  const cases: { desc: string; rules: QuotaRule[]; message: RegExp }[] = [
    { desc: 'zero requests', rules: [rule({ requests: 0 })], message: /rules\[0\] \(q\): requests must be an integer/ },
    { desc: 'fractional requests', rules: [rule({ requests: 1.5 })], message: /requests must be an integer/ },
    { desc: 'duplicate names', rules: [rule({ requests: 1 }), rule({ requests: 2 })], message: /rules\[1\] \(q\): duplicate quota name/ },
    { desc: 'no rules', rules: [], message: /no rules/ },
  ];
  for (const c of cases) assert.throws(() => createQuotaLimiter(policy(c.rules), table), c.message, c.desc);
  assert.throws(() => createQuotaLimiter(policy([rule({ requests: 1 })]), new SharedArrayBuffer(64)), /not a quota table/);
});

test('a full table is never unlimited: keys without a slot share the rule overflow quota', () => {
  const clk = clock('2024-03-10T10:00:00Z');
  const table = createQuotaTable(16, 16);
  const q = createQuotaLimiter(policy([rule({ requests: 2 })]), table, { now: clk.now });
  const res = results(1);
  let passed = 0;
  for (let i = 0; i < 100; i++) if (q.check(input(`key-${i}`), res) === QUOTA_ALLOWED) passed++;
  // 16 keys seated (one request each passes), the other 84 share one overflow count of 2.
  assert.equal(passed, 16 + 2);
  const stats = quotaTableStats(table);
  assert.equal(stats.calendarKeys, 17, 'the 16 keys plus the overflow key');
  assert.equal(stats.full, 84);
  // Seated keys keep their own count.
  assert.equal(q.check(input('key-0'), res), QUOTA_ALLOWED);
  assert.equal(q.check(input('key-0'), res), 0);
});

test('a slot lock left held (a thread terminated inside the section) is taken over after ~100 ms', async () => {
  const { hashKey, hashOut, hashSeed, QuotaTableView, S_LOCK } = await import('../../../src/policy/quota/table');
  const { quotaRuleId } = await import('../../../src/policy/quota');
  const { KIND_DAY } = await import('../../../src/policy/quota/window');
  const clk = clock('2024-03-10T10:00:00Z');
  const table = createQuotaTable(64);
  const r = rule({ requests: 5 });
  const p = policy([r]);
  const q = createQuotaLimiter(p, table, { now: clk.now });
  const res = results(1);
  assert.equal(q.check(input('k'), res), QUOTA_ALLOWED);
  const view = new QuotaTableView(table);
  const [s1, s2] = hashSeed(quotaRuleId(p.policy, r));
  hashKey(s1, s2, 'k');
  const s = view.find(hashOut[0], hashOut[1], KIND_DAY, false, false);
  assert.ok(s > 0, 'slot found');
  Atomics.store(view.i32, s + S_LOCK, 1); // never released
  const t0 = Date.now();
  assert.equal(q.check(input('k'), res), QUOTA_ALLOWED);
  const waited = Date.now() - t0;
  assert.ok(waited >= 100 && waited < 2000, `waited ${waited} ms`);
  assert.equal(res[0].remaining, 3, 'the count survived the takeover');
});
