import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SCENARIOS } from '../../bench/harness/scenarios';
import { closesAfterClose } from '../../bench/harness/suite';

const NEW_CONN = SCENARIOS.find((s) => s.id === 'new-conn')!;

function server(handler: http.RequestListener): Promise<{ port: number; close(): Promise<void> }> {
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

const cases: { desc: string; handler: http.RequestListener; open: boolean }[] = [
  { desc: 'a server that honours Connection: close passes', handler: (_q, r) => r.end('ok'), open: false },
  {
    // What @fastify/reply-from did with nginx's `connection: keep-alive`: node:http then keeps the socket open.
    desc: 'a server that relays `connection: keep-alive` to a close request is caught',
    handler: (_q, r) => r.setHeader('connection', 'keep-alive').end('ok'),
    open: true,
  },
];

for (const c of cases) {
  test(`closesAfterClose: ${c.desc}`, async () => {
    const s = await server(c.handler);
    try {
      const why = await closesAfterClose(s.port, NEW_CONN);
      if (c.open) assert.match(why ?? '', /kept the connection open .*RFC 9112 §9\.6/);
      else assert.equal(why, null);
    } finally {
      await s.close();
    }
  });
}
