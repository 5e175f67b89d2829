// The filter contract (Envoy's decodeHeaders/encodeHeaders, Traefik's middleware shape): every
// HTTPRoute filter is a folder under src/filters/ exporting `checkX(spec, ctx)` (config-time
// problems, shared by both config formats) and `createX(spec, ...)` (built once per rule at config
// load), whose result implements HttpFilter. Request-phase calls return a closed FilterResult.
import type { ErrorSpec } from '../errors';
import type { EndpointPool } from '../upstream/pool';

/**
 * One request as the filters see it. Allocated per request only when the matched rule has
 * filters; the zero-filter path never builds one.
 */
export interface FilterRequest {
  readonly method: string;
  /** Scheme the client used ('http' | 'https'). */
  readonly scheme: string;
  /** Host header as the client sent it (may carry `:port`). */
  readonly clientHost: string;
  /** The client's header list ([name, value, ...], names lower-case); never edited. */
  readonly clientHeaders: string[];
  /** Raw query without '?', '' when absent. */
  readonly query: string;
  /** Configured port of the listener that took the request; 0 when the OS picked it. */
  readonly listenerPort: number;
  /** Headers to send upstream. Starts as `clientHeaders`; the chain gives filters that edit
   *  headers their own copy first (copy-on-write, once per request). */
  headers: string[];
  /** Host to send upstream (URLRewrite.hostname changes it). */
  host: string;
  /** Path to send upstream (URLRewrite.path changes it). */
  path: string;
  /** Mirrors sampled for this request (RequestMirror), or null. */
  mirrors: MirrorSend[] | null;
  /** Set when a filter answered the request itself (CORS preflight, redirect): response-phase
   *  filters that only make sense on upstream responses skip it. */
  local: boolean;
}

/** A mirror picked for one request; the proxy sends it once the request head (and a small body)
 *  are known. */
export interface MirrorSend {
  /** Backend name the mirror targets. */
  readonly backend: string;
  /** Fire and forget: nothing it does can delay or fail the main request. `pick` resolves the
   *  backend to an endpoint pool in the runtime serving the request. */
  send(
    pick: (backend: string) => EndpointPool | null,
    timeoutMs: number,
    method: string,
    head: string,
    body: 'none' | 'length' | 'chunked',
    chunks: Buffer[] | null,
  ): void;
}

/** A response a filter makes instead of forwarding (redirect, CORS preflight, unresolved filter). */
export interface LocalResponse {
  readonly kind: 'respond';
  readonly status: number;
  /** [name, value, ...], lower-case names; Content-Length is the front end's job. */
  readonly headers: string[];
  readonly body: string;
  /** Short reason for the access log (`reason` field). */
  readonly reason: string;
  /** Set when the answer is an error from the catalogue: the proxy then answers through its one
   *  error path (status, body and x-gatemesh-error from the catalogue, `reason` as the detail). */
  readonly error?: ErrorSpec;
}

export interface Continue {
  readonly kind: 'continue';
}

/** The closed result of a request-phase call (Envoy's FilterHeadersStatus). */
export type FilterResult = Continue | LocalResponse;

/** The one `continue` value, shared, so continuing allocates nothing. */
export const CONTINUE: Continue = Object.freeze({ kind: 'continue' });

export interface HttpFilter {
  /** Gateway API filter type, for logs and tests. */
  readonly type: string;
  /** Edits `req.headers` in place (the chain copies them first). */
  readonly editsRequestHeaders: boolean;
  /** Request phase, after routing and before the backend pick; undefined when the filter has none. */
  readonly onRequest?: (req: FilterRequest) => FilterResult;
  /** Response phase: `headers` is the chain's own copy of the response head, edit it in place. */
  readonly onResponse?: (status: number, headers: string[], req: FilterRequest) => void;
}

/** A config problem: the field path inside the filter's spec and what is wrong. The config
 *  compilers prefix it with file:line and the filter's own path. */
export interface FilterProblem {
  path: (string | number)[];
  what: string;
}

export function localResponse(status: number, headers: string[], body: string, reason: string): LocalResponse {
  return { kind: 'respond', status, headers, body, reason };
}
