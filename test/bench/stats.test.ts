import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createHistogram,
  decodeHistogram,
  encodeHistogram,
  median,
  medianPercentiles,
  percentileCurve,
  percentilesOf,
  recordUs,
} from '../../bench/harness/stats';

test('median of odd, even, unsorted and empty lists', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([5]), 5);
  assert.ok(Number.isNaN(median([])));
});

test('percentilesOf: 1..1000 µs gives the textbook percentiles in ms (3 significant digits)', () => {
  const h = createHistogram();
  for (let us = 1; us <= 1000; us++) recordUs(h, us);
  const p = percentilesOf(h);
  assert.equal(p.p50, 0.5);
  assert.equal(p.p90, 0.9);
  assert.equal(p.p99, 0.99);
  assert.equal(p.p999, 0.999);
  assert.equal(p.max, 1);
});

test('recordUs clamps into the histogram range instead of throwing', () => {
  const h = createHistogram();
  recordUs(h, 0);
  recordUs(h, 1e12);
  assert.equal(h.totalCount, 2);
  assert.equal(h.minNonZeroValue, 1);
  assert.ok(h.maxValue >= 59_000_000);
});

test('medianPercentiles takes each figure independently', () => {
  const m = medianPercentiles([
    { p50: 1, p90: 10, p99: 100, p999: 1000, max: 5 },
    { p50: 3, p90: 30, p99: 300, p999: 3000, max: 1 },
    { p50: 2, p90: 20, p99: 200, p999: 2000, max: 9 },
  ]);
  assert.deepEqual(m, { p50: 2, p90: 20, p99: 200, p999: 2000, max: 5 });
});

test('histograms survive the base64 round trip used in the results JSON', () => {
  const h = createHistogram();
  for (let i = 0; i < 5000; i++) recordUs(h, 100 + (i % 700));
  const back = decodeHistogram(encodeHistogram(h));
  assert.equal(back.totalCount, 5000);
  assert.deepEqual(percentilesOf(back), percentilesOf(h));
});

test('percentileCurve: rising, from 0 % to the max, no further than the samples resolve', () => {
  const h = createHistogram();
  for (let us = 1; us <= 1000; us++) recordUs(h, us);
  const c = percentileCurve(h);
  assert.equal(c[0].percentile, 0);
  assert.equal(c[c.length - 1].percentile, 100);
  assert.equal(c[c.length - 1].ms, 1);
  for (let i = 1; i < c.length; i++) assert.ok(c[i].ms >= c[i - 1].ms && c[i].percentile > c[i - 1].percentile);
  // 1000 samples resolve down to 1/1000: the last regular point is at most 99.9 %.
  assert.ok(c[c.length - 2].percentile <= 99.9 + 1e-9);
  assert.deepEqual(percentileCurve(createHistogram()), []);
});
