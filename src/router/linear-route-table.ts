// The naive route table: every match tested on every request, best one kept. Same semantics
// as route-table.ts (it shares the compiled matches and the precedence order) but none of its
// indexing, so it is the oracle for the differential tests and the peer in
// bench/micro/route-match.ts. Not for the request path: O(routes) per request and it allocates.

import type { Route } from '../config/model';
import { CompiledRule, type MatchedRule } from './compiled-rule';
import { type CompiledMatch, comparePrecedence, compileRouteMatches } from './compiled-match';
import { type HostPattern, hostNameEnd, parseHostPattern, type RouteTable } from './route-table';

interface Entry {
  match: CompiledMatch;
  hosts: HostPattern[];
}

/**
 * Hostname specificity of a route for a request host, or -1 when it does not apply
 * (HTTPRouteSpec.hostnames: non-wildcard characters first, then matching characters).
 */
function hostScore(hosts: HostPattern[], host: string): number {
  let best = -1;
  for (const p of hosts) {
    let s = -1;
    if (p.kind === 'any') s = 0;
    else if (p.kind === 'exact') s = p.key === host ? 1_000_000 + p.key.length : -1;
    else s = host.length > p.key.length && host.endsWith(p.key) ? p.key.length + 1 : -1;
    if (s > best) best = s;
  }
  return best;
}

class LinearRouteTable implements RouteTable {
  readonly size: number;
  private readonly entries: Entry[];

  constructor(routes: Route[]) {
    const entries: Entry[] = [];
    routes.forEach((route, r) => {
      const rules = route.rules.map((rule, i) => new CompiledRule(route, rule, i));
      const hosts = route.hostnames.length === 0 ? [parseHostPattern('*')] : route.hostnames.map(parseHostPattern);
      for (const match of compileRouteMatches(route, r, rules)) entries.push({ match, hosts });
    });
    entries.sort((a, b) => comparePrecedence(a.match, b.match));
    this.entries = entries;
    this.size = entries.length;
  }

  match(host: string, method: string, path: string, query: string, headers: string[]): MatchedRule | null {
    const name = host.slice(0, hostNameEnd(host)).toLowerCase();
    let best: CompiledMatch | null = null;
    let bestScore = -1;
    for (const e of this.entries) {
      const score = hostScore(e.hosts, name);
      if (score > bestScore && e.match.pathMatches(path) && e.match.conditionsHold(method, query, headers)) {
        best = e.match;
        bestScore = score;
      }
    }
    return best === null ? null : best.rule;
  }
}

/** Linear-scan reference with the RouteTable interface (tests and benchmarks only). */
export function createLinearRouteTable(routes: Route[]): RouteTable {
  return new LinearRouteTable(routes);
}
