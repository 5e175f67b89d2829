// Peer: fastify + @fastify/http-proxy (undici keep-alive pool underneath), as a Node user would deploy it.
// Usage: PORT=<port> UPSTREAM=http://127.0.0.1:<port> node dist/bench/peers/fastify-proxy.js
import type { IncomingHttpHeaders } from 'node:http';
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const port = Number(process.env.PORT);
const upstream = process.env.UPSTREAM ?? '';

// Connection-specific response headers (RFC 9110 §7.6.1), and any header the upstream's Connection lists.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection']);

/**
 * Drops the upstream connection's own headers from the relayed response. @fastify/reply-from (12.6) strips them only
 * when the upstream is HTTP/2; from an HTTP/1.1 upstream it copies nginx's `connection: keep-alive` onto the reply, and
 * node:http, seeing an explicit Connection header, then keeps the client connection open even when the request said
 * `Connection: close` (RFC 9112 §9.6: the server must close after that response). wrk and autocannon follow the
 * response's keep-alive and send the next request on that socket; node's parser refuses data after a close request
 * (400, then FIN), so in `new-conn` every other request was a 400 plus a read error. Without these headers node:http
 * decides persistence from the request itself, as nginx, HAProxy, http-proxy and gatemesh do. Runs once per response.
 */
function dropHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const conn = headers.connection;
  if (conn === undefined && headers['keep-alive'] === undefined) return headers;
  const listed = typeof conn === 'string' ? conn.toLowerCase().split(',').map((t) => t.trim()) : [];
  const out: IncomingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    if (!HOP_BY_HOP.has(name) && !listed.includes(name)) out[name] = headers[name];
  }
  return out;
}

const app = Fastify({ logger: false });
app.register(proxy, { upstream, prefix: '/', rewritePrefix: '/', replyOptions: { rewriteHeaders: dropHopByHop } });
app.listen({ port, host: '127.0.0.1' }).then(
  () => process.stdout.write(`ready ${port}\n`),
  (e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  },
);
