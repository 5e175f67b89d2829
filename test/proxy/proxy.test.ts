// End-to-end behaviour of the request path (src/proxy.ts) through the real binary, on both
// front ends: forwarding, header rules, status codes, bodies, limits and the access log.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { closedPort, echoUpstream, httpUpstream, rawRequest, rawUpstream, request, type TestServer } from '../helpers/servers';

for (const fe of FRONTENDS) {
  describe(`proxy [${fe}]`, () => {
    let gw: RunningGateway;
    let echo: Awaited<ReturnType<typeof echoUpstream>>;
    let slow: TestServer;
    let bad: TestServer;
    let reset: TestServer;
    let refused: number;

    before(async () => {
      echo = await echoUpstream();
      slow = await httpUpstream((_req, res) => setTimeout(() => res.end('late'), 3000));
      bad = await rawUpstream((sock) => sock.once('data', () => sock.end('HTTP/1.1 2000 Nope\r\n\r\n')));
      reset = await rawUpstream((sock) => sock.once('data', () => sock.end('HTTP/1.1 200 OK\r\nContent-Le')));
      refused = await closedPort();
      gw = await startGateway(
        fe,
        nativeConfig(`routes:
  - name: echo
    match: [{ path: /echo }]
    backend: echo
  - name: slow
    match: [{ path: /slow }]
    backend: slow
  - name: bad
    match: [{ path: /bad }]
    backend: bad
  - name: reset
    match: [{ path: /reset }]
    backend: reset
  - name: refused
    match: [{ path: /refused }]
    backend: refused
  - name: empty
    match: [{ path: /empty }]
    backend: empty
  - name: missing
    match: [{ path: /missing }]
    backend: nosuchbackend
backends:
  - name: echo
    endpoints: ["127.0.0.1:${echo.port}"]
  - name: slow
    endpoints: ["127.0.0.1:${slow.port}"]
  - name: bad
    endpoints: ["127.0.0.1:${bad.port}"]
  - name: reset
    endpoints: ["127.0.0.1:${reset.port}"]
  - name: refused
    endpoints: ["127.0.0.1:${refused}"]
  - name: empty
    endpoints: []
`),
        { GATEMESH_UPSTREAM_TIMEOUT_MS: '1000', GATEMESH_MAX_BODY_BYTES: '100000', GATEMESH_MAX_URI_BYTES: '1024', GATEMESH_MAX_HEADER_BYTES: '4096' },
      );
    });
    after(async () => {
      assert.equal(await gw.stop(), 0, 'gateway exits 0 on SIGTERM');
      await Promise.all([echo.close(), slow.close(), bad.close(), reset.close()]);
    });

    it('forwards a GET and adds X-Forwarded-*', async () => {
      const r = await request(gw.port, { path: '/echo/a?b=1', headers: { 'x-custom': 'yes', host: 'example.test' } });
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body);
      assert.equal(seen.url, '/echo/a?b=1');
      assert.equal(seen.headers['x-custom'], 'yes');
      assert.equal(seen.headers.host, 'example.test');
      assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(seen.headers['x-forwarded-proto'], 'http');
      assert.equal(seen.headers['x-forwarded-host'], 'example.test');
    });

    it('does not trust client X-Forwarded-For from an untrusted peer', async () => {
      const r = await request(gw.port, { path: '/echo', headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https' } });
      const seen = JSON.parse(r.body);
      assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(seen.headers['x-forwarded-proto'], 'http');
    });

    it('strips hop-by-hop request headers, including those Connection lists', async () => {
      const r = await rawRequest(
        gw.port,
        'GET /echo HTTP/1.1\r\nHost: h\r\nConnection: x-hop, keep-alive\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\nTE: trailers\r\nX-End: 2\r\n\r\n',
      );
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body.slice(r.body.indexOf('{'), r.body.lastIndexOf('}') + 1));
      for (const h of ['x-hop', 'keep-alive', 'proxy-connection', 'proxy-authorization']) assert.equal(seen.headers[h], undefined, h);
      assert.equal(seen.headers.te, 'trailers');
      assert.equal(seen.headers['x-end'], '2');
    });

    it('404 for no route, with a reason', async () => {
      const r = await request(gw.port, { path: '/nowhere' });
      assert.equal(r.status, 404);
      assert.match(r.body, /no route/);
    });

    it('500 when the backendRef names nothing', async () => {
      const r = await request(gw.port, { path: '/missing' });
      assert.equal(r.status, 500);
      assert.match(r.body, /resolves to nothing/);
    });

    it('503 when the backend has no endpoints', async () => {
      const r = await request(gw.port, { path: '/empty' });
      assert.equal(r.status, 503);
      assert.match(r.body, /no healthy endpoints/);
    });

    it('502 when the upstream refuses the connection', async () => {
      const r = await request(gw.port, { path: '/refused' });
      assert.equal(r.status, 502);
      assert.match(r.body, /connection failed/);
    });

    it('502 on an invalid upstream response', async () => {
      const r = await request(gw.port, { path: '/bad' });
      assert.equal(r.status, 502);
      assert.match(r.body, /invalid upstream response/);
    });

    it('502 when the upstream closes before a complete head', async () => {
      const r = await request(gw.port, { path: '/reset' });
      assert.equal(r.status, 502);
    });

    it('504 when the upstream head does not arrive in time', async () => {
      const r = await request(gw.port, { path: '/slow' });
      assert.equal(r.status, 504);
      assert.match(r.body, /timeout/);
    });

    it('streams a POST body with Content-Length', async () => {
      const body = 'x'.repeat(50000);
      const r = await request(gw.port, { method: 'POST', path: '/echo', body, headers: { 'content-type': 'text/plain' } });
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body);
      assert.equal(seen.body.length, 50000);
      assert.equal(seen.headers['content-length'], '50000');
      assert.equal(seen.headers['transfer-encoding'], undefined);
    });

    it('forwards a chunked request body as chunked, never with Content-Length', async () => {
      const r = await rawRequest(gw.port, 'POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body.slice(r.body.indexOf('{'), r.body.lastIndexOf('}') + 1));
      assert.equal(seen.body, 'hello world');
      assert.equal(seen.headers['transfer-encoding'], 'chunked');
      assert.equal(seen.headers['content-length'], undefined);
    });

    it('413 for a declared Content-Length over the limit, before reading the body', async () => {
      const before = echo.requests.length;
      const r = await rawRequest(gw.port, 'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n');
      assert.equal(r.status, 413);
      assert.equal(echo.requests.length, before, 'nothing forwarded');
    });

    it('413 for a chunked body that grows over the limit', async () => {
      const chunk = 'a'.repeat(60000);
      const r = await rawRequest(gw.port, `POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`, 800);
      // Both front ends answer (the limit trips before any response head went out) rather than
      // only closing: the client must learn why (README, GATEMESH_MAX_BODY_BYTES → 413).
      assert.equal(r.status, 413, JSON.stringify(r.raw.slice(0, 300)));
      assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_BODY_TOO_LARGE');
      assert.match(r.body, /request body too large/);
    });

    it('414 for a long URI and 431 for large headers', async () => {
      const r1 = await rawRequest(gw.port, `GET /echo/${'u'.repeat(2000)} HTTP/1.1\r\nHost: h\r\n\r\n`);
      assert.equal(r1.status, 414);
      const r2 = await rawRequest(gw.port, `GET /echo HTTP/1.1\r\nHost: h\r\nX-Big: ${'b'.repeat(6000)}\r\n\r\n`);
      assert.equal(r2.status, 431);
    });

    it('Expect: 100-continue gets exactly one 100', async () => {
      const r = await new Promise<string>((resolve) => {
        const s = net.connect(gw.port, '127.0.0.1');
        let out = '';
        s.on('data', (d) => {
          out += d.toString('latin1');
          if (out.includes('100 Continue') && !out.includes('hello')) s.write('hello');
        });
        s.write('POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
        setTimeout(() => {
          s.destroy();
          resolve(out);
        }, 600);
      });
      assert.equal(r.split('100 Continue').length - 1, 1, r);
      assert.match(r, /HTTP\/1\.1 200/);
      assert.match(r, /"body":"hello"/);
      assert.doesNotMatch(r.slice(r.indexOf('{')), /"expect"/);
    });

    it('strips hop-by-hop response headers and keeps end-to-end ones', async () => {
      const up = await rawUpstream((sock) =>
        sock.once('data', () =>
          sock.write('HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=9\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok'),
        ),
      );
      const g2 = await startGateway(fe, nativeConfig(`routes:\n  - name: r\n    backend: up\nbackends:\n  - name: up\n    endpoints: ["127.0.0.1:${up.port}"]\n`));
      try {
        const r = await rawRequest(g2.port, 'GET / HTTP/1.1\r\nHost: h\r\n\r\n');
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-secret'], undefined);
        // The upstream's Keep-Alive must not leak (node:http may add its own for this hop).
        assert.notEqual(r.headers['keep-alive'], 'timeout=9');
        assert.equal((r.raw.match(/set-cookie/gi) ?? []).length, 2);
        assert.equal(r.body, 'ok');
      } finally {
        await g2.stop();
        await up.close();
      }
    });

    it('relays chunked upstream responses to HTTP/1.1 clients as chunked', async () => {
      const up = await rawUpstream((sock) =>
        sock.once('data', () => sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n')),
      );
      const g2 = await startGateway(fe, nativeConfig(`routes:\n  - name: r\n    backend: up\nbackends:\n  - name: up\n    endpoints: ["127.0.0.1:${up.port}"]\n`));
      try {
        const r = await request(g2.port, { path: '/' });
        assert.equal(r.status, 200);
        assert.equal(r.body, 'abcde');
        assert.equal(r.headers['transfer-encoding'], 'chunked');
        assert.equal(r.headers['content-length'], undefined);
      } finally {
        await g2.stop();
        await up.close();
      }
    });

    it('HEAD gets no body but the upstream Content-Length', async () => {
      const r = await rawRequest(gw.port, 'HEAD /echo HTTP/1.1\r\nHost: h\r\n\r\n');
      assert.equal(r.status, 200);
      assert.ok(Number(r.headers['content-length']) > 0);
      assert.equal(r.body, '');
    });

    it('Connection: close gets Connection: close and a closed socket (RFC 9112 §9.6)', async () => {
      const r = await rawRequest(gw.port, 'GET /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', 800);
      assert.equal(r.status, 200);
      assert.match(r.headers.connection ?? '', /close/i);
      assert.equal((r.raw.match(/^connection:/gim) ?? []).length, 1, 'one Connection header');
      assert.equal(r.closed, true);
      const e = await rawRequest(gw.port, 'GET /nowhere HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', 800);
      assert.equal(e.status, 404);
      assert.match(e.headers.connection ?? '', /close/i);
      assert.equal(e.closed, true);
    });

    it('keeps the client connection alive across requests', async () => {
      const s = net.connect(gw.port, '127.0.0.1');
      let out = '';
      s.on('data', (d) => (out += d.toString('latin1')));
      s.write('GET /echo/1 HTTP/1.1\r\nHost: h\r\n\r\n');
      await new Promise((r) => setTimeout(r, 200));
      s.write('GET /echo/2 HTTP/1.1\r\nHost: h\r\n\r\n');
      await new Promise((r) => setTimeout(r, 200));
      s.destroy();
      assert.equal((out.match(/HTTP\/1\.1 200/g) ?? []).length, 2);
      assert.match(out, /"url":"\/echo\/2"/);
    });

    it('client going away cancels the upstream request', async () => {
      let upstreamClosed = false;
      const hang = await rawUpstream((sock) => sock.on('close', () => (upstreamClosed = true)));
      const g2 = await startGateway(fe, nativeConfig(`routes:\n  - name: r\n    backend: up\nbackends:\n  - name: up\n    endpoints: ["127.0.0.1:${hang.port}"]\n`));
      try {
        const s = net.connect(g2.port, '127.0.0.1');
        s.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(hang.connections, 1);
        s.destroy();
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(upstreamClosed, true, 'upstream socket closed, not reused');
        const log = await g2.accessLog((ls) => ls.some((l) => l.status === 499));
        assert.ok(log.some((l) => l.status === 499), JSON.stringify(log));
      } finally {
        await g2.stop();
        await hang.close();
      }
    });

    it('writes one access-log line per request with route, endpoint, status and reason', async () => {
      await request(gw.port, { path: '/echo/logged' });
      await request(gw.port, { path: '/nowhere/logged' });
      let lines: Record<string, unknown>[] = [];
      for (let i = 0; i < 40; i++) {
        lines = await gw.accessLog();
        if (lines.some((l) => l.path === '/nowhere/logged')) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const ok = lines.find((l) => l.path === '/echo/logged');
      assert.ok(ok, 'ok line present');
      assert.equal(ok.status, 200);
      assert.equal(ok.method, 'GET');
      assert.match(String(ok.route), /^echo/);
      assert.equal(ok.endpoint, `127.0.0.1:${echo.port}`);
      assert.equal(typeof ok.duration_ms, 'number');
      assert.equal(typeof ok.upstream_ms, 'number');
      assert.ok(typeof ok.time === 'string' || typeof ok.time === 'number');
      const miss = lines.find((l) => l.path === '/nowhere/logged');
      assert.ok(miss);
      assert.equal(miss.status, 404);
      assert.equal(miss.error, 'GATEMESH_ERR_NO_ROUTE');
      assert.match(String(miss.reason), /no route/);
    });
  });
}
