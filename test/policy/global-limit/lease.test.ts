// Lease sizing and the documented error bound (src/policy/global-limit/lease.ts), as a table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorBound, leasePlan, type LeaseTuning } from '../../../src/policy/global-limit/lease';

const tuning = (leasers: number, over: Partial<LeaseTuning> = {}): LeaseTuning => ({ leasers, divisor: 10, max: 1000, ttlMs: 1000, ...over });

const cases: {
  desc: string;
  requests: number;
  periodMs: number;
  t: LeaseTuning;
  lease: number;
  lowWater: number;
  borrow: number;
  ttlMs: number;
  bound: number;
}[] = [
  { desc: 'L=10/min, one leaser: batches of 1, not 50', requests: 10, periodMs: 60000, t: tuning(1), lease: 1, lowWater: 0, borrow: 1, ttlMs: 1000, bound: 1 + 1 },
  { desc: 'L=10/min, 3 leasers', requests: 10, periodMs: 60000, t: tuning(3), lease: 1, lowWater: 0, borrow: 1, ttlMs: 1000, bound: 3 + 1 },
  { desc: 'L=1/s: ttl-term is the whole L', requests: 1, periodMs: 1000, t: tuning(1), lease: 1, lowWater: 0, borrow: 1, ttlMs: 1000, bound: 1 + 1 },
  { desc: 'L=600/min, 3 leasers', requests: 600, periodMs: 60000, t: tuning(3), lease: 20, lowWater: 10, borrow: 10, ttlMs: 1000, bound: 30 + 10 },
  { desc: 'L=600/min, 3 instances × 4 threads', requests: 600, periodMs: 60000, t: tuning(12), lease: 5, lowWater: 2, borrow: 2, ttlMs: 1000, bound: 24 + 10 },
  { desc: 'L=1000/s, 2 leasers: held tokens cap the ttl-term', requests: 1000, periodMs: 1000, t: tuning(2), lease: 50, lowWater: 25, borrow: 25, ttlMs: 1000, bound: 50 + 150 },
  { desc: 'L=10^6/min, one leaser: capped at leaseMax', requests: 1_000_000, periodMs: 60000, t: tuning(1), lease: 1000, lowWater: 500, borrow: 500, ttlMs: 1000, bound: 500 + 1500 },
  { desc: 'period shorter than the ttl: ttl = period', requests: 100, periodMs: 200, t: tuning(1), lease: 10, lowWater: 5, borrow: 5, ttlMs: 200, bound: 5 + 15 },
  { desc: 'divisor 4', requests: 100, periodMs: 60000, t: tuning(2, { divisor: 4 }), lease: 12, lowWater: 6, borrow: 6, ttlMs: 1000, bound: 12 + 2 },
];

for (const c of cases) {
  test(`lease plan: ${c.desc}`, () => {
    const p = leasePlan(c.requests, c.periodMs, c.t);
    assert.deepEqual(
      { lease: p.lease, lowWater: p.lowWater, borrow: p.borrow, ttlMs: p.ttlMs },
      { lease: c.lease, lowWater: c.lowWater, borrow: c.borrow, ttlMs: c.ttlMs },
    );
    assert.equal(p.emissionMs, c.periodMs / c.requests);
    assert.equal(errorBound(c.requests, c.periodMs, c.t), c.bound);
  });
}

test('lease plan: a lease never exceeds L / leasers (small limits stay exact)', () => {
  for (let L = 1; L <= 200; L++) {
    for (const n of [1, 2, 3, 8]) {
      const p = leasePlan(L, 60000, tuning(n));
      assert.ok(p.lease === 1 || p.lease * n * 10 <= L, `L=${L} n=${n} lease=${p.lease}`);
    }
  }
});
