// Upgrade requests (RFC 9110 §7.8; WebSocket, RFC 6455 §4) on the native-free front end: node
// hands over the raw socket, so the answer is written by hand. A 101 from the upstream turns
// the socket into a tunnel; any other answer is a complete response and the socket closes.
import type net from 'node:net';
import { ERR } from '../src/errors';
import { findHeader } from '../src/http/forwarding';
import type { UpgradeDownstream } from '../src/frontend/types';
import type { Conn, NativeListener } from './connection';
import { destroyWhenFlushed, writeErrorAndClose } from './connection';
import { createIncomingHead } from './incoming-head';
import type { ParsedRequest } from './parser';
import { hasLineBreak, httpDate, rawHead } from './raw-response';

const OPEN = 0;
const ENDED = 1;
const GONE = 2;
const EMPTY = Buffer.alloc(0);
/** Client bytes held while the upstream handshake runs; past this we stop reading. */
const EARLY_BYTES_MAX = 64 * 1024;

const kUpgrade = Symbol('gatemesh.upgrade');
type Sock = net.Socket & { [kUpgrade]?: UpgradeExchange };

/** Hand an upgrade request to the proxy (called once no response is in flight on `conn`). */
export function startUpgrade(conn: Conn, req: ParsedRequest, head: Buffer): void {
  const socket = conn.socket;
  const listener = conn.listener;
  if (socket.destroyed) return;
  if (req.versionMajor !== 1) {
    writeErrorAndClose(socket, req.versionMajor === 0 ? ERR.BAD_REQUEST_LINE : ERR.HTTP_VERSION);
    return;
  }
  const incoming = createIncomingHead(req, conn.remoteAddress);
  const x = new UpgradeExchange(listener, socket, req, head);
  try {
    listener.onUpgrade(incoming, x, listener.index);
  } catch {
    x.respond(ERR.INTERNAL.status, ['Content-Type', 'text/plain'], ERR.INTERNAL.reason + '\n', true);
  }
}

/** UpgradeDownstream over the raw client socket. */
export class UpgradeExchange implements UpgradeDownstream {
  private state = OPEN;
  private headSent = false;
  private noBody = false;
  private retired = false;
  private bodyRequested = false;
  private drainCb: (() => void) | null = null;
  private drainListening = false;
  private abortCb: (() => void) | null = null;
  private abortFired = false;
  private upstream: net.Socket | null = null;
  /** Bytes the client sent while we wait for the upstream's answer (read so that a FIN or
   *  reset is seen at once; WebSocket clients may send frames right after the request). */
  private early: Buffer[] = [];
  private earlyBytes = 0;

  constructor(
    readonly listener: NativeListener,
    readonly socket: net.Socket,
    readonly req: ParsedRequest,
    /** Bytes the client sent after the request head (node's third 'upgrade' argument). */
    readonly head: Buffer,
  ) {
    (socket as Sock)[kUpgrade] = this;
    socket.on('close', onClientClose);
    socket.on('end', onClientEnd);
    socket.on('data', onEarlyData);
    listener.tunnels.add(socket);
    // An upgrade or tunnel counts as in flight until its socket closes, so a drain waits for it.
    listener.inflight++;
  }

  get done(): boolean {
    return this.state !== OPEN;
  }

  /** Upgrade requests carry no body here: the bytes after the head belong to the new protocol. */
  readBody(onChunk: (chunk: Buffer, last: boolean, owned: boolean) => void, _onError: (reason: string) => void): void {
    if (this.bodyRequested) return;
    this.bodyRequested = true;
    process.nextTick(deliverEmptyBody, this, onChunk);
  }

  pauseBody(): void {}
  resumeBody(): void {}

  writeInterim(status: number, reason: string, headers: string[]): void {
    if (this.state !== OPEN || this.headSent || this.req.versionMinor === 0) return;
    if (status < 102 || status > 199) return;
    this.socket.write(rawHead(status, reason, headers, '') + '\r\n', 'latin1');
  }

  /** A non-101 answer: always `Connection: close`, close-delimited when the length is unknown. */
  writeHead(status: number, reason: string, headers: string[], bodyLength: number, noBody: boolean): void {
    if (this.state !== OPEN || this.headSent) return;
    this.headSent = true;
    this.noBody = noBody || status === 204 || status === 304 || this.req.method === 'HEAD';
    let head = rawHead(status, reason, headers, 'connection');
    if (bodyLength >= 0 && status !== 204 && status >= 200) head += 'Content-Length: ' + bodyLength + '\r\n';
    if (!hasField(headers, 'date')) head += 'Date: ' + httpDate() + '\r\n';
    this.socket.write(head + 'Connection: close\r\n\r\n', 'latin1');
  }

  writeBody(chunk: Buffer): boolean {
    if (this.state !== OPEN || !this.headSent || this.noBody || chunk.length === 0) return true;
    return this.socket.write(Buffer.from(chunk)); // the caller may reuse `chunk` (see exchange.ts)
  }

  onDrain(cb: () => void): void {
    if (this.state !== OPEN) return;
    this.drainCb = cb;
    if (!this.drainListening) {
      this.drainListening = true;
      this.socket.on('drain', onClientDrain);
    }
  }

  end(_trailers: string[] | null): void {
    if (this.state !== OPEN) return;
    this.state = ENDED;
    if (!this.headSent) this.writeHead(200, '', [], 0, false);
    destroyWhenFlushed(this.socket);
  }

  respond(status: number, headers: string[], body: string, _close: boolean): void {
    if (this.state !== OPEN) return;
    if (this.headSent) {
      this.abort();
      return;
    }
    const length = Buffer.byteLength(body);
    this.writeHead(status, '', headers, length, false);
    this.state = ENDED;
    if (!this.noBody && length > 0) this.socket.write(body, 'utf8');
    destroyWhenFlushed(this.socket);
  }

  abort(): void {
    if (this.state !== OPEN) return;
    this.state = ENDED;
    this.socket.destroy();
  }

  onAbort(cb: () => void): void {
    if (this.abortFired || this.state === ENDED) return;
    this.abortCb = cb;
    if (this.state === GONE) process.nextTick(fireAbort, this);
  }

  /**
   * The upstream answered 101. We write the status line and `Connection: Upgrade` ourselves;
   * every pair of `headers` except Connection is relayed as is (the caller puts the upstream's
   * Upgrade there; when it does not, the client's requested Upgrade value is echoed, RFC 9110
   * §7.8). Then `rest` goes to the client, the bytes the client sent after its head go to the
   * upstream, and both directions are piped (backpressure both ways) until either side closes.
   * The caller must have detached its own listeners from `upstream`; its timeout is cleared.
   */
  accept(headers: string[], upstream: net.Socket, rest: Buffer): void {
    if (this.state !== OPEN || this.headSent || upstream.destroyed) {
      upstream.destroy();
      return;
    }
    this.state = ENDED;
    this.headSent = true;
    this.upstream = upstream;
    const socket = this.socket;
    let head = rawHead(101, 'Switching Protocols', headers, 'connection');
    if (!hasField(headers, 'upgrade')) {
      // createIncomingHead lower-cased the names in place.
      const asked = findHeader(this.req.rawHeaders, 'upgrade');
      if (asked !== undefined && !hasLineBreak(asked)) head += 'Upgrade: ' + asked + '\r\n';
    }
    socket.write(head + 'Connection: Upgrade\r\n\r\n', 'latin1');
    if (rest.length > 0) socket.write(Buffer.from(rest));
    (upstream as Sock)[kUpgrade] = this;
    upstream.on('error', onUpstreamError);
    upstream.on('close', onUpstreamClose);
    upstream.setTimeout(0);
    if (this.head.length > 0) upstream.write(this.head);
    for (const b of this.early) upstream.write(b);
    this.early = [];
    // Swap our listener for pipe()'s in the same tick: no 'data' event can fall between.
    socket.removeListener('data', onEarlyData);
    socket.pipe(upstream);
    upstream.pipe(socket);
    // Bytes either way pass through the client socket (read, or written by the pipe), so its
    // inactivity timer is the tunnel's idle timer (GATEMESH_TUNNEL_IDLE_TIMEOUT_MS).
    socket.setTimeout(this.listener.settings.tunnelIdleTimeoutMs, onTunnelIdle);
  }

  // ---- front-end side ----------------------------------------------------------------------

  clientClosed(): void {
    if (this.state === OPEN) {
      this.state = GONE;
      if (this.abortCb !== null) this.deliverAbort();
    }
    if (this.upstream !== null) destroyWhenFlushed(this.upstream);
    if (!this.retired) {
      this.retired = true;
      this.listener.inflight--;
      this.listener.tunnels.delete(this.socket);
    }
  }

  holdEarly(chunk: Buffer): void {
    if (this.state !== OPEN) return; // answered without a tunnel: the bytes have no reader
    this.early.push(chunk);
    this.earlyBytes += chunk.length;
    if (this.earlyBytes > EARLY_BYTES_MAX) this.socket.pause();
  }

  clientEnded(): void {
    // FIN before the tunnel exists: the client gave up (a tunnel handles its own half-close).
    if (this.state === OPEN) this.socket.destroy();
  }

  upstreamFailed(): void {
    this.socket.destroy();
  }

  upstreamClosed(): void {
    // pipe() already ended the client side after the upstream's FIN; flush, then close.
    destroyWhenFlushed(this.socket);
  }

  deliverDrain(): void {
    const cb = this.drainCb;
    if (cb === null || this.state !== OPEN) return;
    this.drainCb = null;
    cb();
  }

  deliverAbort(): void {
    if (this.abortFired || this.state !== GONE || this.abortCb === null) return;
    const cb = this.abortCb;
    this.abortFired = true;
    this.abortCb = null;
    cb();
  }

  deliverEmptyBody(onChunk: (chunk: Buffer, last: boolean, owned: boolean) => void): void {
    if (this.state === OPEN) onChunk(EMPTY, true, true);
  }
}

function hasField(headers: readonly string[], lowerName: string): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return true;
  }
  return false;
}

function onClientClose(this: Sock): void {
  this[kUpgrade]!.clientClosed();
}
function onClientEnd(this: Sock): void {
  this[kUpgrade]!.clientEnded();
}
function onEarlyData(this: Sock, chunk: Buffer): void {
  this[kUpgrade]!.holdEarly(chunk);
}
function onClientDrain(this: Sock): void {
  this[kUpgrade]!.deliverDrain();
}
function onTunnelIdle(this: Sock): void {
  // Closing the client side closes the upstream too (clientClosed).
  this.destroy();
}
function onUpstreamError(this: Sock): void {
  this[kUpgrade]!.upstreamFailed();
}
function onUpstreamClose(this: Sock): void {
  this[kUpgrade]!.upstreamClosed();
}
function deliverEmptyBody(x: UpgradeExchange, onChunk: (chunk: Buffer, last: boolean) => void): void {
  x.deliverEmptyBody(onChunk);
}
function fireAbort(x: UpgradeExchange): void {
  x.deliverAbort();
}
