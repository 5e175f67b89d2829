// The compiled rule policy: null for rules without timeouts/retry (the fast path), field
// defaults, status-code lookup, and the backoff curve (exponential, jittered, capped, never
// below the configured minimum).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteRule } from '../../src/config/model';
import { BACKOFF_CAP_FACTOR, backoffDelay, createRulePolicy, retriesStatus } from '../../src/retry/rule-policy';

const base: RouteRule = { matches: [], backendRefs: [] };

describe('createRulePolicy', () => {
  it('is null for a rule with neither timeouts nor retry', () => {
    assert.equal(createRulePolicy(base), null);
  });
  const cases: { desc: string; rule: Partial<RouteRule>; want: Record<string, number> }[] = [
    { desc: 'request only', rule: { timeouts: { requestMs: 5000 } }, want: { requestMs: 5000, backendRequestMs: -1, retries: 0 } },
    { desc: 'backendRequest only', rule: { timeouts: { backendRequestMs: 100 } }, want: { requestMs: 0, backendRequestMs: 100, retries: 0 } },
    { desc: '"0s" disables backendRequest', rule: { timeouts: { backendRequestMs: 0 } }, want: { backendRequestMs: 0 } },
    { desc: 'retry only', rule: { retry: { attempts: 3, codes: [503], backoffMs: 40 } }, want: { requestMs: 0, backendRequestMs: -1, retries: 3, backoffMs: 40, maxBackoffMs: 400 } },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const p = createRulePolicy({ ...base, ...c.rule });
      assert.ok(p);
      for (const [k, v] of Object.entries(c.want)) assert.equal((p as unknown as Record<string, number>)[k], v, k);
    });
  }
  it('looks status codes up exactly', () => {
    const p = createRulePolicy({ ...base, retry: { attempts: 1, codes: [429, 502, 503], backoffMs: 1 } })!;
    const got = [200, 404, 429, 500, 502, 503, 504, 599, 600, 399].filter((s) => retriesStatus(p, s));
    assert.deepStrictEqual(got, [429, 502, 503]);
  });
});

describe('backoffDelay', () => {
  const p = createRulePolicy({ ...base, retry: { attempts: 10, codes: [], backoffMs: 100 } })!;
  const cases: { desc: string; retry: number; random: number; want: number }[] = [
    { desc: 'first retry, no jitter: the configured backoff', retry: 1, random: 0, want: 100 },
    { desc: 'first retry, most jitter: +25 %', retry: 1, random: 0.999999, want: 125 },
    { desc: 'second retry doubles', retry: 2, random: 0, want: 200 },
    { desc: 'third retry doubles again', retry: 3, random: 0.5, want: 400 * 1.125 },
    { desc: 'capped at 10 × backoff', retry: 5, random: 0.9, want: 100 * BACKOFF_CAP_FACTOR },
    { desc: 'huge retry numbers stay capped', retry: 1000, random: 0, want: 1000 },
  ];
  for (const c of cases) {
    it(c.desc, () => assert.ok(Math.abs(backoffDelay(p, c.retry, c.random) - c.want) < 0.01, `${backoffDelay(p, c.retry, c.random)} vs ${c.want}`));
  }
  it('is never below the configured minimum, whatever the jitter', () => {
    for (let retry = 1; retry <= 12; retry++) for (const r of [0, 0.3, 0.7, 0.99]) assert.ok(backoffDelay(p, retry, r) >= 100);
  });
  it('"0s" backoff retries at once', () => {
    const zero = createRulePolicy({ ...base, retry: { attempts: 2, codes: [], backoffMs: 0 } })!;
    assert.equal(backoffDelay(zero, 1, 0.5), 0);
    assert.equal(backoffDelay(zero, 2, 0.5), 0);
  });
});
