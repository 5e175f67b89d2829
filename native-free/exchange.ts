// Downstream over a node:http (req, res) pair: what the proxy does to one exchange, mapped onto
// ServerResponse so node keeps pipelined responses in order and handles keep-alive.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorSpec } from '../src/errors';
import { ERR, errorBody } from '../src/errors';
import type { Downstream } from '../src/http/downstream';
import type { Conn, LiveExchange } from './connection';
import { rawHead, reasonFor } from './raw-response';

const OPEN = 0;
/** end/respond/abort was called. */
const ENDED = 1;
/** The client went away or the front end failed the exchange. */
const GONE = 2;

const BODY_IDLE = 0;
const BODY_READING = 1;
const BODY_DONE = 2;

const EMPTY = Buffer.alloc(0);
const TEXT_PLAIN: readonly string[] = Object.freeze(['Content-Type', 'text/plain']);

export const kExchange = Symbol('gatemesh.exchange');

type Req = IncomingMessage & { [kExchange]?: NativeExchange };
type Res = ServerResponse & {
  [kExchange]?: NativeExchange;
  /** OutgoingMessage#_writeRaw: queues behind earlier pipelined responses like writeContinue. */
  _writeRaw?: (data: string, encoding: BufferEncoding) => boolean;
};

/** One request/response exchange of the native-free front end. */
export class NativeExchange implements Downstream, LiveExchange {
  prev: LiveExchange | null = null;
  next: LiveExchange | null = null;
  private state = OPEN;
  private headSent = false;
  private noBody = false;
  private retired = false;
  private bodyState = BODY_IDLE;
  /** `owned`: true, node:http never reuses a chunk it emitted (see Exchange.writeBody). */
  private onChunk: ((chunk: Buffer, last: boolean, owned: boolean) => void) | null = null;
  private onBodyError: ((reason: string) => void) | null = null;
  /** Why the body failed, kept for a readBody() that comes after the failure. */
  private bodyError: string | null = null;
  private drainCb: (() => void) | null = null;
  private drainListening = false;
  private abortCb: (() => void) | null = null;
  private abortFired = false;

  constructor(
    readonly conn: Conn,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    /** The request has a body (Content-Length > 0 or Transfer-Encoding, RFC 9112 §6.3). */
    readonly hasBody: boolean,
  ) {
    (req as Req)[kExchange] = this;
    (res as Res)[kExchange] = this;
    res.on('finish', onResFinish);
    // A write after the socket died must not become an unhandled 'error' event.
    res.on('error', ignore);
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
    const req = this.req;
    if (!this.hasBody || (req.complete && req.readableLength === 0)) {
      // Nothing to read: say so on the next tick (callbacks never run inside readBody).
      process.nextTick(deliverEmptyBody, this);
      return;
    }
    req.on('data', onReqData);
    req.on('end', onReqEnd);
  }

  pauseBody(): void {
    // Before readBody this keeps the stream paused when the 'data' listener is added.
    if (this.bodyState !== BODY_DONE) this.req.pause();
  }

  resumeBody(): void {
    // Resuming before readBody would flow the body into no listener.
    if (this.bodyState === BODY_READING) this.req.resume();
  }

  // ---- response ----------------------------------------------------------------------------

  writeInterim(status: number, reason: string, headers: string[]): void {
    // No 1xx to an HTTP/1.0 client (RFC 9110 §15.2); 100 is ours (checkContinue), 101 is accept().
    if (this.state !== OPEN || this.headSent || this.req.httpVersionMinor === 0) return;
    if (status < 102 || status > 199) return;
    const res = this.res as Res;
    // res.writeEarlyHints() takes an object (repeated Link lines would be joined) and rejects
    // Link values its pattern does not know, so the head is written the way writeContinue()
    // writes its own; writeEarlyHints is the fallback should _writeRaw ever go away.
    if (typeof res._writeRaw === 'function') {
      res._writeRaw(rawHead(status, reason, headers, '') + '\r\n', 'latin1');
    } else if (status === 103) {
      const links: string[] = [];
      for (let i = 0; i + 1 < headers.length; i += 2) {
        if (headers[i].toLowerCase() === 'link') links.push(headers[i + 1]);
      }
      try {
        if (links.length > 0) res.writeEarlyHints({ link: links });
      } catch {
        // hints are optional (RFC 8297 §2)
      }
    }
  }

  writeHead(status: number, reason: string, headers: string[], bodyLength: number, noBody: boolean): void {
    if (this.state !== OPEN || this.headSent) return;
    this.headSent = true;
    this.noBody = noBody;
    const res = this.res;
    this.prepareConnection();
    // RFC 9110 §8.6: no Content-Length on 1xx/204; on HEAD and 304 it reports the length.
    const withLength = bodyLength >= 0 && status !== 204 && status >= 200;
    // Append Content-Length to the caller's list for the call and take it off again, instead
    // of copying the list per response (a frozen list is copied).
    const n = headers.length;
    const list = withLength && !Object.isExtensible(headers) ? headers.slice() : headers;
    if (withLength) list.push('Content-Length', '' + bodyLength);
    try {
      res.writeHead(status, reasonFor(status, reason), list);
    } catch {
      // node refused a name or value (ERR_INVALID_CHAR / ERR_INVALID_HTTP_TOKEN): relaying that
      // head would split or corrupt the response, so answer as for any invalid upstream head.
      this.state = ENDED;
      this.writeError(ERR.UPSTREAM_BAD_RESPONSE);
    } finally {
      if (list === headers) headers.length = n;
    }
  }

  writeBody(chunk: Buffer): boolean {
    if (this.state !== OPEN || !this.headSent || this.noBody || chunk.length === 0) return true;
    // node keeps a reference to what it could not send yet; the seam lets the caller reuse
    // `chunk` once we return, so node gets its own copy.
    return this.res.write(Buffer.from(chunk));
  }

  onDrain(cb: () => void): void {
    if (this.state !== OPEN) return;
    this.drainCb = cb;
    if (!this.drainListening) {
      this.drainListening = true;
      this.res.on('drain', onResDrain);
    }
  }

  end(trailers: string[] | null): void {
    if (this.state !== OPEN) return;
    this.state = ENDED;
    const res = this.res;
    // Trailers only exist in a chunked body (RFC 9112 §7.1.2); elsewhere they are dropped.
    if (trailers !== null && trailers.length >= 2 && res.chunkedEncoding) {
      const pairs: [string, string][] = [];
      for (let i = 0; i + 1 < trailers.length; i += 2) pairs.push([trailers[i], trailers[i + 1]]);
      try {
        res.addTrailers(pairs);
      } catch {
        // an invalid trailer field is dropped, the body is still complete
      }
    }
    res.end();
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
    if (this.bodyState !== BODY_DONE && this.hasBody && !this.req.complete) {
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
    this.conn.unlink(this);
    this.conn.listener.inflight--;
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
    this.writeComplete(spec.status, TEXT_PLAIN as string[], errorBody(spec), true);
  }

  private writeComplete(status: number, headers: string[], body: string, close: boolean): void {
    this.headSent = true;
    const res = this.res;
    if (close) res.shouldKeepAlive = false;
    this.prepareConnection();
    const list = headers.slice();
    if (status !== 204 && status !== 304 && status >= 200) list.push('Content-Length', '' + Buffer.byteLength(body));
    try {
      res.writeHead(status, list);
    } catch {
      const text = errorBody(ERR.INTERNAL);
      res.writeHead(ERR.INTERNAL.status, ['Content-Type', 'text/plain', 'Content-Length', '' + text.length]);
      body = text;
    }
    res.end(body, 'utf8'); // dropped by node for HEAD/204/304
  }

  /** Keep-alive and framing decisions node cannot make for us. */
  private prepareConnection(): void {
    const res = this.res;
    // (A connection whose parser failed stays keep-alive here: its deferred error response
    // follows this one and says `Connection: close`, see Conn.afterFinish.)
    if (this.conn.listener.draining) res.shouldKeepAlive = false;
    // node would chunk for an HTTP/1.0 client that sent `TE: chunked`; never (RFC 9112 §6.1,
    // §7: chunked is HTTP/1.1). An unknown length is then close-delimited. HTTP/1.0 keep-alive
    // is node's: only when the client asked and the length is known.
    if (this.req.httpVersionMinor === 0) res.useChunkedEncodingByDefault = false;
  }

  deliverEmpty(): void {
    if (this.state !== OPEN || this.bodyState !== BODY_READING) return;
    this.bodyState = BODY_DONE;
    this.onChunk!(EMPTY, true, true);
  }

  deliverChunk(chunk: Buffer): void {
    if (this.state === OPEN) this.onChunk!(chunk, false, true);
  }

  deliverEnd(): void {
    if (this.bodyState !== BODY_READING) return;
    this.bodyState = BODY_DONE;
    if (this.state === OPEN) this.onChunk!(EMPTY, true, true);
  }

  deliverError(): void {
    if (this.bodyState !== BODY_READING || this.bodyError === null) return;
    this.bodyState = BODY_DONE;
    this.onBodyError!(this.bodyError);
  }

  deliverDrain(): void {
    const cb = this.drainCb;
    if (cb === null || this.state !== OPEN) return;
    this.drainCb = null;
    cb();
  }

  deliverAbort(): void {
    if (this.abortFired || this.state !== GONE) return;
    const cb = this.abortCb;
    if (cb === null) return;
    this.abortFired = true;
    this.abortCb = null;
    cb();
  }
}

// Listeners shared by every exchange: `this` is the emitter, the exchange hangs off it, so no
// closure is created per request or per chunk.
function onReqData(this: Req, chunk: Buffer): void {
  this[kExchange]!.deliverChunk(chunk);
}
function onReqEnd(this: Req): void {
  this[kExchange]!.deliverEnd();
}
function onResDrain(this: Res): void {
  this[kExchange]!.deliverDrain();
}
function onResFinish(this: Res): void {
  const x = this[kExchange]!;
  x.retire();
  x.conn.afterFinish();
}
function deliverEmptyBody(x: NativeExchange): void {
  x.deliverEmpty();
}
function deliverBodyError(x: NativeExchange): void {
  x.deliverError();
}
function fireAbort(x: NativeExchange): void {
  x.deliverAbort();
}
function ignore(): void {}
