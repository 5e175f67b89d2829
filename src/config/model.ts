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
}

/**
 * A backend is one upstream service port (Gateway API: Service + port; native: a named backend).
 * `endpoints` empty means the service exists but has nothing ready: requests get 503.
 */
export interface Backend {
  /** Stable id, e.g. `default/echo:8080` or the native backend name. */
  name: string;
  endpoints: Endpoint[];
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

/** HTTPRouteRetry (Gateway API experimental/extended). */
export interface RouteRetry {
  /** Retries after the first attempt (default 1). */
  attempts: number;
  /** Upstream statuses that are retried (400..599, sorted, unique); connection failures always are. */
  codes: number[];
  /** Minimum wait before the first retry, ms (default 25; doubled each retry, jitter added, capped at 10×). */
  backoffMs: number;
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
