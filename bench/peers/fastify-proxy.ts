// Peer: fastify + @fastify/http-proxy (undici keep-alive pool underneath), as a Node user would deploy it.
// Usage: PORT=<port> UPSTREAM=http://127.0.0.1:<port> node dist/bench/peers/fastify-proxy.js
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const port = Number(process.env.PORT);
const upstream = process.env.UPSTREAM ?? '';
const app = Fastify({ logger: false });
app.register(proxy, { upstream, prefix: '/', rewritePrefix: '/' });
app.listen({ port, host: '127.0.0.1' }).then(
  () => process.stdout.write(`ready ${port}\n`),
  (e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  },
);
