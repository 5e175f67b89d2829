// One HTTPRouteMatch compiled for the hot path: normalized path, anchored regexes, header and
// query conditions as parallel arrays, and the precedence keys used to sort it at config load.
// Shared by the bucketed route table and the linear-scan reference, so both agree on semantics.

import type { Route, RouteMatch } from '../config/model';
import type { CompiledRule } from './compiled-rule';

/** Path classes in precedence order (lower wins). See route-table.ts for why regex sits between. */
export const PATH_EXACT = 0;
export const PATH_REGEX = 1;
export const PATH_PREFIX = 2;

/** Gateway API default when a rule has no matches: one PathPrefix "/" (HTTPRouteRule.matches). */
const DEFAULT_MATCH: RouteMatch = { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] };

/** Full-match a Gateway API RegularExpression: the spec matches the whole value, JS RegExp does not. */
export function compileAnchored(source: string, where: string): RegExp {
  try {
    return new RegExp('^(?:' + source + ')$');
  } catch (err) {
    throw new Error(`${where}: invalid RegularExpression ${JSON.stringify(source)} (${(err as Error).message}); ` +
      'fix the pattern (JavaScript RegExp syntax, matched against the whole value)');
  }
}

/**
 * PathPrefix key: "When specified, a trailing `/` is ignored" (Gateway API v1 PathMatchPathPrefix,
 * apis/v1/httproute_types.go), so `/v2/` is the prefix `/v2` and matches `/v2`, `/v2/` and `/v2/x`
 * but not `/v2example`. `/` becomes '' (the root, matches every path). Only one slash is trimmed,
 * as Istio and agentgateway do.
 */
export function normalizePrefix(value: string): string {
  if (value === '/' || value === '') return '';
  return value.charCodeAt(value.length - 1) === 47 ? value.slice(0, -1) : value;
}

/** Segment-aware prefix test on a normalized prefix (the linear reference; the table uses hashing). */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix.length === 0) return true;
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47);
}

/** Parse a creationTimestamp (RFC 3339); absent or unparsable sorts as newest. */
function timestampMs(ts: string | undefined): number {
  if (ts === undefined) return Infinity;
  const ms = Date.parse(ts);
  return Number.isNaN(ms) ? Infinity : ms;
}

export class CompiledMatch {
  readonly rule: CompiledRule;
  readonly pathClass: number;
  /** Exact: the path; PathPrefix: normalized (see normalizePrefix); RegularExpression: the source. */
  readonly pathValue: string;
  /** Characters counted for precedence ("Prefix path match with largest number of characters"). */
  readonly pathLength: number;
  readonly pathRegex: RegExp | null;
  readonly method: string | null;
  readonly headerNames: string[];
  readonly headerValues: string[];
  /** Non-null entry: RegularExpression match on that header. */
  readonly headerRegexes: (RegExp | null)[];
  readonly queryNames: string[];
  readonly queryValues: string[];
  readonly queryRegexes: (RegExp | null)[];
  /** True when only the path has to match (most routes): skips the condition call. */
  readonly pathOnly: boolean;
  // Tie-break keys (Gateway API HTTPRouteRule.matches): age, then namespace/name, then order.
  readonly createdMs: number;
  readonly routeName: string;
  readonly routeOrder: number;
  readonly ruleIndex: number;
  readonly matchIndex: number;

  constructor(route: Route, routeOrder: number, rule: CompiledRule, match: RouteMatch, matchIndex: number) {
    const where = `${route.source.file}:${route.source.line}: route ${route.name} rule ${rule.ruleIndex} match ${matchIndex}`;
    this.rule = rule;
    const path = match.path;
    if (path.type === 'Exact') {
      this.pathClass = PATH_EXACT;
      this.pathValue = path.value;
      this.pathRegex = null;
    } else if (path.type === 'RegularExpression') {
      this.pathClass = PATH_REGEX;
      this.pathValue = path.value;
      this.pathRegex = compileAnchored(path.value, where);
    } else {
      this.pathClass = PATH_PREFIX;
      this.pathValue = normalizePrefix(path.value);
      this.pathRegex = null;
    }
    this.pathLength = this.pathValue.length;
    this.method = match.method ?? null;
    this.headerNames = match.headers.map((h) => h.name.toLowerCase());
    this.headerValues = match.headers.map((h) => h.value);
    this.headerRegexes = match.headers.map((h) =>
      h.type === 'RegularExpression' ? compileAnchored(h.value, `${where} header ${h.name}`) : null);
    this.queryNames = match.queryParams.map((q) => q.name);
    this.queryValues = match.queryParams.map((q) => q.value);
    this.queryRegexes = match.queryParams.map((q) =>
      q.type === 'RegularExpression' ? compileAnchored(q.value, `${where} queryParam ${q.name}`) : null);
    this.pathOnly = this.method === null && this.headerNames.length === 0 && this.queryNames.length === 0;
    this.createdMs = timestampMs(route.creationTimestamp);
    this.routeName = route.name;
    this.routeOrder = routeOrder;
    this.ruleIndex = rule.ruleIndex;
    this.matchIndex = matchIndex;
  }

  /** Method, header and query conditions (everything but the path). Allocation-free unless a query regex runs. */
  conditionsHold(method: string, query: string, headers: string[]): boolean {
    if (this.pathOnly) return true;
    if (this.method !== null && this.method !== method) return false;
    const names = this.headerNames;
    for (let i = 0; i < names.length; i++) {
      const value = firstHeader(headers, names[i]);
      if (value === undefined) return false;
      const re = this.headerRegexes[i];
      if (re === null ? value !== this.headerValues[i] : !re.test(value)) return false;
    }
    const qnames = this.queryNames;
    for (let i = 0; i < qnames.length; i++) {
      const start = queryValueStart(query, qnames[i]);
      if (start < 0) return false;
      let end = query.indexOf('&', start);
      if (end < 0) end = query.length;
      const re = this.queryRegexes[i];
      if (re === null) {
        const want = this.queryValues[i];
        if (end - start !== want.length || !query.startsWith(want, start)) return false;
      } else if (!re.test(query.slice(start, end))) {
        return false;
      }
    }
    return true;
  }

  /** Path test for the linear reference (the table indexes paths instead). */
  pathMatches(path: string): boolean {
    if (this.pathClass === PATH_EXACT) return path === this.pathValue;
    if (this.pathClass === PATH_PREFIX) return prefixMatches(this.pathValue, path);
    return this.pathRegex!.test(path);
  }
}

/** All matches of a route, one per (rule, match); a rule without matches gets the default PathPrefix "/". */
export function compileRouteMatches(route: Route, routeOrder: number, rules: CompiledRule[]): CompiledMatch[] {
  const out: CompiledMatch[] = [];
  for (let r = 0; r < route.rules.length; r++) {
    const matches = route.rules[r].matches.length > 0 ? route.rules[r].matches : [DEFAULT_MATCH];
    for (let m = 0; m < matches.length; m++) out.push(new CompiledMatch(route, routeOrder, rules[r], matches[m], m));
  }
  return out;
}

/**
 * Precedence within one hostname (Gateway API v1 HTTPRouteRule.matches): Exact path, then
 * longest path (characters), then method present, most headers, most query params; ties go to
 * the oldest route, then `namespace/name` alphabetical (code-unit order), then rule order, then
 * match order. Negative when `a` wins.
 */
export function comparePrecedence(a: CompiledMatch, b: CompiledMatch): number {
  if (a.pathClass !== b.pathClass) return a.pathClass - b.pathClass;
  if (a.pathLength !== b.pathLength) return b.pathLength - a.pathLength;
  if ((a.method === null) !== (b.method === null)) return a.method !== null ? -1 : 1;
  if (a.headerNames.length !== b.headerNames.length) return b.headerNames.length - a.headerNames.length;
  if (a.queryNames.length !== b.queryNames.length) return b.queryNames.length - a.queryNames.length;
  if (a.createdMs !== b.createdMs) return a.createdMs < b.createdMs ? -1 : 1;
  if (a.routeName !== b.routeName) return a.routeName < b.routeName ? -1 : 1;
  if (a.routeOrder !== b.routeOrder) return a.routeOrder - b.routeOrder;
  if (a.ruleIndex !== b.ruleIndex) return a.ruleIndex - b.ruleIndex;
  return a.matchIndex - b.matchIndex;
}

/**
 * First value of a header. Gateway API HTTPHeaderMatch.name: "When a header is repeated in an
 * HTTP request, it is implementation-specific behavior as to how this is represented." We match
 * the first occurrence only (no comma-joining), the same choice the spec recommends for query
 * params. `headers` is flat [lower-name, value, ...] as the front ends deliver it.
 */
export function firstHeader(headers: string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/**
 * Offset of the first `name` parameter's value in a raw query, or -1. HTTPQueryParamMatch.name:
 * "If a query param is repeated in an HTTP request ... it is *recommended* that implementations
 * should match against the first value", so we do. Names are case-sensitive; names and values
 * are compared as sent (no percent-decoding, '+' is not a space). `a` and `a=` give ''.
 * Scans the raw string: nothing is parsed unless a candidate match has query conditions.
 */
export function queryValueStart(query: string, name: string): number {
  const n = name.length;
  let p = 0;
  const len = query.length;
  while (p <= len) {
    if (query.startsWith(name, p)) {
      const after = p + n;
      if (after === len) return after;
      const c = query.charCodeAt(after);
      if (c === 61 /* = */) return after + 1;
      if (c === 38 /* & */) return after;
    }
    const amp = query.indexOf('&', p);
    if (amp < 0) return -1;
    p = amp + 1;
  }
  return -1;
}
