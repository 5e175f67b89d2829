// The uWebSockets.js front end: uWS parses HTTP/1.1 with zero-copy buffers, we copy the head
// out inside the callback (uWS `req` dies when it returns) and adapt its response API to the
// Downstream seam. Only the native addon is used: the package's JS fallback is slower than
// node:http, so when the addon does not load we say why and native-free serves instead.
import type { Settings } from '../env';
import type { Downstream, IncomingHead } from '../http/downstream';
import type { BoundListener, Frontend, ListenerSpec, RequestHandler, UpgradeHandler } from './types';

// Minimal structural types for the parts of uWS we use (its .d.ts describes the JS fallback too).
interface UwsResponse {
  writeStatus(s: string): UwsResponse;
  writeHeader(k: string, v: string): UwsResponse;
  write(chunk: Uint8Array | string): boolean;
  end(body?: Uint8Array | string, closeConnection?: boolean): UwsResponse;
  endWithoutBody(reportedContentLength?: number, closeConnection?: boolean): UwsResponse;
  tryEnd(chunk: Uint8Array, totalSize: number): [boolean, boolean];
  getWriteOffset(): number;
  onWritable(h: (offset: number) => boolean): UwsResponse;
  onAborted(h: () => void): UwsResponse;
  onData(h: (chunk: ArrayBuffer, isLast: boolean) => void): UwsResponse;
  getRemoteAddressAsText(): ArrayBuffer;
  cork(cb: () => void): UwsResponse;
  pause(): void;
  resume(): void;
  close(): UwsResponse;
}
interface UwsRequest {
  getCaseSensitiveMethod(): string;
  getUrl(): string;
  getQuery(): string | undefined;
  forEach(cb: (k: string, v: string) => void): void;
}
interface UwsApp {
  any(pattern: string, h: (res: UwsResponse, req: UwsRequest) => void): UwsApp;
  listen(host: string, port: number, cb: (ls: unknown) => void): UwsApp;
  close(): void;
}
interface UwsModule {
  App(): UwsApp;
  us_listen_socket_close(ls: unknown): void;
  us_socket_local_port(ls: unknown): number;
}

let loaded: UwsModule | null = null;
let loadError: string | null = null;

/**
 * Loads the native uWS addon for this platform/ABI directly, bypassing the package's loader
 * (which silently falls back to a JS imitation). Returns null with `uwsUnavailableReason()`.
 */
export function loadUws(): UwsModule | null {
  if (loaded !== null || loadError !== null) return loaded;
  const file = `uWebSockets.js/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    loaded = require(file) as UwsModule;
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0];
    loadError = `native uWebSockets.js addon ${file} did not load on Node ${process.version} (${msg})`;
  }
  return loaded;
}

export function uwsUnavailableReason(): string | null {
  loadUws();
  return loadError;
}

const EMPTY = Buffer.alloc(0);

// Scratch target for req.forEach, so copying headers needs no closure per request.
let collectTarget: string[] = [];
function collect(k: string, v: string): void {
  collectTarget.push(k, v);
}

interface ListenerState {
  inflight: number;
  draining: boolean;
  settings: Settings;
}

/** Adapts one uWS HttpResponse to the Downstream seam. */
class UwsDownstream implements Downstream {
  done = false;
  private aborted = false;
  private abortCb: (() => void) | null = null;
  // Request body: uWS delivers body bytes only to a handler attached inside the route callback,
  // so chunks that arrive before the proxy asks for them are held here (and the socket paused).
  private bodyCb: ((chunk: Buffer, last: boolean) => void) | null = null;
  private early: Buffer[] | null = null;
  private earlyLast = false;
  private bodyPaused = false;
  // Response body.
  private bodyLength = -1;
  private pending: Buffer | null = null;
  private pendingOffset = 0;
  private drainCb: (() => void) | null = null;
  private chunk: Buffer = EMPTY;
  private ended = false;

  constructor(
    private readonly res: UwsResponse,
    private readonly state: ListenerState,
    hasBody: boolean,
  ) {
    res.onAborted(this.onAborted);
    if (hasBody) res.onData(this.onData);
    state.inflight++;
  }

  private readonly onAborted = (): void => {
    this.aborted = true;
    if (this.done) return;
    this.settle();
    const cb = this.abortCb;
    this.abortCb = null;
    if (cb !== null) cb();
  };

  private settle(): void {
    if (!this.done) {
      this.done = true;
      this.state.inflight--;
    }
  }

  private readonly onData = (ab: ArrayBuffer, isLast: boolean): void => {
    // uWS neuters `ab` when this returns: copy (one memcpy; the upstream write may be queued).
    const chunk = ab.byteLength === 0 ? EMPTY : Buffer.copyBytesFrom(new Uint8Array(ab));
    const cb = this.bodyCb;
    if (cb !== null) {
      cb(chunk, isLast);
      return;
    }
    if (this.early === null) this.early = [];
    this.early.push(chunk);
    this.earlyLast = isLast;
    if (!isLast && !this.bodyPaused) {
      this.bodyPaused = true;
      this.res.pause();
    }
  };

  readBody(onChunk: (chunk: Buffer, last: boolean) => void): void {
    this.bodyCb = onChunk;
    const early = this.early;
    if (early !== null) {
      this.early = null;
      for (let i = 0; i < early.length; i++) onChunk(early[i], this.earlyLast && i === early.length - 1);
    }
    if (this.bodyPaused && !this.aborted) {
      this.bodyPaused = false;
      this.res.resume();
    }
  }

  pauseBody(): void {
    if (!this.aborted && !this.bodyPaused) {
      this.bodyPaused = true;
      this.res.pause();
    }
  }

  resumeBody(): void {
    if (!this.aborted && this.bodyPaused) {
      this.bodyPaused = false;
      this.res.resume();
    }
  }

  writeInterim(): void {
    // uWS 20.30 has no API for a 1xx before the final head; 103 Early Hints is dropped
    // (RFC 8297 §2: clients must tolerate its absence).
  }

  private headStatus = '';
  private headHeaders: string[] = [];
  private headNoBody = false;

  writeHead(status: number, reason: string, headers: string[], bodyLength: number, noBody: boolean): void {
    if (this.aborted) return;
    this.bodyLength = bodyLength;
    this.headStatus = reason.length !== 0 ? status + ' ' + reason : String(status);
    this.headHeaders = headers;
    this.headNoBody = noBody;
    this.res.cork(this.corkedHead);
  }

  private readonly corkedHead = (): void => {
    const res = this.res;
    res.writeStatus(this.headStatus);
    const h = this.headHeaders;
    for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i], h[i + 1]);
    if (this.headNoBody) {
      this.ended = true;
      res.endWithoutBody(this.bodyLength >= 0 ? this.bodyLength : undefined, this.state.draining);
    }
  };

  writeBody(chunk: Buffer): boolean {
    if (this.aborted || this.ended) return true;
    this.chunk = chunk;
    this.res.cork(this.corkedWrite);
    this.chunk = EMPTY;
    return this.pending === null && this.drainCb === null ? true : this.writeOk;
  }

  private writeOk = true;

  private readonly corkedWrite = (): void => {
    const res = this.res;
    const chunk = this.chunk;
    if (this.bodyLength >= 0) {
      // Known length: tryEnd lets uWS write Content-Length itself; on backpressure it keeps
      // nothing, so the unsent rest is kept here and retried from onWritable.
      const offset = res.getWriteOffset();
      const [ok, done] = res.tryEnd(chunk, this.bodyLength);
      if (done) this.ended = true;
      this.writeOk = ok || done;
      if (!this.writeOk) {
        this.pending = Buffer.from(chunk);
        this.pendingOffset = offset;
        res.onWritable(this.onWritableTryEnd);
      }
    } else {
      // Unknown length: uWS switches to chunked and buffers the whole chunk.
      this.writeOk = res.write(chunk);
      if (!this.writeOk) res.onWritable(this.onWritableWrite);
    }
  };

  private readonly onWritableTryEnd = (offset: number): boolean => {
    const pending = this.pending;
    if (pending === null) return true;
    const [ok, done] = this.res.tryEnd(pending.subarray(offset - this.pendingOffset), this.bodyLength);
    if (done) this.ended = true;
    if (ok || done) {
      this.pending = null;
      this.writeOk = true;
      this.fireDrain();
    }
    return ok || done;
  };

  private readonly onWritableWrite = (): boolean => {
    this.writeOk = true;
    this.fireDrain();
    return true;
  };

  private fireDrain(): void {
    const cb = this.drainCb;
    this.drainCb = null;
    if (cb !== null) cb();
  }

  onDrain(cb: () => void): void {
    if (this.writeOk) cb();
    else this.drainCb = cb;
  }

  end(): void {
    if (this.aborted) return;
    if (!this.ended) {
      this.ended = true;
      this.res.cork(this.corkedEnd);
    }
    this.settle();
  }

  private readonly corkedEnd = (): void => {
    // Known length fully sent ends inside tryEnd; CL 0 and chunked end here.
    this.res.end(undefined, this.state.draining);
  };

  private respondStatus = '';
  private respondHeaders: string[] = [];
  private respondBody = '';
  private respondClose = false;

  respond(status: number, headers: string[], body: string, close: boolean): void {
    if (this.aborted || this.ended) return;
    this.ended = true;
    this.respondStatus = status + ' ' + STATUS_TEXT[status];
    this.respondHeaders = headers;
    this.respondBody = body;
    this.respondClose = close || this.state.draining;
    this.res.cork(this.corkedRespond);
    this.settle();
  }

  private readonly corkedRespond = (): void => {
    const res = this.res;
    res.writeStatus(this.respondStatus);
    const h = this.respondHeaders;
    for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i], h[i + 1]);
    res.end(this.respondBody, this.respondClose);
  };

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.settle();
    this.res.close();
  }

  onAbort(cb: () => void): void {
    this.abortCb = cb;
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

function listen(
  spec: ListenerSpec,
  index: number,
  settings: Settings,
  onRequest: RequestHandler,
  _onUpgrade: UpgradeHandler,
): Promise<BoundListener> {
  const uws = loadUws();
  if (uws === null) return Promise.reject(new Error(loadError ?? 'uWebSockets.js unavailable'));
  const state: ListenerState = { inflight: 0, draining: false, settings };
  const maxInflight = settings.maxConnections;
  const app = uws.App();
  app.any('/*', (res, req) => {
    const headers: string[] = [];
    collectTarget = headers;
    req.forEach(collect);
    collectTarget = [];
    let hasBody = false;
    for (let i = 0; i < headers.length; i += 2) {
      const n = headers[i];
      if (n === 'content-length' ? headers[i + 1].trim() !== '0' : n === 'transfer-encoding') hasBody = true;
    }
    const query = req.getQuery();
    const head: IncomingHead = {
      method: req.getCaseSensitiveMethod(),
      path: req.getUrl(),
      query: query === undefined ? '' : query,
      // uWS 20.30 serves HTTP/1.1 only (it closes HTTP/1.0 connections itself).
      httpMinor: 1,
      headers,
      remoteAddress: remoteAddress(res),
      scheme: 'http',
      headBytes: -1,
    };
    const ds = new UwsDownstream(res, state, hasBody);
    if (maxInflight > 0 && state.inflight > maxInflight) {
      // uWS exposes no per-connection hook for HTTP, so on this front end the limit applies to
      // requests in flight (README: GATEMESH_MAX_CONNECTIONS).
      ds.respond(503, ['content-type', 'text/plain; charset=utf-8'], 'connection limit reached\n', true);
      return;
    }
    onRequest(head, ds, index);
  });
  return new Promise((resolve, reject) => {
    app.listen(spec.address, spec.port, (ls) => {
      if (!ls) {
        reject(new Error(`uws: cannot listen on ${spec.address}:${spec.port}`));
        return;
      }
      const port = uws.us_socket_local_port(ls);
      let listenSocket: unknown = ls;
      resolve({
        port,
        get inflight() {
          return state.inflight;
        },
        stopAccepting() {
          state.draining = true;
          if (listenSocket !== null) uws.us_listen_socket_close(listenSocket);
          listenSocket = null;
        },
        closeAll() {
          state.draining = true;
          if (listenSocket !== null) uws.us_listen_socket_close(listenSocket);
          listenSocket = null;
          app.close();
        },
      });
    });
  });
}

function remoteAddress(res: UwsResponse): string {
  const s = Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
  // IPv4-mapped IPv6 (dual-stack sockets) → plain IPv4.
  return s.startsWith('::ffff:') && s.indexOf('.') > 0 ? s.slice(7) : s;
}

export const uwsFrontend: Frontend = { name: 'uws', listen };
