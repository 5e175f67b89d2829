// The request path, top to bottom: front end → checks → route → backend → endpoint → upstream
// exchange → response → access log. Both front ends call `onRequest`/`onUpgrade` here; every
// error becomes a response in exactly one place (`fail`).
import type net from 'node:net';
import type { Backend, Endpoint, GatewayConfig } from './config/model';
import type { Settings } from './env';
import { ERR, type ErrorSpec } from './errors';
import type { Downstream, IncomingHead } from './http/downstream';
import { buildUpstreamHead, filterResponseHeaders, filterUpgradeHeaders, TrustedProxies } from './http/forwarding';
import { checkRequestHead, newRequestFraming, type RequestFraming } from './http/request-head';
import type { UpgradeDownstream } from './frontend/types';
import type { AccessLog, AccessRecord } from './log';
import { compileRouteTable, type MatchedRule, type RouteTable } from './router/route-table';
import { startExchange, type Exchange, type ExchangeSink } from './upstream/exchange';
import type { EndpointPool, Pools } from './upstream/pool';
import type { ResponseFraming } from './upstream/response-parser';
import { STAT_FIELDS, type StatSlot } from './stats';

/** A backend as the hot path sees it: endpoints with their pools resolved at config load. */
interface BackendRuntime {
  name: string;
  pools: EndpointPool[];
  labels: string[];
  /** Per-thread round-robin cursor (policies replace this with a balancer). */
  next: number;
}

/** Everything built from one config version; swapped as a whole on reload. */
export interface ProxyRuntime {
  /** Route table per bound listener (index = listener group). */
  tables: RouteTable[];
  backends: Map<string, BackendRuntime>;
}

export interface ListenerGroup {
  address: string;
  port: number;
  /** Indexes into GatewayConfig.listeners sharing this address:port. */
  listeners: number[];
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

export function compileRuntime(config: GatewayConfig, groups: ListenerGroup[], pools: Pools): ProxyRuntime {
  const tables = groups.map((g) => compileRouteTable(g.listeners.flatMap((i) => config.listeners[i].routes)));
  const backends = new Map<string, BackendRuntime>();
  for (const [name, b] of Object.entries(config.backends) as [string, Backend][]) {
    backends.set(name, {
      name,
      pools: b.endpoints.map((e: Endpoint) => pools.get(e)),
      labels: b.endpoints.map((e: Endpoint) => (e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`)),
      next: 0,
    });
  }
  return { tables, backends };
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
class ProxyStream implements ExchangeSink {
  readonly framing: RequestFraming = newRequestFraming();
  phase = Phase.Routing;
  exchange: Exchange | null = null;
  matched: MatchedRule | null = null;
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
    const ref = matched.pickBackend();
    if (ref === null) return this.fail(ERR.NO_BACKEND, '');
    if (ref.backend === null) return this.fail(ERR.BACKEND_NOT_FOUND, ref.invalidReason ?? '');
    const backend = runtime.backends.get(ref.backend);
    if (backend === undefined) return this.fail(ERR.BACKEND_NOT_FOUND, ref.backend);
    const n = backend.pools.length;
    if (n === 0) return this.fail(ERR.NO_ENDPOINTS, backend.name);
    const i = backend.next;
    backend.next = i + 1 >= n ? 0 : i + 1;
    this.endpoint = backend.labels[i];
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
    const head = buildUpstreamHead(this.head, f, this.ctx.trusted, upgrade);
    const method = this.head.method;
    this.phase = Phase.Upstream;
    this.upstreamStart = performance.now();
    const hasBody = f.chunked || f.contentLength > 0;
    this.exchange = startExchange(
      pool,
      {
        method,
        head,
        body: f.chunked ? 'chunked' : f.contentLength > 0 ? 'length' : 'none',
        // RFC 9110 §9.2.2: safe methods plus PUT and DELETE.
        idempotent: method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'TRACE' || method === 'PUT' || method === 'DELETE',
        responseTimeoutMs: this.ctx.settings.upstreamTimeoutMs,
      },
      this,
    );
    if (hasBody) this.ds.readBody(this.onRequestBody, this.onRequestBodyError);
  }

  private readonly onRequestBody = (chunk: Buffer, last: boolean): void => {
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
    this.upstreamMs = performance.now() - this.upstreamStart;
    this.status = status;
    this.phase = Phase.Streaming;
    let length = framing.chunked || framing.closeDelimited ? -1 : framing.contentLength;
    if (framing.noBody && length < 0) length = framing.contentLength; // HEAD/304 report the upstream's CL
    this.ds.writeHead(status, reason, filterResponseHeaders(headers), length, framing.noBody);
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
