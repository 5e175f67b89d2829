// Retry budget per backend (Linkerd's retry budget, Envoy's retry_budget): retries allowed in the
// window = max(minPerSecond × window, ratio × first attempts in the window) − retries already
// made, so retries cannot multiply an outage. Counted across every worker thread in a
// SharedArrayBuffer: a sliding window of BUCKETS sub-buckets, each [epoch, requests, retries].
import type { RetryBudget as RetryBudgetConfig } from '../config/model';
import { nowMs } from '../shared/clock';
import { BACKOFF_JITTER } from './rule-policy';

export interface RetryBudget {
  /** A first attempt to the backend (retries are not deposits, as in Linkerd). */
  onRequest(): void;
  /** True if a retry is allowed now, and records it; false: answer with the last attempt's result (or RETRY_BUDGET_EXHAUSTED). */
  tryRetry(): boolean;
  /** First attempts in the window, all threads. */
  readonly requests: number;
  /** Retries in the window, all threads. */
  readonly retries: number;
  /** Retries refused since the buffer was created, all threads (/stats: upstream_rq_retry_overflow). */
  readonly exhausted: number;
}

/**
 * Sub-buckets per window. The window slides a bucket at a time, so it covers the current bucket
 * and the 9 before it: between 0.9 × and 1 × windowMs of history.
 */
export const BUCKETS = 10;

// --- SharedArrayBuffer layout (Int32 words) ---
// line 0 (bytes 0..63): EXHAUSTED
// bytes 64 + 16 × b: bucket b: EPOCH, REQUESTS, RETRIES, (pad)
// EPOCH = (tick mod EPOCH_MOD) + 1 where tick = floor(nowMs() / bucketMs); 0 = never used;
// ROTATING while one thread zeroes the bucket for its new tick. Epoch ms are the same on every
// thread (src/shared/clock.ts), so no base time is needed and the buffer starts all zero.
const EXHAUSTED = 0;
const BUCKET0 = 16;
const STRIDE = 4;
const REQUESTS = 1;
const RETRIES = 2;
const BYTES = 64 + 16 * BUCKETS;
const EPOCH_MOD = 0x7ffffffe;
const ROTATING = -1;
/** Loads spent waiting out another thread's rotation (two stores) before giving up on this count. */
const ROTATION_SPINS = 1000;

/** Bytes of the SharedArrayBuffer the main thread allocates per backend (all zero). */
export function retryBudgetSharedBytes(): number {
  return BYTES;
}

/**
 * Every thread passes the same buffer; `shared` undefined gives a private one (one thread).
 * `clock` (epoch ms, nowMs) is for tests.
 */
export function createRetryBudget(cfg: RetryBudgetConfig, shared?: SharedArrayBuffer, clock: () => number = nowMs): RetryBudget {
  if (!(cfg.ratio >= 0)) throw new TypeError('retry budget: ratio must be ≥ 0 (default 0.2)');
  if (!(cfg.minPerSecond >= 0)) throw new TypeError('retry budget: minPerSecond must be ≥ 0 (default 10)');
  if (!(cfg.windowMs >= BUCKETS)) throw new TypeError(`retry budget: windowMs must be ≥ ${BUCKETS} ms (default 10000)`);
  const sab = shared ?? new SharedArrayBuffer(BYTES);
  if (sab.byteLength < BYTES) throw new TypeError(`retry budget: shared buffer has ${sab.byteLength} bytes, needs ${BYTES} (retryBudgetSharedBytes())`);
  return new Budget(cfg, new Int32Array(sab, 0, BYTES / 4), clock);
}

/**
 * Wait before retry number `retry` (1 = the first), ms, for a RouteRetry: exponential from
 * `baseMs`, up to 25 % jitter added (BACKOFF_JITTER), capped at `maxMs` (RouteRetry.backoffMaxMs,
 * default 10 × base). The same curve as rule-policy's backoffDelay, for callers holding a
 * RouteRetry rather than a RulePolicy. Not full jitter (random × step): HTTPRouteRetry.backoff
 * forbids retrying before the configured minimum, so the result is never below `baseMs`.
 * `random` is in [0, 1).
 */
export function backoffMs(retry: number, baseMs: number, maxMs: number, random: number): number {
  const step = baseMs * 2 ** Math.min(retry - 1, 30);
  const delay = step * (1 + BACKOFF_JITTER * random);
  const cap = maxMs > baseMs ? maxMs : baseMs;
  return delay < cap ? delay : cap;
}

class Budget implements RetryBudget {
  private readonly bucketMs: number;
  /** minPerSecond × window in seconds: retries always allowed per window. */
  private readonly minRetries: number;
  private readonly ratio: number;

  constructor(
    cfg: RetryBudgetConfig,
    private readonly i32: Int32Array,
    private readonly clock: () => number,
  ) {
    this.bucketMs = cfg.windowMs / BUCKETS;
    this.minRetries = (cfg.minPerSecond * cfg.windowMs) / 1000;
    this.ratio = cfg.ratio;
  }

  onRequest(): void {
    const at = this.bucket(Math.floor(this.clock() / this.bucketMs));
    if (at >= 0) Atomics.add(this.i32, at + REQUESTS, 1);
  }

  tryRetry(): boolean {
    const i32 = this.i32;
    const tick = Math.floor(this.clock() / this.bucketMs);
    const at = this.bucket(tick);
    // Add, then check, then undo if over: a sum over buckets cannot be compare-and-swapped, and
    // this order never lets the window exceed its allowance (two threads racing for the last
    // retry may both be refused, never both allowed).
    if (at >= 0) Atomics.add(i32, at + RETRIES, 1);
    const requests = this.sum(tick, REQUESTS);
    const retries = this.sum(tick, RETRIES) + (at >= 0 ? 0 : 1);
    const byRatio = this.ratio * requests;
    const allowed = byRatio > this.minRetries ? byRatio : this.minRetries;
    if (retries <= allowed) return true;
    if (at >= 0) Atomics.sub(i32, at + RETRIES, 1);
    Atomics.add(i32, EXHAUSTED, 1);
    return false;
  }

  get requests(): number {
    return this.sum(Math.floor(this.clock() / this.bucketMs), REQUESTS);
  }
  get retries(): number {
    return this.sum(Math.floor(this.clock() / this.bucketMs), RETRIES);
  }
  get exhausted(): number {
    return Atomics.load(this.i32, EXHAUSTED);
  }

  /** Sum of `field` over the buckets of ticks (tick − BUCKETS, tick]. */
  private sum(tick: number, field: number): number {
    const i32 = this.i32;
    let total = 0;
    for (let k = 0; k < BUCKETS; k++) {
      const t = tick - k;
      if (t < 0) break;
      const at = BUCKET0 + STRIDE * (t % BUCKETS);
      if (Atomics.load(i32, at) === (t % EPOCH_MOD) + 1) total += Atomics.load(i32, at + field);
    }
    return total;
  }

  /**
   * The Int32 index of the bucket for `tick`, rotated to it if it still holds an older tick; -1
   * (count nothing) if it already holds a newer one (this thread stalled a whole window) or a
   * rotation by another thread is not over after ROTATION_SPINS loads.
   */
  private bucket(tick: number): number {
    const i32 = this.i32;
    const at = BUCKET0 + STRIDE * (tick % BUCKETS);
    const epoch = (tick % EPOCH_MOD) + 1;
    for (let spins = 0; spins < ROTATION_SPINS; spins++) {
      const v = Atomics.load(i32, at);
      if (v === epoch) return at;
      if (v === ROTATING) continue;
      if (v !== 0) {
        const ahead = (v - epoch + EPOCH_MOD) % EPOCH_MOD;
        if (ahead < EPOCH_MOD / 2) return -1;
      }
      // Zero the counts before publishing the epoch: a thread that sees the new epoch adds to zeroed counts.
      if (Atomics.compareExchange(i32, at, v, ROTATING) === v) {
        Atomics.store(i32, at + REQUESTS, 0);
        Atomics.store(i32, at + RETRIES, 0);
        Atomics.store(i32, at, epoch);
        return at;
      }
    }
    return -1;
  }
}
