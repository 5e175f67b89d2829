// The request head held back for its body (src/upstream/exchange.ts attach; that head and body
// leave in one write is checked in test/upstream/exchange.test.ts): on both front ends a POST
// reaches the upstream whole, and a body that is slow to arrive never holds the head back (the upstream sees it while the body is still incomplete: it may
// answer early, e.g. 413, or wait for 100-continue semantics of its own).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { parseRaw, rawUpstream, type TestServer } from '../helpers/servers';

/** Upstream reads: every chunk as received, per connection. Answers 200 once a whole request is in. */
interface Recorder {
  chunks: string[];
}

for (const fe of FRONTENDS) {
  describe(`request head and body to the upstream [${fe}]`, () => {
    let gw: RunningGateway;
    let up: TestServer & { connections: number };
    const rec: Recorder = { chunks: [] };

    before(async () => {
      // Keep-alive, so the second request reuses the pooled connection and its head is written at
      // once (the path that holds it for the body); a fresh connection writes head and body together anyway.
      up = await rawUpstream((sock, received) => {
        let done = 0;
        sock.on('data', (d) => {
          rec.chunks.push(d.toString('latin1'));
          for (;;) {
            const all = received().slice(done);
            const end = all.indexOf('\r\n\r\n');
            if (end < 0) return;
            const cl = /content-length: (\d+)/i.exec(all.slice(0, end));
            const total = end + 4 + (cl === null ? 0 : Number(cl[1]));
            if (all.length < total) return;
            done += total;
            sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
          }
        });
      });
      gw = await startGateway(fe, nativeConfig(`routes:\n  - name: r\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:${up.port}"]\n`));
    });
    after(async () => {
      await gw.stop();
      await up.close();
    });

    it('a 4 KiB POST sent at once reaches the upstream whole (head, then exactly the body)', async () => {
      rec.chunks.length = 0;
      const body = 'b'.repeat(4096);
      const raw = await new Promise<string>((resolve) => {
        const s = net.connect(gw.port, '127.0.0.1');
        let got = '';
        s.on('data', (d) => (got += d.toString('latin1')));
        s.on('close', () => resolve(got));
        s.on('error', () => {});
        // write, not end: a client's FIN before the response is a client that left (499).
        s.write(`POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      });
      assert.equal(parseRaw(raw, true).status, 200);
      const all = rec.chunks.join('');
      assert.ok(all.startsWith('POST /p HTTP/1.1\r\n'));
      assert.equal(all.slice(all.indexOf('\r\n\r\n') + 4), body);
    });

    it('a body that is slow to come does not hold the head back', { timeout: 10000 }, async () => {
      rec.chunks.length = 0;
      const s = net.connect(gw.port, '127.0.0.1');
      s.on('error', () => {});
      let got = '';
      s.on('data', (d) => (got += d.toString('latin1')));
      const closed = new Promise<void>((r) => s.on('close', () => r()));
      s.write('POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nConnection: close\r\n\r\n12345');
      // The upstream sees the head (and what body there is) while the client still owes 5 bytes.
      const deadline = Date.now() + 3000;
      while (!rec.chunks.join('').includes('POST /slow') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(rec.chunks.join('').includes('POST /slow HTTP/1.1\r\n'), 'head reached the upstream before the body ended');
      assert.equal(up.connections, 1, 'the pooled connection was reused');
      assert.ok(rec.chunks.join('').endsWith('12345'));
      // write, not end: a client's FIN before the response is a client that left (499).
      s.write('67890');
      await closed;
      assert.equal(parseRaw(got, true).status, 200);
      assert.ok(rec.chunks.join('').endsWith('1234567890'));
    });
  });
}
