// Small builders for route-table tests and the route-match bench: terse Route literals.

import type { BackendRef, HeaderMatch, QueryParamMatch, Route, RouteMatch, RouteRule } from '../../src/config/model';

export interface MatchSpec {
  path?: [RouteMatch['path']['type'], string];
  method?: string;
  /** [name, value] is Exact; [name, value, 'RegularExpression'] is a regex. */
  headers?: [string, string, HeaderMatch['type']?][];
  query?: [string, string, QueryParamMatch['type']?][];
}

export function m(spec: MatchSpec = {}): RouteMatch {
  const [type, value] = spec.path ?? ['PathPrefix', '/'];
  return {
    path: { type, value },
    method: spec.method,
    headers: (spec.headers ?? []).map(([name, v, t]) => ({ type: t ?? 'Exact', name: name.toLowerCase(), value: v })),
    queryParams: (spec.query ?? []).map(([name, v, t]) => ({ type: t ?? 'Exact', name, value: v })),
  };
}

export function rule(matches: RouteMatch[], opts: { name?: string; backends?: BackendRef[] } = {}): RouteRule {
  return { name: opts.name, matches, backendRefs: opts.backends ?? [{ backend: 'b', weight: 1 }] };
}

export function route(name: string, rules: RouteRule[], opts: { hostnames?: string[]; created?: string } = {}): Route {
  return {
    name,
    hostnames: opts.hostnames ?? [],
    rules,
    creationTimestamp: opts.created,
    source: { file: 'test.yaml', line: 1 },
  };
}

/** Shorthand: one route, one rule, one match. */
export function simple(name: string, spec: MatchSpec, opts: { hostnames?: string[]; created?: string } = {}): Route {
  return route(name, [rule([m(spec)])], opts);
}
