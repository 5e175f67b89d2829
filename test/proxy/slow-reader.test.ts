// A client that reads slowly (a 1 ms pause after every chunk): the proxy is under backpressure
// for most of each response, on both front ends, and every byte must still arrive in order of
// count. The exact case of the last bytes meeting backpressure as the response ends is driven
// deterministically in test/frontend/uws.test.ts.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway } from '../helpers/gateway';
import { rawUpstream } from '../helpers/servers';

/** Body sizes with odd remainders, so the last read is rarely a whole buffer. */
const SIZES = [3 * 1024 * 1024 + 10759, 5 * 1024 * 1024 + 1, 2 * 1024 * 1024 + 65535];

/** Reads the whole response (head + `bodyBytes`) pausing 1 ms after every chunk; rejects if it stalls for 5 s. */
function slowGet(port: number, bodyBytes: number): Promise<{ head: string; body: number }> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n'));
    let head = '';
    let headDone = false;
    let body = 0;
    let stall: NodeJS.Timeout = setTimeout(() => undefined, 0);
    const arm = (): void => {
      clearTimeout(stall);
      stall = setTimeout(() => {
        c.destroy();
        reject(new Error(`stalled at ${body} of ${bodyBytes} body bytes`));
      }, 5000);
    };
    arm();
    c.on('data', (d: Buffer) => {
      arm();
      if (!headDone) {
        const s = d.toString('latin1');
        const i = (head + s).indexOf('\r\n\r\n');
        if (i < 0) {
          head += s;
        } else {
          const all = head + s;
          head = all.slice(0, i);
          headDone = true;
          body += all.length - i - 4;
        }
      } else {
        body += d.length;
      }
      if (headDone && body >= bodyBytes) {
        clearTimeout(stall);
        c.destroy();
        resolve({ head, body });
        return;
      }
      c.pause();
      setTimeout(() => c.resume(), 1);
    });
    c.on('error', (e) => {
      clearTimeout(stall);
      reject(e);
    });
  });
}

for (const fe of FRONTENDS) {
  describe(`slow reader [${fe}]`, () => {
    it('a response that ends while the client is behind still delivers every byte', { timeout: 120_000 }, async () => {
      let size = 0;
      const up = await rawUpstream((sock) => {
        // Every request (one small GET per data event, on a pooled connection too): the head and
        // the whole body at once, which the proxy reads as fast as backpressure allows.
        sock.on('data', () => {
          sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
          sock.write(Buffer.alloc(size, 0x62));
        });
      });
      const gw = await startGateway(fe, nativeConfig(`routes:\n  - name: r\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:${up.port}"]\n`), {
        GATEMESH_ACCESS_LOG: 'off',
      });
      try {
        for (const s of SIZES) {
          size = s;
          for (let round = 0; round < 3; round++) {
            const r = await slowGet(gw.port, s);
            assert.match(r.head, /^HTTP\/1\.1 200/);
            assert.equal(r.body, s, `size ${s} round ${round}`);
          }
        }
      } finally {
        await gw.stop();
        await up.close();
      }
    });

    it('a client that stops reading a chunked response stops the upstream too (bounded memory), then gets every byte', { timeout: 60_000 }, async () => {
      // No Content-Length: the front end streams it chunked (uws: res.write, whose backpressure
      // was once ignored: a client that read nothing made the gateway buffer the whole body).
      const total = 256 * 1024 * 1024;
      const piece = Buffer.alloc(64 * 1024, 0x63);
      let sent = 0;
      const upstream = http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const pump = (): void => {
          while (sent < total) {
            sent += piece.length;
            if (!res.write(piece)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
      });
      await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
      const upPort = (upstream.address() as net.AddressInfo).port;
      const gw = await startGateway(fe, nativeConfig(`routes:\n  - name: r\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:${upPort}"]\n`), {
        GATEMESH_ACCESS_LOG: 'off',
      });
      const c = net.connect(gw.port, '127.0.0.1');
      try {
        c.pause();
        c.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
        // Long enough for an unbounded front end to have taken far more than the socket buffers
        // on the way (a few MiB each) can hold.
        await new Promise((r) => setTimeout(r, 1500));
        const stalledAt = sent;
        assert.ok(stalledAt < 64 * 1024 * 1024, `the upstream sent ${stalledAt} bytes to a client that read none`);
        // Reading again, the client gets the whole body, in order, with the chunked framing.
        let bytes = 0;
        let tail = '';
        await new Promise<void>((resolve, reject) => {
          c.on('data', (d: Buffer) => {
            bytes += d.length;
            tail = (tail + d.toString('latin1', Math.max(0, d.length - 16))).slice(-16);
            if (tail.endsWith('\r\n0\r\n\r\n')) resolve();
          });
          c.on('error', reject);
          c.on('close', () => reject(new Error(`closed after ${bytes} bytes`)));
          c.resume();
        });
        assert.ok(bytes > total, `${bytes} bytes for a ${total}-byte body`);
      } finally {
        c.destroy();
        await gw.stop();
        await new Promise<void>((r) => upstream.close(() => r()));
      }
    });
  });
}
