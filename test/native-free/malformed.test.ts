// Malformed requests on the native-free front end: what llhttp rejects (and how we answer),
// and what it lets through to the shared validator (pinned here so the split stays known).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ERR } from '../../src/errors';
import type { ErrorSpec } from '../../src/errors';
import type { IncomingHead } from '../../src/http/downstream';
import { echoHead, GET, header, parseResponses, rawExchange, startServer } from './helpers';
import type { TestServer } from './helpers';

const H = 'Host: a\r\n';

/** Rejected before the proxy sees anything, or (body errors) answered by the front end. */
const rejected: { desc: string; req: string; want: ErrorSpec }[] = [
  { desc: 'CL then TE', req: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, want: ERR.CL_AND_TE },
  { desc: 'TE then CL', req: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n`, want: ERR.CL_AND_TE },
  { desc: 'CL + TE identity', req: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: identity\r\n\r\nabc`, want: ERR.CL_AND_TE },
  { desc: 'duplicate different CL', req: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, want: ERR.BAD_CONTENT_LENGTH },
  { desc: 'duplicate equal CL', req: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`, want: ERR.BAD_CONTENT_LENGTH },
  { desc: 'CL list', req: `POST / HTTP/1.1\r\n${H}Content-Length: 3, 3\r\n\r\nabc`, want: ERR.BAD_CONTENT_LENGTH },
  { desc: 'CL not a number', req: `POST / HTTP/1.1\r\n${H}Content-Length: 3x\r\n\r\nabc`, want: ERR.BAD_CONTENT_LENGTH },
  { desc: 'CL negative', req: `POST / HTTP/1.1\r\n${H}Content-Length: -3\r\n\r\nabc`, want: ERR.BAD_CONTENT_LENGTH },
  { desc: 'CL plus sign', req: `POST / HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`, want: ERR.BAD_CONTENT_LENGTH },
  { desc: 'CL empty', req: `POST / HTTP/1.1\r\n${H}Content-Length: \r\n\r\nabc`, want: ERR.BAD_CONTENT_LENGTH },
  { desc: 'CL overflow', req: `POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\nabc`, want: ERR.BAD_CONTENT_LENGTH },
  { desc: 'TE chunked not last', req: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\nabc`, want: ERR.BAD_TRANSFER_ENCODING },
  { desc: 'TE chunked twice', req: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, want: ERR.BAD_TRANSFER_ENCODING },
  // llhttp lets the head through and fails on the body: the request reached the proxy first.
  { desc: 'TE gzip without chunked', req: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\nabc`, want: ERR.BAD_TRANSFER_ENCODING },
  { desc: 'invalid chunk size', req: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, want: ERR.BAD_CHUNK },
  { desc: 'chunk size with space', req: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n`, want: ERR.BAD_CHUNK },
  { desc: 'chunk size overflow', req: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabc\r\n0\r\n\r\n`, want: ERR.BAD_CHUNK },
  { desc: 'chunk data too long', req: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n`, want: ERR.BAD_CHUNK },
  { desc: 'bare LF after chunk size', req: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n`, want: ERR.BAD_CHUNK },
  { desc: 'obs-fold (space)', req: `GET / HTTP/1.1\r\n${H}X-A: b\r\n c\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'obs-fold (tab)', req: `GET / HTTP/1.1\r\n${H}X-A: b\r\n\tc\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'obs-fold after request line', req: `GET / HTTP/1.1\r\n ${H}\r\n`, want: ERR.BAD_HEADER },
  { desc: 'bare LF in a header line', req: `GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'bare LF ending the head', req: `GET / HTTP/1.1\r\n${H}X-A: b\r\n\n`, want: ERR.BAD_HEADER },
  { desc: 'bare LF everywhere', req: `GET / HTTP/1.1\nHost: a\n\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'bare CR between headers', req: `GET / HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'bare CR in a value', req: `GET / HTTP/1.1\r\n${H}X-A: b\rc\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'space before colon', req: `GET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'tab before colon', req: `GET / HTTP/1.1\r\n${H}X-A\t: b\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'space before colon of CL', req: `POST / HTTP/1.1\r\n${H}Content-Length : 3\r\n\r\nabc`, want: ERR.BAD_HEADER },
  { desc: 'NUL in a value', req: `GET / HTTP/1.1\r\n${H}X-A: b\x00c\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'control char in a value', req: `GET / HTTP/1.1\r\n${H}X-A: b\x01c\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'DEL in a value', req: `GET / HTTP/1.1\r\n${H}X-A: b\x7fc\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'NUL in a name', req: `GET / HTTP/1.1\r\n${H}X\x00A: b\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'separator in a name', req: `GET / HTTP/1.1\r\n${H}X(A: b\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'empty name', req: `GET / HTTP/1.1\r\n${H}: b\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'line without colon', req: `GET / HTTP/1.1\r\n${H}XA\r\n\r\n`, want: ERR.BAD_HEADER },
  { desc: 'lower-case method', req: `get / HTTP/1.1\r\n${H}\r\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'separator in method', req: `G(T / HTTP/1.1\r\n${H}\r\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'unknown method (llhttp knows a fixed list)', req: `FOO / HTTP/1.1\r\n${H}\r\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'tab after method', req: `GET\t/ HTTP/1.1\r\n${H}\r\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'space inside target', req: `GET /a b HTTP/1.1\r\n${H}\r\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'control char in target', req: `GET /a\x01b HTTP/1.1\r\n${H}\r\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'non-ASCII in target', req: `GET /\xe9 HTTP/1.1\r\n${H}\r\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'lower-case protocol', req: `GET / http/1.1\r\n${H}\r\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'space after version', req: `GET / HTTP/1.1 \r\n${H}\r\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'HTTP/1.2', req: `GET / HTTP/1.2\r\n${H}\r\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'HTTP/3.0', req: `GET / HTTP/3.0\r\n${H}\r\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'HTTP/0.9 request line (no version)', req: `GET /\r\n\r\n`, want: ERR.BAD_REQUEST_LINE },
  { desc: 'HTTP/2.0 request line', req: `GET / HTTP/2.0\r\n${H}\r\n`, want: ERR.HTTP_VERSION },
  { desc: 'HTTP/2 prior-knowledge preface', req: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, want: ERR.HTTP_VERSION },
  { desc: 'CONNECT', req: `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`, want: ERR.BAD_REQUEST },
  { desc: 'garbage', req: `\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03`, want: ERR.BAD_REQUEST_LINE },
];

/** Accepted by llhttp: the shared validator (src/http/request-head.ts) must judge these. */
const passed: { desc: string; req: string; check: (h: IncomingHead) => void }[] = [
  { desc: 'missing Host', req: 'GET / HTTP/1.1\r\n\r\n', check: (h) => assert.equal(h.headers.indexOf('host'), -1) },
  {
    desc: 'duplicate Host (both kept, in order)',
    req: 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
    check: (h) => assert.deepEqual(h.headers, ['host', 'a', 'host', 'b']),
  },
  { desc: 'fragment in target', req: `GET /a#b HTTP/1.1\r\n${H}\r\n`, check: (h) => assert.equal(h.path, '/a#b') },
  {
    desc: 'absolute-form target',
    req: `GET http://x.example/a?b=c HTTP/1.1\r\n${H}\r\n`,
    check: (h) => {
      assert.equal(h.path, 'http://x.example/a');
      assert.equal(h.query, 'b=c');
    },
  },
  { desc: 'asterisk-form', req: `OPTIONS * HTTP/1.1\r\n${H}\r\n`, check: (h) => assert.equal(h.path, '*') },
  { desc: 'two spaces after method', req: `GET  /x HTTP/1.1\r\n${H}\r\n`, check: (h) => assert.equal(h.path, '/x') },
  {
    desc: 'TE in HTTP/1.0 (RFC 9112 §6.1: faulty framing, close after)',
    req: `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    check: (h) => assert.equal(h.httpMinor, 0),
  },
  {
    desc: 'TE gzip, chunked',
    req: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
    check: (h) => assert.deepEqual(h.headers.slice(2), ['transfer-encoding', 'gzip, chunked']),
  },
  { desc: 'obs-text in a value', req: `GET / HTTP/1.1\r\n${H}X-A: b\xe9c\r\n\r\n`, check: (h) => assert.equal(h.headers[3], 'b\xe9c') },
  {
    desc: 'leading empty line (RFC 9112 §2.2)',
    req: `\r\nGET /y HTTP/1.1\r\n${H}\r\n`,
    check: (h) => assert.equal(h.path, '/y'),
  },
  {
    desc: 'Expect: 100-continue on HTTP/1.0 (ignored, RFC 9110 §10.1.1)',
    req: `GET / HTTP/1.0\r\n${H}Expect: 100-continue\r\n\r\n`,
    check: (h) => assert.equal(h.httpMinor, 0),
  },
];

function assertRejected(data: Buffer, closed: boolean, want: ErrorSpec, desc: string): void {
  const [r, ...rest] = parseResponses(data, closed);
  assert.ok(r !== undefined, `${desc}: no response`);
  assert.equal(r.status, want.status, `${desc}: status`);
  assert.equal(header(r, 'connection'), 'close', `${desc}: Connection`);
  assert.equal(header(r, 'content-type'), 'text/plain', `${desc}: Content-Type`);
  assert.equal(r.body.toString(), want.reason + '\n', `${desc}: body`);
  assert.equal(rest.length, 0, `${desc}: one response only`);
  assert.ok(closed, `${desc}: connection closed`);
}

describe('native-free: malformed requests', () => {
  let server: TestServer;
  let seen: IncomingHead[] = [];
  before(async () => {
    server = await startServer(
      (head, ds) => {
        seen.push(head);
        echoHead(head, ds);
      },
      { GATEMESH_MAX_HEADER_BYTES: '4096', GATEMESH_MAX_URI_BYTES: '1024' },
    );
  });
  after(() => server.close());

  for (const c of rejected) {
    it(`rejects ${c.desc} → ${c.want.status} ${c.want.code}`, async () => {
      const { data, closed } = await rawExchange(server.port, c.req);
      assertRejected(data, closed, c.want, c.desc);
    });
  }

  for (const c of passed) {
    it(`passes ${c.desc} to the proxy as received`, async () => {
      seen = [];
      const { data, closed } = await rawExchange(server.port, c.req, 150);
      const [r] = parseResponses(data, closed);
      assert.equal(r.status, 200);
      assert.equal(seen.length, 1);
      c.check(seen[0]);
    });
  }

  it('answers 431 past the header backstop and 414 for an overlong target', async () => {
    // backstop = 4096 + 1024 + 1024 bytes counted by llhttp
    const big = await rawExchange(server.port, `GET / HTTP/1.1\r\n${H}X-A: ${'a'.repeat(7000)}\r\n\r\n`);
    assertRejected(big.data, big.closed, ERR.HEADERS_TOO_LARGE, 'big header');
    const many = await rawExchange(server.port, `GET / HTTP/1.1\r\n${H}${'X-A: 0123456789\r\n'.repeat(600)}\r\n`);
    assertRejected(many.data, many.closed, ERR.HEADERS_TOO_LARGE, 'many headers');
    const uri = await rawExchange(server.port, `GET /${'u'.repeat(7000)} HTTP/1.1\r\n${H}\r\n`);
    assertRejected(uri.data, uri.closed, ERR.URI_TOO_LONG, 'long target');
  });

  it('lets heads under the backstop through for the validator to size', async () => {
    seen = [];
    // target over GATEMESH_MAX_URI_BYTES, fields near GATEMESH_MAX_HEADER_BYTES: the validator's call
    const req = `GET /${'u'.repeat(1500)} HTTP/1.1\r\n${H}X-A: ${'a'.repeat(4000)}\r\n\r\n`;
    const { data, closed } = await rawExchange(server.port, req);
    assert.equal(parseResponses(data, closed)[0].status, 200);
    assert.equal(seen[0].path.length, 1501);
    assert.equal(seen[0].headBytes, req.length);
  });

  it('answers a pipelined bad request after the good one before it, then closes', async () => {
    const { data, closed } = await rawExchange(server.port, GET('/ok') + `GET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n`);
    const rs = parseResponses(data, closed);
    assert.deepEqual(
      rs.map((r) => r.status),
      [200, 400],
    );
    assert.equal(rs[1].body.toString(), ERR.BAD_HEADER.reason + '\n');
    assert.ok(closed);
  });

  it('answers mutated requests with well-formed responses only (fast-check)', async () => {
    const base = [
      `POST /p?q=1 HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`,
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
      `GET / HTTP/1.1\r\n${H}X-A: b\r\n\r\n` + GET('/second'),
    ];
    const allowed = new Set([200, ...Object.values(ERR).filter((e) => e.close).map((e) => e.status)]);
    const mutation = fc.record({
      base: fc.nat(base.length - 1),
      at: fc.nat(),
      del: fc.nat(3),
      insert: fc.uint8Array({ maxLength: 4 }).map((a) => Buffer.from(a).toString('latin1')),
    });
    const samples = fc.sample(mutation, { numRuns: 120, seed: 20240601 });
    for (let i = 0; i < samples.length; i += 30) {
      await Promise.all(
        samples.slice(i, i + 30).map(async (m) => {
          const src = base[m.base];
          const at = m.at % src.length;
          const req = src.slice(0, at) + m.insert + src.slice(at + m.del);
          const { data, closed } = await rawExchange(server.port, req, 80);
          if (data.length === 0) return; // waiting for more bytes, or closed: both fine
          for (const r of parseResponses(data, closed)) {
            assert.ok(allowed.has(r.status), `${JSON.stringify(req)} → ${r.status}`);
            if (r.status !== 200) assert.equal(header(r, 'connection'), 'close', JSON.stringify(req));
          }
        }),
      );
    }
  });

  it('is still serving after the whole corpus, and a corpus sent in one burst', async () => {
    await Promise.all(rejected.map((c) => rawExchange(server.port, c.req, 100)));
    const { data, closed } = await rawExchange(server.port, GET('/alive'), 100);
    const [r] = parseResponses(data, closed);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body.toString()).path, '/alive');
    assert.equal(server.listener.inflight, 0);
  });
});

describe('native-free: headers timeout', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(echoHead, { GATEMESH_HEADERS_TIMEOUT_MS: '200' });
  });
  after(() => server.close());

  it('answers 408 and closes when the head does not arrive in time', async () => {
    const started = Date.now();
    const { data, closed } = await rawExchange(server.port, 'GET / HTTP/1.1\r\nHost: a\r\nX-Slow', 2000);
    const took = Date.now() - started;
    assertRejected(data, closed, ERR.HEADERS_TIMEOUT, 'slow head');
    assert.ok(took >= 190 && took < 1500, `took ${took} ms`);
  });

  it('does not time out a slow body once the head is in (requestTimeout 0)', async () => {
    const net = await import('node:net');
    const socket = net.connect(server.port, '127.0.0.1');
    const parts: Buffer[] = [];
    socket.on('data', (d) => parts.push(d));
    socket.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab');
    await new Promise((r) => setTimeout(r, 600));
    socket.write('cd');
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    const [r] = parseResponses(Buffer.concat(parts), false);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body.toString()).bodyBytes, 4);
  });
});
