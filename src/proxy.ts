// The request path, top to bottom: front end → checks → route → request filters (the rule's,
// then the picked backendRef's; src/filters/) → backend → endpoint → upstream exchange →
// response filters → response → access log. Both front ends call `onRequest`/`onUpgrade` here; every
// error becomes a response in exactly one place (`fail`).
import type net from 'node:net';
import type { Backend, BackendRef, Endpoint, GatewayConfig } from './config/model';
import type { Settings } from './env';
import { ERR, type ErrorSpec } from './errors';
import type { Downstream, IncomingHead } from './http/downstream';
import { buildUpstreamHead, filterResponseHeaders, filterUpgradeHeaders, TrustedProxies } from './http/forwarding';
import { checkRequestHead, newRequestFraming, type RequestFraming } from './http/request-head';
import type { UpgradeDownstream } from './frontend/types';
import type { AccessLog, AccessRecord } from './log';
import { compileRouteTable, type MatchedRule, type RouteTable } from './router/route-table';
import { startExchange, type Exchange, type ExchangeRequest, type ExchangeSink } from './upstream/exchange';
import { AttemptController, type AttemptHost } from './retry/attempt-controller';
import type { RulePolicy } from './retry/rule-policy';
import type { EndpointPool, Pools } from './upstream/pool';
import type { ResponseFraming } from './upstream/response-parser';
import { STAT_FIELDS, type StatSlot } from './stats';
import { createStreamFilters, type StreamFilters } from './filters/stream-filters';
import type { RuleFilters } from './filters/chain';
import type { MirrorPick } from './filters/request-mirror/request-mirror';
import type { LocalResponse } from './filters/types';

/** A backend as the hot path sees it: endpoints with their pools resolved at config load. */
interface BackendRuntime {
  name: string;
  /** The model it was built from (reused while a reload leaves this object unchanged). */
  config: Backend;
  pools: EndpointPool[];
  labels: string[];
  /** Per-thread round-robin cursor (policies replace this with a balancer). */
  next: number;
}

/** Everything built from one config version; swapped as a whole on reload. */
export interface ProxyRuntime {
  /** Route table per bound listener, indexed by its slot (ListenerGroup.slot; the group's index when
   *  absent). A slot without a table (a listener being closed) answers 404. */
  tables: (RouteTable | undefined)[];
  backends: Map<string, BackendRuntime>;
  /** Configured port per listener slot (RequestRedirect's "Gateway Listener port"; 0 = OS-picked). */
  listenerPorts: number[];
  /** RequestMirror: backend name → one endpoint pool of this runtime, round robin. */
  mirrorPick: MirrorPick;
}

export interface ListenerGroup {
  address: string;
  port: number;
  /** Indexes into GatewayConfig.listeners sharing this address:port. */
  listeners: number[];
  /** Stable number of the bound socket across reloads (src/reload/listener-slots.ts); default: the index. */
  slot?: number;
}

/** Groups model listeners by bind address:port: one socket serves all of them (hostname routing). */
export function groupListeners(config: GatewayConfig): ListenerGroup[] {
  const groups: ListenerGroup[] = [];
  config.listeners.forEach((l, i) => {
    const g = groups.find((x) => x.address === l.address && x.port === l.port && l.port !== 0);
    if (g) g.listeners.push(i);
    else groups.push({ address: l.address, port: l.port, listeners: [i] });
  });
  return groups;
}

/**
 * Builds the runtime of one config version. With `previous` (hot reload) only what changed is
 * rebuilt: route tables reuse the compiled state of Route objects they already had, and a
 * backend whose Backend object is unchanged keeps its runtime (pools, round-robin cursor).
 */
export function compileRuntime(config: GatewayConfig, groups: ListenerGroup[], pools: Pools, previous?: ProxyRuntime): ProxyRuntime {
  const tables: (RouteTable | undefined)[] = [];
  groups.forEach((g, i) => {
    const slot = g.slot ?? i;
    while (tables.length < slot) tables.push(undefined);
    tables[slot] = compileRouteTable(g.listeners.flatMap((l) => config.listeners[l].routes), previous?.tables[slot]);
  });
  const backends = new Map<string, BackendRuntime>();
  for (const [name, b] of Object.entries(config.backends) as [string, Backend][]) {
    const old = previous?.backends.get(name);
    if (old !== undefined && old.config === b) {
      backends.set(name, old);
      continue;
    }
    backends.set(name, {
      config: b,
      name,
      pools: b.endpoints.map((e: Endpoint) => pools.get(e)),
      labels: b.endpoints.map((e: Endpoint) => (e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`)),
      next: 0,
    });
  }
  const listenerPorts: number[] = [];
  groups.forEach((g, i) => (listenerPorts[g.slot ?? i] = g.port));
  return { tables, backends, listenerPorts, mirrorPick: createMirrorPick(backends) };
}

/** RequestMirror targets resolve by backend name against this runtime's backends. */
function createMirrorPick(backends: Map<string, BackendRuntime>): MirrorPick {
  return (name) => {
    const b = backends.get(name);
    if (b === undefined || b.pools.length === 0) return null;
    const i = b.next;
    b.next = i + 1 >= b.pools.length ? 0 : i + 1;
    return b.pools[i];
  };
}

export interface ProxyContext {
  settings: Settings;
  trusted: TrustedProxies;
  accessLog: AccessLog;
  /** The current config; a reload replaces it and requests in flight keep the one they started with. */
  runtime: ProxyRuntime;
  /** True for the uws front end: its parser leaves token/value syntax to us. */
  checkSyntax: boolean;
  /** Requests in flight on this thread (drain waits for 0). */
  inflight: number;
  /** GATEMESH_DEBUG_DELAY_MS: artificial delay before forwarding (bench gate self-test only). */
  debugDelayMs: number;
  /** This thread's slot of the shared counters. */
  stats: StatSlot;
}

const enum Phase {
  Routing,
  Upstream,
  Streaming,
  Done,
}

/** One request's journey (Envoy's per-stream filter object; linkerd's endpoint stack). */
class ProxyStream implements ExchangeSink, AttemptHost {
  readonly framing: RequestFraming = newRequestFraming();
  phase = Phase.Routing;
  exchange: Exchange | null = null;
  matched: MatchedRule | null = null;
  /** Timeouts and retries of the matched rule; null (nothing allocated) when it sets neither. */
  attempts: AttemptController | null = null;
  /** The backend picked for this request (retries pick its next endpoint). */
  backend: BackendRuntime | null = null;
  /** HTTPRoute filters of the matched rule (src/filters/); null (nothing allocated) when it has none. */
  filters: StreamFilters | null = null;
  endpoint = '-';
  status = 0;
  bytesOut = 0;
  bytesIn = 0;
  readonly start = performance.now();
  upstreamStart = 0;
  upstreamMs = -1;
  error: ErrorSpec | null = null;
  detail = '';
  upgradeHeaders: string[] = [];
  /** Downstream response blocked on a slow client. */
  private waitingDrain = false;
  private readonly onDrainBound = (): void => {
    this.waitingDrain = false;
    if (this.exchange !== null) this.exchange.resume();
  };

  constructor(
    readonly ctx: ProxyContext,
    readonly head: IncomingHead,
    readonly ds: Downstream,
    readonly upgradeDs: UpgradeDownstream | null,
  ) {}

  // --- request phase -----------------------------------------------------------------------

  run(listener: number): void {
    const ctx = this.ctx;
    const head = this.head;
    const ds = this.ds;
    ds.onAbort(this.onClientAbort);
    ctx.inflight++;
    const bad = checkRequestHead(head, ctx.settings, ctx.checkSyntax, this.framing);
    if (bad !== null) return this.fail(bad, '');
    const runtime = ctx.runtime;
    const table = runtime.tables[listener];
    const matched = table === undefined ? null : table.match(this.framing.host, head.method, this.framing.path, head.query, head.headers);
    if (matched === null) return this.fail(ERR.NO_ROUTE, '');
    this.matched = matched;
    if (matched.filters !== null && this.ruleFilters(matched.filters, runtime, listener)) return;
    const ref = matched.pickBackend();
    if (ref === null) return this.fail(ERR.NO_BACKEND, '');
    if (ref.backend === null) return this.fail(ERR.BACKEND_NOT_FOUND, ref.invalidReason ?? '');
    if (this.filters !== null && this.backendFilters(this.filters, ref)) return;
    const backend = runtime.backends.get(ref.backend);
    if (backend === undefined) return this.fail(ERR.BACKEND_NOT_FOUND, ref.backend);
    const n = backend.pools.length;
    if (n === 0) return this.fail(ERR.NO_ENDPOINTS, backend.name);
    const i = backend.next;
    backend.next = i + 1 >= n ? 0 : i + 1;
    this.endpoint = backend.labels[i];
    if (matched.policy !== null) this.applyPolicy(matched.policy, backend, i);
    if (ctx.debugDelayMs > 0) {
      setTimeout(() => this.forward(backend.pools[i]), ctx.debugDelayMs);
      return;
    }
    this.forward(backend.pools[i]);
  }

  private forward(pool: EndpointPool): void {
    if (this.phase === Phase.Done) return;
    const f = this.framing;
    const upgrade = this.upgradeDs !== null && f.upgrade;
    const head = buildUpstreamHead(this.head, f, this.ctx.trusted, upgrade, this.filters === null ? null : this.filters.req);
    const method = this.head.method;
    if (this.filters !== null && !upgrade) this.filters.startMirrors(method, head, f.chunked, f.contentLength, this.ctx.settings.upstreamTimeoutMs);
    this.phase = Phase.Upstream;
    this.upstreamStart = performance.now();
    const hasBody = f.chunked || f.contentLength > 0;
    const req: ExchangeRequest = {
      method,
      head,
      body: f.chunked ? 'chunked' : f.contentLength > 0 ? 'length' : 'none',
      idempotent: isIdempotent(method),
      responseTimeoutMs: this.ctx.settings.upstreamTimeoutMs,
    };
    if (this.attempts !== null) this.attempts.beginAttempt(req);
    this.exchange = startExchange(pool, req, this);
    if (hasBody) this.ds.readBody(this.onRequestBody, this.onRequestBodyError);
  }

  private readonly onRequestBody = (chunk: Buffer, last: boolean): void => {
    if (this.filters !== null && this.filters.mirrorBody !== null) this.filters.mirrorBody.onChunk(chunk, last);
    // Between two attempts there is no exchange; the attempt controller keeps the chunk for the replay.
    if (this.attempts !== null && this.phase !== Phase.Done) this.keepBody(chunk, last);
    const ex = this.exchange;
    if (ex === null || this.phase === Phase.Done) return;
    if (chunk.length !== 0) {
      this.bytesIn += chunk.length;
      const max = this.ctx.settings.maxBodyBytes;
      if (max > 0 && this.bytesIn > max) {
        ex.abort();
        this.exchange = null;
        if (this.phase === Phase.Upstream) return this.fail(ERR.BODY_TOO_LARGE, '');
        return this.abortClient(ERR.BODY_TOO_LARGE, '');
      }
      if (!ex.writeBody(chunk)) this.ds.pauseBody();
    }
    if (last) ex.endBody();
  };

  private readonly onRequestBodyError = (reason: string): void => {
    if (this.phase === Phase.Done) return;
    if (this.exchange !== null) this.exchange.abort();
    this.exchange = null;
    this.abortClient(ERR.BAD_CHUNK, reason);
  };

  onRequestDrain(): void {
    this.ds.resumeBody();
  }

  // --- response phase ----------------------------------------------------------------------

  onInterim(status: number, reason: string, headers: string[]): void {
    // 100 Continue was already sent by the front end (exactly one, RFC 9110 §15.2.1); relay 103.
    if (status === 103) this.ds.writeInterim(status, reason, filterResponseHeaders(headers));
  }

  onHead(status: number, reason: string, headers: string[], framing: ResponseFraming): void {
    if (this.phase === Phase.Done) return;
    if (framing.upgrade) {
      // 101: the exchange hands the socket over next (onUpgrade); keep the head for the relay.
      this.upgradeHeaders = headers;
      return;
    }
    if (this.attempts !== null && this.retryStatus(status)) return;
    this.upstreamMs = performance.now() - this.upstreamStart;
    this.status = status;
    this.phase = Phase.Streaming;
    let length = framing.chunked || framing.closeDelimited ? -1 : framing.contentLength;
    if (framing.noBody && length < 0) length = framing.contentLength; // HEAD/304 report the upstream's CL
    this.ds.writeHead(status, reason, this.filters === null ? filterResponseHeaders(headers) : this.responseFilters(status, headers), length, framing.noBody);
  }

  onBody(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    if (this.ds.writeBody(chunk)) return true;
    if (!this.waitingDrain) {
      this.waitingDrain = true;
      this.ds.onDrain(this.onDrainBound);
    }
    return false;
  }

  onEnd(trailers: string[] | null): void {
    if (this.phase === Phase.Done) return;
    this.ds.end(trailers);
    this.finish();
  }

  onError(err: ErrorSpec, detail: string, afterHead: boolean): void {
    this.exchange = null;
    if (this.phase === Phase.Done) return;
    if (afterHead) return this.abortClient(err, detail);
    if (this.attempts !== null && this.retryFailure(err)) return;
    this.fail(err, detail);
  }

  onUpgrade(socket: net.Socket, rest: Buffer): void {
    this.exchange = null;
    if (this.phase === Phase.Done || this.upgradeDs === null) {
      socket.destroy();
      return;
    }
    this.upstreamMs = performance.now() - this.upstreamStart;
    this.status = 101;
    this.upgradeDs.accept(filterUpgradeHeaders(this.upgradeHeaders), socket, rest);
    this.finish();
  }

  // --- timeouts and retries (rules[].timeouts, rules[].retry; src/retry/) ---------------------

  /** The matched rule has timeouts or a retry policy: arm the request deadline, prepare replays. */
  private applyPolicy(policy: RulePolicy, backend: BackendRuntime, endpoint: number): void {
    const f = this.framing;
    const body = f.chunked ? 'chunked' : f.contentLength > 0 ? 'length' : 'none';
    const c = new AttemptController(policy, this, isIdempotent(this.head.method), body, f.contentLength, this.upgradeDs !== null && f.upgrade);
    c.endpoint = endpoint;
    this.attempts = c;
    this.backend = backend;
    c.start();
  }

  /** A request body chunk under a policy; between attempts (no exchange) it is only kept and counted. */
  private keepBody(chunk: Buffer, last: boolean): void {
    this.attempts!.keep(chunk, last);
    if (this.exchange !== null) return; // onRequestBody counts and forwards it
    this.bytesIn += chunk.length;
    const max = this.ctx.settings.maxBodyBytes;
    if (max > 0 && this.bytesIn > max) this.fail(ERR.BODY_TOO_LARGE, '');
  }

  /** A final status the rule retries (retry.codes), before any byte of it reached the client. */
  private retryStatus(status: number): boolean {
    const delay = this.attempts!.afterStatus(status);
    if (delay < 0) return false;
    // That response is dropped unseen. Its socket is closed rather than drained: the body may
    // be large or slow, and the retry should not wait for it.
    const ex = this.exchange;
    this.exchange = null;
    if (ex !== null) ex.abort();
    this.attempts!.schedule(delay);
    return true;
  }

  /** An attempt failed before a complete response head (the exchange is already finished). */
  private retryFailure(err: ErrorSpec): boolean {
    const delay = this.attempts!.afterFailure(err);
    if (delay < 0) return false;
    this.exchange = null;
    this.attempts!.schedule(delay);
    return true;
  }

  /** AttemptHost: the backoff is over. Same backend, its next endpoint, not the last one tried when it has several. */
  backoffDone(): void {
    if (this.phase === Phase.Done) return;
    const c = this.attempts!;
    const b = this.backend!;
    const n = b.pools.length;
    let i = b.next;
    if (n > 1 && i === c.endpoint) i = i + 1 >= n ? 0 : i + 1;
    b.next = i + 1 >= n ? 0 : i + 1;
    c.endpoint = i;
    this.endpoint = b.labels[i];
    const req = c.request!;
    this.upstreamStart = performance.now();
    c.beginAttempt(req);
    const ex = startExchange(b.pools[i], req, this);
    // It may have failed synchronously (pool closed): then the request is over or waits again.
    if ((this.phase as Phase) === Phase.Done || c.waiting) return;
    this.exchange = ex;
    // The last attempt may have paused the client's body; a replay the socket took at once frees it.
    if (c.replay(ex)) this.ds.resumeBody();
  }

  /** AttemptHost: timeouts.request expired. */
  requestTimedOut(): void {
    if (this.phase === Phase.Done) return;
    this.timeout(ERR.ROUTE_TIMEOUT, `${this.attempts!.policy.requestMs} ms`);
  }

  /** AttemptHost: timeouts.backendRequest expired for the attempt in flight. */
  attemptTimedOut(): void {
    if (this.phase === Phase.Done) return;
    if (this.phase !== Phase.Streaming) {
      const ex = this.exchange;
      this.exchange = null;
      if (ex !== null) ex.abort();
      if (this.retryFailure(ERR.BACKEND_TIMEOUT)) return;
    }
    this.timeout(ERR.BACKEND_TIMEOUT, `no complete response within ${this.attempts!.policy.backendRequestMs} ms`);
  }

  /** 504 before the response head; after it, the client connection is cut (the body is incomplete). */
  private timeout(err: ErrorSpec, detail: string): void {
    const ex = this.exchange;
    this.exchange = null;
    if (ex !== null) ex.abort();
    if (this.phase === Phase.Streaming) return this.abortClient(err, detail);
    // The client may still be sending its body: answer, then close rather than read the rest.
    if (this.framing.chunked || this.framing.contentLength > 0) this.framing.close = true;
    this.fail(err, detail);
  }

  // --- HTTPRoute filters (src/filters/) -----------------------------------------------------

  /** The matched rule has filters: run its request filters. True when one answered the request. */
  private ruleFilters(filters: RuleFilters, runtime: ProxyRuntime, listener: number): boolean {
    const head = this.head;
    const f = this.framing;
    const sf = createStreamFilters(filters, head.method, head.scheme, f.host, f.path, head.query, head.headers, runtime.listenerPorts[listener] ?? 0, runtime.mirrorPick);
    this.filters = sf;
    const r = sf.onRequest();
    if (r.kind === 'continue') return false;
    this.respondLocal(r);
    return true;
  }

  /** Request filters of the picked backendRef. True when one answered the request. */
  private backendFilters(sf: StreamFilters, ref: BackendRef): boolean {
    const r = sf.onBackend(ref);
    if (r.kind === 'continue') return false;
    this.respondLocal(r);
    return true;
  }

  /** Response head to relay, through the response filters (the list is copied before any edit). */
  private responseFilters(status: number, headers: string[]): string[] {
    const relay = filterResponseHeaders(headers);
    return this.filters!.onResponse(status, relay, relay !== headers);
  }

  /** A filter's own answer (redirect, CORS preflight); errors go through `fail`. */
  private respondLocal(r: LocalResponse): void {
    if (r.error !== undefined) return this.fail(r.error, r.reason);
    const headers = this.filters!.onResponse(r.status, r.headers, false);
    this.status = r.status;
    this.detail = r.reason;
    this.ds.respond(r.status, headers, r.body, this.framing.close);
    this.finish();
  }

  // --- ends ----------------------------------------------------------------------------------

  private readonly onClientAbort = (): void => {
    if (this.phase === Phase.Done) return;
    // RFC 9110 §9.2.2 aside, a request whose client left must not keep the upstream busy; the
    // exchange destroys that socket rather than returning a half-read one to the pool.
    if (this.exchange !== null) this.exchange.abort();
    this.exchange = null;
    if (this.status === 0) this.status = 499; // nginx's "client closed request"
    this.error = null;
    this.detail = 'client closed connection';
    this.finish();
  };

  /** The one place an error becomes a response (linkerd's ServerRescue). */
  private fail(err: ErrorSpec, detail: string): void {
    this.error = err;
    this.detail = detail;
    this.status = err.status;
    const body = detail.length !== 0 ? err.reason + ': ' + detail + '\n' : err.reason + '\n';
    this.ds.respond(err.status, ['content-type', 'text/plain; charset=utf-8', 'x-gatemesh-error', err.code], body, err.close || this.framing.close);
    this.finish();
  }

  /** A failure after the response head went out: the client must not see a complete-looking body. */
  private abortClient(err: ErrorSpec, detail: string): void {
    this.error = err;
    this.detail = detail;
    if (this.status === 0) this.status = err.status;
    if (this.phase !== Phase.Streaming) {
      this.fail(err, detail);
      return;
    }
    this.ds.abort();
    this.finish();
  }

  private finish(): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    if (this.attempts !== null) this.attempts.stop();
    const ctx = this.ctx;
    ctx.inflight--;
    ctx.stats.add(STAT_FIELDS.requests, 1);
    if (this.error !== null) ctx.stats.add(STAT_FIELDS.errors, 1);
    else if (this.status === 499) ctx.stats.add(STAT_FIELDS.clientAborts, 1);
    const log = ctx.accessLog;
    if (!log.enabled) return;
    const rec: AccessRecord = {
      method: this.head.method,
      path: this.framing.path,
      route: this.matched === null ? '-' : this.matched.label,
      endpoint: this.endpoint,
      status: this.status,
      bytes: this.bytesOut,
      bytes_in: this.bytesIn,
      duration_ms: Math.round((performance.now() - this.start) * 1000) / 1000,
      upstream_ms: this.upstreamMs < 0 ? -1 : Math.round(this.upstreamMs * 1000) / 1000,
      attempts: this.attempts !== null ? this.attempts.attempts : this.upstreamStart > 0 ? 1 : 0,
      client: this.head.remoteAddress,
    };
    if (this.error !== null) {
      rec.error = this.error.code;
      rec.reason = this.detail.length !== 0 ? this.error.reason + ': ' + this.detail : this.error.reason;
    } else if (this.detail.length !== 0) {
      rec.reason = this.detail;
    }
    log.write(rec);
  }
}

/** RFC 9110 §9.2.2: the safe methods plus PUT and DELETE. */
function isIdempotent(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'TRACE' || method === 'PUT' || method === 'DELETE';
}

export function createRequestHandlers(ctx: ProxyContext): {
  onRequest: (head: IncomingHead, ds: Downstream, listener: number) => void;
  onUpgrade: (head: IncomingHead, ds: UpgradeDownstream, listener: number) => void;
} {
  return {
    onRequest(head, ds, listener) {
      new ProxyStream(ctx, head, ds, null).run(listener);
    },
    onUpgrade(head, ds, listener) {
      new ProxyStream(ctx, head, ds, ds).run(listener);
    },
  };
}
