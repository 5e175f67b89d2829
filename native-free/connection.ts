// Per-socket state of the native-free front end: the parser, the requests in flight on one
// connection (pipelined requests are answered in order, RFC 9112 §9.3.2), the order their
// responses leave in, and what happens once the connection fails or idles.
import type net from 'node:net';
import type { ErrorSpec } from '../src/errors';
import type { Settings } from '../src/env';
import type { BoundListener, RequestHandler, UpgradeHandler } from '../src/frontend/types';
import type { HttpParser, ParsedRequest } from './parser';
import { unwrapAddress } from './incoming-head';
import { flat } from '../src/shared/flat-string';
import { errorResponse } from './raw-response';
import { startUpgrade } from './upgrade';

/** The exchange shape the connection needs (NativeExchange in exchange.ts). */
export interface LiveExchange {
  prev: LiveExchange | null;
  next: LiveExchange | null;
  /** The client or the front end ended the exchange: fire onError/onAbort. */
  kill(reason: string): void;
  /** Stop counting the exchange: it left the connection. */
  retire(): void;
  /** It became the connection's first exchange: write what it queued meanwhile. */
  promote(): void;
  /** Its whole response was handed to the socket. */
  readonly finished: boolean;
  /** Its response ends the connection (`Connection: close` or close-delimited). */
  readonly closeAfter: boolean;
  /** Bytes of the request body the parser delivers for it. */
  deliverChunk(chunk: Buffer): void;
  /** The parser saw the end of its request. */
  deliverEnd(): void;
  /** The socket took what it could not before: writes may go on. */
  deliverDrain(): void;
}

/** One bound listener (server) of this thread. */
export class NativeListener implements BoundListener {
  inflight = 0;
  draining = false;
  /** Connections still speaking HTTP (upgraded ones move to `tunnels`). */
  readonly conns = new Set<Conn>();
  /** Upgraded sockets, closed by closeAll(). */
  readonly tunnels = new Set<net.Socket>();
  port = 0;
  /** Coarse clock (ms) for idle and header deadlines, advanced by the sweep. */
  now = Date.now();
  /** `Connection: keep-alive` plus `Keep-Alive: timeout=<idle s>` (when ≥ 1 s) and the blank line
   *  that ends the head, built once. */
  readonly keepAliveEnd: string;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    readonly server: net.Server,
    readonly index: number,
    readonly settings: Settings,
    readonly onRequest: RequestHandler,
    readonly onUpgrade: UpgradeHandler,
  ) {
    const seconds = Math.floor(settings.idleTimeoutMs / 1000);
    this.keepAliveEnd = flat('Connection: keep-alive\r\n' + (seconds >= 1 ? `Keep-Alive: timeout=${seconds}\r\n` : '') + '\r\n');
  }

  /**
   * One timer per listener checks every connection's deadlines, as node:http's
   * connectionsCheckingInterval does: a request head not complete within headersTimeoutMs
   * gets 408 (RFC 9110 §15.5.9), a connection idle for idleTimeoutMs is closed, and one whose
   * client has taken no bytes for sendTimeoutMs while some wait is closed. Period: a quarter of
   * the shortest limit, between 10 ms and 1 s.
   */
  startSweeper(): void {
    const s = this.settings;
    const period = Math.min(1000, Math.max(10, Math.floor(Math.min(s.headersTimeoutMs, s.idleTimeoutMs, s.sendTimeoutMs) / 4)));
    this.sweeper = setInterval(sweep, period, this);
    this.sweeper.unref();
  }

  sweep(): void {
    const now = Date.now();
    this.now = now;
    const { headersTimeoutMs, idleTimeoutMs, sendTimeoutMs } = this.settings;
    for (const conn of this.conns) {
      const socket = conn.socket;
      if (socket.writableLength !== 0) {
        // Send timeout (nginx's send_timeout): bytes wait for the client and none of them has
        // left since the last progress. bytesWritten counts what is queued too, so minus
        // writableLength it is what the socket has written out, and grows with every write that
        // completes (at most one upstream read, 64 KiB, at a time).
        const sent = socket.bytesWritten - socket.writableLength;
        if (conn.sendStallSince === 0 || sent !== conn.sentMark) {
          conn.sentMark = sent;
          conn.sendStallSince = now;
        } else if (now - conn.sendStallSince > sendTimeoutMs) {
          socket.destroy(); // every exchange on it is killed, their upstream requests cancelled
          continue;
        }
      } else {
        conn.sendStallSince = 0;
      }
      if (conn.headStart !== 0) {
        // While we do not read (pipelining depth, body back-pressure) the client cannot finish
        // its head: the clock restarts instead of running against it.
        if (conn.readPaused) conn.headStart = now;
        else if (now - conn.headStart > headersTimeoutMs) conn.headersTimedOut();
      } else if (conn.idleSince !== 0 && now - conn.idleSince > idleTimeoutMs) {
        // Idle counts from when the last response's bytes are out (node:http starts its
        // keep-alive timer on 'finish'): a slow reader still taking a response is not idle.
        if (conn.flushing.length !== 0 || conn.socket.writableLength !== 0) conn.idleSince = now;
        else conn.socket.destroy();
      }
    }
  }

  stopAccepting(): void {
    if (this.draining) return;
    this.draining = true;
    this.server.close();
    // Idle keep-alive connections close now, once what they still have to send is out; busy ones
    // answer with `Connection: close` (exchange.ts checks `draining`) and close after it.
    for (const conn of this.conns) {
      if (conn.first !== null || conn.headStart !== 0) continue;
      conn.closing = true; // a request arriving meanwhile is not served (no write after end)
      destroyWhenFlushed(conn.socket);
    }
  }

  closeAll(): void {
    this.stopAccepting();
    for (const conn of this.conns) conn.socket.destroy();
    for (const socket of this.tunnels) socket.destroy();
    this.tunnels.clear();
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }
}

function sweep(l: NativeListener): void {
  l.sweep();
}

/** State hung on each accepted socket. */
export class Conn {
  /** Live exchanges in request order (a doubly linked list: no allocation per request). */
  first: LiveExchange | null = null;
  last: LiveExchange | null = null;
  /** The exchange whose request body the parser is reading. */
  receiving: LiveExchange | null = null;
  /** The parser failed (or the request line was refused): no more requests, then close. */
  errored = false;
  /** A response said `Connection: close`: what follows it is not served. */
  closing = false;
  /** An error response that must wait for the responses still in flight. */
  pendingError: ErrorSpec | null = null;
  /** An upgrade request that arrived behind in-flight responses, and the bytes after its head. */
  pendingUpgrade: ParsedRequest | null = null;
  pendingUpgradeHead: Buffer | null = null;
  /** Send timeout: when the client last took bytes while some were waiting (0 = nothing waits),
   *  and how many the socket had written out then (sweep). */
  sendStallSince = 0;
  sentMark = 0;
  /** When the current request head began (Date.now()); 0 = none in progress. A new connection
   *  counts from its accept, as in node:http: one that sends nothing gets the headers timeout. */
  headStart: number;
  /** Since when nothing is in flight (listener clock, ms); 0 = busy or not yet used. */
  idleSince: number;
  /** Header fields flushed early by the parser (more than 32 fields, or a head split over reads). */
  partHeaders: string[] = [];
  partUrl = '';
  /** An upgrade head was parsed in the current execute(): the rest of the read is not HTTP. */
  upgradeReq: ParsedRequest | null = null;
  /** Exchanges that ended with bytes still queued in the socket, retired once flushed. */
  flushing: LiveExchange[] = [];
  /** Null once the connection stops speaking HTTP; null before the constructor sets it too, so
   *  that V8 does not deoptimize this class's users at the first close (see onConnection). */
  parser: HttpParser | null = null;
  /** The socket's libuv handle while the parser consumes it (reads are paused on it). */
  handle: { reading?: boolean; readStart(): number; readStop(): number } | null = null;
  /** Exchanges linked (requests read and not yet answered in full). */
  live = 0;
  /** Reasons reading is paused (a body the proxy cannot take yet, too many pipelined requests). */
  private pauses = 0;
  private pipelinePaused = false;
  private remote: string | null = null;

  constructor(
    readonly socket: net.Socket,
    readonly listener: NativeListener,
    parser: HttpParser,
  ) {
    this.parser = parser;
    this.headStart = Date.now();
    this.idleSince = 0;
  }

  get remoteAddress(): string {
    if (this.remote === null) this.remote = unwrapAddress(this.socket.remoteAddress);
    return this.remote;
  }

  link(x: LiveExchange): void {
    x.prev = this.last;
    x.next = null;
    if (this.last === null) this.first = x;
    else this.last.next = x;
    this.last = x;
    this.idleSince = 0;
    // A client that pipelines without reading the answers is not read further: its requests
    // would otherwise all be forwarded and their responses held here (node:http pauses too).
    // What the current read already holds is still parsed: at most one read (64 KiB) past this.
    if (++this.live >= PIPELINE_MAX && !this.pipelinePaused) {
      this.pipelinePaused = true;
      this.pauseRead();
    }
  }

  unlink(x: LiveExchange): void {
    if (x.prev === null) this.first = x.next;
    else x.prev.next = x.next;
    if (x.next === null) this.last = x.prev;
    else x.next.prev = x.prev;
    x.prev = null;
    x.next = null;
    if (--this.live < PIPELINE_MAX / 2 && this.pipelinePaused) {
      this.pipelinePaused = false;
      this.resumeRead();
    }
  }

  /** We stopped reading (see pauseRead). */
  get readPaused(): boolean {
    return this.pauses > 0;
  }

  /** Stop reading the socket until every pauseRead has its resumeRead. A consumed handle is
   *  stopped itself (net.Socket's pause does not reach it), keeping net's `reading` flag true
   *  to what the handle does, as node:http's onSocketPause/onSocketResume do. */
  pauseRead(): void {
    // Once the connection stopped being HTTP (upgrade, close) reading is not ours to manage:
    // a socket.resume() there would flow bytes to no listener.
    if (this.parser === null) return;
    if (this.pauses++ !== 0) return;
    const h = this.handle;
    if (h === null) {
      this.socket.pause();
    } else if (h.reading === true && !this.socket.destroyed) {
      h.reading = false;
      h.readStop();
    }
  }

  resumeRead(): void {
    if (this.parser === null) return;
    if (--this.pauses !== 0) return;
    const h = this.handle;
    if (h === null) {
      this.socket.resume();
    } else if (h.reading !== true && !this.socket.destroyed) {
      h.reading = true;
      h.readStart();
    }
  }

  /**
   * The first exchange's response is completely handed to the socket: the next one may write,
   * and if it already ended too, the one after it, and so on (a loop: thousands of pipelined
   * responses can be waiting). A response that ends the connection (Connection: close) ends
   * the list: nothing after it is served.
   */
  responseDone(x: LiveExchange): void {
    let done = x;
    for (;;) {
      this.unlink(done);
      this.retireWhenFlushed(done);
      if (done.closeAfter) {
        this.closing = true;
        this.killAll('connection closed after the previous response', true);
        destroyWhenFlushed(this.socket);
        return;
      }
      const next = this.first;
      if (next === null) break;
      next.promote();
      if (!next.finished) return;
      done = next;
    }
    this.afterFinish();
  }

  /** Counted in flight until its bytes are out, so a drain does not close under them. */
  private retireWhenFlushed(x: LiveExchange): void {
    const socket = this.socket;
    if (socket.writableLength === 0) {
      x.retire();
    } else {
      this.flushing.push(x);
      socket.write(EMPTY, this.onFlushed);
    }
  }

  private readonly onFlushed = (): void => {
    const x = this.flushing.shift();
    if (x !== undefined) x.retire();
  };

  /** Nothing is in flight any more: send a deferred error, start a deferred upgrade, close a
   *  connection that must not be reused, or start counting idle time. */
  afterFinish(): void {
    if (this.first !== null) return;
    const socket = this.socket;
    if (this.pendingError !== null) {
      const spec = this.pendingError;
      this.pendingError = null;
      writeErrorAndClose(socket, spec);
    } else if (this.pendingUpgrade !== null) {
      const req = this.pendingUpgrade;
      const head = this.pendingUpgradeHead!;
      this.pendingUpgrade = null;
      this.pendingUpgradeHead = null;
      // Now a tunnel (listener.tunnels), no longer an HTTP connection the listener sweeps.
      this.listener.conns.delete(this);
      startUpgrade(this, req, head);
    } else if (this.errored || this.closing || this.listener.draining) {
      this.closing = true;
      destroyWhenFlushed(socket);
    } else {
      this.idleSince = this.listener.now;
    }
  }

  /** The client half-closed or the socket closed: every open exchange is gone. */
  killAll(reason: string, retire: boolean): void {
    let x = this.first;
    while (x !== null) {
      const next = x.next;
      x.kill(reason);
      if (retire) {
        this.unlink(x);
        x.retire();
      }
      x = next;
    }
  }

  /** The socket closed: responses still waiting for their bytes to flush never will. */
  dropFlushing(): void {
    for (const f of this.flushing) f.retire();
    this.flushing.length = 0;
  }

  /** The request head did not complete in time (frontend.ts answers it like a parse error). */
  headersTimedOut(): void {
    this.headStart = 0;
    this.onTimeout(this);
  }

  /** Set by frontend.ts: what a headers timeout does. */
  onTimeout: (conn: Conn) => void = noop;
}

const EMPTY = Buffer.alloc(0);
/** Requests read ahead on one connection before we stop reading it (pipelining depth). */
const PIPELINE_MAX = 32;

function noop(): void {}

/** A complete error response written straight to the socket, then close after the flush. */
export function writeErrorAndClose(socket: net.Socket, spec: ErrorSpec): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(errorResponse(spec), 'latin1');
  destroyWhenFlushed(socket);
}

/** Close after the queued bytes are out (net.Socket#destroySoon, typed here). */
export function destroyWhenFlushed(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.writable) socket.end();
  if (socket.writableFinished) socket.destroy();
  else socket.once('finish', socket.destroy);
}
