// Upstream servers for integration tests, all on 127.0.0.1 port 0.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TestServer {
  port: number;
  close(): Promise<void>;
}

/** node:http upstream; `handler` decides each response. Records every request it saw. */
export async function httpUpstream(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void,
): Promise<TestServer & { requests: { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: Buffer }[]; server: http.Server }> {
  const requests: { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: Buffer }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body });
      handler(req, res, body);
    });
  });
  server.keepAliveTimeout = 30000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    server,
    requests,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A JSON echo upstream: answers with what it received. */
export function echoUpstream() {
  return httpUpstream((req, res, body) => {
    const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, body: body.toString('latin1') });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
}

/** Raw TCP upstream: `onConnection` writes whatever bytes the test wants. */
export async function rawUpstream(onConnection: (sock: net.Socket, received: () => string) => void): Promise<TestServer & { connections: number; received: string[] }> {
  const received: string[] = [];
  const state = { connections: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    state.connections++;
    sockets.add(sock);
    const idx = received.push('') - 1;
    sock.on('data', (d) => (received[idx] += d.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    onConnection(sock, () => received[idx]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    get connections() {
      return state.connections;
    },
    received,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A port with nothing listening (bound then closed). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface RawResponse {
  raw: string;
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection. */
  closed: boolean;
}

/** Sends raw bytes on a new connection and collects everything until close or `waitMs` of quiet. */
export function rawRequest(port: number, data: string | Buffer, waitMs = 400): Promise<RawResponse> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let raw = '';
    let closed = false;
    let timer: NodeJS.Timeout;
    const done = (): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(parseRaw(raw, closed));
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(done, waitMs);
    };
    sock.on('data', (d) => {
      raw += d.toString('latin1');
      arm();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      closed = true;
      done();
    });
    sock.write(data);
    arm();
  });
}

export function parseRaw(raw: string, closed: boolean): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const headText = end < 0 ? raw : raw.slice(0, end);
  const lines = headText.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { raw, status: m ? Number(m[1]) : 0, headers, body: end < 0 ? '' : raw.slice(end + 4), closed };
}

/** Simple HTTP client over node:http with a fresh agent per call (no keep-alive surprises). */
export function request(
  port: number,
  opts: { method?: string; path?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A node:http server on 127.0.0.1, port 0, with the given handler; close() also drops kept-alive connections. */
export function plainServer(handler: http.RequestListener): Promise<{ port: number; close(): Promise<void> }> {
  return new Promise((resolve) => {
    const s = http.createServer(handler);
    s.listen(0, '127.0.0.1', () =>
      resolve({
        port: (s.address() as AddressInfo).port,
        close: () => new Promise((r) => (s.closeAllConnections(), s.close(() => r()))),
      }),
    );
  });
}

/** True when nothing accepts connections on 127.0.0.1:`port` any more. */
export function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
}
