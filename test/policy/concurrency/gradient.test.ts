// The Gradient2 update on its own: growth at steady latency, a cut when latency passes the
// tolerance, the app-limited hold, the bounds, and the long-RTT warm-up.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AdaptiveConcurrency } from '../../../src/config/model';
import {
  G_ESTIMATE,
  G_LONG_COUNT,
  G_LONG_RTT,
  GRADIENT_SLOTS,
  initGradient,
  LONG_RTT_WARMUP,
  updateGradient,
} from '../../../src/policy/concurrency/gradient';

const a: AdaptiveConcurrency = { minLimit: 4, initialLimit: 20, tolerance: 2, smoothing: 0.2, windowMs: 1000 };

function state(estimate: number, longRtt: number, longCount = LONG_RTT_WARMUP): Float64Array {
  const g = new Float64Array(GRADIENT_SLOTS);
  g[G_ESTIMATE] = estimate;
  g[G_LONG_RTT] = longRtt;
  g[G_LONG_COUNT] = longCount;
  return g;
}

describe('updateGradient', () => {
  const cases: { desc: string; est: number; long: number; short: number; peak: number; min?: number; max?: number; want: number }[] = [
    // 20 × 0.8 + (20 × 1 + 4) × 0.2
    { desc: 'steady latency, limit used: grows by smoothing × queueSize', est: 20, long: 10, short: 10, peak: 20, want: 20.8 },
    { desc: 'latency within tolerance: still grows', est: 20, long: 10, short: 19, peak: 20, want: 20.8 },
    // gradient = 2 × 10 / 30 = 0.667: 16 + (13.33 + 4) × 0.2
    { desc: 'latency past tolerance: shrinks by the gradient', est: 20, long: 10, short: 30, peak: 20, want: 16 + (20 * (2 / 3) + 4) * 0.2 },
    // gradient floored at 0.5: 16 + (10 + 4) × 0.2
    { desc: 'latency ×10: gradient floored at 0.5', est: 20, long: 10, short: 100, peak: 20, want: 18.8 },
    { desc: 'app-limited (peak under half): unchanged', est: 20, long: 10, short: 100, peak: 9, want: 20 },
    // 10 × 0.8 + (5 + 4) × 0.2 = 9.8, held at 10
    { desc: 'never below minLimit', est: 10, long: 10, short: 100, peak: 10, min: 10, want: 10 },
    { desc: 'never above maxInFlight', est: 20, long: 10, short: 10, peak: 20, max: 20, want: 20 },
    // below 16 the headroom is estimate / 4: 8 × 0.8 + (8 + 2) × 0.2
    { desc: 'small limit: headroom is a quarter of it', est: 8, long: 10, short: 10, peak: 8, want: 8.4 },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const g = state(c.est, c.long);
      const got = updateGradient(g, { ...a, minLimit: c.min ?? a.minLimit }, c.max ?? 1000, c.short, c.peak);
      // The long RTT moves a little towards short first (EWMA); allow for it.
      assert.ok(Math.abs(got - c.want) < 0.05, `got ${got}, want ${c.want}`);
      assert.equal(g[G_ESTIMATE], got);
    });
  }

  it('warms the long RTT up as a plain mean, then as a slow EWMA', () => {
    const g = new Float64Array(GRADIENT_SLOTS);
    initGradient(g, a, 100);
    assert.equal(g[G_ESTIMATE], 20);
    updateGradient(g, a, 100, 10, 0);
    updateGradient(g, a, 100, 30, 0);
    assert.equal(g[G_LONG_RTT], 20);
    for (let i = 2; i < LONG_RTT_WARMUP; i++) updateGradient(g, a, 100, 20, 0);
    assert.equal(g[G_LONG_COUNT], LONG_RTT_WARMUP);
    updateGradient(g, a, 100, 620, 0);
    // 2 / 601 of the way from 20 to 620.
    assert.ok(Math.abs(g[G_LONG_RTT] - (20 + (600 * 2) / 601)) < 1e-9, String(g[G_LONG_RTT]));
  });

  it('cuts the long RTT 5 % while it is over twice the short one (recovery)', () => {
    const g = state(20, 100);
    updateGradient(g, a, 100, 10, 0);
    const ewma = 100 * (1 - 2 / 601) + 10 * (2 / 601);
    assert.ok(Math.abs(g[G_LONG_RTT] - ewma * 0.95) < 1e-9);
  });

  it('a sustained latency rise takes the limit down to minLimit (a fixed headroom of 4 would stop it at 8)', () => {
    const c = { ...a, minLimit: 2 };
    const g = new Float64Array(GRADIENT_SLOTS);
    initGradient(g, c, 20);
    for (let i = 0; i < LONG_RTT_WARMUP; i++) updateGradient(g, c, 20, 2, 20);
    let lowest = Infinity;
    for (let i = 0; i < 300; i++) lowest = Math.min(lowest, updateGradient(g, c, 20, 150, g[G_ESTIMATE]));
    assert.ok(lowest < 2.05, `lowest limit ${lowest}`);
  });

  it('initialLimit is clamped to [minLimit, maxInFlight]', () => {
    const g = new Float64Array(GRADIENT_SLOTS);
    initGradient(g, { ...a, initialLimit: 50 }, 30);
    assert.equal(g[G_ESTIMATE], 30);
    initGradient(g, { ...a, initialLimit: 1 }, 30);
    assert.equal(g[G_ESTIMATE], 4);
  });
});
