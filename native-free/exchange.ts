// Downstream over one request of a native-free connection: the response is framed here (status
// line, fields, Content-Length or chunked, Connection) and written to the socket in request
// order (RFC 9112 §9.3.2: a pipelined response waits, queued, until the ones before it are out).
import type { ErrorSpec } from '../src/errors';
import { ERR, errorBody } from '../src/errors';
import type { Downstream } from '../src/http/downstream';
import type { Conn, LiveExchange } from './connection';
import type { ParsedRequest } from './parser';
import { finalHead, hasLineBreak, lengthHeadEnd, rawHead } from './raw-response';

const OPEN = 0;
/** end/respond/abort was called. */
const ENDED = 1;
/** The client went away or the front end failed the exchange. */
const GONE = 2;

const BODY_IDLE = 0;
const BODY_READING = 1;
const BODY_DONE = 2;

/** Bytes held for a pipelined response or an unread request body before we push back (the
 *  socket's own highWaterMark, 16 KiB). */
const HIGH_WATER = 16 * 1024;

const EMPTY = Buffer.alloc(0);
const TEXT_PLAIN: readonly string[] = Object.freeze(['Content-Type', 'text/plain']);
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/**
 * Buffer's own latin1Write binding, what `buf.write(s, offset, 'latin1')` ends in, without that
 * wrapper's argument checks and encoding lookup (the offsets here are ours and in range); `set`
 * likewise for `copy`. The response parser reads with latin1Slice for the same reason.
 * bench/callgrind.sh native-free: ~700 instructions per request fewer (`off` and `policies`).
 */
type Latin1Buffer = Buffer & { latin1Write(s: string, offset: number, length: number): number };

const CHUNKED = 'Transfer-Encoding: chunked\r\n';
const CLOSE_END = 'Connection: close\r\n\r\n';

/** One request/response exchange of the native-free front end. */
export class NativeExchange implements Downstream, LiveExchange {
  prev: LiveExchange | null = null;
  next: LiveExchange | null = null;
  finished = false;
  private state = OPEN;
  private headSent = false;
  private noBody = false;
  private chunked = false;
  /** This response ends the connection (it says `Connection: close` or is close-delimited). */
  closeAfter = false;
  private retired = false;
  /** The head, framed but not yet written: it leaves with the first body bytes (one write). */
  private headText: string | null = null;
  /** Output held while an earlier response on the connection is still being written. */
  private held: (Buffer | string)[] | null = null;
  private heldBytes = 0;
  private bodyState = BODY_IDLE;
  /** The parser saw the end of the request. */
  private bodyComplete = false;
  /** Body chunks that arrived before readBody or while paused. */
  private bodyQueue: Buffer[] | null = null;
  private bodyQueued = 0;
  private bodyPaused = false;
  /** We paused the socket for this body. */
  private socketPaused = false;
  private onChunk: ((chunk: Buffer, last: boolean, owned: boolean) => void) | null = null;
  private onBodyError: ((reason: string) => void) | null = null;
  /** Why the body failed, kept for a readBody() that comes after the failure. */
  private bodyError: string | null = null;
  private drainCb: (() => void) | null = null;
  private abortCb: (() => void) | null = null;
  private abortFired = false;
  private readonly isHead: boolean;

  constructor(
    readonly conn: Conn,
    readonly req: ParsedRequest,
    /** The request has a body (Content-Length > 0 or Transfer-Encoding, RFC 9112 §6.3). */
    readonly hasBody: boolean,
  ) {
    this.isHead = req.method === 'HEAD';
    conn.link(this);
    conn.listener.inflight++;
  }

  get done(): boolean {
    return this.state !== OPEN;
  }

  // ---- request body ------------------------------------------------------------------------

  readBody(onChunk: (chunk: Buffer, last: boolean, owned: boolean) => void, onError: (reason: string) => void): void {
    if (this.bodyState !== BODY_IDLE) return;
    this.bodyState = BODY_READING;
    this.onChunk = onChunk;
    this.onBodyError = onError;
    if (this.state !== OPEN) {
      if (this.bodyError !== null) process.nextTick(deliverBodyError, this);
      return;
    }
    // Callbacks never run inside readBody: what is already here is delivered on the next tick.
    if (!this.hasBody || this.bodyQueue !== null || this.bodyComplete) process.nextTick(flushBody, this);
  }

  pauseBody(): void {
    if (this.bodyState === BODY_DONE || this.bodyPaused) return;
    this.bodyPaused = true;
    if (!this.bodyComplete && this.hasBody) this.pauseSocket();
  }

  resumeBody(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    // Resuming before readBody would flow the body into no listener: it stays queued.
    if (this.bodyState === BODY_READING && (this.bodyQueue !== null || this.bodyComplete)) process.nextTick(flushBody, this);
    else this.resumeSocket();
  }

  /** From the parser: a chunk of this request's body (a copy node made for us: owned). */
  deliverChunk(chunk: Buffer): void {
    if (this.state !== OPEN) return;
    if (this.bodyState === BODY_READING && !this.bodyPaused && this.bodyQueue === null) {
      this.onChunk!(chunk, false, true);
      return;
    }
    if (this.bodyQueue === null) this.bodyQueue = [];
    this.bodyQueue.push(chunk);
    this.bodyQueued += chunk.length;
    if (this.bodyQueued > HIGH_WATER) this.pauseSocket();
  }

  /** From the parser: the request is complete. */
  deliverEnd(): void {
    this.bodyComplete = true;
    if (this.bodyState !== BODY_READING || this.bodyPaused || this.bodyQueue !== null) return;
    this.bodyState = BODY_DONE;
    if (this.state === OPEN) this.onChunk!(EMPTY, true, true);
  }

  /** Deliver what was queued, while the reader is not paused; then the end, if seen. */
  flushBody(): void {
    if (this.bodyState !== BODY_READING || this.state !== OPEN) return;
    const q = this.bodyQueue;
    if (q !== null) {
      while (q.length > 0) {
        if (this.bodyPaused || this.state !== OPEN) return;
        const chunk = q.shift()!;
        this.bodyQueued -= chunk.length;
        this.onChunk!(chunk, false, true);
      }
      this.bodyQueue = null;
    }
    if (this.bodyPaused || this.bodyState !== BODY_READING) return;
    if (this.bodyComplete || !this.hasBody) {
      this.bodyState = BODY_DONE;
      this.onChunk!(EMPTY, true, true);
    } else {
      this.resumeSocket();
    }
  }

  private pauseSocket(): void {
    if (this.socketPaused) return;
    this.socketPaused = true;
    this.conn.pauseRead();
  }

  private resumeSocket(): void {
    if (!this.socketPaused) return;
    this.socketPaused = false;
    this.conn.resumeRead();
  }

  // ---- response ----------------------------------------------------------------------------

  /** 100 Continue for `Expect: 100-continue` (RFC 9110 §10.1.1), in order with earlier responses. */
  writeContinue(): void {
    this.out(CONTINUE);
  }

  writeInterim(status: number, reason: string, headers: string[]): void {
    // No 1xx to an HTTP/1.0 client (RFC 9110 §15.2); 100 is ours (writeContinue), 101 is accept().
    if (this.state !== OPEN || this.headSent || this.req.versionMinor === 0) return;
    if (status < 102 || status > 199) return;
    this.out(rawHead(status, reason, headers, '') + '\r\n');
  }

  writeHead(status: number, reason: string, headers: string[], bodyLength: number, noBody: boolean): void {
    if (this.state !== OPEN || this.headSent) return;
    this.headSent = true;
    // RFC 9110 §9.3.2: a HEAD response has no body whatever the caller says.
    const bodyless = noBody || this.isHead || status === 204 || status === 304 || status < 200;
    this.noBody = bodyless;
    // RFC 9110 §8.6: no Content-Length on 1xx/204; on HEAD and 304 it reports the length.
    const withLength = bodyLength >= 0 && status !== 204 && status >= 200;
    let keepAlive = this.keepAlive();
    if (!withLength && !bodyless) {
      // Unknown length: chunked for HTTP/1.1 (RFC 9112 §7.1); an HTTP/1.0 client never gets
      // chunked, its body ends when the connection closes (RFC 9112 §6.3 item 8).
      if (this.req.versionMinor === 1) this.chunked = true;
      else keepAlive = false;
    }
    const fields = finalHead(status, reason, headers);
    if (fields === null) {
      // Relaying that head would split the response: answer as for any invalid upstream head.
      this.state = ENDED;
      this.chunked = false;
      this.writeComplete(ERR.UPSTREAM_BAD_RESPONSE.status, TEXT_PLAIN as string[], errorBody(ERR.UPSTREAM_BAD_RESPONSE), true);
      return;
    }
    this.closeAfter = !keepAlive;
    const end = this.headEnd(keepAlive);
    this.headText = fields + (withLength ? lengthHeadEnd(bodyLength, end) : this.chunked ? CHUNKED + end : end);
    // A body is coming, perhaps not in this tick (a streamed response): the head must not wait
    // for it. Usually the body follows at once and the head leaves with it (flushHead is a no-op).
    if (!bodyless && bodyLength !== 0) flushHeadLater(this);
  }

  writeBody(chunk: Buffer): boolean {
    if (this.state !== OPEN || !this.headSent || this.noBody || chunk.length === 0) return true;
    const head = this.headText;
    this.headText = null;
    let buf: Buffer;
    // One buffer per write (head, chunk framing and bytes together), never a reference to
    // `chunk`: the caller may reuse it once we return.
    if (this.chunked) {
      const prefix = (head ?? '') + chunk.length.toString(16) + '\r\n';
      buf = Buffer.allocUnsafe(prefix.length + chunk.length + 2);
      (buf as Latin1Buffer).latin1Write(prefix, 0, prefix.length);
      buf.set(chunk, prefix.length);
      buf[buf.length - 2] = 0x0d;
      buf[buf.length - 1] = 0x0a;
    } else if (head !== null) {
      buf = Buffer.allocUnsafe(head.length + chunk.length);
      (buf as Latin1Buffer).latin1Write(head, 0, head.length);
      buf.set(chunk, head.length);
    } else {
      buf = Buffer.from(chunk);
    }
    return this.out(buf);
  }

  onDrain(cb: () => void): void {
    if (this.state !== OPEN) return;
    this.drainCb = cb;
  }

  end(trailers: string[] | null): void {
    if (this.state !== OPEN) return;
    if (!this.headSent) this.writeHead(200, '', [], 0, false);
    this.state = ENDED;
    let tail = this.headText ?? '';
    this.headText = null;
    if (this.chunked) {
      // Trailers only exist in a chunked body (RFC 9112 §7.1.2); elsewhere they are dropped.
      tail += '0\r\n';
      if (trailers !== null) {
        for (let i = 0; i + 1 < trailers.length; i += 2) {
          if (!hasLineBreak(trailers[i]) && !hasLineBreak(trailers[i + 1])) tail += trailers[i] + ': ' + trailers[i + 1] + '\r\n';
        }
      }
      tail += '\r\n';
    }
    if (tail !== '') this.out(tail);
    this.complete();
  }

  respond(status: number, headers: string[], body: string, close: boolean): void {
    if (this.state !== OPEN) return;
    if (this.headSent) {
      // A head is already on the wire: the only honest ending left is a broken connection.
      this.abort();
      return;
    }
    this.state = ENDED;
    this.writeComplete(status, headers, body, close);
  }

  abort(): void {
    if (this.state !== OPEN) return;
    this.state = ENDED;
    this.conn.socket.destroy();
  }

  onAbort(cb: () => void): void {
    if (this.abortFired || this.state === ENDED) return;
    this.abortCb = cb;
    // Registered after the client left: still tell the caller, once, on the next tick.
    if (this.state === GONE) process.nextTick(fireAbort, this);
  }

  // ---- front-end side ----------------------------------------------------------------------

  kill(reason: string): void {
    if (this.state !== OPEN) return;
    this.state = GONE;
    if (this.bodyState !== BODY_DONE && this.hasBody && !this.bodyComplete) {
      this.bodyError = reason;
      if (this.bodyState === BODY_READING) {
        this.bodyState = BODY_DONE;
        const cb = this.onBodyError;
        if (cb !== null) cb(reason);
      }
    }
    if (this.abortCb !== null) fireAbort(this);
  }

  retire(): void {
    if (this.retired) return;
    this.retired = true;
    this.conn.listener.inflight--;
  }

  promote(): void {
    const held = this.held;
    if (held !== null) {
      this.held = null;
      this.heldBytes = 0;
      const socket = this.conn.socket;
      for (const data of held) {
        if (typeof data === 'string') socket.write(data, 'latin1');
        else socket.write(data);
      }
      // A writer told to wait for the held bytes may go on once the socket took them.
      if (this.drainCb !== null && !socket.writableNeedDrain) process.nextTick(fireDrain, this);
    }
  }

  /**
   * llhttp rejected this request's body (bad chunk, ...): the proxy hears onError/onAbort, and
   * the client gets the 400 through this exchange's response (so it stays behind earlier
   * pipelined responses), or a closed connection when a head already went out.
   */
  failBody(spec: ErrorSpec): void {
    const wasOpen = this.state === OPEN;
    this.kill(spec.reason);
    if (!wasOpen) return; // the caller's own response goes out, then the connection closes
    if (!this.headSent) this.writeError(spec);
    else this.conn.socket.destroy();
  }

  /** `spec` as a complete response: reason body, Content-Length, Connection: close. */
  writeError(spec: ErrorSpec): void {
    if (this.finished) return;
    this.writeComplete(spec.status, TEXT_PLAIN as string[], errorBody(spec), true);
  }

  /** The body is being read for this exchange and the parser has not seen its end yet. */
  get bodyPending(): boolean {
    return this.hasBody && !this.bodyComplete;
  }

  deliverDrain(): void {
    const cb = this.drainCb;
    if (cb === null || this.state !== OPEN) return;
    this.drainCb = null;
    cb();
  }

  deliverError(): void {
    if (this.bodyState !== BODY_READING || this.bodyError === null) return;
    this.bodyState = BODY_DONE;
    this.onBodyError!(this.bodyError);
  }

  deliverAbort(): void {
    if (this.abortFired || this.state !== GONE) return;
    const cb = this.abortCb;
    if (cb === null) return;
    this.abortFired = true;
    this.abortCb = null;
    cb();
  }

  /** The head still waiting for body bytes goes out on its own. */
  flushHead(): void {
    const head = this.headText;
    if (head === null || this.state === GONE) return;
    this.headText = null;
    this.out(head);
  }

  // ---- internals ---------------------------------------------------------------------------

  /** Write in request order: straight to the socket when this is the connection's first
   *  exchange, else held until it is. False: stop until onDrain. */
  private out(data: Buffer | string): boolean {
    const conn = this.conn;
    if (conn.first === this) {
      const socket = conn.socket;
      // After end() (a drain or Connection: close) a write would make node destroy the socket
      // and drop what it still has to send.
      if (socket.destroyed || socket.writableEnded) return true;
      return typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data);
    }
    if (this.held === null) this.held = [];
    this.held.push(data);
    this.heldBytes += data.length;
    return this.heldBytes < HIGH_WATER;
  }

  /** The response is entirely handed over: let the connection move on. */
  private complete(): void {
    this.finished = true;
    this.resumeSocket();
    if (this.conn.first === this) this.conn.responseDone(this);
  }

  private keepAlive(): boolean {
    const conn = this.conn;
    return this.req.keepAlive && !conn.listener.draining && !conn.closing;
  }

  /** `Connection: close` when the connection ends after this response (RFC 9112 §9.6), else
   *  `keep-alive` (what node:http and nginx say; an HTTP/1.0 client needs it, RFC 9112 C.2.2)
   *  with the idle timeout in `Keep-Alive: timeout=` seconds, so that a client stops reusing
   *  the connection before we close it (node:http sends it too); then the blank line. */
  private headEnd(keepAlive: boolean): string {
    return keepAlive ? this.conn.listener.keepAliveEnd : CLOSE_END;
  }

  private writeComplete(status: number, headers: string[], body: string, close: boolean): void {
    this.headSent = true;
    const fields = finalHead(status, '', headers);
    if (fields === null) {
      // A caller's field with CR/LF is refused, not written (our own error heads have none).
      this.writeComplete(ERR.INTERNAL.status, TEXT_PLAIN as string[], errorBody(ERR.INTERNAL), close);
      return;
    }
    const bodyless = this.isHead || status === 204 || status === 304 || status < 200;
    const keepAlive = !close && this.keepAlive();
    this.closeAfter = !keepAlive;
    const bytes = bodyless ? EMPTY : Buffer.from(body, 'utf8');
    const end = this.headEnd(keepAlive);
    const head = fields + (status !== 204 && status !== 304 && status >= 200 ? lengthHeadEnd(Buffer.byteLength(body), end) : end);
    const buf = Buffer.allocUnsafe(head.length + bytes.length);
    (buf as Latin1Buffer).latin1Write(head, 0, head.length);
    buf.set(bytes, head.length);
    this.out(buf);
    this.complete();
  }
}

/**
 * Heads waiting for their first body bytes, flushed together once this turn's JS is done: in a
 * microtask, not process.nextTick, which brought node's tick queue (processTicksAndRejections) in
 * for every response; node's callback scope runs the microtask queue itself. Either way the head
 * leaves before the event loop reads again. bench/callgrind.sh `policies` native-free, instructions
 * per request: 49,685 with nextTick, 47,457 with a microtask (~45,900 with no flush at all).
 */
const headsWaiting: (NativeExchange | null)[] = [];
let headsWaitingCount = 0;
const SETTLED = Promise.resolve();

function flushHeadLater(x: NativeExchange): void {
  if (headsWaitingCount === 0) void SETTLED.then(flushWaitingHeads);
  headsWaiting[headsWaitingCount++] = x;
}

function flushWaitingHeads(): void {
  // A count, not `length = 0`: V8 sets an array's length through a runtime call.
  for (let i = 0; i < headsWaitingCount; i++) {
    const x = headsWaiting[i]!;
    headsWaiting[i] = null;
    try {
      x.flushHead();
    } catch {
      x.conn.socket.destroy(); // a bug of ours: only that connection fails
    }
  }
  headsWaitingCount = 0;
}
function flushBody(x: NativeExchange): void {
  x.flushBody();
}
function deliverBodyError(x: NativeExchange): void {
  x.deliverError();
}
function fireAbort(x: NativeExchange): void {
  x.deliverAbort();
}
function fireDrain(x: NativeExchange): void {
  x.deliverDrain();
}
