// The native-free front end: node:net sockets parsed by node:http's own parser (llhttp, see
// parser.ts) and turned into IncomingHead + Downstream for src/proxy.ts. It answers only what
// the proxy cannot see: parse errors, the headers timeout, HTTP versions other than 1.x, Expect,
// CONNECT. Everything else is the proxy's (the shared validator in src/http/request-head.ts
// included).
import net from 'node:net';
import type { Settings } from '../src/env';
import { ERR } from '../src/errors';
import type {
  BoundListener,
  Frontend,
  ListenerSpec,
  RequestHandler,
  UpgradeHandler,
} from '../src/frontend/types';
import type { ClientError } from './client-error';
import { clientErrorSpec, isTransportError } from './client-error';
import { Conn, destroyWhenFlushed, NativeListener, writeErrorAndClose } from './connection';
import { NativeExchange } from './exchange';
import { createIncomingHead } from './incoming-head';
import { findHeader } from '../src/http/forwarding';
import type { HttpParser, ParsedRequest } from './parser';
import {
  allocParser,
  freeParser,
  K_ON_BODY,
  K_ON_EXECUTE,
  K_ON_HEADERS,
  K_ON_HEADERS_COMPLETE,
  K_ON_MESSAGE_COMPLETE,
  loadError,
  METHODS,
  SKIP_UPGRADE,
} from './parser';
import { startUpgrade } from './upgrade';
import { closeSection, openSection } from '../src/shared/section-clock';

const kConn = Symbol('gatemesh.conn');
type Sock = net.Socket & { [kConn]?: Conn };
type Srv = net.Server & { [kListener]?: NativeListener };
type Parser = HttpParser & { conn: Conn | null };

const kListener = Symbol('gatemesh.listener');

/** A libuv stream handle the parser can read from directly (net's TCPWrap). */
interface StreamHandle {
  isStreamBase?: boolean;
  reading?: boolean;
  readStart(): number;
  readStop(): number;
}

/** Whether new connections hand their handle to the parser (tests run the 'data' path too). */
let consumeHandles = true;
/** @internal for tests: false = feed the parser from 'data' events (the path for handles the
 *  parser cannot consume). */
export function setConsumeHandles(on: boolean): void {
  consumeHandles = on;
}

/**
 * SO_REUSEPORT for `listen()` arrived in Node 22.12 / 23.1 (`reusePort: true`). Without it only
 * one worker thread can bind a port: the others get an Error with this code.
 */
export const NO_REUSEPORT = 'GATEMESH_NO_REUSEPORT';
export const reusePortSupported: boolean = (() => {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
})();

/** node:http's test for `Expect: 100-continue` (lib/_http_server.js continueExpression). */
const CONTINUE_EXPECTATION = /(?:^|\W)100-continue(?:$|\W)/i;

export const nativeFreeFrontend: Frontend = {
  name: 'native-free',
  listen,
};

/** Bind one listener on this thread. */
export function listen(
  spec: ListenerSpec,
  index: number,
  settings: Settings,
  onRequest: RequestHandler,
  onUpgrade: UpgradeHandler,
): Promise<BoundListener> {
  if (loadError !== null) return Promise.reject(new Error(`native-free front end unavailable: ${loadError}`));
  const server = createServer(settings);
  const listener = new NativeListener(server, index, settings, onRequest, onUpgrade);
  (server as Srv)[kListener] = listener;
  return new Promise<BoundListener>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.removeListener('listening', onListening);
      if (err.code === 'EADDRINUSE' && !reusePortSupported) {
        const e = new Error(
          `${spec.address}:${spec.port} is already bound and Node ${process.versions.node} has no ` +
            `SO_REUSEPORT (Node >= 22.12): only one thread can serve this listener (${err.message})`,
        ) as NodeJS.ErrnoException;
        e.code = NO_REUSEPORT;
        (e as Error & { cause?: unknown }).cause = err;
        reject(e);
      } else {
        reject(err);
      }
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      server.on('error', ignoreServerError);
      const address = server.address();
      listener.port = typeof address === 'object' && address !== null ? address.port : spec.port;
      listener.startSweeper();
      resolve(listener);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    const options: net.ListenOptions & { reusePort?: boolean } = { host: spec.address, port: spec.port };
    if (reusePortSupported) options.reusePort = true;
    server.listen(options);
  });
}

function createServer(settings: Settings): net.Server {
  const server = net.createServer({ allowHalfOpen: false });
  if (settings.maxConnections > 0) server.maxConnections = settings.maxConnections;
  server.on('connection', onConnection);
  return server;
}

function onConnection(this: Srv, socket: Sock): void {
  const listener = this[kListener]!;
  socket.setNoDelay(true); // node:http's default too: a response must not wait for Nagle
  // llhttp counts the request-target and header fields against one limit: set it above both of
  // ours so the shared validator answers 414/431 exactly; this is only the backstop.
  const s = listener.settings;
  const parser = allocParser(socket, s.maxHeaderBytes + s.maxUriBytes + 1024) as Parser;
  const conn = new Conn(socket, listener, parser);
  conn.onTimeout = onHeadersTimeout;
  // `conn` goes back to null when the connection closes (releaseParser): null first, so that V8
  // sees both kinds of value before it optimizes the parser callbacks, not at the first close
  // (a field type change there deoptimizes every callback; --trace-deopt, "code dependencies").
  parser.conn = null;
  parser.conn = conn;
  parser[K_ON_HEADERS] = onParserHeaders;
  parser[K_ON_HEADERS_COMPLETE] = onParserHeadersComplete;
  parser[K_ON_BODY] = onParserBody;
  parser[K_ON_MESSAGE_COMPLETE] = onParserMessageComplete;
  socket[kConn] = conn;
  listener.conns.add(conn);
  const handle = (socket as unknown as { _handle: StreamHandle | null })._handle;
  if (consumeHandles && handle !== null && handle.isStreamBase === true) {
    parser[K_ON_EXECUTE] = onParserExecute;
    parser.consume(handle);
    conn.handle = handle;
  } else {
    parser[K_ON_EXECUTE] = undefined;
    socket.on('data', onSocketData);
  }
  socket.on('end', onSocketEnd);
  socket.on('close', onSocketClose);
  socket.on('drain', onSocketDrain);
  socket.on('error', ignoreSocketError); // 'close' follows and does the work
}

/** A read went through the parser that consumes the handle: `ret` as execute() returns it. */
function onParserExecute(this: Parser, ret: number | ClientError): void {
  const conn = this.conn;
  if (conn !== null) afterExecute(conn, this, ret, null);
}

/** The parser is fed from 'data' events (a handle it cannot consume). */
function onSocketData(this: Sock, data: Buffer): void {
  const conn = this[kConn]!;
  const parser = conn.parser;
  if (parser === null) return;
  let ret: number | ClientError;
  try {
    ret = parser.execute(data);
  } catch {
    // A callback threw (a bug of ours): this connection cannot be trusted any more.
    this.destroy();
    return;
  }
  afterExecute(conn, parser, ret, data);
}

/** After each read: a parse error, an upgrade head, or the headers clock of a head in progress.
 *  `data`: the read, when we have it (else the parser copies it out on demand). */
function afterExecute(conn: Conn, parser: HttpParser, ret: number | ClientError, data: Buffer | null): void {
  // After a parse error or a refused request nothing more is read as HTTP (a failed parser only
  // repeats its error; after `Connection: close` llhttp refuses more data).
  if (conn.errored || conn.closing) return;
  if (typeof ret !== 'number') {
    ret.rawPacket = data ?? parser.getCurrentBuffer();
    onParseError(conn, ret);
    return;
  }
  const up = conn.upgradeReq;
  if (up !== null) {
    conn.upgradeReq = null;
    beginUpgrade(conn, up, (data ?? parser.getCurrentBuffer()).subarray(ret));
    return;
  }
  // A head begun in this read and not complete: its headers timeout starts now.
  if (conn.headStart === 0 && !parser.headersCompleted()) conn.headStart = Date.now();
  // Any read is activity: a body still arriving after its response keeps the connection
  // (node:http's keep-alive timer is refreshed on every read too).
  if (conn.idleSince !== 0) conn.idleSince = conn.listener.now;
}

/** The parser flushes fields early when a head has more than 32 or spans reads. */
function onParserHeaders(this: Parser, headers: string[], url: string): void {
  const conn = this.conn!;
  for (let i = 0; i < headers.length; i++) conn.partHeaders.push(headers[i]);
  conn.partUrl += url;
}

function onParserHeadersComplete(
  this: Parser,
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: number,
  url: string | undefined,
  _statusCode: number,
  _statusMessage: string,
  upgrade: boolean,
  keepAlive: boolean,
): number {
  const conn = this.conn!;
  if (headers === undefined) {
    headers = conn.partHeaders;
    conn.partHeaders = [];
  }
  if (url === undefined) url = conn.partUrl;
  conn.partUrl = '';
  conn.headStart = 0;
  const req: ParsedRequest = {
    method: METHODS[method] ?? '',
    url,
    versionMajor,
    versionMinor,
    rawHeaders: headers,
    keepAlive: keepAlive === true,
    upgrade: upgrade === true,
  };
  if (req.upgrade) {
    // The bytes after this head are not HTTP: llhttp stops here, afterExecute hands them over.
    conn.upgradeReq = req;
    return SKIP_UPGRADE;
  }
  // Arrival, routing and the upstream write share one clock reading (src/shared/section-clock.ts).
  openSection();
  try {
    onRequest(conn, req);
  } catch {
    conn.socket.destroy();
  } finally {
    closeSection();
  }
  return 0;
}

// The parser callbacks run inside a libuv read with no JS caller of ours to catch for them: an
// exception (a bug of ours, or of the proxy's body callback) would be uncaught, so each one
// fails only its connection.

function onParserBody(this: Parser, chunk: Buffer): void {
  const conn = this.conn!;
  const x = conn.receiving;
  try {
    if (x !== null) x.deliverChunk(chunk);
  } catch {
    conn.socket.destroy();
  }
}

function onParserMessageComplete(this: Parser): void {
  const conn = this.conn!;
  // Fields after a chunked body (request trailers, RFC 9112 §7.1.2) are not forwarded.
  if (conn.partHeaders.length > 0) conn.partHeaders = [];
  conn.partUrl = '';
  const x = conn.receiving;
  if (x === null) return;
  conn.receiving = null;
  try {
    x.deliverEnd();
  } catch {
    conn.socket.destroy();
  }
}

function onRequest(conn: Conn, req: ParsedRequest): void {
  if (conn.errored || conn.closing) return; // the connection is closing: nothing more is served
  if (req.versionMajor !== 1) {
    rejectVersion(conn, req);
    return;
  }
  const listener = conn.listener;
  const head = createIncomingHead(req, conn.remoteAddress);
  const headers = head.headers;
  const x = new NativeExchange(conn, req, requestHasBody(headers));
  conn.receiving = x;
  if (req.versionMinor === 1) {
    // Expect (RFC 9110 §10.1.1), HTTP/1.1 only, as node:http: exactly one 100 for
    // 100-continue, 417 for anything else.
    const expect = findHeader(headers, 'expect');
    if (expect !== undefined) {
      if (CONTINUE_EXPECTATION.test(expect)) {
        x.writeContinue();
      } else {
        x.kill(ERR.EXPECTATION_FAILED.reason);
        x.writeError(ERR.EXPECTATION_FAILED);
        return;
      }
    }
  }
  try {
    listener.onRequest(head, x, listener.index);
  } catch {
    // The proxy threw: answer 500 if nothing went out yet, else cut the connection.
    if (!x.done) x.respond(ERR.INTERNAL.status, ['Content-Type', 'text/plain'], ERR.INTERNAL.reason + '\n', false);
  }
}

/** HTTP/0.9 ("GET /" without a version) is a bad request line; HTTP/2.0 and up get 505. */
function rejectVersion(conn: Conn, req: ParsedRequest): void {
  const x = new NativeExchange(conn, req, false);
  const spec = req.versionMajor === 0 ? ERR.BAD_REQUEST_LINE : ERR.HTTP_VERSION;
  conn.errored = true; // do not serve what the client pipelined after it
  x.kill(spec.reason);
  x.writeError(spec);
}

/**
 * An upgrade (or CONNECT) head: the connection stops being HTTP. `rest` is what the client sent
 * after the head. CONNECT (RFC 9110 §9.3.6) asks for a tunnel to any host: not a reverse
 * proxy's job, 400. Others go to the proxy once the responses in flight are out.
 */
function beginUpgrade(conn: Conn, req: ParsedRequest, rest: Buffer): void {
  const socket = conn.socket;
  socket.removeListener('data', onSocketData);
  // No reading mode until the upgrade's own 'data' listener starts it (what node:http does
  // before its 'upgrade' event): bytes wait in the socket, none are dropped.
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
  releaseParser(conn);
  if (req.method === 'CONNECT') {
    conn.errored = true;
    if (conn.first !== null) conn.pendingError = ERR.BAD_REQUEST;
    else writeErrorAndClose(socket, ERR.BAD_REQUEST);
    return;
  }
  if (conn.first !== null) {
    // Responses to earlier pipelined requests are still being written on this socket; it stays
    // in listener.conns (closeAll reaches it) until the upgrade starts (Conn.afterFinish).
    conn.pendingUpgrade = req;
    conn.pendingUpgradeHead = rest;
    return;
  }
  // From here the socket is a tunnel (or about to be answered and closed), not a connection the
  // listener sweeps or drains as HTTP.
  conn.listener.conns.delete(conn);
  startUpgrade(conn, req, rest);
}

/**
 * llhttp failed. A parse error inside a body goes to that exchange (exchange.failBody); one in
 * a new head is answered after the responses still in flight on the connection, then the
 * connection closes.
 */
function onParseError(conn: Conn, err: ClientError): void {
  const socket = conn.socket;
  if (isTransportError(err) || !socket.writable) {
    socket.destroy();
    return;
  }
  if (conn.errored) return;
  conn.errored = true;
  const spec = clientErrorSpec(err, conn.listener.settings.maxUriBytes);
  const receiving = conn.receiving as NativeExchange | null;
  if (receiving !== null && receiving.bodyPending && !receiving.finished) {
    receiving.failBody(spec);
  } else if (receiving !== null && receiving.bodyPending) {
    // The body of a request already answered (an early 401/413 while the upload went on) is
    // broken: nothing more on this connection can be parsed. It closes once the responses
    // before it are out (afterFinish sees `errored`), or now when there are none.
    if (conn.first === null) destroyWhenFlushed(socket);
  } else if (conn.first !== null) {
    conn.pendingError = spec;
  } else {
    writeErrorAndClose(socket, spec);
  }
}

function onHeadersTimeout(conn: Conn): void {
  const err: ClientError = new Error('request headers timeout');
  err.code = 'ERR_HTTP_REQUEST_TIMEOUT';
  onParseError(conn, err);
}

/**
 * The client sent FIN. Our side ends too (allowHalfOpen is false), so an answer still being
 * prepared could never arrive: treat it as the client going away, as uWS and nginx (499) do.
 */
function onSocketEnd(this: Sock): void {
  this[kConn]?.killAll('client closed the connection', false);
}

function onSocketClose(this: Sock): void {
  const conn = this[kConn];
  if (conn === undefined) return;
  conn.killAll('client connection closed', true);
  conn.dropFlushing();
  conn.listener.conns.delete(conn);
  releaseParser(conn);
}

function onSocketDrain(this: Sock): void {
  this[kConn]?.first?.deliverDrain();
}

/** The connection stops speaking HTTP (closed or upgraded): the parser lets go of the handle,
 *  which reads for net.Socket again, and goes back to the pool. */
function releaseParser(conn: Conn): void {
  const parser = conn.parser as Parser | null;
  if (parser === null) return;
  conn.parser = null;
  parser.conn = null;
  const handle = conn.handle;
  if (handle !== null) {
    conn.handle = null;
    parser.unconsume();
    // An upgraded socket must read on for its tunnel, even if we had paused it.
    if (!conn.socket.destroyed && handle.reading !== true) {
      handle.reading = true;
      handle.readStart();
    }
  }
  freeParser(parser);
}

/** RFC 9112 §6.3: a request has a body only with Transfer-Encoding or Content-Length > 0. */
function requestHasBody(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name.length === 17 && name === 'transfer-encoding') return true;
    if (name.length === 14 && name === 'content-length' && headers[i + 1] !== '0') return true;
  }
  return false;
}

function ignoreSocketError(): void {}
function ignoreServerError(): void {}
