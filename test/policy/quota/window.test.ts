// Quota window maths: UTC calendar boundaries (hour, day, month incl. month lengths and leap
// years), Rolling sub-buckets and expiries.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  bucketWidthMs,
  calendarEnd,
  calendarStart,
  calendarWindow,
  fieldExpiry,
  KIND_DAY,
  KIND_HOUR,
  KIND_MONTH,
  KIND_ROLLING_DAY,
  KIND_ROLLING_HOUR,
  KIND_ROLLING_MONTH,
  quotaKind,
  rollingBucket,
  rollingWindowMs,
  ROLLING_BUCKETS,
} from '../../../src/policy/quota/window';

const iso = (s: string) => Date.parse(s);

test('calendar windows: start and end around UTC boundaries', () => {
  const cases: { desc: string; kind: number; at: string; start: string; end: string }[] = [
    { desc: 'hour, mid-hour', kind: KIND_HOUR, at: '2024-03-10T13:37:12.345Z', start: '2024-03-10T13:00:00.000Z', end: '2024-03-10T14:00:00.000Z' },
    { desc: 'hour, exactly on the boundary belongs to the new hour', kind: KIND_HOUR, at: '2024-03-10T14:00:00.000Z', start: '2024-03-10T14:00:00.000Z', end: '2024-03-10T15:00:00.000Z' },
    { desc: 'hour, last ms of the hour', kind: KIND_HOUR, at: '2024-03-10T13:59:59.999Z', start: '2024-03-10T13:00:00.000Z', end: '2024-03-10T14:00:00.000Z' },
    { desc: 'hour, crossing midnight', kind: KIND_HOUR, at: '2024-12-31T23:30:00.000Z', start: '2024-12-31T23:00:00.000Z', end: '2025-01-01T00:00:00.000Z' },
    { desc: 'day, mid-day', kind: KIND_DAY, at: '2024-03-10T13:37:12.345Z', start: '2024-03-10T00:00:00.000Z', end: '2024-03-11T00:00:00.000Z' },
    { desc: 'day, last ms', kind: KIND_DAY, at: '2024-03-10T23:59:59.999Z', start: '2024-03-10T00:00:00.000Z', end: '2024-03-11T00:00:00.000Z' },
    { desc: 'day, 29 Feb of a leap year', kind: KIND_DAY, at: '2024-02-29T12:00:00.000Z', start: '2024-02-29T00:00:00.000Z', end: '2024-03-01T00:00:00.000Z' },
    { desc: 'month, January (31 days)', kind: KIND_MONTH, at: '2024-01-31T23:59:59.999Z', start: '2024-01-01T00:00:00.000Z', end: '2024-02-01T00:00:00.000Z' },
    { desc: 'month, February of a leap year (29 days)', kind: KIND_MONTH, at: '2024-02-15T00:00:00.000Z', start: '2024-02-01T00:00:00.000Z', end: '2024-03-01T00:00:00.000Z' },
    { desc: 'month, February of a common year (28 days)', kind: KIND_MONTH, at: '2023-02-28T23:59:59.999Z', start: '2023-02-01T00:00:00.000Z', end: '2023-03-01T00:00:00.000Z' },
    { desc: 'month, February 2100 (not a leap year)', kind: KIND_MONTH, at: '2100-02-10T00:00:00.000Z', start: '2100-02-01T00:00:00.000Z', end: '2100-03-01T00:00:00.000Z' },
    { desc: 'month, February 2000 (leap: divisible by 400)', kind: KIND_MONTH, at: '2000-02-29T00:00:00.000Z', start: '2000-02-01T00:00:00.000Z', end: '2000-03-01T00:00:00.000Z' },
    { desc: 'month, April (30 days)', kind: KIND_MONTH, at: '2024-04-30T10:00:00.000Z', start: '2024-04-01T00:00:00.000Z', end: '2024-05-01T00:00:00.000Z' },
    { desc: 'month, December into the next year', kind: KIND_MONTH, at: '2024-12-31T23:59:59.999Z', start: '2024-12-01T00:00:00.000Z', end: '2025-01-01T00:00:00.000Z' },
    { desc: 'month, first ms of a month', kind: KIND_MONTH, at: '2025-03-01T00:00:00.000Z', start: '2025-03-01T00:00:00.000Z', end: '2025-04-01T00:00:00.000Z' },
    { desc: 'month, the epoch', kind: KIND_MONTH, at: '1970-01-01T00:00:00.000Z', start: '1970-01-01T00:00:00.000Z', end: '1970-02-01T00:00:00.000Z' },
  ];
  for (const c of cases) {
    const id = calendarWindow(c.kind, iso(c.at));
    assert.equal(new Date(calendarStart(c.kind, id)).toISOString(), c.start, `${c.desc}: start`);
    assert.equal(new Date(calendarEnd(c.kind, id)).toISOString(), c.end, `${c.desc}: end`);
    assert.equal(fieldExpiry(c.kind, id), iso(c.end), `${c.desc}: expiry`);
  }
});

test('calendar month ids agree with Date for every month 1970..2200 and random instants', () => {
  for (let y = 1970; y <= 2200; y++) {
    for (let m = 0; m < 12; m++) {
      const start = Date.UTC(y, m, 1);
      const id = calendarWindow(KIND_MONTH, start);
      assert.equal(id, (y - 1970) * 12 + m, `${y}-${m + 1}`);
      assert.equal(calendarStart(KIND_MONTH, id), start, `${y}-${m + 1} start`);
      assert.equal(calendarWindow(KIND_MONTH, start - 1), id - 1, `${y}-${m + 1}: the ms before belongs to the previous month`);
      const days = (calendarEnd(KIND_MONTH, id) - start) / 86_400_000;
      assert.equal(days, new Date(Date.UTC(y, m + 1, 0)).getUTCDate(), `${y}-${m + 1} length`);
    }
  }
  let seed = 12345;
  for (let i = 0; i < 5000; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const t = Math.floor((seed / 2 ** 32) * Date.UTC(2300, 0, 1));
    const d = new Date(t);
    assert.equal(calendarWindow(KIND_MONTH, t), (d.getUTCFullYear() - 1970) * 12 + d.getUTCMonth(), d.toISOString());
  }
});

test('kinds and rolling sub-buckets', () => {
  const cases: { desc: string; window: 'Hour' | 'Day' | 'Month'; alignment: 'Calendar' | 'Rolling'; kind: number; width: number; windowMs: number }[] = [
    { desc: 'rolling hour: 60 × 1 min', window: 'Hour', alignment: 'Rolling', kind: KIND_ROLLING_HOUR, width: 60_000, windowMs: 3_600_000 },
    { desc: 'rolling day: 60 × 24 min', window: 'Day', alignment: 'Rolling', kind: KIND_ROLLING_DAY, width: 1_440_000, windowMs: 86_400_000 },
    { desc: 'rolling month: 60 × 12 h = 30 days', window: 'Month', alignment: 'Rolling', kind: KIND_ROLLING_MONTH, width: 43_200_000, windowMs: 30 * 86_400_000 },
  ];
  for (const c of cases) {
    assert.equal(quotaKind(c.window, c.alignment), c.kind, c.desc);
    assert.equal(bucketWidthMs(c.kind), c.width, c.desc);
    assert.equal(rollingWindowMs(c.kind), c.windowMs, c.desc);
    const t = iso('2024-05-05T05:05:05.005Z');
    const b = rollingBucket(c.kind, t);
    assert.ok(b * c.width <= t && t < (b + 1) * c.width, `${c.desc}: bucket contains t`);
    // A charge at t stops counting when its bucket leaves the ring: between W − width and W later.
    const expiry = fieldExpiry(c.kind, b);
    assert.ok(expiry - t <= c.windowMs && expiry - t > c.windowMs - c.width, `${c.desc}: expiry within (W − W/60, W]`);
    assert.ok(Number.isSafeInteger(b) && b < 2 ** 31, `${c.desc}: bucket id fits an Int32`);
  }
  assert.equal(ROLLING_BUCKETS, 60);
  assert.equal(quotaKind('Hour', 'Calendar'), KIND_HOUR);
  assert.equal(quotaKind('Day', 'Calendar'), KIND_DAY);
  assert.equal(quotaKind('Month', 'Calendar'), KIND_MONTH);
});
