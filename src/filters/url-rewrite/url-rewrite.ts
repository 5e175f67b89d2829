// URLRewrite (Gateway API HTTPURLRewriteFilter): change the Host and/or the path sent upstream.
// `hostname` replaces the Host header value ("to be used to replace the Host header value during
// forwarding"); X-Forwarded-Host keeps the client's. The query string is forwarded unchanged.
import type { HTTPFilter, RouteRule } from '../../config/model';
import { hostnameProblem } from '../../config/hostname';
import { checkPathModifier, createPathModifier } from '../path-modifier';
import { CONTINUE, type FilterProblem, type FilterRequest, type FilterResult, type HttpFilter } from '../types';

export type URLRewriteSpec = Extract<HTTPFilter, { type: 'URLRewrite' }>;

export function checkURLRewrite(spec: URLRewriteSpec, rule: RouteRule): FilterProblem[] {
  const out: FilterProblem[] = [];
  if (spec.hostname !== undefined) {
    const h = spec.hostname.toLowerCase();
    const p = h.startsWith('*') ? 'expected a precise hostname (no wildcard)' : hostnameProblem(h);
    if (p) out.push({ path: ['hostname'], what: p });
  }
  if (spec.path !== undefined) out.push(...checkPathModifier(spec.path, rule, ['path']));
  return out;
}

export function createURLRewrite(spec: URLRewriteSpec, rule: RouteRule): HttpFilter {
  const hostname = spec.hostname ?? null;
  const pathOf = spec.path === undefined ? null : createPathModifier(spec.path, rule);
  return {
    type: 'URLRewrite',
    editsRequestHeaders: false,
    onRequest(req: FilterRequest): FilterResult {
      if (hostname !== null) req.host = hostname;
      if (pathOf !== null) req.path = pathOf(req.path);
      return CONTINUE;
    },
  };
}
