// The filters of one request in flight (Envoy's per-stream filter state): the matched rule's
// chains, the FilterRequest they edit, the picked backendRef's chain and the mirror body copy.
// Created by the proxy only when the matched rule has filters.
import type { BackendRef } from '../config/model';
import { newFilterRequest, runRequestFilters, runResponseFilters, type FilterChain, type RuleFilters } from './chain';
import { startMirrors, type MirrorBody, type MirrorPick } from './request-mirror/request-mirror';
import { CONTINUE, type FilterRequest, type FilterResult } from './types';

export class StreamFilters {
  /** The picked backendRef's chain, once picked (null when it has none). */
  private backend: FilterChain | null = null;
  /** Copy of a small request body for the mirrors, while it streams. */
  mirrorBody: MirrorBody | null = null;

  constructor(
    readonly filters: RuleFilters,
    readonly req: FilterRequest,
    private readonly mirrorPick: MirrorPick,
  ) {}

  /** Rule-level request filters. */
  onRequest(): FilterResult {
    return this.filters.rule === null ? CONTINUE : runRequestFilters(this.filters.rule, this.req);
  }

  /** Request filters of the backendRef the rule picked (HTTPBackendRef.filters). */
  onBackend(ref: BackendRef): FilterResult {
    const map = this.filters.backends;
    const chain = map === null ? undefined : map.get(ref);
    if (chain === undefined) return CONTINUE;
    this.backend = chain;
    return runRequestFilters(chain, this.req);
  }

  /** Sends the request's sampled mirrors (bodiless now; with a body once it has been copied). */
  startMirrors(method: string, head: string, chunked: boolean, contentLength: number, timeoutMs: number): void {
    const mirrors = this.req.mirrors;
    if (mirrors === null) return;
    this.mirrorBody = startMirrors(mirrors, this.mirrorPick, timeoutMs, method, head, chunked, contentLength);
  }

  /**
   * Response filters: backendRef's, then the rule's. `headers` is the relay-ready list; it is
   * copied (once) before any edit unless `owned`. Returns the list to send.
   */
  onResponse(status: number, headers: string[], owned: boolean): string[] {
    if (!this.filters.hasResponse) return headers;
    const out = owned ? headers : headers.slice();
    if (this.backend !== null) runResponseFilters(this.backend, status, out, this.req);
    if (this.filters.rule !== null) runResponseFilters(this.filters.rule, status, out, this.req);
    return out;
  }
}

export function createStreamFilters(
  filters: RuleFilters,
  method: string,
  scheme: string,
  host: string,
  path: string,
  query: string,
  headers: string[],
  listenerPort: number,
  mirrorPick: MirrorPick,
): StreamFilters {
  return new StreamFilters(filters, newFilterRequest(method, scheme, host, path, query, headers, listenerPort), mirrorPick);
}
