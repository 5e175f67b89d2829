// A route rule's `timeouts` and `retry` as the request path reads them: built once per rule at
// config load (createRulePolicy), null for the rules that set neither, so the common request
// pays one null check. Backoff maths lives here; per-request state is in attempt-controller.ts.
import type { RouteRule } from '../config/model';

/**
 * A request body is copied for a possible replay up to this many bytes (64 KiB). A larger body
 * (declared by Content-Length, or a chunked body that grows past it) is streamed once and never
 * retried: holding it would cost memory per request in flight.
 */
export const REPLAY_BODY_LIMIT = 64 * 1024;
/** The backoff never grows past this multiple of the configured one: Envoy's max_interval default (10 × base). */
export const BACKOFF_CAP_FACTOR = 10;
/** Each backoff step gets up to this fraction of itself added as jitter (never subtracted: the spec's minimum holds). */
export const BACKOFF_JITTER = 0.25;

export interface RulePolicy {
  /** timeouts.request, ms: head received → response complete; 0 = none. */
  readonly requestMs: number;
  /**
   * timeouts.backendRequest, ms, per attempt: first byte sent → response complete.
   * -1 = unset (GATEMESH_UPSTREAM_TIMEOUT_MS applies to the response head); 0 = disabled ("0s").
   */
  readonly backendRequestMs: number;
  /** Retries after the first attempt (retry.attempts); 0 = never retried. */
  readonly retries: number;
  /** retry.backoff, ms: the wait before the first retry; doubled per retry up to maxBackoffMs. */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** retry.codes as a lookup: `codes[status - 400] === 1` (plus 502–504 for gateway-error, 500–599 for 5xx). */
  readonly codes: Uint8Array;
  /** Retry when the connection could not be made (trigger connect-failure; default on). */
  readonly retryConnect: boolean;
  /** Retry when the upstream reset or sent no valid head in time (trigger reset; default on). */
  readonly retryReset: boolean;
  /** Retry non-idempotent methods too (policy retryOn.nonIdempotent; default off, RFC 9110 §9.2.2). */
  readonly nonIdempotent: boolean;
}

/** The rule's policy, or null when it sets no timeout and no retry (the fast path). */
export function createRulePolicy(rule: RouteRule): RulePolicy | null {
  const t = rule.timeouts;
  const r = rule.retry;
  if (t === undefined && r === undefined) return null;
  const codes = new Uint8Array(200);
  for (const c of r?.codes ?? []) if (c >= 400 && c <= 599) codes[c - 400] = 1;
  // Envoy's retry_on: without triggers (HTTPRoute retry) connection failures and resets are
  // retried (HTTPRouteRetry "SHOULD retry on connection errors") plus the listed codes.
  const triggers = r?.triggers;
  const has = (t: string): boolean => triggers === undefined || triggers.includes(t as never);
  if (triggers?.includes('gateway-error')) for (const c of [502, 503, 504]) codes[c - 400] = 1;
  if (triggers?.includes('5xx')) for (let c = 500; c <= 599; c++) codes[c - 400] = 1;
  const broad = triggers !== undefined && (triggers.includes('gateway-error') || triggers.includes('5xx'));
  const backoffMs = r?.backoffMs ?? 0;
  // timeouts.backendRequest wins over the policy's perRetry.timeout (the route's own field).
  const perTry = t?.backendRequestMs ?? (r?.perTryTimeoutMs !== undefined && r.perTryTimeoutMs > 0 ? r.perTryTimeoutMs : -1);
  return {
    requestMs: t?.requestMs ?? 0,
    backendRequestMs: perTry,
    retries: r?.attempts ?? 0,
    backoffMs,
    maxBackoffMs: r?.backoffMaxMs !== undefined && r.backoffMaxMs >= backoffMs ? r.backoffMaxMs : backoffMs * BACKOFF_CAP_FACTOR,
    codes,
    retryConnect: has('connect-failure') || broad,
    retryReset: has('reset') || broad,
    nonIdempotent: r?.nonIdempotent === true,
  };
}

/** True when an upstream answer with `status` may be retried (retry.codes). */
export function retriesStatus(p: RulePolicy, status: number): boolean {
  return status >= 400 && status <= 599 && p.codes[status - 400] === 1;
}

/**
 * Wait before retry number `retry` (1 = the first retry), ms: exponential from the configured
 * backoff, plus up to 25 % jitter, capped at 10 × backoff. HTTPRouteRetry.backoff: implementations
 * "MAY use an exponential ... strategy, MAY cap ..., MAY add arbitrary jitter ... as long as
 * unsuccessful backend requests are not retried before the configured minimum duration", so the
 * result is never below `backoffMs`. `random` is in [0, 1).
 */
export function backoffDelay(p: RulePolicy, retry: number, random: number): number {
  const step = p.backoffMs * 2 ** Math.min(retry - 1, 30);
  const delay = step * (1 + BACKOFF_JITTER * random);
  return delay < p.maxBackoffMs ? delay : p.maxBackoffMs;
}
