// Shared fixtures for the filter unit tests: a rule with one PathPrefix match and a FilterRequest.
import type { RouteRule } from '../../src/config/model';
import { newFilterRequest } from '../../src/filters/chain';
import type { FilterRequest } from '../../src/filters/types';

export function prefixRule(prefix: string, backends = 1): RouteRule {
  return {
    matches: [{ path: { type: 'PathPrefix', value: prefix }, headers: [], queryParams: [] }],
    backendRefs: Array.from({ length: backends }, () => ({ backend: 'b', weight: 1 })),
  };
}

export function freq(o: { method?: string; scheme?: string; host?: string; path?: string; query?: string; headers?: string[]; listenerPort?: number } = {}): FilterRequest {
  return newFilterRequest(o.method ?? 'GET', o.scheme ?? 'http', o.host ?? 'example.com', o.path ?? '/', o.query ?? '', o.headers ?? [], o.listenerPort ?? 0);
}

/** Header list → "name: value" lines, for readable comparisons. */
export function lines(h: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < h.length; i += 2) out.push(h[i] + ': ' + h[i + 1]);
  return out;
}
