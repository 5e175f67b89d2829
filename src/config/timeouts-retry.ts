// HTTPRouteRule `timeouts` and `retry` (Gateway API v1 HTTPRouteTimeouts, experimental
// HTTPRouteRetry / GEP-1731), shared by the manifest and native compilers: durations parsed,
// defaults applied, and the cross-field rule the CRD enforces with CEL checked here.
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import type { RouteRetry, RouteTimeouts } from './model';
import { DURATION_EXPECTED, DURATION_PATTERN, formatDuration, parseDuration } from './duration';

/** Retries after the first attempt when `attempts` is unset ("implementation-specific"): Envoy's num_retries default. */
export const DEFAULT_RETRY_ATTEMPTS = 1;
/** Backoff when `backoff` is unset, ms: Envoy's base_interval default (25 ms). */
export const DEFAULT_RETRY_BACKOFF_MS = 25;
/** Upper bound on `attempts`: every retry is one more request the backend must absorb. */
export const MAX_RETRY_ATTEMPTS = 10;

const Duration = Type.String({ pattern: DURATION_PATTERN, expected: DURATION_EXPECTED });

export const TimeoutsSchema = Type.Object(
  { request: Type.Optional(Duration), backendRequest: Type.Optional(Duration) },
  { additionalProperties: false },
);

export const RetrySchema = Type.Object(
  {
    /** HTTPRouteRetryStatusCode: 400..599 (the spec requires 500, 502, 503, 504 to work). */
    codes: Type.Optional(Type.Array(Type.Integer({ minimum: 400, maximum: 599 }))),
    attempts: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_RETRY_ATTEMPTS })),
    backoff: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export type TimeoutsSpec = Static<typeof TimeoutsSchema>;
export type RetrySpec = Static<typeof RetrySchema>;

/** Reports one problem at a field below the block (e.g. ['backendRequest']). */
export type PolicyProblem = (sub: string[], what: string) => void;

/**
 * Model timeouts, or undefined when none is set. The CRD rule: "backendRequest timeout cannot be
 * longer than request timeout" unless request is 0s (disabled).
 */
export function compileTimeouts(spec: TimeoutsSpec | undefined, bad: PolicyProblem): RouteTimeouts | undefined {
  if (spec === undefined) return undefined;
  const out: RouteTimeouts = {};
  const request = spec.request === undefined ? undefined : parseDuration(spec.request);
  const backend = spec.backendRequest === undefined ? undefined : parseDuration(spec.backendRequest);
  if (typeof request === 'string') bad(['request'], request);
  else if (request !== undefined) out.requestMs = request;
  if (typeof backend === 'string') bad(['backendRequest'], backend);
  else if (backend !== undefined) out.backendRequestMs = backend;
  if (typeof request === 'number' && typeof backend === 'number' && request !== 0 && backend > request) {
    bad(['backendRequest'], `backendRequest timeout (${spec.backendRequest}) cannot be longer than request timeout ` +
      `(${spec.request}); lower backendRequest or raise request`);
  }
  return out.requestMs === undefined && out.backendRequestMs === undefined ? undefined : out;
}

/** Model retry with defaults applied, or undefined when the block is absent. */
export function compileRetry(spec: RetrySpec | undefined, bad: PolicyProblem): RouteRetry | undefined {
  if (spec === undefined) return undefined;
  let backoffMs = DEFAULT_RETRY_BACKOFF_MS;
  if (spec.backoff !== undefined) {
    const ms = parseDuration(spec.backoff);
    if (typeof ms === 'string') bad(['backoff'], ms);
    else backoffMs = ms;
  }
  const codes = [...new Set(spec.codes ?? [])].sort((a, b) => a - b);
  return { attempts: spec.attempts ?? DEFAULT_RETRY_ATTEMPTS, codes, backoffMs };
}

/** One-line summary for `gatemesh routes`: `request=5s backendRequest=1s retry=2x[502,503]/100ms`. */
export function describePolicy(timeouts: RouteTimeouts | undefined, retry: RouteRetry | undefined): string {
  const parts: string[] = [];
  if (timeouts?.requestMs !== undefined) parts.push(`request=${formatDuration(timeouts.requestMs)}`);
  if (timeouts?.backendRequestMs !== undefined) parts.push(`backendRequest=${formatDuration(timeouts.backendRequestMs)}`);
  if (retry !== undefined) parts.push(`retry=${retry.attempts}x[${retry.codes.join(',')}]/${formatDuration(retry.backoffMs)}`);
  return parts.join(' ');
}
