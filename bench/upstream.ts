// Built-in upstream for machines without nginx: answers by path suffix (…/16k → 16 KiB, …/1m → 1 MiB, else ~100 B),
// reading and discarding any request body. uWS when its binary loads (the fastest Node-hosted server), else node:http.
// Usage: node dist/bench/upstream.js <port>; prints "ready <port> <engine>" on stdout.
import http from 'node:http';
import { BODY_16K, BODY_1M, SMALL_BODY } from './harness/scenarios';

const small = Buffer.from(SMALL_BODY);
const b16k = Buffer.alloc(BODY_16K, 'a');
const b1m = Buffer.alloc(BODY_1M, 'b');

function bodyFor(url: string): Buffer {
  if (url.endsWith('/16k')) return b16k;
  if (url.endsWith('/1m')) return b1m;
  return small;
}

interface UwsResponse {
  onAborted(fn: () => void): void;
  onData(fn: (chunk: ArrayBuffer, last: boolean) => void): void;
  writeHeader(k: string, v: string): UwsResponse;
  end(body: Buffer): void;
  cork(fn: () => void): void;
}
interface UwsApp {
  any(pattern: string, fn: (res: UwsResponse, req: { getUrl(): string; getMethod(): string }) => void): UwsApp;
  listen(host: string, port: number, cb: (token: unknown) => void): void;
}

function loadUws(): { App(): UwsApp } | null {
  try {
    // The prebuilt binary for this platform/ABI; the package's own index picks the same file.
    return require(`uWebSockets.js/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  } catch {
    return null;
  }
}

export function startUpstream(port: number, forceNodeHttp = false): Promise<'uws' | 'node:http'> {
  const uws = forceNodeHttp ? null : loadUws();
  if (uws) {
    return new Promise((resolve, reject) => {
      uws
        .App()
        .any('/*', (res, req) => {
          const body = bodyFor(req.getUrl());
          const method = req.getMethod();
          const reply = (): void =>
            res.cork(() => {
              res.writeHeader('content-type', 'application/octet-stream').end(body);
            });
          if (method === 'get' || method === 'GET' || method === 'head' || method === 'HEAD') return reply();
          res.onAborted(() => undefined);
          res.onData((_chunk, last) => {
            if (last) reply();
          });
        })
        .listen('127.0.0.1', port, (token) => (token ? resolve('uws') : reject(new Error(`uWS could not listen on ${port}`))));
    });
  }
  return new Promise((resolve, reject) => {
    const server = http.createServer({ keepAliveTimeout: 300_000 }, (req, res) => {
      const body = bodyFor(req.url ?? '/');
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      });
    });
    server.keepAliveTimeout = 300_000;
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => resolve('node:http'));
  });
}

if (require.main === module) {
  const port = Number(process.argv[2]);
  startUpstream(port, process.env.BENCH_UPSTREAM_NODE_HTTP === '1').then(
    (engine) => process.stdout.write(`ready ${port} ${engine}\n`),
    (e: Error) => {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    },
  );
}
