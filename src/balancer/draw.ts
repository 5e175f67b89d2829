// A random endpoint in proportion to its weight, among the usable ones: what Random, the two
// candidates of P2C (LeastRequest, PeakEWMA) and consistent hashing's keyless requests use.
// Rejection sampling first (exactly the weighted distribution conditioned on usable, O(1) or
// O(log n) when most endpoints are usable), then after a few misses an O(n) weighted scan over
// the usable ones, so a mostly-ejected backend is still drawn from without bias and in bounded time.
//
// Allocation: a double passed to or returned from a call V8 did not inline is boxed (a heap
// number per call). So `draw` computes its random number itself (the default mulberry32 inline,
// fast-random.ts) and only ever returns an index; an injected `random` (tests) is a call.
import { fastRandom } from './fast-random';
import type { BalancerSetup, EndpointAvailability } from './types';

/** Random draws before the exact scan: with half the endpoints unusable, 1/16 of picks scan. */
const TRIES = 4;

export class WeightedDraw {
  private readonly n: number;
  private readonly weights: Float64Array;
  /** Running sums of the weights (weighted case), for a binary search; null when all are equal. */
  private readonly cumulative: Float64Array | null;
  private readonly total: number;
  private readonly availability: EndpointAvailability | null;
  /** An injected source, or null for the inline mulberry32 over `state`. */
  private readonly custom: (() => number) | null;
  private readonly state: Int32Array;

  constructor(s: BalancerSetup) {
    this.n = s.n;
    this.weights = s.weights;
    this.availability = s.availability;
    this.custom = s.random === fastRandom ? null : s.random;
    this.state = new Int32Array(1);
    this.state[0] = Math.floor(fastRandom() * 0x100000000) | 0;
    let total = 0;
    const cumulative = new Float64Array(s.n);
    for (let i = 0; i < s.n; i++) cumulative[i] = total += s.weights[i];
    this.total = total;
    this.cumulative = s.equalWeights ? null : cumulative;
  }

  /** One endpoint drawn by weight among the usable ones with weight > 0 other than `not1` and `not2` (-1 = none); -1 when there is none. */
  draw(not1: number, not2: number): number {
    const n = this.n;
    if (n === 0) return -1;
    const w = this.weights;
    const av = this.availability;
    // One endpoint: every try lands on it, so the answer is whether it is eligible, without a
    // random number (nor TRIES misses and a scan when it is excluded, as LeastRequest's second
    // candidate always is). Callgrind, uws, policies-nolog (one endpoint, LeastRequest),
    // instructions per request: 38,318 → 37,961 (draw itself 578 → 95).
    if (n === 1) return not1 !== 0 && not2 !== 0 && w[0] > 0 && (av === null || av.usable(0)) ? 0 : -1;
    const c = this.cumulative;
    for (let t = 0; t < TRIES; t++) {
      let u: number;
      if (this.custom === null) {
        // mulberry32, as fast-random.ts
        const a = (this.state[0] = (this.state[0] + 0x6d2b79f5) | 0);
        let x = Math.imul(a ^ (a >>> 15), 1 | a);
        x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
        u = ((x ^ (x >>> 14)) >>> 0) / 4294967296;
      } else {
        u = this.custom();
      }
      let i: number;
      if (c === null) {
        i = Math.floor(u * n);
        if (i >= n) i = n - 1;
      } else {
        const target = u * this.total;
        let lo = 0;
        let hi = n - 1;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (c[mid] > target) hi = mid;
          else lo = mid + 1;
        }
        i = lo;
      }
      if (i !== not1 && i !== not2 && w[i] > 0 && (av === null || av.usable(i))) return i;
    }
    return this.scan(not1, not2);
  }

  /** The exact O(n) draw over the eligible endpoints. */
  private scan(not1: number, not2: number): number {
    const n = this.n;
    const w = this.weights;
    const av = this.availability;
    let sum = 0;
    for (let i = 0; i < n; i++) if (i !== not1 && i !== not2 && w[i] > 0 && (av === null || av.usable(i))) sum += w[i];
    if (sum === 0) return -1;
    let r = (this.custom === null ? fastRandom() : this.custom()) * sum;
    let last = -1;
    for (let i = 0; i < n; i++) {
      if (i === not1 || i === not2 || w[i] === 0 || (av !== null && !av.usable(i))) continue;
      last = i;
      r -= w[i];
      if (r < 0) return i;
    }
    return last; // rounding left r at ~0
  }
}
