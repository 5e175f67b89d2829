// The route table of one port made readable: every (hostname, match) entry in the order the
// compiled table tries them, and, for one request, which rule wins and why. For `gatemesh routes`
// and the admin /routes. Off the hot path: it compiles its own copy of the matches, and checks
// its answer against the real table (compileRouteTable) so the two cannot drift apart silently.
import type { BackendRef, Route, RouteMatch } from '../config/model';
import { describePolicy } from '../config/timeouts-retry';
import { CompiledRule } from './compiled-rule';
import { type CompiledMatch, comparePrecedence, compileRouteMatches, firstHeader, PATH_EXACT, PATH_PREFIX, queryValueStart } from './compiled-match';
import { compileRouteTable, hostNameEnd, parseHostPattern, type HostPattern } from './route-table';

/** One row of the table. */
export interface RouteEntry {
  /** Route hostname this row is indexed under: exact, `*.` wildcard, or `*` (any host). */
  hostname: string;
  /** The match, e.g. `PathPrefix /api method=GET header x-env=canary query debug=1`. */
  match: string;
  route: string;
  /** MatchedRule.label: `route/ruleName` or `route/rule<index>` (the access log's `route`). */
  rule: string;
  backends: { backend: string | null; weight: number; invalid?: string }[];
  /** rules[].timeouts and retry, e.g. `request=5s retry=2x[502,503]/100ms`; absent when none. */
  policy?: string;
}

/** A request to explain (the same inputs as RouteTable.match). */
export interface TestRequest {
  /** Host header value (may carry :port). */
  host: string;
  method: string;
  /** Raw path, without the query. */
  path: string;
  /** Raw query without '?', '' when none. */
  query: string;
  /** Flat [lower-case name, value, ...]. */
  headers: string[];
}

export interface Explanation {
  /** The winning row, or null: no route (404). */
  winner: RouteEntry | null;
  /** Why the winner matched, one condition per line (`hostname ...`, `path ...`, `header ...`). */
  because: string[];
  /** Rows for this host tried before the winner (or all of them on a 404), each with the first condition that failed. */
  skipped: { entry: RouteEntry; why: string }[];
}

interface Row {
  entry: RouteEntry;
  host: HostPattern;
  match: CompiledMatch;
  source: RouteMatch;
}

const ANY: HostPattern = { kind: 'any' };
/** Gateway API default for a rule without matches (HTTPRouteRule.matches). */
const DEFAULT_MATCH: RouteMatch = { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] };

/** Rows of a port's routes in lookup order (see route-table.ts): exact hosts, wildcards longest first, any host; each by precedence. */
function buildRows(routes: Route[]): Row[] {
  const rows: Row[] = [];
  routes.forEach((route, r) => {
    const rules = route.rules.map((rule, i) => new CompiledRule(route, rule, i));
    const patterns = route.hostnames.length === 0 ? [ANY] : route.hostnames.map(parseHostPattern);
    const seen = new Set<string>();
    for (const host of patterns) {
      const id = host.kind === 'any' ? '*' : host.kind + host.key;
      if (seen.has(id)) continue;
      seen.add(id);
      for (const match of compileRouteMatches(route, r, rules)) {
        const rule = route.rules[match.ruleIndex];
        const source = rule.matches[match.matchIndex] ?? DEFAULT_MATCH;
        const entry: RouteEntry = {
          hostname: host.kind === 'any' ? '*' : host.kind === 'wildcard' ? '*' + host.key : host.key,
          match: matchText(source),
          route: route.name,
          rule: match.rule.label,
          backends: rule.backendRefs.map(backendView),
        };
        const policy = describePolicy(rule.timeouts, rule.retry);
        if (policy !== '') entry.policy = policy;
        rows.push({ entry, host, match, source });
      }
    }
  });
  return rows.sort(compareRows);
}

function hostRank(h: HostPattern): number {
  return h.kind === 'exact' ? 0 : h.kind === 'wildcard' ? 1 : 2;
}

function compareRows(a: Row, b: Row): number {
  const ka = hostRank(a.host);
  const kb = hostRank(b.host);
  if (ka !== kb) return ka - kb;
  if (a.host.kind !== 'any' && b.host.kind !== 'any' && a.host.key !== b.host.key) {
    // Wildcards: the longest suffix is tried first; exact names cannot both apply, sort by name.
    if (ka === 1 && a.host.key.length !== b.host.key.length) return b.host.key.length - a.host.key.length;
    return a.host.key < b.host.key ? -1 : 1;
  }
  return comparePrecedence(a.match, b.match);
}

function backendView(ref: BackendRef): RouteEntry['backends'][number] {
  const out: RouteEntry['backends'][number] = { backend: ref.backend, weight: ref.weight };
  if (ref.invalidReason !== undefined) out.invalid = ref.invalidReason;
  return out;
}

/** `PathPrefix /api method=GET header x-env=canary header x-ver~^v[0-9]+$ query debug=1`. */
export function matchText(m: RouteMatch): string {
  let s = `${m.path.type} ${m.path.value}`;
  if (m.method !== undefined) s += ` method=${m.method}`;
  for (const h of m.headers) s += ` header ${h.name}${h.type === 'RegularExpression' ? '~' : '='}${h.value}`;
  for (const q of m.queryParams) s += ` query ${q.name}${q.type === 'RegularExpression' ? '~' : '='}${q.value}`;
  return s;
}

/** Every row of a port's table, in the order requests are matched against them. */
export function describeRoutes(routes: Route[]): RouteEntry[] {
  return buildRows(routes).map((r) => r.entry);
}

/** Does route hostname `p` apply to the request host name (lower-case, no port)? */
function hostApplies(p: HostPattern, name: string): boolean {
  if (p.kind === 'any') return true;
  if (p.kind === 'exact') return p.key === name;
  return name.length > p.key.length && name.endsWith(p.key);
}

/**
 * Which rule of `routes` a request gets and why: rows whose hostname applies are tried in table
 * order, the first whose match holds wins (the real table's fall-through from exact host to
 * wildcard to any host). At most `maxSkipped` misses are listed.
 */
export function explainRequest(routes: Route[], req: TestRequest, maxSkipped = 20): Explanation {
  const name = req.host.slice(0, hostNameEnd(req.host)).toLowerCase();
  const skipped: Explanation['skipped'] = [];
  let winner: Row | null = null;
  for (const row of buildRows(routes)) {
    if (!hostApplies(row.host, name)) continue;
    const why = firstFailure(row.match, row.source, req);
    if (why === null) {
      winner = row;
      break;
    }
    if (skipped.length < maxSkipped) skipped.push({ entry: row.entry, why });
  }
  // The compiled table is the authority; this explanation must agree with it.
  const real = compileRouteTable(routes).match(req.host, req.method, req.path, req.query, req.headers);
  if ((real === null ? null : real.label) !== (winner === null ? null : winner.entry.rule)) {
    throw new Error(`route explanation disagrees with the route table (table: ${real?.label ?? 'no route'}, ` +
      `explanation: ${winner?.entry.rule ?? 'no route'}); please report this request`);
  }
  if (winner === null) return { winner: null, because: [], skipped };
  return { winner: winner.entry, because: reasons(winner, name, req), skipped };
}

/** The first condition of a match that `req` fails, or null when the match holds. */
function firstFailure(m: CompiledMatch, source: RouteMatch, req: TestRequest): string | null {
  if (!m.pathMatches(req.path)) {
    const v = source.path.value;
    if (m.pathClass === PATH_EXACT) return `path ${req.path} is not exactly ${v}`;
    if (m.pathClass === PATH_PREFIX) return `path ${req.path} is not under prefix ${v}`;
    return `path ${req.path} does not match regex ${v}`;
  }
  if (m.method !== null && m.method !== req.method) return `method ${req.method} is not ${m.method}`;
  for (const h of source.headers) {
    const value = firstHeader(req.headers, h.name);
    if (value === undefined) return `no header ${h.name}`;
    if (h.type === 'Exact' ? value !== h.value : !new RegExp(`^(?:${h.value})$`).test(value)) {
      return `header ${h.name}: ${JSON.stringify(value)} ${h.type === 'Exact' ? 'is not' : 'does not match'} ${JSON.stringify(h.value)}`;
    }
  }
  for (const q of source.queryParams) {
    const start = queryValueStart(req.query, q.name);
    if (start < 0) return `no query parameter ${q.name}`;
    let end = req.query.indexOf('&', start);
    if (end < 0) end = req.query.length;
    const value = req.query.slice(start, end);
    if (q.type === 'Exact' ? value !== q.value : !new RegExp(`^(?:${q.value})$`).test(value)) {
      return `query ${q.name}=${JSON.stringify(value)} ${q.type === 'Exact' ? 'is not' : 'does not match'} ${JSON.stringify(q.value)}`;
    }
  }
  // Anything the per-field checks above missed (they mirror conditionsHold).
  return m.conditionsHold(req.method, req.query, req.headers) ? null : 'conditions do not hold';
}

function reasons(row: Row, hostName: string, req: TestRequest): string[] {
  const out: string[] = [];
  const h = row.host;
  out.push(h.kind === 'any' ? `hostname: route accepts any host (request host ${hostName || '(none)'})`
    : h.kind === 'exact' ? `hostname: ${hostName} is ${h.key}` : `hostname: ${hostName} matches *${h.key}`);
  const p = row.source.path;
  out.push(p.type === 'Exact' ? `path: ${req.path} is exactly ${p.value}`
    : p.type === 'PathPrefix' ? `path: ${req.path} is under prefix ${p.value}` : `path: ${req.path} matches regex ${p.value}`);
  if (row.source.method !== undefined) out.push(`method: ${req.method}`);
  for (const x of row.source.headers) out.push(`header: ${x.name}: ${firstHeader(req.headers, x.name)}${x.type === 'RegularExpression' ? ` matches ${x.value}` : ''}`);
  for (const q of row.source.queryParams) {
    const start = queryValueStart(req.query, q.name);
    const end = req.query.indexOf('&', start);
    const value = req.query.slice(start, end < 0 ? req.query.length : end);
    out.push(`query: ${q.name}=${value}${q.type === 'RegularExpression' ? ` matches ${q.value}` : ''}`);
  }
  return out;
}
