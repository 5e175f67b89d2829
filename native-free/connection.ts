// Per-socket state of the native-free front end: the requests in flight on one connection
// (pipelined requests are answered in order, RFC 9112 §9.3.2), and what happens once it fails.
import type { IncomingMessage, Server } from 'node:http';
import type net from 'node:net';
import type { ErrorSpec } from '../src/errors';
import type { Settings } from '../src/env';
import type { BoundListener, RequestHandler, UpgradeHandler } from '../src/frontend/types';
import { unwrapAddress } from './incoming-head';
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
}

export const kConn = Symbol('gatemesh.conn');

/** One bound listener (server) of this thread. */
export class NativeListener implements BoundListener {
  inflight = 0;
  draining = false;
  /** Upgraded sockets: no longer tracked by node:http, closed by closeAll(). */
  readonly tunnels = new Set<net.Socket>();
  port = 0;

  constructor(
    readonly server: Server,
    readonly index: number,
    readonly settings: Settings,
    readonly onRequest: RequestHandler,
    readonly onUpgrade: UpgradeHandler,
  ) {}

  stopAccepting(): void {
    if (this.draining) return;
    this.draining = true;
    // Node ≥ 19 closes idle keep-alive connections in close(); busy ones answer with
    // `Connection: close` (exchange.ts checks `draining`) and are closed once idle (Conn.afterFinish).
    this.server.close();
    this.server.closeIdleConnections();
  }

  closeAll(): void {
    this.stopAccepting();
    this.server.closeAllConnections();
    for (const socket of this.tunnels) socket.destroy();
    this.tunnels.clear();
  }
}

/** State hung on each accepted socket (`socket[kConn]`). */
export class Conn {
  /** Live exchanges in request order (a doubly linked list: no allocation per request). */
  first: LiveExchange | null = null;
  last: LiveExchange | null = null;
  /** llhttp failed on this connection: the parser is dead, the connection closes. */
  errored = false;
  /** An error response that must wait for the responses still in flight. */
  pendingError: ErrorSpec | null = null;
  /** An upgrade request that arrived behind in-flight responses. */
  pendingUpgrade: IncomingMessage | null = null;
  pendingUpgradeHead: Buffer | null = null;
  private remote: string | null = null;

  constructor(
    readonly socket: net.Socket,
    readonly listener: NativeListener,
  ) {}

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
  }

  unlink(x: LiveExchange): void {
    if (x.prev === null) this.first = x.next;
    else x.prev.next = x.next;
    if (x.next === null) this.last = x.prev;
    else x.next.prev = x.prev;
    x.prev = null;
    x.next = null;
  }

  /** The last in-flight response is out: send a deferred error, start a deferred upgrade, or
   *  close a connection that must not be reused. */
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
      startUpgrade(this, req, head);
    } else if (this.errored || this.listener.draining) {
      destroyWhenFlushed(socket);
    }
  }

  /** The client half-closed or the socket closed: every open exchange is gone. */
  killAll(reason: string, retire: boolean): void {
    let x = this.first;
    while (x !== null) {
      const next = x.next;
      x.kill(reason);
      if (retire) x.retire();
      x = next;
    }
  }
}

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
