// The internal config model: what both config formats (Gateway API manifests and the
// native YAML) compile to. The route table, the pools and the admin /config read only this.
// Plain data (no functions, no class instances) so it crosses worker_threads via structured clone.

/** Where a config object came from, for error messages that name file, line and field. */
export interface SourceRef {
  file: string;
  /** 1-based line of the object (or field) in `file`. */
  line: number;
}

export interface Endpoint {
  /** IPv4/IPv6 literal or hostname. */
  address: string;
  port: number;
  /** Load-balancing weight (RoundRobin is smooth weighted round robin); default 1. */
  weight?: number;
}

/**
 * A backend is one upstream service port (Gateway API: Service + port; native: a named backend).
 * `endpoints` empty means the service exists but has nothing ready: requests get 503.
 */
export interface Backend {
  /** Stable id, e.g. `default/echo:8080` or the native backend name. */
  name: string;
  endpoints: Endpoint[];
  /** Backend-level traffic policy (load balancing, health, circuit breaking, ...); absent = defaults. */
  policy?: BackendPolicy;
  /**
   * Cross-thread state, created by the main thread at config load (src/shared/registry.ts) and
   * shared with every worker through the config message (a SharedArrayBuffer is shared, not
   * copied, by structured clone). Reused across reloads while the backend's endpoints and policy
   * are unchanged. Absent in single-threaded tests that build their own.
   */
  shared?: BackendShared;
}

export interface BackendShared {
  /** src/balancer/: in-flight counts (per-thread padded slots), EWMA latencies. */
  balancer?: SharedArrayBuffer;
  /** src/health/: active-check results, outlier ejections, Retry-After holds. */
  health?: SharedArrayBuffer;
  /** src/policy/circuit-breaker/: connections, pending, requests, retries counters. */
  breaker?: SharedArrayBuffer;
  /** src/policy/concurrency/ (a backend-level concurrency limit). */
  concurrency?: SharedArrayBuffer;
  /** src/retry/budget.ts: the retry budget's request and retry counters. */
  retryBudget?: SharedArrayBuffer;
}

export interface BackendRef {
  /** Name of a Backend in `GatewayConfig.backends`, or null when the reference resolves to nothing (500). */
  backend: string | null;
  /** Gateway API weight; 0 means never picked. Default 1. */
  weight: number;
  /** Why `backend` is null (shown in the 500 body and the access log). */
  invalidReason?: string;
  /** Filters applied only when this backendRef is picked (HTTPBackendRef.filters). */
  filters?: HTTPFilter[];
}

/** A header name/value pair (names case-insensitive; stored as given, compared lower-case). */
export interface HeaderPair {
  name: string;
  value: string;
}

/** Gateway API HTTPHeaderFilter. */
export interface HeaderModifier {
  set: HeaderPair[];
  add: HeaderPair[];
  remove: string[];
}

/** Gateway API HTTPPathModifier. */
export type PathModifier = { type: 'ReplaceFullPath'; value: string } | { type: 'ReplacePrefixMatch'; value: string };

/** Gateway API HTTPRouteFilter, one variant per `type` (Core and Extended). */
export type HTTPFilter =
  | { type: 'RequestHeaderModifier'; modifier: HeaderModifier }
  | { type: 'ResponseHeaderModifier'; modifier: HeaderModifier }
  | {
      type: 'RequestRedirect';
      scheme?: 'http' | 'https';
      hostname?: string;
      path?: PathModifier;
      port?: number;
      /** 301 | 302 | 303 | 307 | 308; default 302. */
      statusCode: number;
    }
  | { type: 'URLRewrite'; hostname?: string; path?: PathModifier }
  | {
      type: 'RequestMirror';
      /** Backend name, or null when the mirror's backendRef resolves to nothing (mirror skipped). */
      backend: string | null;
      /** Share of requests mirrored, 0..100 (percent, or fraction numerator/denominator × 100); default 100. */
      percent: number;
    }
  | {
      type: 'CORS';
      allowOrigins: string[];
      allowMethods: string[];
      allowHeaders: string[];
      exposeHeaders: string[];
      allowCredentials: boolean;
      /** Seconds; default 5 (Gateway API). */
      maxAge: number;
    }
  /**
   * A filter gatemesh cannot apply (ExtensionRef, ExternalAuth, a type it does not know). The
   * spec says such a filter "MUST NOT be skipped": requests on its rule get 500 instead.
   */
  | { type: 'Unresolved'; filterType: string; detail: string };

/** HTTPRouteTimeouts, in ms (0 = disabled). */
export interface RouteTimeouts {
  /** Whole request: head received → response complete (Gateway API `request`); 504 before the response head. */
  requestMs?: number;
  /** One upstream attempt: first byte sent → response complete (Gateway API `backendRequest`). */
  backendRequestMs?: number;
}

/** HTTPRouteRetry (Gateway API experimental/extended), extended by a BackendTrafficPolicy `retry`. */
export interface RouteRetry {
  /** Retries after the first attempt (default 1). */
  attempts: number;
  /** Upstream statuses that are retried (400..599, sorted, unique); connection failures always are. */
  codes: number[];
  /** Minimum wait before the first retry, ms (default 25; doubled each retry, jitter added, capped at 10×). */
  backoffMs: number;
  /** Cap of the exponential backoff, ms (policy `backoff.maxInterval`); default 10 × backoffMs. */
  backoffMaxMs?: number;
  /** What is retried besides `codes` (policy `retryOn.triggers`); default connect-failure and reset. */
  triggers?: RetryTrigger[];
  /** Retry non-idempotent methods too (policy `retryOn.nonIdempotent`; the route says so). Default false. */
  nonIdempotent?: boolean;
  /** Per-try timeout, ms (policy `perRetry.timeout`); 0 = none. Same as timeouts.backendRequest. */
  perTryTimeoutMs?: number;
  /** Retry budget (Linkerd/Envoy); absent = only the backend's circuit breaker maxRetries bounds retries. */
  budget?: RetryBudget;
}

/** Envoy's retry_on names for the failures gatemesh can retry. */
export type RetryTrigger = 'connect-failure' | 'reset' | 'retriable-status-codes' | 'gateway-error' | '5xx';

/**
 * Retries allowed = max(minRetriesPerSecond × window, ratio × requests in the window) (Linkerd's
 * retry budget, Envoy's retry_budget). Counted per backend across every thread.
 */
export interface RetryBudget {
  /** Retries as a fraction of requests, default 0.2 (Linkerd's retry_ratio, Envoy's budget_percent 20 %). */
  ratio: number;
  /** Retries always allowed per second, default 10 (Linkerd's min_retries_per_second). */
  minPerSecond: number;
  /** Window the ratio is computed over, ms; default 10000 (Linkerd's ttl 10 s). */
  windowMs: number;
}

// --- Traffic policies: gatemesh.io/v1alpha1 BackendTrafficPolicy (modelled on Envoy Gateway's),
// --- or `policies:` in the native YAML. The config loaders resolve attachments (Gateway → HTTPRoute
// --- → rule; Service) and put the effective policy on each RouteRule and Backend.

/**
 * Where a rate-limit, quota or hash key comes from. A composite key joins several parts; a
 * request lacking any part has no key (RateLimitRule.onMissingKey).
 */
export type PolicyKey =
  /** The socket peer, or the rightmost X-Forwarded-For hop not in GATEMESH_TRUSTED_PROXIES. */
  | { type: 'ClientIP' }
  /** A request header's value (name lower-case); absent header = no key. */
  | { type: 'Header'; name: string }
  /** A query parameter's (first) value, name case-sensitive; absent = no key. */
  | { type: 'QueryParam'; name: string }
  /** One key for the whole rule (every request shares it). */
  | { type: 'Route' }
  /** The authenticated consumer (set by auth filters, a later issue); absent until then = no key. */
  | { type: 'Consumer' }
  /** A cookie's value (consistent hashing only). */
  | { type: 'Cookie'; name: string };

/** What a limit does with a request that has no value for its key. */
export type MissingKeyAction =
  /** The limit does not apply to it (Envoy's descriptor semantics). Default. */
  | 'Skip'
  /** All keyless requests share one bucket. */
  | 'Shared'
  /** 400 GATEMESH_ERR_LIMIT_KEY_MISSING. */
  | 'Reject';

export interface RateLimitRule {
  /** Name in RateLimit-Policy and the 429 body; default `<policy>/limit<i>`. */
  name: string;
  key: PolicyKey[];
  onMissingKey: MissingKeyAction;
  /** Requests allowed per period (GCRA: at most `requests` back to back, then one every periodMs/requests). */
  requests: number;
  /** ms (policy `unit`: Second | Minute | Hour | Day, or a duration). */
  periodMs: number;
}

export interface RateLimitPolicy {
  /** `namespace/name` of the BackendTrafficPolicy or the native policy name (429 body, logs). */
  policy: string;
  /** Local: one limit per gatemesh process (all threads). Global: shared through Redis (GATEMESH_REDIS_URL). */
  mode: 'Local' | 'Global';
  rules: RateLimitRule[];
  /** Global mode with Redis unreachable: `open` lets requests through, `closed` answers 503. Default open. */
  failureMode: 'open' | 'closed';
  /** Send RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers); default true. */
  headers: boolean;
  /** Also send X-RateLimit-Limit / -Remaining / -Reset; default false. */
  legacyHeaders: boolean;
}

export interface QuotaRule {
  /** Name in the quota headers and the 429 body; default `<policy>/quota<i>`. */
  name: string;
  key: PolicyKey[];
  onMissingKey: MissingKeyAction;
  /** Requests allowed per window. */
  requests: number;
  /** Hour | Day | Month. */
  window: 'Hour' | 'Day' | 'Month';
  /** Calendar: windows start at UTC hour/day/month boundaries. Rolling: the last `window` up to now. Default Calendar. */
  alignment: 'Calendar' | 'Rolling';
}

export interface QuotaPolicy {
  policy: string;
  rules: QuotaRule[];
  /** Send the quota headers on responses under a quota; default true. */
  headers: boolean;
}

/** A maximum of requests in flight, then a bounded queue with a timeout; past either: 503 at once. */
export interface ConcurrencyPolicy {
  policy: string;
  /** Requests in flight at once across all threads (the ceiling when adaptive). */
  maxInFlight: number;
  /** Requests that may wait for a slot; default 0 (no queue). */
  maxQueue: number;
  /** ms a request may wait in the queue; default 1000. */
  queueTimeoutMs: number;
  /** Netflix concurrency-limits' gradient limit between minLimit and maxInFlight; absent = fixed limit. */
  adaptive?: AdaptiveConcurrency;
}

export interface AdaptiveConcurrency {
  /** Lowest limit, default 4. */
  minLimit: number;
  /** Starting limit, default min(20, maxInFlight)... clamped to [minLimit, maxInFlight]. */
  initialLimit: number;
  /** Gradient tolerance: RTT may grow to tolerance × min RTT before the limit drops; default 2 (concurrency-limits' rttTolerance). */
  tolerance: number;
  /** Smoothing of limit changes, 0..1; default 0.2 (concurrency-limits' smoothing). */
  smoothing: number;
  /** ms between limit updates (sample window); default 1000. */
  windowMs: number;
}

/** Request-level policies of one rule (RouteRule.policy). */
export interface RequestPolicy {
  rateLimit?: RateLimitPolicy;
  quota?: QuotaPolicy;
  concurrency?: ConcurrencyPolicy;
}

export interface RuleShared {
  /** src/policy/concurrency/ state of RequestPolicy.concurrency. */
  concurrency?: SharedArrayBuffer;
}

export type LoadBalancerPolicy =
  /** Smooth weighted round robin over Endpoint.weight (nginx's algorithm; plain round robin when all weights are equal). Default. */
  | { type: 'RoundRobin' }
  /** Least request, power of two random choices (Envoy LEAST_REQUEST, choice_count 2). */
  | { type: 'LeastRequest' }
  /** Peak EWMA of latency × (in flight + 1) over two random choices (Linkerd, Finagle). */
  | {
      type: 'PeakEWMA';
      /** ms; default 10000 (Linkerd's decay). */
      decayMs: number;
      /** ms assumed before an endpoint has a measurement; default 30 (Linkerd's default_rtt). */
      defaultRttMs: number;
    }
  | { type: 'Random' }
  | {
      type: 'ConsistentHash';
      /** Maglev (default; Envoy's table size 65537) or RingHash (Ketama-style ring). */
      algorithm: 'Maglev' | 'RingHash';
      /** What is hashed: ClientIP, Header, Cookie or QueryParam. A request without it gets a random endpoint. */
      hashOn: PolicyKey;
      /** Maglev table size (a prime) or ring size; default 65537 / 1024 × endpoints. */
      tableSize: number;
    };

/** Active health checks, run once per process (main thread); every thread sees the result. */
export interface ActiveHealthCheck {
  /** HTTP path, default "/". */
  path: string;
  /** Default GET. */
  method: string;
  /** Host header; default the endpoint's address:port. */
  hostname?: string;
  /** ms; default 3000 (Envoy Gateway). */
  intervalMs: number;
  /** ms; default 1000. */
  timeoutMs: number;
  /** Consecutive passes to mark an unhealthy endpoint healthy; default 1. */
  healthyThreshold: number;
  /** Consecutive failures to mark a healthy endpoint unhealthy; default 3. */
  unhealthyThreshold: number;
  /** Statuses that pass; default [200]. */
  expectedStatuses: number[];
}

/** Passive outlier detection (Envoy outlier_detection). */
export interface OutlierDetection {
  /** Consecutive 5xx responses that eject an endpoint; default 5; 0 = off. */
  consecutive5xx: number;
  /** Consecutive gateway errors (502/503/504, connect failure, reset, timeout); default 0 = off. */
  consecutiveGatewayErrors: number;
  /** First ejection, ms; ejection n lasts n × base, capped by maxEjectionTimeMs. Default 30000. */
  baseEjectionTimeMs: number;
  /** ms; default 300000 (Envoy). */
  maxEjectionTimeMs: number;
  /** Never eject more than this % of the backend's endpoints (at least one may be); default 10. */
  maxEjectionPercent: number;
}

export interface HealthPolicy {
  active?: ActiveHealthCheck;
  passive?: OutlierDetection;
  /** Below this % of healthy endpoints, balance over all of them (Envoy's panic threshold); default 50; 0 = off. */
  panicThresholdPercent: number;
  /** An upstream 429/503 with Retry-After holds that endpoint back for that long (capped at 300 s); default true. */
  honorRetryAfter: boolean;
}

/** Envoy circuit breaker thresholds, per backend across every thread; past one: 503 at once. Defaults 1024 (retries 3). */
export interface CircuitBreaker {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
}

/** Backend-level policies (Backend.policy). */
export interface BackendPolicy {
  /** `namespace/name` of the policy (or policies) that set these, for logs and /config. */
  policy: string;
  loadBalancer?: LoadBalancerPolicy;
  health?: HealthPolicy;
  circuitBreaker?: CircuitBreaker;
  /** A concurrency limit on requests to this backend (throttling). */
  concurrency?: ConcurrencyPolicy;
  /** A rate limit on requests to this backend (a policy attached to the Service). */
  rateLimit?: RateLimitPolicy;
  /** Retry budget for retries to this backend. */
  retryBudget?: RetryBudget;
}

export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';
export type ValueMatchType = 'Exact' | 'RegularExpression';

export interface PathMatch {
  type: PathMatchType;
  value: string;
}

export interface HeaderMatch {
  type: ValueMatchType;
  /** Header name, case-insensitive (stored lower-case). */
  name: string;
  /** Case-sensitive value (Gateway API). */
  value: string;
}

export interface QueryParamMatch {
  type: ValueMatchType;
  /** Query parameter name, case-sensitive (Gateway API). */
  name: string;
  value: string;
}

export interface RouteMatch {
  /** Gateway API default when absent: PathPrefix "/". */
  path: PathMatch;
  headers: HeaderMatch[];
  queryParams: QueryParamMatch[];
  /** Upper-case method, or undefined for any. */
  method?: string;
}

export interface RouteRule {
  name?: string;
  /** Gateway API default when empty: one match of PathPrefix "/". */
  matches: RouteMatch[];
  backendRefs: BackendRef[];
  /** Rule-level filters in the order given (HTTPRouteRule.filters); absent = none. */
  filters?: HTTPFilter[];
  timeouts?: RouteTimeouts;
  retry?: RouteRetry;
  /** Request-level traffic policies attached to this rule, its route or its Gateway (most specific wins per section). */
  policy?: RequestPolicy;
  /** Cross-thread state for `policy` (main thread, src/shared/registry.ts); see Backend.shared. */
  shared?: RuleShared;
  /** Where the rule is, for messages. */
  source?: SourceRef;
}

export interface Route {
  /** `namespace/name` for manifests, the route name for native YAML. */
  name: string;
  /** Hostnames this route answers for, already intersected with the listener hostname; empty = any. */
  hostnames: string[];
  rules: RouteRule[];
  /** Gateway API tie-breakers: oldest creationTimestamp first, then namespace/name alphabetical. */
  creationTimestamp?: string;
  source: SourceRef;
}

export interface Listener {
  /** `gatewayNamespace/gatewayName/listenerName` or the native listener name. */
  name: string;
  /** Bind address; default all interfaces ("0.0.0.0"). */
  address: string;
  /** 0 asks the OS for a free port (tests). */
  port: number;
  protocol: 'HTTP';
  /** Listener hostname (exact or `*.` wildcard), or undefined for any. */
  hostname?: string;
  routes: Route[];
}

export interface GatewayConfig {
  listeners: Listener[];
  backends: Record<string, Backend>;
  /** Files the config was read from (for /config and reload). */
  sources: string[];
  /** Non-fatal problems (unknown kinds, ignored objects), one line each with file:line. */
  warnings: string[];
}
