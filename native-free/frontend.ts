// The native-free front end: node:http (llhttp) + node:net turned into IncomingHead +
// Downstream for src/proxy.ts. It answers only what the proxy cannot see: parse errors, the
// headers timeout, HTTP versions other than 1.x, Expect, CONNECT. Everything else is the
// proxy's (the shared validator in src/http/request-head.ts included).
import http from 'node:http';
import type net from 'node:net';
import type { Settings } from '../src/env';
import { ERR } from '../src/errors';
import type { ErrorSpec } from '../src/errors';
import type {
  BoundListener,
  Frontend,
  ListenerSpec,
  RequestHandler,
  UpgradeHandler,
} from '../src/frontend/types';
import type { ClientError } from './client-error';
import { clientErrorSpec, isTransportError } from './client-error';
import { Conn, kConn, NativeListener, writeErrorAndClose } from './connection';
import { NativeExchange } from './exchange';
import { createIncomingHead } from './incoming-head';
import { startUpgrade } from './upgrade';

type Sock = net.Socket & { [kConn]?: Conn };
type Srv = http.Server & { [kListener]?: NativeListener };

const kListener = Symbol('gatemesh.listener');



/**
 * SO_REUSEPORT for `listen()` arrived in Node 22.12 / 23.1 (`reusePort: true`). Without it only
 * one worker thread can bind a port: the others get an Error with this code.
 */
export const NO_REUSEPORT = 'GATEMESH_NO_REUSEPORT';
export const reusePortSupported: boolean = (() => {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
})();

/** node:http adds this much to keepAliveTimeout before it closes an idle socket (Node ≥ 18). */
const NODE_KEEP_ALIVE_GRACE_MS = 1000;

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
      resolve(listener);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    const options: net.ListenOptions & { reusePort?: boolean } = { host: spec.address, port: spec.port };
    if (reusePortSupported) options.reusePort = true;
    server.listen(options);
  });
}

function createServer(settings: Settings): http.Server {
  const server = http.createServer({
    // llhttp counts the request-target and header fields against one limit: set it above both
    // of ours so the shared validator answers 414/431 exactly; this is only the backstop.
    maxHeaderSize: settings.maxHeaderBytes + settings.maxUriBytes + 1024,
    headersTimeout: settings.headersTimeoutMs,
    // The proxy times the upstream itself; a long upload must not be cut.
    requestTimeout: 0,
    keepAliveTimeout: Math.max(1, settings.idleTimeoutMs - NODE_KEEP_ALIVE_GRACE_MS),
    // The headers timeout is only checked this often (node's default: every 30 s).
    connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(settings.headersTimeoutMs / 4))),
    insecureHTTPParser: false,
    // The shared validator answers a missing or duplicate Host with our own reason text.
    requireHostHeader: false,
    joinDuplicateHeaders: false,
  });
  // 0 = every header line reaches rawHeaders (node's default silently drops past 2000); the
  // total stays bounded by maxHeaderSize.
  server.maxHeadersCount = 0;
  if (settings.maxConnections > 0) server.maxConnections = settings.maxConnections;
  server.on('connection', onConnection);
  server.on('request', onHttpRequest);
  server.on('checkContinue', onCheckContinue);
  server.on('checkExpectation', onCheckExpectation);
  server.on('upgrade', onHttpUpgrade);
  server.on('connect', onHttpConnect);
  server.on('clientError', onClientError);
  return server;
}

function onConnection(this: Srv, socket: Sock): void {
  socket[kConn] = new Conn(socket, this[kListener]!);
  socket.on('end', onSocketEnd);
  socket.on('close', onSocketClose);
}

/**
 * The client sent FIN. node:http ends our side too (httpAllowHalfOpen is false), so an answer
 * still being prepared could never arrive: treat it as the client going away, as uWS and nginx
 * (499) do.
 */
function onSocketEnd(this: Sock): void {
  this[kConn]?.killAll('client closed the connection', false);
}

function onSocketClose(this: Sock): void {
  this[kConn]?.killAll('client connection closed', true);
}

function onHttpRequest(this: Srv, req: http.IncomingMessage, res: http.ServerResponse): void {
  const conn = (req.socket as Sock)[kConn];
  if (conn === undefined || conn.errored) return; // the connection is closing; node drops res
  if (req.httpVersionMajor !== 1) {
    rejectVersion(conn, req, res);
    return;
  }
  const listener = conn.listener;
  const head = createIncomingHead(req, conn.remoteAddress);
  const x = new NativeExchange(conn, req, res, requestHasBody(head.headers));
  try {
    listener.onRequest(head, x, listener.index);
  } catch {
    // The proxy threw: answer 500 if nothing went out yet, else cut the connection.
    if (!x.done) x.respond(ERR.INTERNAL.status, ['Content-Type', 'text/plain'], ERR.INTERNAL.reason + '\n', false);
  }
}

/** Expect: 100-continue (HTTP/1.1 only, node checks): exactly one 100, then a normal request. */
function onCheckContinue(this: Srv, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeContinue();
  onHttpRequest.call(this, req, res);
}

function onCheckExpectation(this: Srv, req: http.IncomingMessage, res: http.ServerResponse): void {
  const conn = (req.socket as Sock)[kConn];
  if (conn === undefined) return;
  const x = new NativeExchange(conn, req, res, false);
  x.kill(ERR.EXPECTATION_FAILED.reason);
  x.writeError(ERR.EXPECTATION_FAILED);
}

/** HTTP/0.9 ("GET /" without a version) is a bad request line; HTTP/2.0 and up get 505. */
function rejectVersion(conn: Conn, req: http.IncomingMessage, res: http.ServerResponse): void {
  const x = new NativeExchange(conn, req, res, false);
  const spec = req.httpVersionMajor === 0 ? ERR.BAD_REQUEST_LINE : ERR.HTTP_VERSION;
  conn.errored = true; // do not serve what the client pipelined after it
  x.kill(spec.reason);
  x.writeError(spec);
}

function onHttpUpgrade(this: Srv, req: http.IncomingMessage, socket: Sock, head: Buffer): void {
  // node removed its own listeners from the socket: without ours an error would be thrown.
  socket.on('error', ignoreSocketError);
  const conn = socket[kConn];
  if (conn === undefined) {
    socket.destroy();
    return;
  }
  if (conn.first !== null) {
    // Responses to earlier pipelined requests are still being written on this socket.
    conn.pendingUpgrade = req;
    conn.pendingUpgradeHead = head;
    return;
  }
  startUpgrade(conn, req, head);
}

/** CONNECT (RFC 9110 §9.3.6) asks for a tunnel to any host: not a reverse proxy's job. */
function onHttpConnect(this: Srv, _req: http.IncomingMessage, socket: Sock): void {
  socket.on('error', ignoreSocketError);
  const conn = socket[kConn];
  if (conn !== undefined) conn.errored = true;
  if (conn !== undefined && conn.first !== null) conn.pendingError = ERR.BAD_REQUEST;
  else writeErrorAndClose(socket, ERR.BAD_REQUEST);
}

/**
 * llhttp failed, the headers timeout fired, or the socket broke. A parse error inside a body
 * goes to that exchange (exchange.failBody); one in a new head is answered after the responses
 * still in flight on the connection, then the connection closes. node calls this again for
 * every later read on a failed parser: only the first call counts.
 */
function onClientError(this: Srv, err: ClientError, socket: Sock): void {
  const conn = socket[kConn];
  if (conn === undefined || isTransportError(err) || !socket.writable) {
    socket.destroy();
    return;
  }
  if (conn.errored) return;
  conn.errored = true;
  const spec = clientErrorSpec(err, conn.listener.settings.maxUriBytes);
  const last = conn.last as NativeExchange | null;
  if (last !== null && last.hasBody && !last.req.complete) {
    last.failBody(spec);
  } else if (conn.first !== null) {
    conn.pendingError = spec;
  } else {
    writeErrorAndClose(socket, spec);
  }
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
