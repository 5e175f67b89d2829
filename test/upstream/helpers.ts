// Wire-level fixtures for the upstream tests: raw net servers on 127.0.0.1:0 that write exact bytes,
// and a recording ExchangeSink.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { ErrorSpec } from '../../src/errors';
import type { ExchangeRequest, ExchangeSink } from '../../src/upstream/exchange';
import type { ResponseFraming } from '../../src/upstream/response-parser';

export interface RawServer {
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Connections open right now, and the most ever open at once. */
  open: number;
  maxOpen: number;
  /** Sockets that have closed (server side saw 'close'). */
  closed: number;
  sockets: net.Socket[];
  close(): Promise<void>;
}

/**
 * `onRequest(sock, head, body, n)` is called for every request head (and its Content-Length body)
 * read on a connection; `n` counts requests on that connection from 0.
 */
export async function rawServer(onRequest: (sock: net.Socket, head: string, body: Buffer, n: number, conn: number) => void): Promise<RawServer> {
  const state: RawServer = { port: 0, accepted: 0, open: 0, maxOpen: 0, closed: 0, sockets: [], close: async () => {} };
  const server = net.createServer((sock) => {
    const conn = state.accepted++;
    state.open++;
    state.maxOpen = Math.max(state.maxOpen, state.open);
    state.sockets.push(sock);
    sock.on('error', () => {});
    sock.on('close', () => {
      state.open--;
      state.closed++;
    });
    let buf = Buffer.alloc(0);
    let n = 0;
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        const head = buf.subarray(0, i + 4).toString('latin1');
        const m = /\r\ncontent-length: *(\d+)/i.exec(head);
        const len = m ? Number(m[1]) : 0;
        if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          const end = buf.indexOf('0\r\n\r\n', i + 4);
          if (end < 0) return;
          const body = buf.subarray(i + 4, end + 5);
          buf = buf.subarray(end + 5);
          onRequest(sock, head, body, n++, conn);
          continue;
        }
        if (buf.length < i + 4 + len) return;
        const body = buf.subarray(i + 4, i + 4 + len);
        buf = buf.subarray(i + 4 + len);
        onRequest(sock, head, body, n++, conn);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of state.sockets) s.destroy();
      server.close(() => resolve());
    });
  return state;
}

export interface Recorded {
  interim: [number, string, string[]][];
  head: { status: number; reason: string; headers: string[]; framing: ResponseFraming } | null;
  body: Buffer[];
  trailers: string[] | null | undefined;
  error: { err: ErrorSpec; detail: string; afterHead: boolean } | null;
  upgrade: { socket: net.Socket; rest: Buffer } | null;
  drains: number;
  /** Every callback name in order. */
  calls: string[];
  bodyText(): string;
}

export function recorder(onBody?: (chunk: Buffer) => boolean): { sink: ExchangeSink; rec: Recorded; done: Promise<Recorded> } {
  let resolve!: (r: Recorded) => void;
  const done = new Promise<Recorded>((r) => (resolve = r));
  const rec: Recorded = {
    interim: [],
    head: null,
    body: [],
    trailers: undefined,
    error: null,
    upgrade: null,
    drains: 0,
    calls: [],
    bodyText: () => Buffer.concat(rec.body).toString('latin1'),
  };
  const sink: ExchangeSink = {
    onInterim(status, reason, headers) {
      rec.calls.push('interim');
      rec.interim.push([status, reason, headers]);
    },
    onHead(status, reason, headers, framing) {
      rec.calls.push('head');
      rec.head = { status, reason, headers, framing };
    },
    onBody(chunk) {
      rec.calls.push('body');
      rec.body.push(Buffer.from(chunk));
      return onBody ? onBody(chunk) : true;
    },
    onEnd(trailers) {
      rec.calls.push('end');
      rec.trailers = trailers;
      resolve(rec);
    },
    onError(err, detail, afterHead) {
      rec.calls.push('error');
      rec.error = { err, detail, afterHead };
      resolve(rec);
    },
    onRequestDrain() {
      rec.calls.push('drain');
      rec.drains++;
    },
    onUpgrade(socket, rest) {
      rec.calls.push('upgrade');
      rec.upgrade = { socket, rest: Buffer.from(rest) };
      resolve(rec);
    },
  };
  return { sink, rec, done };
}

export function get(path = '/', method = 'GET', extra = ''): ExchangeRequest {
  return {
    method,
    head: `${method} ${path} HTTP/1.1\r\nhost: test\r\n${extra}\r\n`,
    body: 'none',
    idempotent: method === 'GET' || method === 'HEAD',
    responseTimeoutMs: 2000,
  };
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until `cond()` holds (polling), failing after `ms`. */
export async function until(cond: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/**
 * A listener that accepts nothing and whose accept queue is full, so a further connect() is never
 * answered: Linux drops the SYN while the queue is full and the client only retransmits it. A
 * worker thread listens with backlog 1 and then blocks its event loop (so nothing is accepted),
 * and this thread opens connections until one stops completing. (A non-routable address such as
 * 10.255.255.1 does not work here: the sandbox's network completes that handshake at once.)
 */
export async function unansweredListener(): Promise<{ port: number; close(): Promise<void> }> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const net = require('node:net'); const { parentPort, workerData } = require('node:worker_threads');
     const srv = net.createServer(() => {});
     srv.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
       parentPort.postMessage(srv.address().port);
       setTimeout(() => Atomics.wait(workerData, 0, 0, 20000), 10);
     });`,
    { eval: true, workerData: gate },
  );
  const port = await new Promise<number>((r) => worker.once('message', r));
  await delay(50); // the worker is blocked now
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 16; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
    const connected = await new Promise<boolean>((r) => {
      s.once('connect', () => r(true));
      setTimeout(() => r(false), 200);
    });
    if (!connected) break;
  }
  return {
    port,
    async close() {
      for (const s of fillers) s.destroy();
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      await worker.terminate();
    },
  };
}
