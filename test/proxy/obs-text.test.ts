// obs-text (RFC 9110 §5.5: field-value bytes 0x80–0xFF) crosses the proxy byte for byte, both
// ways, on both front ends: a Latin-1 byte that is not UTF-8 and a UTF-8 sequence alike. uWS.js
// decodes request values as UTF-8 and encodes strings it writes as UTF-8; the uws front end
// reads such values again as Latin-1 and writes such heads as Latin-1 bytes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway } from '../helpers/gateway';
import { parseRaw, rawRequest, rawUpstream } from '../helpers/servers';

const LATIN1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x41]); // "caf" 0xE9 "A": not UTF-8
const UTF8 = Buffer.from('x\u00e9y', 'utf8'); // 78 C3 A9 79

/** A field's value as the bytes it had on the wire (rawRequest and parseRaw keep text as Latin-1). */
function fieldBytes(value: string | undefined): Buffer | null {
  return value === undefined ? null : Buffer.from(value, 'latin1');
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
          const res = await rawRequest(gw.port, req, 300);
          const sent = parseRaw(got[round].toString('latin1'), false);
          assert.match(res.raw, /^HTTP\/1\.1 200 /, `round ${round}`);
          assert.deepEqual(fieldBytes(res.headers['x-latin']), LATIN1, `response x-latin, round ${round}`);
          assert.deepEqual(fieldBytes(res.headers['x-utf8']), UTF8, `response x-utf8, round ${round}`);
          assert.deepEqual(fieldBytes(sent.headers['x-latin']), LATIN1, `request x-latin, round ${round}`);
          assert.deepEqual(fieldBytes(sent.headers['x-utf8']), UTF8, `request x-utf8, round ${round}`);
        }
      } finally {
        await gw.stop();
        await up.close();
      }
    });
  });
}
