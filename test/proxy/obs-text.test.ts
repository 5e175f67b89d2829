// obs-text (RFC 9110 §5.5: field-value bytes 0x80–0xFF) crosses the proxy byte for byte, both
// ways, on both front ends: a Latin-1 byte that is not UTF-8 and a UTF-8 sequence alike. uWS.js
// decodes request values as UTF-8 and encodes strings it writes as UTF-8; the uws front end
// reads such values again as Latin-1 and writes such heads as Latin-1 bytes.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway } from '../helpers/gateway';
import { rawUpstream } from '../helpers/servers';

const LATIN1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x41]); // "caf" 0xE9 "A": not UTF-8
const UTF8 = Buffer.from('x\u00e9y', 'utf8'); // 78 C3 A9 79

/** Sends `head` (bytes), returns everything received until the connection has been quiet 300 ms. */
function exchange(port: number, head: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(head));
    const parts: Buffer[] = [];
    let t = setTimeout(() => c.destroy(), 3000);
    c.on('data', (d: Buffer) => {
      parts.push(d);
      clearTimeout(t);
      t = setTimeout(() => c.destroy(), 300);
    });
    c.on('close', () => resolve(Buffer.concat(parts)));
    c.on('error', reject);
  });
}

/** The bytes of the field named `name` (case-insensitive) in a raw head. */
function fieldBytes(raw: Buffer, name: string): Buffer | null {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  for (const line of text.slice(0, end < 0 ? text.length : end).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && line.slice(0, i).toLowerCase() === name) return Buffer.from(line.slice(i + 1).trim(), 'latin1');
  }
  return null;
}

for (const fe of FRONTENDS) {
  describe(`obs-text [${fe}]`, () => {
    it('request and response field values with bytes 0x80–0xFF arrive unchanged', async () => {
      const got: Buffer[] = [];
      const up = await rawUpstream((sock) => {
        let buf = Buffer.alloc(0);
        sock.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          if (buf.indexOf('\r\n\r\n') < 0) return;
          got.push(buf);
          buf = Buffer.alloc(0);
          sock.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nX-Latin: '), LATIN1, Buffer.from('\r\nX-Utf8: '), UTF8, Buffer.from('\r\nContent-Length: 2\r\n\r\nok')]));
        });
      });
      const gw = await startGateway(fe, nativeConfig(`routes:\n  - name: r\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:${up.port}"]\n`));
      try {
        // Twice: the second response head comes from the parser's per-connection memo.
        for (let round = 0; round < 2; round++) {
          const req = Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Latin: '), LATIN1, Buffer.from('\r\nX-Utf8: '), UTF8, Buffer.from('\r\n\r\n')]);
          const res = await exchange(gw.port, req);
          assert.match(res.toString('latin1'), /^HTTP\/1\.1 200 /, `round ${round}`);
          assert.deepEqual(fieldBytes(res, 'x-latin'), LATIN1, `response x-latin, round ${round}`);
          assert.deepEqual(fieldBytes(res, 'x-utf8'), UTF8, `response x-utf8, round ${round}`);
          assert.deepEqual(fieldBytes(got[round], 'x-latin'), LATIN1, `request x-latin, round ${round}`);
          assert.deepEqual(fieldBytes(got[round], 'x-utf8'), UTF8, `request x-utf8, round ${round}`);
        }
      } finally {
        await gw.stop();
        await up.close();
      }
    });
  });
}
