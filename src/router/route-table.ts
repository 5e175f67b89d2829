// The compiled route table of one bound port: Host + method + path + query + headers → rule.
// Built once per config load (compileRouteTable); match() is the per-request hot path and
// allocates nothing unless a query-param regex runs. Bench: bench/micro/route-match.ts.
//
// Semantics follow Gateway API v1 HTTPRoute (apis/v1/httproute_types.go):
//
// Hostnames (HTTPRouteSpec.hostnames). Exact names and `*.` wildcards; a wildcard matches one
// or more labels (`*.example.com` matches `a.b.example.com`, not `example.com`). The Host header
// is compared case-insensitively with its :port ("MUST ignore any port value") and one trailing
// dot removed; `[v6]:port` keeps the brackets. A route without hostnames (or with `*`) matches
// any host. "Precedence must be given to rules from the HTTPRoute with the largest number of:
// characters in a matching non-wildcard hostname; characters in a matching hostname", so the
// table tries the exact-host bucket, then wildcard buckets longest suffix first, then the
// catch-all bucket, and *falls through* to the next bucket when no rule in a more specific one
// matches (the spec ranks rules, it does not hide less specific ones; Envoy's one-virtual-host
// behaviour is reported as a surprise in envoyproxy/gateway#5500).
//
// Rules within a bucket (HTTPRouteRule.matches): Exact path > RegularExpression > PathPrefix
// by characters > method present > most headers > most query params; then oldest route, then
// `namespace/name`, then rule order, then match order. RegularExpression precedence is
// implementation-specific: we put it after Exact and before every PathPrefix (so a `/` catch-all
// cannot shadow a regex), longest pattern source first, as Envoy Gateway's route sort does
// (internal/gatewayapi/sort.go: Exact > RegularExpression > PathPrefix, then length).
// PathPrefix ignores one trailing `/` ("When specified, a trailing `/` is ignored"), so `/v2/`
// and `/v2` are the same prefix, both matching `/v2`, `/v2/` and `/v2/x` but not `/v2example`.
//
// Lookup cost: one hash pass over the Host, one over the path (O(characters), probing the prefix
// table only at `/` boundaries whose length some prefix has), plus the regex list. The number of
// routes only matters through the candidates sharing one exact path or one prefix.

import type { Route } from '../config/model';
import { changedRange } from './changed-range';
import { CompiledRule, type MatchedRule } from './compiled-rule';
import { CompiledMatch, comparePrecedence, compileRouteMatches, PATH_EXACT, PATH_REGEX } from './compiled-match';
import { foldAscii, HASH_INIT, hashRange, hashStep, RangeTable } from './range-table';

export type { MatchedRule } from './compiled-rule';

export interface RouteTable {
  /** host: the Host header value as received (may contain :port, any case; IPv6 in brackets); path: raw path without query;
   *  query: raw query without '?', '' when absent; headers: flat [lowercase-name, value, ...]. */
  match(host: string, method: string, path: string, query: string, headers: string[]): MatchedRule | null;
  /** Number of rules×matches compiled (a rule without matches counts its default match once). */
  readonly size: number;
}

/** How a route hostname is indexed. */
export type HostPattern =
  | { kind: 'exact'; key: string }
  /** key is the suffix with its leading dot, e.g. `.example.com` for `*.example.com`. */
  | { kind: 'wildcard'; key: string }
  | { kind: 'any' };

/** Normalize one route hostname: lower-case, one trailing dot dropped, `*` = any host. */
export function parseHostPattern(hostname: string): HostPattern {
  let h = hostname.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h === '*' || h === '') return { kind: 'any' };
  if (h.startsWith('*.')) return { kind: 'wildcard', key: h.slice(1) };
  return { kind: 'exact', key: h };
}

/** End of the host name in a Host header value: before `:port`, after `]` for IPv6, minus one trailing dot. */
export function hostNameEnd(host: string): number {
  let end = host.length;
  if (end > 0 && host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    if (close >= 0) end = close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end--;
  return end;
}

/**
 * Scratch for a boundary scan: candidate end (or start) offsets and their hashes. match() is
 * synchronous and never re-entered, so one per scan kind per thread is enough (the host scan
 * and the path scan nest, hence two). Grows, rarely, for inputs with more boundaries than this.
 */
class Scratch {
  pos = new Int32Array(64);
  hash = new Int32Array(64);
  grow(): void {
    const pos = new Int32Array(this.pos.length * 2);
    const hash = new Int32Array(this.hash.length * 2);
    pos.set(this.pos);
    hash.set(this.hash);
    this.pos = pos;
    this.hash = hash;
  }
}
const pathScratch = new Scratch();
const hostScratch = new Scratch();

const NO_MATCHES: CompiledMatch[] = [];

/** Everything routable for one host key (an exact name, a wildcard suffix, or any host). */
class HostBucket {
  private readonly exact: Map<string, CompiledMatch[]>;
  private readonly regex: CompiledMatch[];
  private readonly prefixes: RangeTable<CompiledMatch[]>;
  /** PathPrefix "/" (normalized ''): matches every path, tried last. */
  private readonly root: CompiledMatch[];

  constructor(matches: CompiledMatch[]) {
    const exact = new Map<string, CompiledMatch[]>();
    const prefixes = new Map<string, CompiledMatch[]>();
    const regex: CompiledMatch[] = [];
    const root: CompiledMatch[] = [];
    for (const m of matches) {
      if (m.pathClass === PATH_EXACT) pushTo(exact, m.pathValue, m);
      else if (m.pathClass === PATH_REGEX) regex.push(m);
      else if (m.pathValue === '') root.push(m);
      else pushTo(prefixes, m.pathValue, m);
    }
    for (const list of exact.values()) list.sort(comparePrecedence);
    for (const list of prefixes.values()) list.sort(comparePrecedence);
    regex.sort(comparePrecedence);
    root.sort(comparePrecedence);
    this.exact = exact;
    this.regex = regex;
    this.prefixes = new RangeTable(prefixes, { fold: false, reverse: false });
    this.root = root;
  }

  match(method: string, path: string, query: string, headers: string[]): CompiledRule | null {
    if (this.exact.size > 0) {
      const hit = firstHolding(this.exact.get(path) ?? NO_MATCHES, method, query, headers);
      if (hit !== null) return hit;
    }
    const regex = this.regex;
    for (let i = 0; i < regex.length; i++) {
      const m = regex[i];
      if ((m.method === null || m.method === method) && m.pathRegex!.test(path) && m.conditionsHold(method, query, headers)) {
        return m.rule;
      }
    }
    if (this.prefixes.size > 0) {
      const hit = this.matchPrefix(method, path, query, headers);
      if (hit !== null) return hit;
    }
    return firstHolding(this.root, method, query, headers);
  }

  /**
   * Longest PathPrefix first. One left-to-right pass hashes the path and records each candidate
   * prefix [0, i) ending at a `/` (or at the end of the path) whose length some prefix has;
   * candidates are then probed from the longest down. Segment-awareness falls out of only
   * probing at `/` boundaries.
   */
  private matchPrefix(method: string, path: string, query: string, headers: string[]): CompiledRule | null {
    const table = this.prefixes;
    const hasLength = table.hasLength;
    const maxLength = table.maxLength;
    const len = path.length;
    const stop = len < maxLength ? len : maxLength;
    let n = 0;
    let h = HASH_INIT;
    for (let i = 0; i <= stop; i++) {
      const c = i < len ? path.charCodeAt(i) : 47; // the end of the path is a boundary too
      if (c === 47 && i > 0 && hasLength[i] === 1) {
        if (n === pathScratch.pos.length) pathScratch.grow();
        pathScratch.pos[n] = i;
        pathScratch.hash[n] = h;
        n++;
      }
      h = hashStep(h, c);
    }
    for (let k = n - 1; k >= 0; k--) {
      const list = table.get(path, 0, pathScratch.pos[k], pathScratch.hash[k]);
      if (list !== undefined) {
        const hit = firstHolding(list, method, query, headers);
        if (hit !== null) return hit;
      }
    }
    return null;
  }
}

function firstHolding(list: CompiledMatch[], method: string, query: string, headers: string[]): CompiledRule | null {
  for (let i = 0; i < list.length; i++) {
    const m = list[i];
    if (m.conditionsHold(method, query, headers)) return m.rule;
  }
  return null;
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** One route compiled for the table; reused by the next build while the Route object is the same. */
interface CompiledRoute {
  readonly matches: CompiledMatch[];
  /** Host keys, deduplicated: 'e' + exact name, 'w' + `.suffix`, or '*' for any host. */
  readonly hostKeys: string[];
}

/** A host bucket, the routes it was built from (indexes into the table's routes, ascending) and their matches. */
interface BucketBuild {
  readonly owners: number[];
  readonly members: CompiledMatch[];
  readonly bucket: HostBucket;
}

function compileRoute(route: Route, routeOrder: number): CompiledRoute {
  const rules = route.rules.map((rule, i) => new CompiledRule(route, rule, i));
  const matches = compileRouteMatches(route, routeOrder, rules);
  const hostKeys: string[] = [];
  const patterns = route.hostnames.length === 0 ? [parseHostPattern('*')] : route.hostnames.map(parseHostPattern);
  for (const p of patterns) {
    const key = p.kind === 'any' ? '*' : (p.kind === 'exact' ? 'e' : 'w') + p.key;
    if (!hostKeys.includes(key)) hostKeys.push(key); // `A.com` and `a.com.` are one hostname
  }
  return { matches, hostKeys };
}

function setRouteOrder(c: CompiledRoute, order: number): void {
  // Only precedence ties between two copies of one route name read routeOrder, and only while
  // sorting a bucket. A bucket is reused only when none of its routes moved relative to the
  // others (they all sit before or all after the changed range, which moves as one block), so
  // refreshing the order never invalidates a reused bucket.
  for (const m of c.matches) (m as { routeOrder: number }).routeOrder = order;
}

function bucketOf(perRoute: CompiledRoute[], owners: number[]): BucketBuild {
  const members: CompiledMatch[] = [];
  for (const i of owners) for (const m of perRoute[i].matches) members.push(m);
  return { owners, members, bucket: new HostBucket(members) };
}

class CompiledRouteTable implements RouteTable {
  readonly size: number;
  /** The routes as built and their compiled state (same index), for the next incremental build. */
  readonly routes: Route[];
  readonly perRoute: CompiledRoute[];
  /** Host key → bucket, for the next incremental build. */
  readonly buckets: Map<string, BucketBuild>;
  private readonly exactHosts: RangeTable<HostBucket>;
  /** Keys are `.suffix`, hashed right to left so the scan can build them from the Host's end. */
  private readonly wildcardHosts: RangeTable<HostBucket>;
  private readonly anyHost: HostBucket | null;

  constructor(routes: Route[], previous: CompiledRouteTable | null) {
    this.routes = routes.slice();
    const built = previous === null ? buildAll(routes) : buildChanged(routes, previous);
    this.perRoute = built.perRoute;
    this.buckets = built.buckets;
    this.size = built.size;
    const exact = new Map<string, HostBucket>();
    const wildcard = new Map<string, HostBucket>();
    let anyHost: HostBucket | null = null;
    for (const [key, b] of built.buckets) {
      if (key === '*') anyHost = b.bucket;
      else (key.charCodeAt(0) === 101 /* e */ ? exact : wildcard).set(key.slice(1), b.bucket);
    }
    this.exactHosts = new RangeTable(exact, { fold: true, reverse: false });
    this.wildcardHosts = new RangeTable(wildcard, { fold: true, reverse: true });
    this.anyHost = anyHost;
  }

  match(host: string, method: string, path: string, query: string, headers: string[]): MatchedRule | null {
    const end = hostNameEnd(host);
    if (this.exactHosts.size > 0 && end <= this.exactHosts.maxLength && this.exactHosts.hasLength[end] === 1) {
      const bucket = this.exactHosts.get(host, 0, end, hashRange(host, 0, end, true));
      if (bucket !== undefined) {
        const hit = bucket.match(method, path, query, headers);
        if (hit !== null) return hit;
      }
    }
    if (this.wildcardHosts.size > 0) {
      const hit = this.matchWildcard(host, end, method, path, query, headers);
      if (hit !== null) return hit;
    }
    return this.anyHost === null ? null : this.anyHost.match(method, path, query, headers);
  }

  /**
   * Hash the Host from its end; at each `.` (not the first character: the wildcard must cover
   * at least one label) the suffix [i, end) is a candidate. Probe longest suffix first.
   */
  private matchWildcard(host: string, end: number, method: string, path: string, query: string, headers: string[]): CompiledRule | null {
    const table = this.wildcardHosts;
    const hasLength = table.hasLength;
    const maxLength = table.maxLength;
    let n = 0;
    let h = HASH_INIT;
    for (let i = end - 1; i >= 1 && end - i <= maxLength; i--) {
      const c = foldAscii(host.charCodeAt(i));
      h = hashStep(h, c);
      if (c === 46 /* . */ && hasLength[end - i] === 1) {
        if (n === hostScratch.pos.length) hostScratch.grow();
        hostScratch.pos[n] = i;
        hostScratch.hash[n] = h;
        n++;
      }
    }
    for (let k = n - 1; k >= 0; k--) {
      const bucket = table.get(host, hostScratch.pos[k], end, hostScratch.hash[k]);
      if (bucket !== undefined) {
        const hit = bucket.match(method, path, query, headers);
        if (hit !== null) return hit;
      }
    }
    return null;
  }
}

interface Built {
  perRoute: CompiledRoute[];
  buckets: Map<string, BucketBuild>;
  size: number;
}

/** Every route compiled, every bucket built. */
function buildAll(routes: Route[]): Built {
  const perRoute = new Array<CompiledRoute>(routes.length);
  const owners = new Map<string, number[]>();
  let size = 0;
  for (let r = 0; r < routes.length; r++) {
    // The same Route object twice in one table (identical content on two listeners of a port)
    // is compiled once per place, so each copy keeps its own routeOrder.
    const c = compileRoute(routes[r], r);
    perRoute[r] = c;
    size += c.matches.length;
    for (const key of c.hostKeys) pushTo(owners, key, r);
  }
  const buckets = new Map<string, BucketBuild>();
  for (const [key, list] of owners) buckets.set(key, bucketOf(perRoute, list));
  return { perRoute, buckets, size };
}

/**
 * Incremental: the routes that are the same objects at the start and at the end of both lists
 * (a reload that changes, adds or removes some routes leaves the rest in place) keep their
 * compiled state and are not looked at again; only the range between is compiled (reusing a
 * Route object that moved), and only the buckets of that range's host keys, old and new, are
 * rebuilt. One changed route out of 10,000 costs its own compile plus its buckets, not a pass
 * over every route (bench/reload.ts).
 */
function buildChanged(routes: Route[], previous: CompiledRouteTable): Built {
  const old = previous.routes;
  const n = routes.length;
  // old[p, oldEnd) was replaced by routes[p, newEnd)
  const { start: p, prevEnd: oldEnd, nextEnd: newEnd } = changedRange(old, routes);
  const shift = n - old.length;

  // Route objects of the replaced range, for those that only moved.
  const moved = new Map<Route, CompiledRoute[]>();
  let size = previous.size;
  const affected = new Set<string>();
  for (let i = p; i < oldEnd; i++) {
    const c = previous.perRoute[i];
    pushTo(moved, old[i], c);
    size -= c.matches.length;
    for (const key of c.hostKeys) affected.add(key);
  }
  const middle = new Array<CompiledRoute>(newEnd - p);
  for (let i = p; i < newEnd; i++) {
    const again = moved.get(routes[i]);
    const c = again !== undefined && again.length > 0 ? again.shift()! : compileRoute(routes[i], i);
    middle[i - p] = c;
    size += c.matches.length;
    for (const key of c.hostKeys) affected.add(key);
  }
  // Everything above can throw (a route that does not compile); nothing shared is changed before here.
  const perRoute = new Array<CompiledRoute>(n);
  for (let i = 0; i < p; i++) perRoute[i] = previous.perRoute[i];
  for (let i = p; i < newEnd; i++) {
    perRoute[i] = middle[i - p];
    setRouteOrder(middle[i - p], i);
  }
  for (let i = newEnd; i < n; i++) {
    const c = previous.perRoute[i - shift];
    perRoute[i] = c;
    if (shift !== 0) setRouteOrder(c, i);
  }

  const buckets = new Map<string, BucketBuild>();
  for (const [key, b] of previous.buckets) {
    if (affected.has(key)) continue;
    // Untouched: same matches in the same order. Owners past the replaced range only move.
    const last = b.owners.length === 0 ? -1 : b.owners[b.owners.length - 1];
    if (shift === 0 || last < oldEnd) buckets.set(key, b);
    else buckets.set(key, { owners: b.owners.map((i) => (i < oldEnd ? i : i + shift)), members: b.members, bucket: b.bucket });
  }
  for (const key of affected) {
    const owners: number[] = [];
    const before = previous.buckets.get(key);
    let k = 0;
    if (before !== undefined) while (k < before.owners.length && before.owners[k] < p) owners.push(before.owners[k++]);
    for (let i = p; i < newEnd; i++) if (perRoute[i].hostKeys.includes(key)) owners.push(i);
    if (before !== undefined) {
      while (k < before.owners.length && before.owners[k] < oldEnd) k++;
      while (k < before.owners.length) owners.push(before.owners[k++] + shift);
    }
    if (owners.length > 0) buckets.set(key, bucketOf(perRoute, owners));
  }
  return { perRoute, buckets, size };
}

/**
 * Routes of one bound port (all listeners on it, hostnames already intersected by the config
 * loader). With `previous` (hot reload) the build is incremental (buildChanged): a Route object
 * that was in `previous` keeps its compiled rules and matches (and its weighted-pick state), the
 * routes before and after the changed range are not visited, and only the host buckets of the
 * changed routes are rebuilt, so one changed route costs its own compile plus a rebuild of the
 * buckets of its hostnames. Callers keep Route objects stable across reloads for routes whose
 * content did not change (src/reload/config-delta.ts). `routes` is copied, not kept. `previous`
 * keeps serving the requests that captured it (its matches' routeOrder is refreshed, which only
 * breaks ties between copies of one route name; see setRouteOrder).
 */
export function compileRouteTable(routes: Route[], previous?: RouteTable): RouteTable {
  return new CompiledRouteTable(routes, previous instanceof CompiledRouteTable ? previous : null);
}
