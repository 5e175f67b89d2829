// Quota window maths: which window (Calendar) or sub-bucket (Rolling) an instant falls in, and
// where it ends. Pure integer arithmetic on epoch ms in UTC, no Date objects, so the worker's
// per-request decision allocates nothing.
//
// Calendar windows start at UTC boundaries: the hour (:00), the day (00:00Z), the month (the 1st,
// 00:00Z, so a month lasts 28 to 31 days). Their id is the count of whole windows since the epoch
// (months: (year - 1970) × 12 + month - 1).
//
// Rolling windows are "the last Hour / Day / Month up to now" (a rolling Month is 30 days), kept as
// a ring of ROLLING_BUCKETS sub-buckets: 60 × 1 min (Hour), 60 × 24 min (Day), 60 × 12 h (Month).
// Precision: a charge is counted while its sub-bucket is one of the last 60, so it expires between
// (59/60)·W and W after it was made: never late, at most one sub-bucket (1/60 = 1.7 % of the window)
// early. Hence the quota holds exactly over any span of 59/60·W; over a full W the worst case (a
// burst at the very end of a sub-bucket, again just after it expired) is limit + the charges of
// that one sub-bucket. 60 keeps the error at a minute per hour while the ring stays 240 bytes a key.
import type { QuotaRule } from '../../config/model';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** A rolling Month is 30 days (calendar months vary from 28 to 31). */
export const ROLLING_MONTH_MS = 30 * DAY_MS;
/** Sub-buckets of a Rolling window. */
export const ROLLING_BUCKETS = 60;

/** Window kind codes, stored per table slot (and persisted): 1..3 Calendar, 4..6 Rolling. */
export const KIND_HOUR = 1;
export const KIND_DAY = 2;
export const KIND_MONTH = 3;
export const KIND_ROLLING_HOUR = 4;
export const KIND_ROLLING_DAY = 5;
export const KIND_ROLLING_MONTH = 6;

export function quotaKind(window: QuotaRule['window'], alignment: QuotaRule['alignment']): number {
  const base = window === 'Hour' ? KIND_HOUR : window === 'Day' ? KIND_DAY : KIND_MONTH;
  return alignment === 'Rolling' ? base + 3 : base;
}

export function isValidKind(kind: number): boolean {
  return Number.isInteger(kind) && kind >= KIND_HOUR && kind <= KIND_ROLLING_MONTH;
}

export function isRolling(kind: number): boolean {
  return kind >= KIND_ROLLING_HOUR;
}

/** Width of one Rolling sub-bucket, ms (the window / 60). */
export function bucketWidthMs(kind: number): number {
  switch (kind) {
    case KIND_ROLLING_HOUR:
      return HOUR_MS / ROLLING_BUCKETS;
    case KIND_ROLLING_DAY:
      return DAY_MS / ROLLING_BUCKETS;
    default:
      return ROLLING_MONTH_MS / ROLLING_BUCKETS;
  }
}

/** Length of a Rolling window, ms. */
export function rollingWindowMs(kind: number): number {
  return bucketWidthMs(kind) * ROLLING_BUCKETS;
}

/** Absolute sub-bucket index of `t` (fits an Int32 for every kind until year 5000). */
export function rollingBucket(kind: number, t: number): number {
  return Math.floor(t / bucketWidthMs(kind));
}

/** Calendar window id of instant `t` (epoch ms). */
export function calendarWindow(kind: number, t: number): number {
  if (kind === KIND_HOUR) return Math.floor(t / HOUR_MS);
  if (kind === KIND_DAY) return Math.floor(t / DAY_MS);
  return monthOfDays(Math.floor(t / DAY_MS));
}

/** Start of calendar window `id`, epoch ms. */
export function calendarStart(kind: number, id: number): number {
  if (kind === KIND_HOUR) return id * HOUR_MS;
  if (kind === KIND_DAY) return id * DAY_MS;
  const y = 1970 + Math.floor(id / 12);
  const m = id - (y - 1970) * 12 + 1;
  return daysFromCivil(y, m, 1) * DAY_MS;
}

/** End (exclusive) of calendar window `id` = start of the next one. */
export function calendarEnd(kind: number, id: number): number {
  return calendarStart(kind, id + 1);
}

/**
 * Where the window or sub-bucket `field` of `kind` stops counting, epoch ms: a Calendar window's
 * end, or the instant a Rolling sub-bucket leaves the ring. Persisted rows expire then.
 */
export function fieldExpiry(kind: number, field: number): number {
  return isRolling(kind) ? (field + ROLLING_BUCKETS) * bucketWidthMs(kind) : calendarEnd(kind, field);
}

/** Days since the epoch → month id ((year - 1970) × 12 + month - 1). H. Hinnant's civil_from_days. */
function monthOfDays(days: number): number {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return (y - 1970) * 12 + m - 1;
}

/** Days since the epoch of y-m-d (proleptic Gregorian). H. Hinnant's days_from_civil. */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}
