// The built-in demo upstream behind `builtin: demo` backends, so `npm start` answers
// `curl localhost:8080/` with nothing else running. Runs in the main thread on 127.0.0.1:<free>.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoUpstream {
  port: number;
  close(): Promise<void>;
}

/**
 * GET / answers a greeting; any other request gets a JSON echo of what arrived (method, path,
 * headers, body size), which is handy for seeing what the gateway forwards.
 */
export function startDemoUpstream(): Promise<DemoUpstream> {
  const server = http.createServer((req, res) => {
    let size = 0;
    req.on('data', (c: Buffer) => (size += c.length));
    req.on('end', () => {
      if (req.url === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
        const body = 'Hello from the gatemesh demo upstream. Try /echo to see what the gateway forwards.\n';
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: size }, null, 2) + '\n';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  server.keepAliveTimeout = 65_000; // longer than the gateway's pool idle time (60 s)
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
