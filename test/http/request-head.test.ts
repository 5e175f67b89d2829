// Table-driven checks of src/http/request-head.ts and src/http/forwarding.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readSettings } from '../../src/env';
import { ERR } from '../../src/errors';
import type { IncomingHead } from '../../src/http/downstream';
import { buildUpstreamHead, filterResponseHeaders, TrustedProxies } from '../../src/http/forwarding';
import { checkRequestHead, newRequestFraming } from '../../src/http/request-head';

const settings = readSettings({ GATEMESH_MAX_URI_BYTES: '64', GATEMESH_MAX_HEADER_BYTES: '512', GATEMESH_MAX_BODY_BYTES: '1000' });

function head(over: Partial<IncomingHead>): IncomingHead {
  return { method: 'GET', path: '/', query: '', httpMinor: 1, headers: ['host', 'h'], remoteAddress: '10.0.0.9', scheme: 'http', headBytes: -1, ...over };
}

describe('checkRequestHead', () => {
  const cases: { desc: string; head: Partial<IncomingHead>; want: unknown }[] = [
    { desc: 'plain GET', head: {}, want: null },
    { desc: 'missing Host on 1.1', head: { headers: [] }, want: ERR.MISSING_HOST },
    { desc: 'missing Host on 1.0 is fine', head: { headers: [], httpMinor: 0 }, want: null },
    { desc: 'duplicate Host', head: { headers: ['host', 'a', 'host', 'a'] }, want: ERR.DUPLICATE_HOST },
    { desc: 'bad Host', head: { headers: ['host', 'a b'] }, want: ERR.BAD_HOST },
    { desc: 'IPv6 Host with port', head: { headers: ['host', '[::1]:8080'] }, want: null },
    { desc: 'duplicate Content-Length', head: { headers: ['host', 'h', 'content-length', '1', 'content-length', '1'] }, want: ERR.BAD_CONTENT_LENGTH },
    { desc: 'Content-Length not digits', head: { headers: ['host', 'h', 'content-length', '1e3'] }, want: ERR.BAD_CONTENT_LENGTH },
    { desc: 'CL + TE', head: { headers: ['host', 'h', 'content-length', '1', 'transfer-encoding', 'chunked'] }, want: ERR.CL_AND_TE },
    { desc: 'TE gzip, chunked', head: { headers: ['host', 'h', 'transfer-encoding', 'gzip, chunked'] }, want: ERR.BAD_TRANSFER_ENCODING },
    { desc: 'TE chunked on HTTP/1.0', head: { httpMinor: 0, headers: ['transfer-encoding', 'chunked'] }, want: ERR.BAD_TRANSFER_ENCODING },
    { desc: 'TE Chunked (case-insensitive)', head: { headers: ['host', 'h', 'transfer-encoding', 'Chunked'] }, want: null },
    { desc: 'URI too long', head: { path: '/' + 'a'.repeat(80) }, want: ERR.URI_TOO_LONG },
    { desc: 'headers too large', head: { headers: ['host', 'h', 'x', 'v'.repeat(600)] }, want: ERR.HEADERS_TOO_LARGE },
    { desc: 'declared body over the limit', head: { headers: ['host', 'h', 'content-length', '1001'] }, want: ERR.BODY_TOO_LARGE },
    { desc: 'control char in value', head: { headers: ['host', 'h', 'x', 'a\x01'] }, want: ERR.BAD_HEADER },
    { desc: 'bad header name', head: { headers: ['host', 'h', 'x y', 'a'] }, want: ERR.BAD_HEADER },
    { desc: 'bad method', head: { method: 'GE T' }, want: ERR.BAD_REQUEST_LINE },
    { desc: 'relative target', head: { path: 'foo' }, want: ERR.BAD_REQUEST_LINE },
    { desc: 'space in target', head: { path: '/a b' }, want: ERR.BAD_REQUEST_LINE },
    { desc: 'HTTP/1.2', head: { httpMinor: 2 }, want: ERR.HTTP_VERSION },
    { desc: 'Expect other than 100-continue', head: { headers: ['host', 'h', 'expect', 'bogus'] }, want: ERR.EXPECTATION_FAILED },
    { desc: 'Expect 100-continue', head: { headers: ['host', 'h', 'expect', '100-Continue'] }, want: null },
    { desc: 'absolute-form', head: { path: 'http://other.test/x', headers: ['host', 'h'] }, want: null },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const out = newRequestFraming();
      assert.equal(checkRequestHead(head(c.head), settings, true, out), c.want);
    });
  }

  it('a value with non-ASCII characters is read again as Latin-1 when the front end can (uws)', () => {
    const asked: string[] = [];
    const latin1Value = (name: string): string | null => {
      asked.push(name);
      return name === 'x-b' ? 'caf\xe9A' : null;
    };
    // As uWS's header list gives `caf<0xE9>A`: the invalid UTF-8 byte decoded to U+FFFD.
    const h = head({ headers: ['host', 'h', 'x-b', 'caf\ufffdA'], latin1Value });
    assert.equal(checkRequestHead(h, settings, true, newRequestFraming()), null);
    assert.deepEqual(h.headers, ['host', 'h', 'x-b', 'caf\xe9A']);
    assert.deepEqual(asked, ['x-b']);
    // ASCII values are never asked for again.
    const plain = head({ headers: ['host', 'h', 'x-c', 'cafe'], latin1Value });
    assert.equal(checkRequestHead(plain, settings, true, newRequestFraming()), null);
    assert.deepEqual(asked, ['x-b']);
    // Not readable any more (after the callback), or a repeated name (uWS reads the first only): 400.
    assert.equal(checkRequestHead(head({ headers: ['host', 'h', 'x-d', 'caf\xe9'], latin1Value }), settings, true, newRequestFraming()), ERR.BAD_HEADER);
    assert.equal(
      checkRequestHead(head({ headers: ['host', 'h', 'x-b', 'a', 'x-b', 'caf\ufffdA'], latin1Value }), settings, true, newRequestFraming()),
      ERR.BAD_HEADER,
    );
    // Without the hook (native-free: llhttp's strings are Latin-1 already) the value stays as it is.
    const nf = head({ headers: ['host', 'h', 'x-b', 'caf\xe9'] });
    assert.equal(checkRequestHead(nf, settings, true, newRequestFraming()), null);
    assert.deepEqual(nf.headers, ['host', 'h', 'x-b', 'caf\xe9']);
  });

  it('absolute-form authority replaces Host (RFC 9112 §3.2.2)', () => {
    const out = newRequestFraming();
    checkRequestHead(head({ path: 'http://other.test:81/x/y' }), settings, true, out);
    assert.equal(out.host, 'other.test:81');
    assert.equal(out.path, '/x/y');
  });

  it('derives framing, close and upgrade', () => {
    const out = newRequestFraming();
    checkRequestHead(head({ headers: ['host', 'h', 'connection', 'Upgrade, close', 'upgrade', 'websocket', 'transfer-encoding', 'chunked'] }), settings, true, out);
    assert.equal(out.chunked, true);
    assert.equal(out.close, true);
    assert.equal(out.upgrade, true);
    assert.deepEqual(out.connectionTokens, ['upgrade', 'close']);
    const ten = newRequestFraming();
    checkRequestHead(head({ httpMinor: 0, headers: ['connection', 'keep-alive'] }), settings, true, ten);
    assert.equal(ten.close, false);
  });

  // Connection token lists (RFC 9110 §7.6.1): a lone keep-alive/close takes a shared list, which
  // a second Connection field must not change (it is copied first) nor leak into the next request.
  const connectionCases: { desc: string; values: string[]; tokens: string[]; close: boolean }[] = [
    { desc: 'keep-alive', values: ['keep-alive'], tokens: ['keep-alive'], close: false },
    { desc: 'Keep-Alive (any case)', values: ['Keep-Alive'], tokens: ['keep-alive'], close: false },
    { desc: 'close', values: ['close'], tokens: ['close'], close: true },
    { desc: 'CLOSE', values: ['CLOSE'], tokens: ['close'], close: true },
    { desc: 'keep-alive then a second field', values: ['keep-alive', 'x-a'], tokens: ['keep-alive', 'x-a'], close: false },
    { desc: 'close then a second field', values: ['close', 'Upgrade'], tokens: ['close', 'upgrade'], close: true },
    { desc: 'a field then keep-alive', values: ['x-a', 'keep-alive'], tokens: ['x-a', 'keep-alive'], close: false },
    { desc: 'padded close', values: [' close '], tokens: ['close'], close: true },
    { desc: 'a 5-letter token other than close', values: ['x-abc'], tokens: ['x-abc'], close: false },
    { desc: 'list', values: ['keep-alive, x-a'], tokens: ['keep-alive', 'x-a'], close: false },
  ];
  for (const c of connectionCases) {
    it(`Connection: ${c.desc}`, () => {
      const out = newRequestFraming();
      const headers = ['host', 'h'];
      for (const v of c.values) headers.push('connection', v);
      assert.equal(checkRequestHead(head({ headers }), settings, true, out), null);
      assert.deepEqual(out.connectionTokens, c.tokens);
      assert.equal(out.close, c.close);
      // The same framing object for a request without Connection: no tokens left over.
      assert.equal(checkRequestHead(head({}), settings, true, out), null);
      assert.deepEqual(out.connectionTokens, []);
      assert.equal(out.close, false);
    });
  }
  it('a shared token list is never changed', () => {
    const a = newRequestFraming();
    checkRequestHead(head({ headers: ['host', 'h', 'connection', 'keep-alive', 'connection', 'x-a'] }), settings, true, a);
    const b = newRequestFraming();
    checkRequestHead(head({ headers: ['host', 'h', 'connection', 'keep-alive'] }), settings, true, b);
    assert.deepEqual(b.connectionTokens, ['keep-alive']);
  });
});

describe('buildUpstreamHead', () => {
  it('drops hop-by-hop and adds X-Forwarded-* from an untrusted peer', () => {
    const h = head({ method: 'POST', path: '/p', query: 'q=1', headers: ['host', 'h', 'connection', 'x-a', 'x-a', '1', 'keep-alive', '5', 'te', 'trailers', 'x-forwarded-for', '1.1.1.1', 'content-length', '3', 'expect', '100-continue', 'x-b', '2'] });
    const f = newRequestFraming();
    checkRequestHead(h, settings, true, f);
    const s = buildUpstreamHead(h, f, new TrustedProxies([]), false);
    assert.equal(s, 'POST /p?q=1 HTTP/1.1\r\nhost: h\r\nte: trailers\r\nx-b: 2\r\ncontent-length: 3\r\nx-forwarded-for: 10.0.0.9\r\nx-forwarded-proto: http\r\nx-forwarded-host: h\r\n\r\n');
  });

  it('X-Forwarded-* follow each request when peer, scheme or Host change between requests (the reused lines)', () => {
    const t = new TrustedProxies([]);
    const cases: { remoteAddress: string; scheme: string; host: string }[] = [
      { remoteAddress: '10.0.0.1', scheme: 'http', host: 'a' },
      { remoteAddress: '10.0.0.1', scheme: 'http', host: 'a' },
      { remoteAddress: '10.0.0.2', scheme: 'http', host: 'a' },
      { remoteAddress: '10.0.0.2', scheme: 'https', host: 'a' },
      { remoteAddress: '10.0.0.2', scheme: 'https', host: 'b:8080' },
      { remoteAddress: '10.0.0.1', scheme: 'http', host: 'a' },
    ];
    for (const c of cases) {
      const h = head({ remoteAddress: c.remoteAddress, scheme: c.scheme, headers: ['host', c.host] });
      const f = newRequestFraming();
      assert.equal(checkRequestHead(h, settings, true, f), null);
      const s = buildUpstreamHead(h, f, t, false);
      assert.ok(s.endsWith(`x-forwarded-for: ${c.remoteAddress}\r\nx-forwarded-proto: ${c.scheme}\r\nx-forwarded-host: ${c.host}\r\n\r\n`), JSON.stringify([c, s]));
    }
  });

  it('appends to X-Forwarded-For from a trusted proxy', () => {
    const h = head({ headers: ['host', 'h', 'x-forwarded-for', '1.1.1.1', 'x-forwarded-proto', 'https'] });
    const f = newRequestFraming();
    checkRequestHead(h, settings, true, f);
    const s = buildUpstreamHead(h, f, new TrustedProxies(['10.0.0.0/8']), false);
    assert.match(s, /x-forwarded-for: 1\.1\.1\.1, 10\.0\.0\.9\r\n/);
    assert.match(s, /x-forwarded-proto: https\r\n/);
  });

  it('finds the rightmost untrusted client address', () => {
    const t = new TrustedProxies(['10.0.0.0/8', '::1/128']);
    assert.equal(t.clientAddress(head({ headers: ['host', 'h', 'x-forwarded-for', '7.7.7.7, 10.1.1.1'] })), '7.7.7.7');
    assert.equal(t.clientAddress(head({ remoteAddress: '8.8.8.8', headers: ['host', 'h', 'x-forwarded-for', '7.7.7.7'] })), '8.8.8.8');
    assert.throws(() => new TrustedProxies(['nope/8']), /not an IP/);
  });
});

describe('filterResponseHeaders', () => {
  it('drops hop-by-hop and Connection-listed fields, keeps duplicates', () => {
    const out = filterResponseHeaders(['connection', 'x-s', 'x-s', '1', 'set-cookie', 'a', 'set-cookie', 'b', 'transfer-encoding', 'chunked', 'date', 'x']);
    assert.deepEqual(out, ['set-cookie', 'a', 'set-cookie', 'b']);
  });
  it('returns the same array when nothing needs dropping', () => {
    const h = ['x', '1'];
    assert.equal(filterResponseHeaders(h), h);
  });
});
