// Test helpers for the native-free front end: a server on 127.0.0.1:0 with a stub proxy, raw
// sockets, and a small HTTP/1.1 response reader (so the wire is checked byte for byte).
import net from 'node:net';
import { afterEach } from 'node:test';
import { readSettings } from '../../src/env';
import type { Settings } from '../../src/env';
import type { Downstream, IncomingHead } from '../../src/http/downstream';
import type { BoundListener, RequestHandler, UpgradeDownstream, UpgradeHandler } from '../../src/frontend/types';
import { nativeFreeFrontend } from '../../native-free/frontend';

export interface TestServer {
  port: number;
  listener: BoundListener;
  settings: Settings;
  close(): Promise<void>;
}

export function settingsWith(overrides: Record<string, string> = {}): Settings {
  return readSettings({ GATEMESH_THREADS: '1', ...overrides });
}

export async function startServer(
  onRequest: RequestHandler,
  overrides: Record<string, string> = {},
  onUpgrade: UpgradeHandler = rejectUpgrade,
): Promise<TestServer> {
  const settings = settingsWith(overrides);
  const listener = await nativeFreeFrontend.listen({ address: '127.0.0.1', port: 0 }, 0, settings, onRequest, onUpgrade);
  return {
    port: listener.port,
    listener,
    settings,
    close: async () => {
      listener.stopAccepting();
      listener.closeAll();
      await new Promise((r) => setImmediate(r));
    },
  };
}

function rejectUpgrade(_head: IncomingHead, ds: UpgradeDownstream): void {
  ds.respond(502, ['Content-Type', 'text/plain'], 'no upgrades here\n', true);
}

/** Stub proxy: reads the whole body, answers 200 with the head and the body length as JSON. */
export function echoHead(head: IncomingHead, ds: Downstream): void {
  let bodyBytes = 0;
  ds.readBody(
    (chunk, last) => {
      bodyBytes += chunk.length;
      if (last) {
        const body = JSON.stringify({ ...head, bodyBytes });
        ds.writeHead(200, 'OK', ['Content-Type', 'application/json'], Buffer.byteLength(body), head.method === 'HEAD');
        ds.writeBody(Buffer.from(body));
        ds.end(null);
      }
    },
    () => {},
  );
}

export interface Response {
  status: number;
  reason: string;
  /** Names lower-case, in order. */
  headers: [string, string][];
  body: Buffer;
  chunked: boolean;
  /** Framed by the connection closing. */
  closeDelimited: boolean;
}

export function header(r: Response, name: string): string | undefined {
  const h = r.headers.find(([n]) => n === name);
  return h === undefined ? undefined : h[1];
}

export function headerCount(r: Response, name: string): number {
  return r.headers.filter(([n]) => n === name).length;
}

/**
 * Parse every complete response in `data` (in order). `noBody[i]` marks responses that carry
 * no body (HEAD). Interim 1xx responses are returned as their own entries.
 */
export function parseResponses(data: Buffer, closed: boolean, noBody: boolean[] = []): Response[] {
  const out: Response[] = [];
  let pos = 0;
  let finals = 0;
  while (pos < data.length) {
    const end = data.indexOf('\r\n\r\n', pos);
    if (end === -1) throw new Error(`incomplete head: ${JSON.stringify(data.subarray(pos).toString('latin1'))}`);
    const lines = data.subarray(pos, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) (.*)$/.exec(lines[0]);
    if (m === null) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
    const headers: [string, string][] = lines.slice(1).map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
    });
    const status = Number(m[1]);
    const r: Response = { status, reason: m[2], headers, body: Buffer.alloc(0), chunked: false, closeDelimited: false };
    pos = end + 4;
    out.push(r);
    if (status < 200) continue;
    const skipBody = noBody[finals++] === true || status === 204 || status === 304;
    if (skipBody) continue;
    const te = header(r, 'transfer-encoding');
    const cl = header(r, 'content-length');
    if (te !== undefined) {
      r.chunked = true;
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', pos);
        if (lineEnd === -1) throw new Error('incomplete chunk size');
        const size = parseInt(data.subarray(pos, lineEnd).toString('latin1'), 16);
        pos = lineEnd + 2;
        if (size === 0) {
          // trailers until an empty line
          for (;;) {
            const tEnd = data.indexOf('\r\n', pos);
            const line = data.subarray(pos, tEnd).toString('latin1');
            pos = tEnd + 2;
            if (line === '') break;
            const i = line.indexOf(':');
            r.headers.push([line.slice(0, i).toLowerCase(), line.slice(i + 1).trim()]);
          }
          break;
        }
        parts.push(data.subarray(pos, pos + size));
        pos += size + 2;
      }
      r.body = Buffer.concat(parts);
    } else if (cl !== undefined) {
      r.body = data.subarray(pos, pos + Number(cl));
      pos += Number(cl);
    } else {
      if (!closed) throw new Error('close-delimited body on an open connection');
      r.closeDelimited = true;
      r.body = data.subarray(pos);
      pos = data.length;
    }
  }
  return out;
}

export interface Exchange {
  data: Buffer;
  /** The server closed the connection (before `waitMs` ran out). */
  closed: boolean;
}

/**
 * Write `payload` on a fresh connection and collect what comes back until the server closes
 * or `waitMs` of silence passes (then we close).
 */
export function rawExchange(port: number, payload: string | Buffer, waitMs = 300): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let timer: NodeJS.Timeout;
    let closedByServer = false;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => socket.destroy(), waitMs);
    };
    socket.on('data', (d) => {
      parts.push(d);
      arm();
    });
    socket.on('end', () => {
      closedByServer = true;
    });
    socket.on('error', () => {
      closedByServer = true;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(parts), closed: closedByServer });
    });
    socket.write(typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload);
    arm();
  });
}

/** A connection kept open across requests. */
export class Client {
  readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on('error', () => {});
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  ready(): Promise<void> {
    return new Promise((resolve) => this.socket.once('connect', () => resolve()));
  }

  write(s: string | Buffer): void {
    this.socket.write(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
  }

  /** Wait until `pred(buffer)` holds or the connection closes (or `ms` passes: reject). */
  async until(pred: (b: Buffer) => boolean, ms = 2000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (!pred(this.buf)) {
      if (this.closed) return this.buf;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.buf;
  }

  /** Wait for `n` complete final responses. */
  async responses(n: number, noBody: boolean[] = []): Promise<Response[]> {
    let got: Response[] = [];
    await this.until((b) => {
      try {
        got = parseResponses(b, this.closed, noBody).filter((r) => r.status >= 200);
        return got.length >= n;
      } catch {
        return false;
      }
    });
    if (got.length < n) got = parseResponses(this.buf, this.closed, noBody).filter((r) => r.status >= 200);
    return got;
  }

  take(): Buffer {
    const b = this.buf;
    this.buf = Buffer.alloc(0);
    return b;
  }

  waitClose(ms = 2000): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.socket.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export const GET = (path = '/', extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: a\r\n${extra}\r\n`;

/** A test server per test: `serve` starts it, afterEach closes it (call at module level). */
export function serverPerTest(): {
  serve: (handler: RequestHandler, env?: Record<string, string>) => Promise<number>;
  current: () => TestServer;
} {
  let server: TestServer | null = null;
  afterEach(async () => {
    if (server !== null) await server.close();
    server = null;
  });
  return {
    serve: async (handler, env = {}) => {
      server = await startServer(handler, env);
      return server.port;
    },
    current: () => server!,
  };
}
