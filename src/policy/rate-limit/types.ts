// The rate limiter's seams: the verdict the request path switches on, and the GlobalBackend
// (src/policy/global-limit/, Redis) that Global-mode policies delegate each rule's decision to.
import type { KeyInput } from '../key';
import type { LimitResult } from '../limit-result';
import type { RateLimitPolicy } from '../../config/model';

/**
 * What check() decided, as a number so the hot path allocates nothing. A value >= 0 means
 * Limited: the index of the (first) rule that refused the request (429 RATE_LIMITED).
 */
export const enum RateLimitVerdict {
  Allowed = -1,
  /** A rule with onMissingKey Reject found no key (400 LIMIT_KEY_MISSING). Nothing was charged. */
  KeyMissing = -2,
  /** Global mode, the store is unreachable and failureMode is closed (503 RATE_LIMIT_UNAVAILABLE). */
  Unavailable = -3,
}

export interface RateLimiter {
  readonly policy: RateLimitPolicy;
  /**
   * Decides one request: every rule must allow it; a refused request is charged nowhere.
   * `results` has one LimitResult per rule (createLimitResults), reused: a rule that did not
   * apply (Skip with no key, or not reached because an earlier rule refused) has limit 0.
   * `now`: the request's epoch ms from src/shared/clock.ts nowMs(), when the caller already read
   * it (a clock read costs 60-90 ns, as much as the decision); default: read it here.
   */
  check(input: KeyInput, results: LimitResult[], now?: number): RateLimitVerdict | number;
  /**
   * Gives back every charge of the last check() that allowed the request, because a later stage
   * (a quota) refused it: a refused request is charged nowhere. Must run before this thread's
   * next check() (the charges are remembered per limiter and thread).
   */
  refundLast(results: LimitResult[]): void;
}

export interface GlobalBackend {
  /** Decide and (when allowed) charge one request of `key` under limit `limitId`; fills `out`. Synchronous: answers from locally leased tokens; refills happen in the background. */
  take(limitId: number, key: string, requests: number, periodMs: number, now: number, out: LimitResult): void;
  /** Give back one token charged by take (another rule refused the request). */
  refund(limitId: number, key: string, requests: number, periodMs: number): void;
  /** False while the store is unreachable (failureMode decides). */
  readonly available: boolean;
}
