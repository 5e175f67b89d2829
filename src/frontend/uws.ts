// The uWebSockets.js front end: uWS parses HTTP/1.1 with zero-copy buffers, we copy the head
// out inside the callback (uWS `req` dies when it returns) and adapt its response API to the
// Downstream seam. Only the native addon is used: the package's JS fallback is slower than
// node:http, so when the addon does not load we say why and native-free serves instead.
import type net from 'node:net';
import type { Settings } from '../env';
import type { Downstream, IncomingHead } from '../http/downstream';
import type { BoundListener, Frontend, ListenerSpec, RequestHandler, UpgradeDownstream, UpgradeHandler } from './types';
import { ERR } from '../errors';
import { closePayload, encodeFrame, FrameDecoder, OP_BINARY, OP_CLOSE, OP_PONG, OP_TEXT, type FrameSink } from './ws-frames';
import { closeSection, openSection } from '../shared/section-clock';

// Minimal structural types for the parts of uWS we use (its .d.ts describes the JS fallback too).
interface UwsResponse {
  writeStatus(s: string | Uint8Array): UwsResponse;
  writeHeader(k: string, v: string): UwsResponse;
  write(chunk: Uint8Array | string): boolean;
  end(body?: Uint8Array | string, closeConnection?: boolean): UwsResponse;
  endWithoutBody(reportedContentLength?: number, closeConnection?: boolean): UwsResponse;
  tryEnd(chunk: Uint8Array, totalSize: number): [boolean, boolean];
  getWriteOffset(): number;
  onWritable(h: (offset: number) => boolean): UwsResponse;
  onAborted(h: () => void): UwsResponse;
  onData(h: (chunk: ArrayBuffer, isLast: boolean) => void): UwsResponse;
  getRemoteAddress(): ArrayBuffer;
  getRemoteAddressAsText(): ArrayBuffer;
  cork(cb: () => void): UwsResponse;
  pause(): void;
  resume(): void;
  close(): UwsResponse;
  upgrade(userData: WsUserData, key: string, protocol: string, extensions: string, context: unknown): void;
}
interface UwsWebSocket {
  send(message: Uint8Array, isBinary: boolean): number;
  end(code?: number, message?: Uint8Array | string): void;
  close(): void;
  getUserData(): WsUserData;
  getBufferedAmount(): number;
}
/** What a relayed WebSocket carries from the upgrade to its `open`. */
interface WsUserData {
  upstream: net.Socket;
  rest: Buffer;
  /** Set once either side has closed: uWS invalidates `ws` after its close callback. */
  closed: boolean;
  ws: UwsWebSocket | null;
}
interface UwsRequest {
  getCaseSensitiveMethod(): string;
  getUrl(): string;
  getQuery(): string | undefined;
  getHeader(lowerCaseKey: string): string;
  forEach(cb: (k: string, v: string) => void): void;
}
interface UwsApp {
  any(pattern: string, h: (res: UwsResponse, req: UwsRequest) => void): UwsApp;
  ws(pattern: string, behavior: Record<string, unknown>): UwsApp;
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
/** Header-list fields start as this shared empty list, not an array per request (frozen: only read). */
const NO_HEADERS: readonly string[] = Object.freeze([]);

// Scratch target for req.forEach, so copying headers needs no closure per request.
let collectTarget: string[] = [];
function collect(k: string, v: string): void {
  collectTarget.push(k, v);
}

// res.cork() runs its callback synchronously, so one module-level callback per kind of corked
// write and the downstream it is for replace three closures allocated per request.
let corkTarget: UwsDownstream | null = null;
function corkedWrite(): void {
  corkTarget!.corkedWrite();
}
function corkedEnd(): void {
  corkTarget!.corkedEnd();
}
function corkedRespond(): void {
  corkTarget!.corkedRespond();
}

export interface ListenerState {
  inflight: number;
  draining: boolean;
  settings: Settings;
}

/**
 * One uWS app and the listener it serves now. uWS.js never frees an App: the native app, the
 * handler closures it holds and the V8 templates uWS.App() builds on every call (~15 KiB of heap,
 * ~30 KiB of RSS) live until the thread exits. So a closed listener's app goes back to `idleApps`
 * and the next listen() rebinds it: a thread has at most as many apps as it ever had listeners
 * open at once, however often a reload adds and removes one (issue 4, flat memory after 1,000
 * reloads; bench/reload.ts --listener-churn). The handlers read the binding, not captured consts.
 */
interface UwsListenerApp {
  readonly app: UwsApp;
  /** A fresh object per listen(): responses still settling on an earlier binding count there. */
  state: ListenerState;
  index: number;
  onRequest: RequestHandler;
  onUpgrade: UpgradeHandler;
  maxInflight: number;
}

/** Closed apps of this thread, ready to listen again (app.close() leaves an app reusable). */
const idleApps: UwsListenerApp[] = [];
/** Apps this thread has created, idle or bound (uwsAppStats, for tests). */
let appsCreated = 0;

/** How many uWS apps this thread has made and how many of them are idle (tests assert reuse). */
export function uwsAppStats(): { created: number; idle: number } {
  return { created: appsCreated, idle: idleApps.length };
}

/** Adapts one uWS HttpResponse to the Downstream seam (exported for its tests). */
export class UwsDownstream implements Downstream {
  done = false;
  protected aborted = false;
  private abortCb: (() => void) | null = null;
  // Request body: uWS delivers body bytes only to a handler attached inside the route callback,
  // so chunks that arrive before the proxy asks for them are held here (and the socket paused).
  /** `owned`: false for a view over uWS's buffer (valid during the call), true for a held copy. */
  private bodyCb: ((chunk: Buffer, last: boolean, owned: boolean) => void) | null = null;
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
    protected readonly res: UwsResponse,
    protected readonly state: ListenerState,
    hasBody: boolean,
    /** The request said `Connection: close`: uWS closes after the response, and RFC 9112 §9.6
     *  says the response should say so (clients such as wrk treat the close as an error otherwise). */
    private readonly clientClose = false,
  ) {
    res.onAborted(this.onAborted);
    if (hasBody) res.onData((ab, isLast) => this.onData(ab, isLast));
    state.inflight++;
  }

  private cork(cb: () => void): void {
    const prev = corkTarget;
    corkTarget = this;
    this.res.cork(cb);
    corkTarget = prev;
  }

  private readonly onAborted = (): void => {
    this.aborted = true;
    this.clearSendTimer();
    if (this.done) return;
    this.settle();
    const cb = this.abortCb;
    this.abortCb = null;
    if (cb !== null) cb();
  };

  protected settle(): void {
    if (!this.done) {
      this.done = true;
      this.state.inflight--;
    }
  }

  private onData(ab: ArrayBuffer, isLast: boolean): void {
    // uWS neuters `ab` when this returns. The seam says a chunk is valid only during the call
    // (the exchange copies what it queues), so pass a view; only chunks held here are copied.
    const cb = this.bodyCb;
    if (cb !== null) {
      cb(ab.byteLength === 0 ? EMPTY : Buffer.from(ab), isLast, false);
      return;
    }
    if (this.early === null) this.early = [];
    this.early.push(ab.byteLength === 0 ? EMPTY : Buffer.copyBytesFrom(new Uint8Array(ab)));
    this.earlyLast = isLast;
    if (!isLast && !this.bodyPaused) {
      this.bodyPaused = true;
      this.res.pause();
    }
  }

  readBody(onChunk: (chunk: Buffer, last: boolean, owned: boolean) => void): void {
    this.bodyCb = onChunk;
    const early = this.early;
    if (early !== null) {
      this.early = null;
      for (let i = 0; i < early.length; i++) onChunk(early[i], this.earlyLast && i === early.length - 1, true);
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
  private headHeaders: readonly string[] = NO_HEADERS;
  private headNoBody = false;

  writeHead(status: number, reason: string, headers: string[], bodyLength: number, noBody: boolean, obsText = false): void {
    if (this.aborted) return;
    this.bodyLength = bodyLength;
    this.headObsText = obsText;
    this.headStatus = statusLine(status, reason);
    this.headHeaders = headers;
    this.headNoBody = noBody;
    // The head is written together with the first body bytes (or the end) in one cork, so a
    // small response leaves in one send() instead of two. Measured: two corks per response cost
    // ~30% of the worker's CPU in `npm run bench` (small GET), most of it in the extra syscall.
    this.headPending = true;
    if (noBody) this.cork(corkedEnd);
  }

  private headPending = false;
  private headObsText = false;

  /** `close`: also say `Connection: close` (the request did not, see corkedEnd). */
  private writePendingHead(close: boolean): void {
    this.headPending = false;
    const block = headBlock(this.headStatus, this.headHeaders, this.clientClose || close);
    // uWS.js encodes a string argument as UTF-8, which would turn each obs-text byte (here a
    // Latin-1 character) into two bytes: such a head goes as Latin-1 bytes instead.
    this.res.writeStatus(this.headObsText ? Buffer.from(block, 'latin1') : block);
  }

  writeBody(chunk: Buffer): boolean {
    if (this.aborted || this.ended) return true;
    this.chunk = chunk;
    this.cork(corkedWrite);
    this.chunk = EMPTY;
    if (!this.writeOk) this.armSendTimer();
    // False until onWritable: the caller stops reading the upstream. uWS's write() (chunked, no
    // Content-Length) keeps every chunk it is given, so ignoring its false let a client that read
    // nothing fill the gateway's memory with the whole body (test/proxy/slow-reader.test.ts).
    return this.writeOk;
  }

  private writeOk = true;
  /** Body bytes uWS has taken (its getWriteOffset), or -1 when unknown (after a partial tryEnd). */
  private writeOffset = 0;

  /** @internal inside res.cork (see corkTarget). */
  corkedWrite(): void {
    const res = this.res;
    const chunk = this.chunk;
    if (this.headPending) this.writePendingHead(false);
    if (this.bodyLength >= 0 && this.writeOffset === 0 && chunk.length === this.bodyLength) {
      // The whole body in one chunk (small responses): end() writes the same Content-Length and
      // bytes as tryEnd, and keeps what the socket does not take at once (at most one 64 KiB
      // read, as tryEnd's pending copy would). It returns no [ok, done] array; A/B as for
      // headBlock (2 fields), user CPU per response: tryEnd 1.61 → end 1.36 µs.
      // A draining listener closes the connection after it (uWS adds `Connection: close`).
      res.end(chunk, this.state.draining && !this.clientClose);
      this.ended = true;
      this.writeOk = true;
      this.writeOffset = chunk.length;
    } else if (this.bodyLength >= 0) {
      // Known length: tryEnd lets uWS write Content-Length itself; on backpressure it keeps
      // nothing, so the unsent rest is kept here and retried from onWritable.
      // The body offset is tracked here while every tryEnd took its whole chunk (ok), so the
      // usual response asks uWS for it never (one native call less per response).
      const offset = this.writeOffset >= 0 ? this.writeOffset : res.getWriteOffset();
      const r = res.tryEnd(chunk, this.bodyLength);
      const ok = r[0];
      const done = r[1];
      this.writeOffset = ok ? offset + chunk.length : -1;
      if (done) this.ended = true;
      this.writeOk = ok || done;
      if (!this.writeOk) {
        this.pending = Buffer.from(chunk);
        this.pendingOffset = offset;
        res.onWritable((o) => this.onWritableTryEnd(o));
      }
    } else {
      // Unknown length: uWS switches to chunked and buffers the whole chunk.
      this.writeOk = res.write(chunk);
      if (!this.writeOk) res.onWritable(() => this.onWritableWrite());
    }
  }

  /**
   * Send timeout (GATEMESH_SEND_TIMEOUT_MS, nginx's send_timeout): armed when a write meets
   * backpressure, re-armed by each onWritable (the client took bytes), cleared once the body
   * flows again. On expiry the connection is closed; uWS then reports the response aborted
   * and the proxy cancels the upstream request. One timer per backpressure episode, never per
   * request.
   */
  private sendTimer: NodeJS.Timeout | null = null;

  private armSendTimer(): void {
    if (this.sendTimer !== null) this.sendTimer.refresh();
    else this.sendTimer = setTimeout(this.onSendTimeout, this.state.settings.sendTimeoutMs);
  }

  private clearSendTimer(): void {
    if (this.sendTimer !== null) {
      clearTimeout(this.sendTimer);
      this.sendTimer = null;
    }
  }

  private readonly onSendTimeout = (): void => {
    this.sendTimer = null;
    if (this.aborted) return;
    try {
      this.res.close();
    } catch {
      // uWS already let go of the response: nothing of ours is left to cut.
    }
    // uWS calls onAborted for a response it has not finished; if it did not, do what it would.
    if (!this.aborted) this.onAborted();
  };

  private onWritableTryEnd(offset: number): boolean {
    const pending = this.pending;
    if (pending === null) return true;
    const r = this.res.tryEnd(pending.subarray(offset - this.pendingOffset), this.bodyLength);
    const ok = r[0];
    const done = r[1];
    if (done) this.ended = true;
    if (ok) this.writeOffset = this.pendingOffset + pending.length;
    if (!(ok || done)) this.armSendTimer();
    if (ok || done) {
      this.clearSendTimer();
      this.pending = null;
      this.writeOk = true;
      // end() came while this rest was unsent: the response is complete now.
      if (this.endOwed) {
        this.endOwed = false;
        this.settle();
      }
      this.fireDrain();
    }
    return ok || done;
  }

  /** end() was called while a tryEnd rest was unsent; onWritableTryEnd finishes the response. */
  private endOwed = false;

  private onWritableWrite(): boolean {
    this.clearSendTimer();
    this.writeOk = true;
    this.fireDrain();
    return true;
  }

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
    if (this.pending !== null) {
      // The last body bytes are still unsent (tryEnd backpressure). Their own tryEnd, from
      // onWritable, reaches the Content-Length and ends the response in uWS. res.end() now would
      // end nothing (uWS counts the body against its length) but uWS.js discards the response
      // object on end(), so that tryEnd would throw and the rest would never leave: the client
      // waited for it forever. The listener counts the response in flight until it has left.
      this.ended = true;
      this.endOwed = true;
      return;
    }
    if (!this.ended) {
      this.ended = true;
      // After end() uWS.js discards the response object: what is still unsent is uWS's to
      // deliver (or time out), and a later res.close() from the timer would throw.
      this.clearSendTimer();
      this.cork(corkedEnd);
    }
    this.settle();
  }

  /** @internal inside res.cork (see corkTarget). */
  corkedEnd(): void {
    const close = this.state.draining && !this.clientClose;
    if (this.headNoBody) {
      this.ended = true;
      if (this.bodyLength >= 0) {
        if (this.headPending) this.writePendingHead(false);
        this.res.endWithoutBody(this.bodyLength, close);
        return;
      }
      // No length to report (a 204, or HEAD/304 without Content-Length): only endWithoutBody()
      // without arguments writes no Content-Length; uWS 20.30 turns an explicit undefined into
      // `Content-Length: 9223372036854775808` (RFC 9110 §8.6: a 204 must carry none). That call
      // cannot close, so a draining listener says `Connection: close` itself and the client closes.
      if (this.headPending) this.writePendingHead(close);
      this.res.endWithoutBody();
      return;
    }
    if (this.headPending) this.writePendingHead(false);
    // A known length fully sent ended in corkedWrite (end or tryEnd); CL 0 and chunked end here.
    this.res.end(undefined, this.state.draining && !this.clientClose);
  }

  private respondStatus = '';
  private respondHeaders: readonly string[] = NO_HEADERS;
  private respondBody = '';
  private respondClose = false;

  respond(status: number, headers: string[], body: string, close: boolean): void {
    if (this.aborted || this.ended) return;
    this.ended = true;
    this.respondStatus = status + ' ' + STATUS_TEXT[status];
    this.respondHeaders = headers;
    this.respondBody = body;
    this.respondClose = close || this.state.draining || this.clientClose;
    this.clearSendTimer();
    this.cork(corkedRespond);
    this.settle();
  }

  /** @internal inside res.cork (see corkTarget). */
  corkedRespond(): void {
    const res = this.res;
    // uWS writes `Connection: close` for closeConnection only when the request did not ask for
    // it; when it did, uWS closes by itself and the header is ours to write.
    res.writeStatus(headBlock(this.respondStatus, this.respondHeaders, this.clientClose));
    res.end(this.respondBody, this.respondClose && !this.clientClose);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.clearSendTimer();
    this.settle();
    this.res.close();
  }

  onAbort(cb: () => void): void {
    this.abortCb = cb;
  }
}

/**
 * Status line and header fields as one writeStatus argument: uWS writes `HTTP/1.1 `, the string
 * and CRLF, and writeHeader(k, v) writes `k: v` CRLF, so "200 OK\r\nk: v" puts the same bytes on
 * the wire with one native call instead of 1 + n (each converts its strings to UTF-8 in C++).
 * Values come from our response parser or the config, neither of which lets CR or LF through.
 * A/B, a uWS-only server answering through res.cork from setImmediate as the proxy does, wrk -c50,
 * median of 5 × 4 s, user CPU per response: 2 fields 1.83 → 1.55 µs, 6 fields 2.27 → 1.73 µs.
 */
function headBlock(status: string, h: readonly string[], connectionClose: boolean): string {
  let s = status;
  for (let i = 0; i < h.length; i += 2) s += fieldPrefix(h[i]) + h[i + 1];
  return connectionClose ? s + '\r\nconnection: close' : s;
}

/**
 * `\r\n<name>: ` per field name, built once: a field then costs one concatenation instead of
 * three (V8 copies a short result flat, so `'\r\n' + name + ': '` was two allocations and copies
 * per field per response). Callgrind, uws small GET (3 upstream fields): 35,968 → 35,784 instructions per
 * request. Names come from upstreams, so the map is bounded; past it a name is built per use.
 */
const FIELD_PREFIX = new Map<string, string>();
const FIELD_PREFIX_MAX = 1024;
function fieldPrefix(name: string): string {
  let p = FIELD_PREFIX.get(name);
  if (p === undefined) {
    p = '\r\n' + name + ': ';
    if (FIELD_PREFIX.size < FIELD_PREFIX_MAX) FIELD_PREFIX.set(name, p);
  }
  return p;
}

// Status lines already built, by status code: upstreams send the same few reason phrases.
const lineReason: string[] = [];
const lineText: string[] = [];

/** "200 OK" for writeStatus, reused while the reason phrase repeats. */
function statusLine(status: number, reason: string): string {
  if (lineReason[status] === reason) return lineText[status];
  const line = reason.length !== 0 ? status + ' ' + reason : String(status);
  if (status >= 100 && status <= 599) {
    // The parser's reason is a slice of the whole response head: keep a copy cut from the line
    // (slicing flattens it) so the cache does not hold that head alive.
    lineReason[status] = reason.length !== 0 ? line.slice(4) : '';
    lineText[status] = line;
  }
  return line;
}

const STATUS_TEXT: Record<number, string> = {
  // Local answers of HTTPRoute filters (src/filters/): CORS preflight, RequestRedirect.
  200: 'OK',
  204: 'No Content',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  417: 'Expectation Failed',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/**
 * A WebSocket upgrade on uws. uWS terminates the client's WebSocket itself, so the relay is
 * message-level: client messages are re-framed (masked) to the upstream, upstream frames are
 * decoded and sent with ws.send. Pings from the client are answered by uWS; the upstream's
 * pings are answered here. A non-101 answer goes out as an ordinary response.
 */
class UwsUpgradeDownstream extends UwsDownstream implements UpgradeDownstream {
  constructor(
    res: UwsResponse,
    state: ListenerState,
    private readonly key: string,
    private readonly context: unknown,
  ) {
    super(res, state, false);
  }

  accept(headers: string[], upstream: net.Socket, rest: Buffer): void {
    if (this.aborted) {
      upstream.destroy();
      return;
    }
    let protocol = '';
    const res = this.res;
    const data: WsUserData = { upstream, rest, closed: false, ws: null };
    res.cork(() => {
      // Custom headers on a 101 need writeStatus first (uWS docs, HttpResponse.upgrade).
      res.writeStatus('101 Switching Protocols');
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i];
        if (name === 'sec-websocket-protocol') protocol = headers[i + 1];
        else if (name !== 'sec-websocket-accept' && name !== 'sec-websocket-extensions') res.writeHeader(name, headers[i + 1]);
      }
      res.upgrade(data, this.key, protocol, '', this.context);
    });
    this.settle();
  }
}

/** Relays one client WebSocket (uWS) to its upstream socket. */
class WsRelay implements FrameSink {
  private readonly decoder = new FrameDecoder(this);
  constructor(
    private readonly ws: UwsWebSocket,
    private readonly data: WsUserData,
    /** GATEMESH_TUNNEL_IDLE_TIMEOUT_MS. */
    private readonly idleTimeoutMs: number,
  ) {}

  start(): void {
    const up = this.data.upstream;
    // Every message either way crosses the upstream socket (read here, or written by the
    // `message` handler), so its inactivity timer is the tunnel's idle timer; a client ping,
    // answered by uWS itself, re-arms it (wsBehavior `ping`).
    up.setTimeout(this.idleTimeoutMs, () => this.closeIdle());
    up.on('data', (d: Buffer) => this.decoder.push(d));
    up.on('error', () => {});
    up.on('close', () => {
      if (this.data.closed) return;
      this.data.closed = true;
      this.ws.close(); // upstream vanished without a close frame: mirror the abrupt end
    });
    up.on('drain', () => {});
    if (this.data.rest.length !== 0) this.decoder.push(this.data.rest);
    up.resume();
  }

  /** No bytes either way for GATEMESH_TUNNEL_IDLE_TIMEOUT_MS: 1001 Going Away to the client
   *  (RFC 6455 §7.4.1), the upstream connection closed. */
  private closeIdle(): void {
    if (this.data.closed) return;
    this.data.closed = true;
    this.data.upstream.destroy();
    this.ws.end(1001, 'idle timeout');
  }

  onMessage(payload: Buffer, binary: boolean): void {
    if (this.data.closed) return;
    this.ws.send(payload, binary);
    // Client slow: stop reading the upstream until uWS drains (see `drain` below). 1 MiB.
    if (this.ws.getBufferedAmount() > 1 << 20) this.data.upstream.pause();
  }

  onPing(payload: Buffer): void {
    this.data.upstream.write(encodeFrame(OP_PONG, payload));
  }

  onClose(code: number, reason: Buffer): void {
    if (this.data.closed) return;
    this.data.closed = true;
    this.data.upstream.end(encodeFrame(OP_CLOSE, closePayload(code, reason)));
    if (code === 1005 || code === 1006) this.ws.end(1000);
    else this.ws.end(code, reason);
  }

  onProtocolError(code: number, reason: string): void {
    if (this.data.closed) return;
    this.data.closed = true;
    this.data.upstream.end(encodeFrame(OP_CLOSE, closePayload(code, Buffer.from(reason))));
    this.ws.end(code, reason);
  }
}

/** Client-to-upstream WebSocket bytes held for a slow upstream before the relay gives up: 16 MiB,
 *  four times the client side's maxBackpressure. */
const WS_UPSTREAM_BUFFER_MAX = 16 * 1024 * 1024;

function wsBehavior(l: UwsListenerApp): Record<string, unknown> {
  return {
    compression: 0, // no permessage-deflate: Sec-WebSocket-Extensions is not forwarded either
    maxPayloadLength: 16 * 1024 * 1024,
    maxBackpressure: 4 * 1024 * 1024,
    idleTimeout: 0, // the upstream decides when a quiet WebSocket ends
    sendPingsAutomatically: false,
    upgrade: (res: UwsResponse, req: UwsRequest, context: unknown) => {
      const head = copyHead(res, req);
      const key = req.getHeader('sec-websocket-key');
      // The relay is message-level, so extensions cannot be negotiated end to end.
      const h = head.headers;
      for (let i = h.length - 2; i >= 0; i -= 2) if (h[i] === 'sec-websocket-extensions') h.splice(i, 2);
      currentReq = req;
      try {
        l.onUpgrade(head, new UwsUpgradeDownstream(res, l.state, key, context), l.index);
      } finally {
        currentReq = null;
      }
    },
    open: (ws: UwsWebSocket) => {
      const data = ws.getUserData();
      data.ws = ws;
      new WsRelay(ws, data, l.state.settings.tunnelIdleTimeoutMs).start();
    },
    message: (ws: UwsWebSocket, message: ArrayBuffer, isBinary: boolean) => {
      const data = ws.getUserData();
      if (data.closed) return;
      const up = data.upstream;
      up.write(encodeFrame(isBinary ? OP_BINARY : OP_TEXT, new Uint8Array(message)));
      // uWS.js 20.30 cannot pause a WebSocket's reading, so an upstream that does not keep up
      // cannot hold the client back: past WS_UPSTREAM_BUFFER_MAX unsent bytes the relay ends
      // with 1013 Try Again Later (RFC 6455 §7.4, IANA registry) instead of buffering without
      // bound. native-free pipes bytes with backpressure and never needs this.
      if (up.writableLength > WS_UPSTREAM_BUFFER_MAX) {
        data.closed = true;
        up.destroy();
        ws.end(1013, 'upstream not reading');
      }
    },
    ping: (ws: UwsWebSocket) => {
      const data = ws.getUserData();
      if (!data.closed) data.upstream.setTimeout(l.state.settings.tunnelIdleTimeoutMs);
    },
    drain: (ws: UwsWebSocket) => {
      const data = ws.getUserData();
      if (!data.closed && ws.getBufferedAmount() < 1 << 19) data.upstream.resume();
    },
    close: (_ws: UwsWebSocket, code: number, message: ArrayBuffer) => {
      const data = _ws.getUserData();
      if (data.closed) return;
      data.closed = true;
      data.upstream.end(encodeFrame(OP_CLOSE, closePayload(code, new Uint8Array(message))));
    },
  };
}

function copyHead(res: UwsResponse, req: UwsRequest): IncomingHead {
  const headers: string[] = [];
  collectTarget = headers;
  req.forEach(collect);
  collectTarget = [];
  const query = req.getQuery();
  return {
    method: req.getCaseSensitiveMethod(),
    path: req.getUrl(),
    query: query === undefined ? '' : query,
    // uWS 20.30 serves HTTP/1.1 only (it closes HTTP/1.0 connections itself).
    httpMinor: 1,
    headers,
    remoteAddress: remoteAddress(res),
    scheme: 'http',
    headBytes: -1,
    latin1Value,
  };
}

/** The request whose uWS callback is running (uWS's request object is valid only then). */
let currentReq: UwsRequest | null = null;

/** IncomingHead.latin1Value: uWS's getHeader() reads the value as Latin-1 (forEach as UTF-8). */
function latin1Value(name: string): string | null {
  return currentReq === null ? null : currentReq.getHeader(name);
}

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
  const l = idleApps.pop() ?? createApp(uws, state);
  l.state = state;
  l.index = index;
  l.onRequest = onRequest;
  l.onUpgrade = _onUpgrade;
  l.maxInflight = settings.maxConnections;
  const app = l.app;
  /** Closes the app's sockets and gives it back, once (closeAll may be called again). */
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    app.close();
    idleApps.push(l);
  };
  return new Promise((resolve, reject) => {
    app.listen(spec.address, spec.port, (ls) => {
      if (!ls) {
        release(); // a worker must not exit with uWS handles open (libuv asserts)
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
          release();
        },
      });
    });
  });
}

/** A new uWS app whose handlers serve whatever listener `l` is bound to (see UwsListenerApp). */
function createApp(uws: UwsModule, state: ListenerState): UwsListenerApp {
  const noRequest: RequestHandler = () => {};
  const l: UwsListenerApp = { app: uws.App(), state, index: -1, onRequest: noRequest, onUpgrade: noRequest, maxInflight: 0 };
  appsCreated++;
  const app = l.app;
  app.ws('/*', wsBehavior(l));
  app.any('/*', (res, req) => {
    // Arrival, routing and the upstream write share one clock reading (src/shared/section-clock.ts).
    openSection();
    try {
      onHttpRequest(l, res, req);
    } finally {
      closeSection();
    }
  });
  return l;
}

/** One request from uWS (inside its callback: `req` dies when this returns). */
function onHttpRequest(l: UwsListenerApp, res: UwsResponse, req: UwsRequest): void {
  const state = l.state;
  const head = copyHead(res, req);
  const headers = head.headers;
  let hasBody = false;
  let close = false;
  for (let i = 0; i < headers.length; i += 2) {
    // Lengths first: the names are fresh strings, most fields are none of these three.
    const n = headers[i];
    const len = n.length;
    if (len === 14 ? n === 'content-length' && headers[i + 1].trim() !== '0' : len === 17 && n === 'transfer-encoding') hasBody = true;
    else if (len === 10 && n === 'connection' && /(?:^|,)\s*close\s*(?:,|$)/i.test(headers[i + 1])) close = true;
  }
  const ds = new UwsDownstream(res, state, hasBody, close);
  const maxInflight = l.maxInflight;
  if (maxInflight > 0 && state.inflight > maxInflight) {
    // uWS exposes no per-connection hook for HTTP, so on this front end the limit applies to
    // requests in flight (README: GATEMESH_MAX_CONNECTIONS).
    l.onRequest(head, ds, l.index, ERR.CONNECTION_LIMIT);
    return;
  }
  currentReq = req;
  try {
    l.onRequest(head, ds, l.index);
  } finally {
    currentReq = null;
  }
}

// The last IPv4 peer seen and its text: consecutive requests mostly come from the same few
// clients, so the text is built once instead of per request (uWS has no per-connection hook to
// keep it on; getRemoteAddress itself still costs a getpeername per call).
let lastV4 = -1;
let lastV4Text = '';

function remoteAddress(res: UwsResponse): string {
  const b = new Uint8Array(res.getRemoteAddress());
  let o = -1;
  if (b.length === 4) o = 0;
  // IPv4-mapped IPv6 (::ffff:a.b.c.d, dual-stack sockets) → plain IPv4.
  else if (b.length === 16 && b[10] === 0xff && b[11] === 0xff && isZero(b, 10)) o = 12;
  if (o < 0) return Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
  const v4 = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  if (v4 !== lastV4) {
    lastV4 = v4;
    lastV4Text = b[o] + '.' + b[o + 1] + '.' + b[o + 2] + '.' + b[o + 3];
  }
  return lastV4Text;
}

function isZero(b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[i] !== 0) return false;
  return true;
}

export const uwsFrontend: Frontend = { name: 'uws', listen };
