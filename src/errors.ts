// The error catalogue: every error gatemesh answers with has a stable code, an HTTP status
// and a short reason. `errorResponse` in src/proxy.ts is the one place that turns them into
// responses; the access log prints the code as its `error` field.

export interface ErrorSpec {
  readonly code: string;
  readonly status: number;
  /** Short plain-text reason, sent as the body (with a trailing newline) and logged. */
  readonly reason: string;
  /** True when the downstream connection must be closed after the response (framing errors). */
  readonly close: boolean;
}

function e(code: string, status: number, reason: string, close = false): ErrorSpec {
  return Object.freeze({ code, status, reason, close });
}

export const ERR = Object.freeze({
  // Request framing and syntax (RFC 9112 §6.3, §11.2): reject and close, forward nothing.
  BAD_REQUEST: e('GATEMESH_ERR_BAD_REQUEST', 400, 'bad request', true),
  BAD_REQUEST_LINE: e('GATEMESH_ERR_BAD_REQUEST_LINE', 400, 'malformed request line', true),
  BAD_HEADER: e('GATEMESH_ERR_BAD_HEADER', 400, 'malformed header field', true),
  CL_AND_TE: e('GATEMESH_ERR_CL_AND_TE', 400, 'both Content-Length and Transfer-Encoding', true),
  BAD_CONTENT_LENGTH: e('GATEMESH_ERR_BAD_CONTENT_LENGTH', 400, 'invalid or duplicate Content-Length', true),
  BAD_TRANSFER_ENCODING: e('GATEMESH_ERR_BAD_TRANSFER_ENCODING', 400, 'Transfer-Encoding must end with chunked', true),
  BAD_CHUNK: e('GATEMESH_ERR_BAD_CHUNK', 400, 'invalid chunked body', true),
  MISSING_HOST: e('GATEMESH_ERR_MISSING_HOST', 400, 'missing Host header', true),
  DUPLICATE_HOST: e('GATEMESH_ERR_DUPLICATE_HOST', 400, 'duplicate Host header', true),
  BAD_HOST: e('GATEMESH_ERR_BAD_HOST', 400, 'invalid Host header', true),
  HEADERS_TIMEOUT: e('GATEMESH_ERR_HEADERS_TIMEOUT', 408, 'request headers not received in time', true),
  BODY_TOO_LARGE: e('GATEMESH_ERR_BODY_TOO_LARGE', 413, 'request body too large', true),
  URI_TOO_LONG: e('GATEMESH_ERR_URI_TOO_LONG', 414, 'request URI too long', true),
  HEADERS_TOO_LARGE: e('GATEMESH_ERR_HEADERS_TOO_LARGE', 431, 'request header fields too large', true),
  HTTP_VERSION: e('GATEMESH_ERR_HTTP_VERSION', 505, 'HTTP version not supported', true),
  // RFC 9110 §10.1.1: an expectation other than 100-continue cannot be met.
  EXPECTATION_FAILED: e('GATEMESH_ERR_EXPECTATION_FAILED', 417, 'unsupported Expect value', true),
  // Routing.
  NO_ROUTE: e('GATEMESH_ERR_NO_ROUTE', 404, 'no route matched'),
  BACKEND_NOT_FOUND: e('GATEMESH_ERR_BACKEND_NOT_FOUND', 500, 'backendRef resolves to nothing'),
  NO_BACKEND: e('GATEMESH_ERR_NO_BACKEND', 500, 'no backendRef with a non-zero weight'),
  NO_ENDPOINTS: e('GATEMESH_ERR_NO_ENDPOINTS', 503, 'no healthy endpoints'),
  // Upstream.
  UPSTREAM_CONNECT: e('GATEMESH_ERR_UPSTREAM_CONNECT', 502, 'upstream connection failed'),
  UPSTREAM_CONNECT_TIMEOUT: e('GATEMESH_ERR_UPSTREAM_CONNECT_TIMEOUT', 504, 'upstream connect timeout'),
  UPSTREAM_RESET: e('GATEMESH_ERR_UPSTREAM_RESET', 502, 'upstream closed before a complete response head'),
  UPSTREAM_BAD_RESPONSE: e('GATEMESH_ERR_UPSTREAM_BAD_RESPONSE', 502, 'invalid upstream response'),
  UPSTREAM_TIMEOUT: e('GATEMESH_ERR_UPSTREAM_TIMEOUT', 504, 'upstream response timeout'),
  UPSTREAM_POOL_FULL: e('GATEMESH_ERR_UPSTREAM_POOL_FULL', 503, 'upstream connection limit reached'),
  // HTTPRoute rules[].timeouts (Gateway API HTTPRouteTimeouts: "MUST return a timeout error").
  ROUTE_TIMEOUT: e('GATEMESH_ERR_ROUTE_TIMEOUT', 504, 'route request timeout (timeouts.request)'),
  BACKEND_TIMEOUT: e('GATEMESH_ERR_BACKEND_TIMEOUT', 504, 'backend request timeout (timeouts.backendRequest)'),
  WEBSOCKET_REJECTED: e('GATEMESH_ERR_WEBSOCKET_REJECTED', 502, 'upstream did not accept the WebSocket upgrade'),
  // Traffic policies (src/policy/, src/health/, BackendTrafficPolicy). 429s carry Retry-After and an
  // application/problem+json body (RFC 9457) naming the policy; 503s say which limit was hit.
  RATE_LIMITED: e('GATEMESH_ERR_RATE_LIMITED', 429, 'rate limit exceeded'),
  QUOTA_EXCEEDED: e('GATEMESH_ERR_QUOTA_EXCEEDED', 429, 'quota exhausted'),
  LIMIT_KEY_MISSING: e('GATEMESH_ERR_LIMIT_KEY_MISSING', 400, 'request lacks the rate-limit or quota key'),
  RATE_LIMIT_UNAVAILABLE: e('GATEMESH_ERR_RATE_LIMIT_UNAVAILABLE', 503, 'global rate limit store unreachable (failureMode: closed)'),
  CONCURRENCY_LIMITED: e('GATEMESH_ERR_CONCURRENCY_LIMITED', 503, 'too many requests in flight'),
  QUEUE_TIMEOUT: e('GATEMESH_ERR_QUEUE_TIMEOUT', 503, 'timed out waiting in the concurrency queue'),
  CIRCUIT_OPEN: e('GATEMESH_ERR_CIRCUIT_OPEN', 503, 'backend circuit breaker open'),
  NO_HEALTHY_ENDPOINTS: e('GATEMESH_ERR_NO_HEALTHY_ENDPOINTS', 503, 'no healthy endpoint (all ejected or failing health checks)'),
  // Server. CONNECTION_LIMIT: GATEMESH_MAX_CONNECTIONS on the uws front end, which counts requests
  // in flight (uWS has no per-connection hook; native-free refuses the connection itself).
  CONNECTION_LIMIT: e('GATEMESH_ERR_CONNECTION_LIMIT', 503, 'connection limit reached', true),
  DRAINING: e('GATEMESH_ERR_DRAINING', 503, 'gateway is shutting down', true),
  INTERNAL: e('GATEMESH_ERR_INTERNAL', 500, 'internal error'),
});

export type ErrorName = keyof typeof ERR;

/** Prebuilt `reason\n` bodies so error responses allocate nothing per request. */
export function errorBody(spec: ErrorSpec): string {
  return spec.reason + '\n';
}
