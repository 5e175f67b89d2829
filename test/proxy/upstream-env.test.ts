// The upstream pool's environment variables end to end, on both front ends (README, Environment
// variables): GATEMESH_UPSTREAM_MAX_CONNECTIONS bounds the sockets per endpoint (requests past it
// wait, and one that waits past GATEMESH_UPSTREAM_TIMEOUT_MS gets 503 UPSTREAM_POOL_FULL), and
// GATEMESH_UPSTREAM_CONNECT_TIMEOUT_MS turns a TCP handshake that never completes into 504.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { FRONTENDS, singleBackend, startGateway, type RunningGateway } from '../helpers/gateway';
import { request } from '../helpers/servers';
import { delay, rawServer, unansweredListener } from '../upstream/helpers';


for (const fe of FRONTENDS) {
  describe(`upstream pool settings [${fe}]`, () => {
    it('GATEMESH_UPSTREAM_MAX_CONNECTIONS=1: two concurrent requests share one upstream connection, in turn', async () => {
      const events: string[] = [];
      // 300 ms per answer, so the second request is in the gateway while the first is upstream.
      const up = await rawServer((sock, head) => {
        const path = head.split(' ')[1];
        events.push('request ' + path);
        setTimeout(() => {
          events.push('answer ' + path);
          sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`);
        }, 300);
      });
      let gw: RunningGateway | undefined;
      try {
        gw = await startGateway(fe, singleBackend(up.port), { GATEMESH_UPSTREAM_MAX_CONNECTIONS: '1' });
        const [a, b] = await Promise.all([request(gw.port, { path: '/a' }), request(gw.port, { path: '/b' })]);
        assert.equal(a.status, 200, a.body);
        assert.equal(a.body, '/a');
        assert.equal(b.status, 200, b.body);
        assert.equal(b.body, '/b');
        assert.equal(up.accepted, 1, 'one upstream connection for both');
        assert.equal(up.maxOpen, 1);
        // The second request waited for the socket: it reached the upstream after the first answer.
        assert.equal(events.length, 4, events.join(', '));
        assert.match(events[1], /^answer /, events.join(', '));
        assert.match(events[2], /^request /, events.join(', '));
      } finally {
        await gw?.stop();
        await up.close();
      }
    });

    it('a request waiting for the one connection past GATEMESH_UPSTREAM_TIMEOUT_MS gets 503 UPSTREAM_POOL_FULL', async () => {
      // /hold sends its head at once (so it does not time out itself) and its body 1.5 s later,
      // keeping the only connection busy past the 500 ms the waiting request may wait.
      const up = await rawServer((sock, head) => {
        if (head.startsWith('GET /hold ')) {
          sock.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n');
          setTimeout(() => sock.write('done'), 1500);
        } else sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
      let gw: RunningGateway | undefined;
      try {
        gw = await startGateway(fe, singleBackend(up.port), { GATEMESH_UPSTREAM_MAX_CONNECTIONS: '1', GATEMESH_UPSTREAM_TIMEOUT_MS: '500' });
        const hold = request(gw.port, { path: '/hold' });
        await delay(100); // /hold has the connection
        const waited = await request(gw.port, { path: '/next' });
        assert.equal(waited.status, 503, waited.body);
        assert.equal(waited.headers['x-gatemesh-error'], 'GATEMESH_ERR_UPSTREAM_POOL_FULL');
        assert.match(waited.body, /upstream connection limit reached/);
        const h = await hold;
        assert.equal(h.status, 200);
        assert.equal(h.body, 'done');
        assert.equal(up.accepted, 1, 'no second connection was opened');
        const log = await gw.accessLog((ls) => ls.some((l) => l.path === '/next'));
        const line = log.find((l) => l.path === '/next');
        assert.equal(line?.error, 'GATEMESH_ERR_UPSTREAM_POOL_FULL', JSON.stringify(log));
      } finally {
        await gw?.stop();
        await up.close();
      }
    });

    it('GATEMESH_UPSTREAM_CONNECT_TIMEOUT_MS: a handshake that never completes gets 504 UPSTREAM_CONNECT_TIMEOUT after that long', async () => {
      const hang = await unansweredListener();
      // The response timeout (3 s) is far above the connect timeout (300 ms): a 504 for the
      // response timeout instead would carry GATEMESH_ERR_UPSTREAM_TIMEOUT.
      let gw: RunningGateway | undefined;
      try {
        gw = await startGateway(fe, singleBackend(hang.port), { GATEMESH_UPSTREAM_CONNECT_TIMEOUT_MS: '300', GATEMESH_UPSTREAM_TIMEOUT_MS: '3000' });
        const t0 = performance.now();
        const r = await request(gw.port, { path: '/' });
        const elapsed = performance.now() - t0;
        assert.equal(r.status, 504, r.body);
        assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_UPSTREAM_CONNECT_TIMEOUT');
        assert.match(r.body, /upstream connect timeout/);
        // Not before the connect timeout (timers fire no earlier), well before the response timeout.
        assert.ok(elapsed >= 290, `answered after ${elapsed.toFixed(0)} ms`);
        assert.ok(elapsed < 2500, `answered after ${elapsed.toFixed(0)} ms`);
      } finally {
        await gw?.stop();
        await hang.close();
      }
    });
  });
}
