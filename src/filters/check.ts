// Config-time checks of one filter list (HTTPRouteRule.filters or HTTPBackendRef.filters), shared
// by both config formats: each filter's own checkX plus the spec's rules across the list
// (apis/v1/httproute_types.go, CEL on HTTPRouteRule and on the filters lists). The compilers
// attach file:line and their own field names.
import type { HTTPFilter, RouteRule } from '../config/model';
import { checkCORS } from './cors/cors';
import { checkHeaderModifier } from './header-modifier/header-modifier';
import { checkRequestMirror } from './request-mirror/request-mirror';
import { checkRequestRedirect } from './request-redirect/request-redirect';
import type { FilterProblem } from './types';
import { checkURLRewrite } from './url-rewrite/url-rewrite';

export interface ListProblem extends FilterProblem {
  /** Index of the filter in the list; -1 for a problem of the list as a whole. */
  index: number;
}

/** Filter types that may appear more than once in one list. */
const REPEATABLE = new Set(['RequestMirror', 'Unresolved']);

/**
 * `level`: 'rule' for HTTPRouteRule.filters (where RequestRedirect excludes backendRefs),
 * 'backendRef' for HTTPBackendRef.filters.
 */
export function checkFilterList(filters: HTTPFilter[], rule: RouteRule, level: 'rule' | 'backendRef'): ListProblem[] {
  const out: ListProblem[] = [];
  if (filters.length > 16) out.push({ index: -1, path: [], what: 'expected at most 16 filters' });
  const first = new Map<string, number>();
  filters.forEach((f, index) => {
    const seen = first.get(f.type);
    if (seen !== undefined && !REPEATABLE.has(f.type)) {
      out.push({ index, path: [], what: `${f.type} filter cannot be repeated (first at filters[${seen}]); only RequestMirror and ExtensionRef may appear more than once` });
    }
    if (seen === undefined) first.set(f.type, index);
    for (const p of checkOne(f, rule)) out.push({ index, ...p });
  });
  const redirect = first.get('RequestRedirect');
  const rewrite = first.get('URLRewrite');
  if (redirect !== undefined && rewrite !== undefined) {
    out.push({ index: Math.max(redirect, rewrite), path: [], what: 'RequestRedirect and URLRewrite cannot be used together (filters ' +
      `[${redirect}] and [${rewrite}]): a redirect answers the request, a rewrite forwards it` });
  }
  if (level === 'rule' && redirect !== undefined && rule.backendRefs.length > 0) {
    out.push({ index: redirect, path: [], what: 'RequestRedirect filter must not be used together with backendRefs (the redirect answers every request; remove the backendRefs)' });
  }
  return out;
}

function checkOne(f: HTTPFilter, rule: RouteRule): FilterProblem[] {
  switch (f.type) {
    case 'RequestHeaderModifier':
      return checkHeaderModifier(f.modifier, 'request');
    case 'ResponseHeaderModifier':
      return checkHeaderModifier(f.modifier, 'response');
    case 'RequestRedirect':
      return checkRequestRedirect(f, rule);
    case 'URLRewrite':
      return checkURLRewrite(f, rule);
    case 'RequestMirror':
      return checkRequestMirror(f);
    case 'CORS':
      return checkCORS(f);
    case 'Unresolved':
      return [];
  }
}
