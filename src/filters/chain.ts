// Filter chains: the filters of one rule (and of each of its backendRefs) compiled once at config
// load into request-phase and response-phase lists, run in the order the config gives them
// ("implementations SHOULD implement filters in the order they are specified").
//
// Order across levels is the onion every proxy uses: request filters of the rule, then of the
// picked backendRef (closer to the backend); response filters of the backendRef, then of the rule.
// A rule without filters gets no chain at all (null), so the proxy's zero-filter path never
// allocates a FilterRequest nor copies a header list. Chains depend on the rule alone (a mirror
// names its backend and resolves it per request against the runtime serving it), so they are
// built with the route table's CompiledRule and reused with it across incremental reloads.
import type { BackendRef, HTTPFilter, RouteRule } from '../config/model';
import { createCORS } from './cors/cors';
import { createRequestHeaderModifier, createResponseHeaderModifier } from './header-modifier/header-modifier';
import { createRequestMirror } from './request-mirror/request-mirror';
import { createRequestRedirect } from './request-redirect/request-redirect';
import { CONTINUE, type FilterRequest, type FilterResult, type HttpFilter } from './types';
import { createUnresolved } from './unresolved/unresolved';
import { createURLRewrite } from './url-rewrite/url-rewrite';

export interface FilterChain {
  /** Filters with a request phase, in config order. */
  readonly request: readonly HttpFilter[];
  /** Filters with a response phase, in config order. */
  readonly response: readonly HttpFilter[];
  /** Some request filter edits the header list: give the request its own copy first. */
  readonly editsRequestHeaders: boolean;
}

/** Everything a matched rule needs to run its filters; hung off the route table's MatchedRule. */
export interface RuleFilters {
  /** The rule's own chain, or null when it has no filters. */
  readonly rule: FilterChain | null;
  /** Chains of the backendRefs that have filters, keyed by the model BackendRef the route
   *  table's pickBackend returns; null when none has. */
  readonly backends: ReadonlyMap<BackendRef, FilterChain> | null;
  /** Some chain has response filters (the proxy copies the response head only then). */
  readonly hasResponse: boolean;
}

export function createFilter(f: HTTPFilter, rule: RouteRule): HttpFilter {
  switch (f.type) {
    case 'RequestHeaderModifier':
      return createRequestHeaderModifier(f.modifier);
    case 'ResponseHeaderModifier':
      return createResponseHeaderModifier(f.modifier);
    case 'RequestRedirect':
      return createRequestRedirect(f, rule);
    case 'URLRewrite':
      return createURLRewrite(f, rule);
    case 'RequestMirror':
      return createRequestMirror(f);
    case 'CORS':
      return createCORS(f);
    case 'Unresolved':
      return createUnresolved(f);
  }
}

/** A chain for one filter list (already checked at config load), or null when it is empty. */
export function createFilterChain(filters: HTTPFilter[] | undefined, rule: RouteRule): FilterChain | null {
  if (filters === undefined || filters.length === 0) return null;
  const all = filters.map((f) => createFilter(f, rule));
  return {
    request: all.filter((f) => f.onRequest !== undefined),
    response: all.filter((f) => f.onResponse !== undefined),
    editsRequestHeaders: all.some((f) => f.editsRequestHeaders),
  };
}

/** The filters of one rule, or null when neither it nor any of its backendRefs has filters. */
export function createRuleFilters(rule: RouteRule): RuleFilters | null {
  const own = createFilterChain(rule.filters, rule);
  let backends: Map<BackendRef, FilterChain> | null = null;
  for (const ref of rule.backendRefs) {
    const chain = createFilterChain(ref.filters, rule);
    if (chain === null) continue;
    if (backends === null) backends = new Map();
    backends.set(ref, chain);
  }
  if (own === null && backends === null) return null;
  let hasResponse = own !== null && own.response.length > 0;
  if (backends !== null) for (const c of backends.values()) hasResponse ||= c.response.length > 0;
  return { rule: own, backends, hasResponse };
}

/** Request phase of one chain: stops at the first filter that answers. */
export function runRequestFilters(chain: FilterChain, req: FilterRequest): FilterResult {
  if (chain.editsRequestHeaders && req.headers === req.clientHeaders) req.headers = req.clientHeaders.slice();
  const list = chain.request;
  for (let i = 0; i < list.length; i++) {
    const r = list[i].onRequest!(req);
    if (r.kind !== 'continue') return r;
  }
  return CONTINUE;
}

/** Response phase of one chain; `headers` must be the caller's own copy. */
export function runResponseFilters(chain: FilterChain, status: number, headers: string[], req: FilterRequest): void {
  const list = chain.response;
  for (let i = 0; i < list.length; i++) list[i].onResponse!(status, headers, req);
}

export function newFilterRequest(
  method: string,
  scheme: string,
  host: string,
  path: string,
  query: string,
  headers: string[],
  listenerPort: number,
): FilterRequest {
  return {
    method,
    scheme,
    clientHost: host,
    clientHeaders: headers,
    query,
    listenerPort,
    headers,
    host,
    path,
    mirrors: null,
    local: false,
  };
}
