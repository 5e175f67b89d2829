// Histograms and the few statistics the suite reports. Every latency goes through one hdr-histogram-js histogram
// per run (microseconds, 3 significant digits), so the table, the JSON and the plot read the same numbers.
import * as hdr from 'hdr-histogram-js';

/** 60 s in µs: anything slower is clamped, and a run that slow is broken anyway. */
const HIGHEST_US = 60_000_000;

export type Histogram = hdr.Histogram;

export function createHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 64,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/** Records one latency in µs, clamped into the histogram's range. */
export function recordUs(h: Histogram, us: number): void {
  h.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(us))));
}

/** The figures the issue asks for, in milliseconds. */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export const PERCENTILE_KEYS: readonly (keyof Percentiles)[] = ['p50', 'p90', 'p99', 'p999', 'max'];

export function percentilesOf(h: Histogram): Percentiles {
  const ms = (us: number): number => Math.round(us) / 1000;
  return {
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}

/** Median of a non-empty list (mean of the two middle values for even lengths). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Per-figure median across runs: each percentile independently, as interleaved rounds are independent samples. */
export function medianPercentiles(runs: readonly Percentiles[]): Percentiles {
  const out = {} as Percentiles;
  for (const k of PERCENTILE_KEYS) out[k] = median(runs.map((r) => r[k]));
  return out;
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(b64: string): Histogram {
  return hdr.decodeFromCompressedBase64(b64, 64, false);
}

/**
 * Points for an HdrHistogram-style percentile plot: x is "1 / (1 - percentile)" (so 90 % → 10, 99 % → 100, …),
 * drawn on a log axis; y is latency in ms. Stops at the last percentile the sample count can resolve.
 */
export function percentileCurve(h: Histogram): { percentile: number; ms: number }[] {
  const points: { percentile: number; ms: number }[] = [];
  const total = h.totalCount;
  if (total === 0) return points;
  const maxX = Math.min(1e5, total); // beyond 1/N the curve is just the max
  for (let k = 0; ; k++) {
    const x = Math.pow(10, k / 10); // 10 points per decade
    if (x > maxX) break;
    const p = 100 * (1 - 1 / x);
    points.push({ percentile: p, ms: h.getValueAtPercentile(p) / 1000 });
  }
  points.push({ percentile: 100, ms: h.maxValue / 1000 });
  return points;
}
