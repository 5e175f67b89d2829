// The adaptive concurrency limit: Netflix concurrency-limits' Gradient2Limit, fed one sample per
// window (the window's mean latency) instead of one per request. Pure maths over a Float64Array
// so the same code runs on the shared state in the SharedArrayBuffer and in unit tests.
import type { AdaptiveConcurrency } from '../../config/model';

/** Slots of the gradient state (a Float64Array view; see concurrency.ts for where it lives). */
export const G_ESTIMATE = 0;
export const G_LONG_RTT = 1;
export const G_LONG_COUNT = 2;
export const GRADIENT_SLOTS = 3;

/**
 * Gradient2Limit's default queueSize (4): the most headroom added each update so the limit can
 * probe upwards. Below an estimate of 16 the headroom is estimate / 4 instead: with a fixed 4 the
 * limit could never fall below 2 × 4 = 8 (estimate × 0.5 + 4), whatever minLimit says; scaled, a
 * sustained overload takes it down to minLimit, and at gradient 1 it still grows by a quarter a window.
 */
export const GRADIENT_QUEUE_SIZE = 4;
/** Gradient2Limit's longWindow (600): the long RTT is an EWMA over this many windows, factor 2 / (n + 1). */
export const LONG_RTT_WINDOWS = 600;
/** ExpAvgMeasurement's warm-up: the first 10 windows are a plain average. */
export const LONG_RTT_WARMUP = 10;
/** A window needs this many samples before it updates the limit (WindowedLimit's windowSize 10). */
export const MIN_WINDOW_SAMPLES = 10;

const LONG_FACTOR = 2 / (LONG_RTT_WINDOWS + 1);

/** Writes the starting state: the estimate at initialLimit (clamped), no RTT seen yet. */
export function initGradient(g: Float64Array, a: AdaptiveConcurrency, maxInFlight: number): void {
  g[G_ESTIMATE] = clamp(a.initialLimit, a.minLimit, maxInFlight);
  g[G_LONG_RTT] = 0;
  g[G_LONG_COUNT] = 0;
}

/**
 * One window's update (Gradient2Limit._update): `shortRtt` is the window's mean latency in ms,
 * `peakInFlight` the most requests in flight during it. Returns the new estimate (also in g).
 *   long     = EWMA of the short RTTs (plain mean while warming up); cut 5 % a window while
 *              long > 2 × short, so recovery after a long overload is not held back;
 *   gradient = clamp(tolerance × long / short, 0.5, 1)  (never more than halve at once);
 *   new      = estimate × gradient + min(queueSize, estimate / 4), smoothed: estimate × (1 − s) + new × s;
 * clamped to [minLimit, maxInFlight]. A window that used under half the limit (app-limited)
 * leaves it alone: low traffic says nothing about the upstream's capacity.
 */
export function updateGradient(
  g: Float64Array,
  a: AdaptiveConcurrency,
  maxInFlight: number,
  shortRtt: number,
  peakInFlight: number,
): number {
  const estimate = g[G_ESTIMATE];
  let long: number;
  const n = g[G_LONG_COUNT];
  if (n < LONG_RTT_WARMUP) {
    long = (g[G_LONG_RTT] * n + shortRtt) / (n + 1);
    g[G_LONG_COUNT] = n + 1;
  } else {
    long = g[G_LONG_RTT] * (1 - LONG_FACTOR) + shortRtt * LONG_FACTOR;
  }
  if (shortRtt > 0 && long / shortRtt > 2) long *= 0.95;
  g[G_LONG_RTT] = long;
  if (peakInFlight < estimate / 2) return estimate;
  const gradient = shortRtt > 0 ? clamp((a.tolerance * long) / shortRtt, 0.5, 1) : 1;
  const headroom = estimate < 4 * GRADIENT_QUEUE_SIZE ? estimate / 4 : GRADIENT_QUEUE_SIZE;
  let next = estimate * gradient + headroom;
  next = estimate * (1 - a.smoothing) + next * a.smoothing;
  next = clamp(next, a.minLimit, maxInFlight);
  g[G_ESTIMATE] = next;
  return next;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
