// Peer: node:http server + http-proxy with a keep-alive agent, the classic Node reverse proxy.
// Usage: PORT=<port> UPSTREAM=http://127.0.0.1:<port> node dist/bench/peers/http-proxy.js
import http from 'node:http';

// http-proxy ships no types; this is the slice we use.
interface HttpProxy {
  createProxyServer(o: { target: string; agent: http.Agent; xfwd?: boolean }): {
    web(req: http.IncomingMessage, res: http.ServerResponse): void;
    on(ev: 'error', fn: (err: Error, req: http.IncomingMessage, res: http.ServerResponse) => void): void;
  };
}
const httpProxy = require('http-proxy') as HttpProxy;

const port = Number(process.env.PORT);
const upstream = process.env.UPSTREAM ?? '';
// Without keepAlive every request would open a new upstream connection; 256 matches nginx's `keepalive 256`.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: upstream, agent });
proxy.on('error', (_err, _req, res) => {
  if (!res.headersSent) res.writeHead(502);
  res.end();
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 300_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`ready ${port}\n`));
