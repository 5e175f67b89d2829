// The access log's `bytes` (response body bytes sent to the client) and `bytes_in` (request body
// bytes received from the client), src/log.ts AccessRecord, end to end on both front ends: body
// bytes, not head or chunk framing (RFC 9112 §7.1), and right on consecutive lines that differ
// only there (the encoder memoises the fields of the line before). Gatemesh's own answers count too,
// like nginx's $body_bytes_sent.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, singleBackend, startGateway, type RunningGateway } from '../helpers/gateway';
import { rawRequest, request } from '../helpers/servers';
import { rawServer, type RawServer } from '../upstream/helpers';

for (const fe of FRONTENDS) {
  describe(`access log bytes and bytes_in [${fe}]`, () => {
    let gw: RunningGateway;
    let up: RawServer;

    before(async () => {
      // Answers `?n=N` with N body bytes, chunked in two chunks with `&chunked=1`.
      up = await rawServer((sock, head) => {
        const q = new URL(head.split(' ')[1], 'http://x').searchParams;
        const body = 'r'.repeat(Number(q.get('n') ?? 0));
        if (q.get('bad') === '1') sock.write('not HTTP at all\r\n\r\n');
        else if (q.get('chunked') === '1') {
          const half = body.length >> 1;
          const a = body.slice(0, half);
          const b = body.slice(half);
          sock.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${a.length.toString(16)}\r\n${a}\r\n${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`);
        } else sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${head.startsWith('HEAD ') ? '' : body}`);
      });
      gw = await startGateway(fe, singleBackend(up.port));
    });
    after(async () => {
      // The upstream is closed even when the gateway never started: an open server keeps the run alive.
      try {
        if (gw) assert.equal(await gw.stop(), 0);
      } finally {
        await up?.close();
      }
    });

    it("gatemesh's own answer (502 for an invalid upstream response): bytes is its body, as sent", async () => {
      const r = await request(gw.port, { path: '/own?bad=1' });
      assert.equal(r.status, 502);
      assert.ok(r.body.length > 0, 'a reason in the body');
      const line = (await gw.accessLog((ls) => ls.some((l) => l.path === '/own'))).find((l) => l.path === '/own');
      assert.ok(line, '/own logged');
      assert.equal(line.error, 'GATEMESH_ERR_UPSTREAM_BAD_RESPONSE');
      assert.equal(line.bytes, Buffer.byteLength(r.body));
    });

    it('a POST with a Content-Length body: bytes_in is the request body, bytes the response body', async () => {
      const r = await request(gw.port, { method: 'POST', path: '/cl?n=5678', body: 'p'.repeat(1234) });
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 5678);
      // Same method, path, route and status as the line before: first only `bytes` differs, then
      // only `bytes_in`, then nothing.
      for (const [n, body] of [
        [17, 1234],
        [17, 3],
        [17, 3],
      ]) {
        const next = await request(gw.port, { method: 'POST', path: `/cl?n=${n}`, body: 'q'.repeat(body) });
        assert.equal(next.body.length, n);
      }
      const log = await gw.accessLog((ls) => ls.filter((l) => l.path === '/cl').length >= 4);
      const lines = log.filter((l) => l.path === '/cl');
      assert.deepEqual(
        lines.map((l) => [l.status, l.bytes, l.bytes_in]),
        [
          [200, 5678, 1234],
          [200, 17, 1234],
          [200, 17, 3],
          [200, 17, 3],
        ],
        JSON.stringify(lines),
      );
    });

    it('chunked both ways: payload bytes, without chunk framing', async () => {
      // 11 body bytes in two chunks (22 bytes on the wire with framing); 40 back in two chunks.
      const r = await rawRequest(gw.port, 'POST /chunked?n=40&chunked=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
      assert.equal(r.status, 200);
      const log = await gw.accessLog((ls) => ls.some((l) => l.path === '/chunked'));
      const line = log.find((l) => l.path === '/chunked');
      assert.equal(line?.bytes_in, 11, JSON.stringify(line));
      assert.equal(line?.bytes, 40, JSON.stringify(line));
    });

    it('a GET without a body and a HEAD: bytes_in 0; HEAD sends no body bytes', async () => {
      await request(gw.port, { path: '/get?n=300' });
      await request(gw.port, { method: 'HEAD', path: '/head?n=300' });
      const log = await gw.accessLog((ls) => ls.some((l) => l.path === '/get') && ls.some((l) => l.path === '/head'));
      const get = log.find((l) => l.path === '/get');
      const head = log.find((l) => l.path === '/head');
      assert.deepEqual([get?.bytes, get?.bytes_in], [300, 0], JSON.stringify(get));
      assert.deepEqual([head?.bytes, head?.bytes_in], [0, 0], JSON.stringify(head));
    });
  });
}
