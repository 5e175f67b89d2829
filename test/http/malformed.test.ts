// Wire-level corpus of malformed requests (RFC 9112 framing and syntax) against both front ends:
// each gets 400 + Connection: close + a closed socket, nothing reaches the upstream, and the
// gateway keeps serving. uWebSockets.js 20.30 refuses some of them inside its own parser: it
// closes the connection, or stops reading it until its 10 s timeout, without writing a response.
// Those rows say `uwsParserCloses`; on uws they must get no response and forward nothing.
// uWS's chunked decoder is lenient where llhttp is strict: it skips the two bytes after a chunk's
// data whatever they are, and takes a bare LF for CRLF, before gatemesh sees a byte of the body.
// Those rows say `uwsDecoderAccepts`: on uws the body uWS decoded is forwarded, re-framed, as one
// well-formed request (the upstream never sees the client's framing, so nothing can be smuggled
// past it), and the client gets the upstream's answer; native-free refuses them with 400.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { echoUpstream, rawRequest, request } from '../helpers/servers';

interface Case {
  desc: string;
  raw: string;
  /** uWS's parser drops the connection itself before gatemesh sees the request. */
  uwsParserCloses?: boolean;
  /** uWS's chunked decoder accepts the body (see the top); on uws it is forwarded as decoded. */
  uwsDecoderAccepts?: boolean;
  status?: number;
}

/** A chunked POST /echo whose body is `body` as written. */
function chunked(body: string): string {
  return `POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;
}

const CASES: Case[] = [
  { desc: 'Content-Length and Transfer-Encoding together', raw: 'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', uwsParserCloses: true },
  { desc: 'duplicate equal Content-Length', raw: 'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc' },
  { desc: 'duplicate different Content-Length', raw: 'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', uwsParserCloses: true },
  { desc: 'Content-Length list', raw: 'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc', uwsParserCloses: true },
  { desc: 'non-numeric Content-Length', raw: 'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n', uwsParserCloses: true },
  { desc: 'negative Content-Length', raw: 'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n', uwsParserCloses: true },
  { desc: 'Transfer-Encoding gzip, chunked', raw: 'POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n' },
  { desc: 'Transfer-Encoding without chunked', raw: 'POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc', uwsParserCloses: true },
  { desc: 'invalid chunk size', raw: 'POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', uwsParserCloses: true },
  { desc: 'obs-fold', raw: 'GET /echo HTTP/1.1\r\nHost: h\r\nX-A: b\r\n c\r\n\r\n', uwsParserCloses: true },
  { desc: 'bare LF line endings', raw: 'GET /echo HTTP/1.1\nHost: h\n\n', uwsParserCloses: true },
  { desc: 'bare CR inside a header', raw: 'GET /echo HTTP/1.1\r\nHost: h\r\nX-A: b\rc\r\n\r\n', uwsParserCloses: true },
  { desc: 'whitespace before colon', raw: 'GET /echo HTTP/1.1\r\nHost: h\r\nX-A : b\r\n\r\n', uwsParserCloses: true },
  { desc: 'NUL in header value', raw: 'GET /echo HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n', uwsParserCloses: true },
  { desc: 'control character in header value', raw: 'GET /echo HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n', uwsParserCloses: true },
  { desc: 'space in header name', raw: 'GET /echo HTTP/1.1\r\nHost: h\r\nX A: b\r\n\r\n', uwsParserCloses: true },
  { desc: 'tab in request line', raw: 'GET\t/echo HTTP/1.1\r\nHost: h\r\n\r\n', uwsParserCloses: true },
  { desc: 'missing HTTP version', raw: 'GET /echo\r\nHost: h\r\n\r\n', uwsParserCloses: true },
  // RFC 9110 §15.6.6: a major version the server does not support gets 505.
  { desc: 'unknown HTTP version', raw: 'GET /echo HTTP/2.0\r\nHost: h\r\n\r\n', uwsParserCloses: true, status: 505 },
  { desc: 'garbage request line', raw: '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', uwsParserCloses: true },
  { desc: 'missing Host', raw: 'GET /echo HTTP/1.1\r\nX-A: b\r\n\r\n', uwsParserCloses: true },
  { desc: 'duplicate Host', raw: 'GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n' },
  { desc: 'Host with a space', raw: 'GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n', uwsParserCloses: true },
  { desc: 'Host with a path', raw: 'GET /echo HTTP/1.1\r\nHost: a/b\r\n\r\n' },
  { desc: 'chunk extension with bad characters', raw: 'POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;\x01\r\nabc\r\n0\r\n\r\n', uwsParserCloses: true },
  // Chunked request bodies (RFC 9112 §7.1): `abc` in one chunk, framed wrongly.
  { desc: 'whitespace after a chunk size', raw: chunked('3 \r\nabc\r\n0\r\n\r\n'), uwsDecoderAccepts: true },
  { desc: 'bare LF after a chunk size', raw: chunked('3\nabc\r\n0\r\n\r\n'), uwsDecoderAccepts: true },
  { desc: 'bare LF after chunk data', raw: chunked('3\r\nabc\n0\r\n\r\n'), uwsDecoderAccepts: true },
  { desc: 'chunk data not followed by CRLF', raw: chunked('3\r\nabc0\r\n\r\n'), uwsDecoderAccepts: true },
  { desc: 'chunk data longer than its size', raw: chunked('3\r\nabcXY\r\n0\r\n\r\n'), uwsDecoderAccepts: true },
  { desc: 'bare LF after the last chunk', raw: chunked('3\r\nabc\r\n0\n\r\n'), uwsDecoderAccepts: true },
  { desc: 'bare LF in a trailer field', raw: chunked('3\r\nabc\r\n0\r\nX: y\n\r\n'), uwsDecoderAccepts: true },
  { desc: 'chunk size overflowing 64 bits', raw: chunked('fffffffffffffffffff\r\nabc\r\n0\r\n\r\n'), uwsParserCloses: true },
  { desc: 'chunk size with a 0x prefix', raw: chunked('0x3\r\nabc\r\n0\r\n\r\n'), uwsParserCloses: true },
  { desc: 'negative chunk size', raw: chunked('-3\r\nabc\r\n0\r\n\r\n'), uwsParserCloses: true },
  // A request hidden where the chunk's CRLF should be: llhttp refuses it; uWS skips `GE` as the CRLF, then finds no
  // chunk size in `T /smuggled…` and drops the connection. Either way no request reaches the upstream.
  { desc: 'a request in place of the CRLF after chunk data', raw: chunked('3\r\nabcGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n0\r\n\r\n'), uwsParserCloses: true },
  { desc: 'two Transfer-Encoding fields', raw: 'POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', uwsParserCloses: true },
];

for (const fe of FRONTENDS) {
  describe(`malformed requests [${fe}]`, () => {
    let gw: RunningGateway;
    let echo: Awaited<ReturnType<typeof echoUpstream>>;
    before(async () => {
      echo = await echoUpstream();
      gw = await startGateway(fe, nativeConfig(`routes:\n  - name: echo\n    backend: echo\nbackends:\n  - name: echo\n    endpoints: ["127.0.0.1:${echo.port}"]\n`));
    });
    after(async () => {
      await gw.stop();
      await echo.close();
    });

    for (const c of CASES) {
      it(`${fe === 'uws' && c.uwsDecoderAccepts ? 'uWS decodes leniently, forwards one well-formed request' : 'rejects'}: ${c.desc}`, async () => {
        const before = echo.requests.length;
        const r = await rawRequest(gw.port, c.raw, 500);
        if (fe === 'uws' && c.uwsDecoderAccepts) {
          assert.equal(r.status, 200, r.raw);
          assert.equal(echo.requests.length, before + 1, 'one request forwarded');
          const got = echo.requests[before];
          assert.equal(got.url, '/echo');
          assert.equal(got.body.toString('latin1'), 'abc', 'the body uWS decoded, and nothing after it');
          return;
        }
        if (fe === 'uws' && c.uwsParserCloses && r.status === 0) {
          assert.equal(r.raw, '', 'uWS wrote nothing');
        } else {
          assert.equal(r.status, c.status ?? 400, r.raw);
          assert.equal(r.closed, true, 'socket closed');
          assert.match(r.headers.connection ?? '', /close/i);
          assert.ok(r.body.length > 1, 'a reason in the body');
        }
        assert.equal(echo.requests.length, before, 'nothing forwarded');
      });
    }

    it('still serves after the whole corpus', async () => {
      const r = await request(gw.port, { path: '/ok' });
      assert.equal(r.status, 200);
      assert.equal(gw.proc.exitCode, null);
    });

    it('survives random garbage', async () => {
      let seed = 42;
      const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
      for (let i = 0; i < 60; i++) {
        const base = CASES[i % CASES.length].raw;
        const bytes = Buffer.from(base, 'latin1');
        for (let k = 0; k < 3; k++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
        await rawRequest(gw.port, bytes, 60);
      }
      const r = await request(gw.port, { path: '/still' });
      assert.equal(r.status, 200);
    });
  });
}
