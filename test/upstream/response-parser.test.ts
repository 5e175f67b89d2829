// Table-driven tests for the upstream response parser: every case is fed whole, split at every
// byte boundary (two calls) and one byte per call, and must give the same events each time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseParser, MAX_SECTION_BYTES, type ResponseFraming } from '../../src/upstream/response-parser';

interface Outcome {
  events: unknown[];
  /** Bytes consumed in total, -1 on error. */
  consumed: number;
  error: string | null;
  /** finish() result when the input ran out without onEnd (undefined when not called). */
  finished?: boolean;
}

function collector(events: unknown[]) {
  let body = '';
  const flush = (): void => {
    if (body !== '') events.push(['body', body]);
    body = '';
  };
  return {
    handler: {
      onInterim: (status: number, reason: string, headers: string[]) => events.push(['interim', status, reason, headers]),
      onHead: (status: number, reason: string, headers: string[], framing: ResponseFraming) => events.push(['head', status, reason, headers, { ...framing }]),
      onBody: (chunk: Buffer) => {
        body += chunk.toString('latin1');
      },
      onEnd: (trailers: string[] | null) => {
        flush();
        events.push(['end', trailers]);
      },
    },
    flush,
  };
}

/** Feed `input` in the pieces given by `cuts` (ascending offsets). */
/**
 * What a pooled connection's reusable read buffer looks like (src/upstream/pool.ts): every piece is
 * copied to the start of one 64 KiB buffer whose rest holds stale bytes of earlier responses, and
 * execute() gets the length. Stale CRLFCRLF, chunk lines and bodies must never count.
 */
const STALE = Buffer.alloc(64 * 1024, 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nxx0\r\n\r\n', 'latin1');

function feed(input: string, cuts: number[], isHead: boolean, callFinish: boolean, reuse = false): Outcome {
  const events: unknown[] = [];
  const c = collector(events);
  const p = new ResponseParser(c.handler);
  p.reset(isHead);
  const buf = Buffer.from(input, 'latin1');
  let consumed = 0;
  let prev = 0;
  let stopped = false;
  for (const cut of [...cuts, buf.length]) {
    if (cut <= prev && cut !== buf.length) continue;
    // Copy each piece so views into earlier pieces cannot hide bugs.
    let piece = Buffer.from(buf.subarray(prev, cut));
    prev = cut;
    if (piece.length === 0) continue;
    let n: number;
    if (reuse && piece.length <= STALE.length) {
      const shared = Buffer.from(STALE);
      piece.copy(shared);
      n = p.execute(shared, piece.length);
      piece = shared.subarray(0, piece.length);
    } else {
      n = p.execute(piece);
    }
    if (n < 0) {
      c.flush();
      return { events, consumed: -1, error: p.error };
    }
    consumed += n;
    if (n < piece.length) {
      stopped = true;
      break;
    }
  }
  let finished: boolean | undefined;
  if (!stopped && callFinish && p.inProgress) finished = p.finish();
  c.flush();
  if (finished === false) return { events, consumed: -1, error: p.error, finished };
  return { events, consumed, error: p.error, finished };
}

function allSplits(input: string, isHead: boolean, callFinish: boolean): Outcome[] {
  const out: Outcome[] = [feed(input, [], isHead, callFinish)];
  const n = Buffer.byteLength(input, 'latin1');
  for (let i = 1; i < n; i++) out.push(feed(input, [i], isHead, callFinish));
  out.push(feed(input, Array.from({ length: n }, (_, i) => i + 1), isHead, callFinish));
  out.push(feed(input, [], isHead, callFinish, true));
  for (let i = 1; i < n; i++) out.push(feed(input, [i], isHead, callFinish, true));
  out.push(feed(input, Array.from({ length: n }, (_, i) => i + 1), isHead, callFinish, true));
  return out;
}

const F = (f: Partial<ResponseFraming>): ResponseFraming => ({
  contentLength: -1, chunked: false, closeDelimited: false, noBody: false, keepAlive: true, upgrade: false, httpMinor: 1, obsText: false, ...f,
});

interface Case {
  desc: string;
  input: string;
  isHead?: boolean;
  /** Call finish() when input runs out (EOF). Default true. */
  eof?: boolean;
  /** Expected events, or an error substring. */
  events?: unknown[];
  error?: RegExp;
  /** Expected bytes consumed (defaults to the whole input). */
  consumed?: number;
}

const ok200 = 'HTTP/1.1 200 OK\r\n';

const cases: Case[] = [
  {
    desc: 'content-length body, OWS trimmed, names lower-cased',
    input: ok200 + 'Content-Length: 5\r\nX-Custom:  a b \t\r\nSERVER:t\r\n\r\nhello',
    events: [['head', 200, 'OK', ['content-length', '5', 'x-custom', 'a b', 'server', 't'], F({ contentLength: 5 })], ['body', 'hello'], ['end', null]],
  },
  {
    desc: 'stops after the response: the rest is not consumed',
    input: ok200 + 'Content-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\n',
    consumed: Buffer.byteLength(ok200 + 'Content-Length: 2\r\n\r\nhi'),
    events: [['head', 200, 'OK', ['content-length', '2'], F({ contentLength: 2 })], ['body', 'hi'], ['end', null]],
  },
  {
    desc: 'content-length 0',
    input: ok200 + 'Content-Length: 0\r\n\r\n',
    events: [['head', 200, 'OK', ['content-length', '0'], F({ contentLength: 0 })], ['end', null]],
  },
  {
    desc: 'empty reason with SP',
    input: 'HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n',
    events: [['head', 200, '', ['content-length', '0'], F({ contentLength: 0 })], ['end', null]],
  },
  {
    desc: 'empty reason without SP',
    input: 'HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n',
    events: [['head', 404, '', ['content-length', '0'], F({ contentLength: 0 })], ['end', null]],
  },
  {
    desc: 'HTTP/1.0 with content-length: not keep-alive',
    input: 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx',
    events: [['head', 200, 'OK', ['content-length', '1'], F({ contentLength: 1, keepAlive: false, httpMinor: 0 })], ['body', 'x'], ['end', null]],
  },
  {
    desc: 'HTTP/1.0 with Connection: keep-alive',
    input: 'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx',
    events: [['head', 200, 'OK', ['connection', 'Keep-Alive', 'content-length', '1'], F({ contentLength: 1, httpMinor: 0 })], ['body', 'x'], ['end', null]],
  },
  {
    desc: 'Connection: close token in a list',
    input: ok200 + 'Connection: foo, CLOSE\r\nContent-Length: 0\r\n\r\n',
    events: [['head', 200, 'OK', ['connection', 'foo, CLOSE', 'content-length', '0'], F({ contentLength: 0, keepAlive: false })], ['end', null]],
  },
  {
    desc: 'chunked with extensions and trailers',
    input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n5;a=b;c="d \\" e";f\r\nhello\r\nA\r\n0123456789\r\n0;z=1\r\nX-Trailer: t1\r\nX-Other:t2\r\n\r\n',
    events: [
      ['head', 200, 'OK', ['transfer-encoding', 'chunked'], F({ chunked: true })],
      ['body', 'hello0123456789'],
      ['end', ['x-trailer', 't1', 'x-other', 't2']],
    ],
  },
  {
    desc: 'chunked without trailers, upper-case hex',
    input: ok200 + 'Transfer-Encoding: chunked\r\n\r\nB\r\nhello world\r\n0\r\n\r\n',
    events: [['head', 200, 'OK', ['transfer-encoding', 'chunked'], F({ chunked: true })], ['body', 'hello world'], ['end', null]],
  },
  {
    desc: 'transfer-encoding gzip, chunked (two lines) is chunked',
    input: ok200 + 'Transfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n',
    events: [['head', 200, 'OK', ['transfer-encoding', 'gzip', 'transfer-encoding', 'Chunked'], F({ chunked: true })], ['body', 'z'], ['end', null]],
  },
  {
    desc: 'transfer-encoding without final chunked is close-delimited (RFC 9112 §6.3 rule 4)',
    input: ok200 + 'Transfer-Encoding: chunked, gzip\r\n\r\nraw bytes',
    events: [['head', 200, 'OK', ['transfer-encoding', 'chunked, gzip'], F({ closeDelimited: true, keepAlive: false })], ['body', 'raw bytes'], ['end', null]],
  },
  {
    desc: 'close-delimited body ends at EOF',
    input: ok200 + 'Content-Type: text/plain\r\n\r\nuntil the end',
    events: [['head', 200, 'OK', ['content-type', 'text/plain'], F({ closeDelimited: true, keepAlive: false })], ['body', 'until the end'], ['end', null]],
  },
  {
    desc: '100 and 103 before the final response',
    input: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' + ok200 + 'Content-Length: 2\r\n\r\nok',
    events: [
      ['interim', 100, 'Continue', []],
      ['interim', 103, 'Early Hints', ['link', '</a.css>; rel=preload']],
      ['head', 200, 'OK', ['content-length', '2'], F({ contentLength: 2 })],
      ['body', 'ok'],
      ['end', null],
    ],
  },
  {
    desc: '101 stops at the end of the head',
    input: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00',
    consumed: Buffer.byteLength('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
    events: [['head', 101, 'Switching Protocols', ['upgrade', 'websocket', 'connection', 'Upgrade'], F({ noBody: true, upgrade: true, keepAlive: false })]],
  },
  {
    desc: 'HEAD: no body despite content-length',
    input: ok200 + 'Content-Length: 1234\r\n\r\n',
    isHead: true,
    events: [['head', 200, 'OK', ['content-length', '1234'], F({ contentLength: 1234, noBody: true })], ['end', null]],
  },
  {
    desc: 'HEAD: no body despite chunked',
    input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n',
    isHead: true,
    events: [['head', 200, 'OK', ['transfer-encoding', 'chunked'], F({ noBody: true })], ['end', null]],
  },
  {
    desc: '204 has no body',
    input: 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n',
    events: [['head', 204, 'No Content', ['content-length', '0'], F({ contentLength: 0, noBody: true })], ['end', null]],
  },
  {
    desc: '304 has no body and no framing headers',
    input: 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
    events: [['head', 304, 'Not Modified', ['etag', '"x"'], F({ noBody: true })], ['end', null]],
  },
  {
    desc: 'obs-text in a value is kept (latin1)',
    input: ok200 + 'X: caf\xe9\r\nContent-Length: 0\r\n\r\n',
    events: [['head', 200, 'OK', ['x', 'caf\xe9', 'content-length', '0'], F({ contentLength: 0, obsText: true })], ['end', null]],
  },
  {
    desc: 'obs-text in the reason phrase is kept and noted',
    input: 'HTTP/1.1 200 Gr\xfc\xdfe\r\nContent-Length: 0\r\n\r\n',
    events: [['head', 200, 'Gr\xfc\xdfe', ['content-length', '0'], F({ contentLength: 0, obsText: true })], ['end', null]],
  },
  {
    desc: 'empty field value',
    input: ok200 + 'X:\r\nContent-Length: 0\r\n\r\n',
    events: [['head', 200, 'OK', ['x', '', 'content-length', '0'], F({ contentLength: 0 })], ['end', null]],
  },
  {
    desc: 'content-length with surrounding SP and leading zeros',
    input: ok200 + 'Content-Length:  003 \r\n\r\nabc',
    events: [['head', 200, 'OK', ['content-length', '003'], F({ contentLength: 3 })], ['body', 'abc'], ['end', null]],
  },
  {
    desc: 'content-length 2^53-1 accepted',
    input: ok200 + 'Content-Length: 9007199254740991\r\n\r\n',
    eof: false,
    consumed: Buffer.byteLength(ok200 + 'Content-Length: 9007199254740991\r\n\r\n'),
    events: [['head', 200, 'OK', ['content-length', '9007199254740991'], F({ contentLength: 9007199254740991 })]],
  },
  {
    desc: 'Connection: close<HTAB> closes, HTTP/1.0 keep-alive<HTAB> does not keep alive (conservative)',
    input: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\t\r\nContent-Length: 0\r\n\r\n',
    events: [['head', 200, 'OK', ['connection', 'keep-alive', 'content-length', '0'], F({ contentLength: 0, keepAlive: false, httpMinor: 0 })], ['end', null]],
  },
  {
    desc: 'Connection: close with HTAB',
    input: ok200 + 'Connection:\tclose\t\r\nContent-Length: 0\r\n\r\n',
    events: [['head', 200, 'OK', ['connection', 'close', 'content-length', '0'], F({ contentLength: 0, keepAlive: false })], ['end', null]],
  },
  // --- rejections ---------------------------------------------------------------------------
  { desc: 'bare LF after status line', input: 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', error: /status line/ },
  { desc: 'bare LF after a field', input: ok200 + 'X: y\nContent-Length: 0\r\n\r\n', error: /field value/ },
  { desc: 'bare CR in a value', input: ok200 + 'X: a\rb\r\nContent-Length: 0\r\n\r\n', error: /field value/ },
  { desc: 'bare CR in the reason', input: 'HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n', error: /status line/ },
  { desc: 'obs-fold', input: ok200 + 'X: a\r\n b\r\nContent-Length: 0\r\n\r\n', error: /folding/ },
  { desc: 'whitespace before colon', input: ok200 + 'Content-Length : 0\r\n\r\n', error: /before colon/ },
  { desc: 'empty field name', input: ok200 + ': x\r\nContent-Length: 0\r\n\r\n', error: /field name/ },
  { desc: 'NUL in a value', input: ok200 + 'X: a\x00b\r\nContent-Length: 0\r\n\r\n', error: /field value/ },
  { desc: 'DEL in a value', input: ok200 + 'X: a\x7fb\r\nContent-Length: 0\r\n\r\n', error: /field value/ },
  { desc: 'control char in a name', input: ok200 + 'X\x01: a\r\nContent-Length: 0\r\n\r\n', error: /field name/ },
  { desc: 'not HTTP at all', input: 'SSH-2.0-OpenSSH\r\n\r\n', error: /status line/ },
  { desc: 'HTTP/2.0 version', input: 'HTTP/2.0 200 OK\r\n\r\n', error: /status line/ },
  { desc: 'HTTP/1.2 version', input: 'HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n', error: /version/ },
  { desc: 'two-digit status', input: 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n', error: /status/ },
  { desc: 'four-digit status', input: 'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n', error: /status line/ },
  { desc: 'status 099', input: 'HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n', error: /status code/ },
  { desc: 'status 600', input: 'HTTP/1.1 600 OK\r\nContent-Length: 0\r\n\r\n', error: /status code/ },
  { desc: 'two spaces after version', input: 'HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n', error: /status code/ },
  { desc: 'content-length list even if equal', input: ok200 + 'Content-Length: 5, 5\r\n\r\nhello', error: /Content-Length/ },
  { desc: 'duplicate content-length even if equal', input: ok200 + 'Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello', error: /Content-Length/ },
  { desc: 'differing content-lengths', input: ok200 + 'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', error: /Content-Length/ },
  { desc: 'content-length sign', input: ok200 + 'Content-Length: +5\r\n\r\nhello', error: /Content-Length/ },
  { desc: 'content-length hex', input: ok200 + 'Content-Length: 0x5\r\n\r\nhello', error: /Content-Length/ },
  { desc: 'content-length empty', input: ok200 + 'Content-Length: \r\n\r\n', error: /Content-Length/ },
  { desc: 'content-length with HTAB (llhttp rejects it too)', input: ok200 + 'Content-Length: 1\t\r\n\r\nx', error: /Content-Length/ },
  { desc: 'content-length over 2^53-1', input: ok200 + 'Content-Length: 9007199254740992\r\n\r\n', error: /Content-Length/ },
  { desc: 'transfer-encoding with content-length', input: ok200 + 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', error: /Content-Length and Transfer-Encoding/ },
  { desc: 'transfer-encoding in HTTP/1.0', input: 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', error: /HTTP\/1.0/ },
  { desc: 'chunked twice', input: ok200 + 'Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', error: /Transfer-Encoding/ },
  { desc: 'chunked with a parameter', input: ok200 + 'Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n', error: /Transfer-Encoding/ },
  { desc: 'transfer-encoding empty element', input: ok200 + 'Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n', error: /Transfer-Encoding/ },
  { desc: 'transfer-encoding empty', input: ok200 + 'Transfer-Encoding:\r\n\r\n', error: /Transfer-Encoding/ },
  { desc: 'HTAB in transfer-encoding', input: ok200 + 'Transfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n', error: /Transfer-Encoding/ },
  { desc: '1xx in HTTP/1.0', input: 'HTTP/1.0 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\n', error: /1xx/ },
  { desc: 'content-length in 1xx', input: 'HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nhello', error: /1xx/ },
  { desc: 'chunk size not hex', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\nzz\r\n', error: /chunk size/ },
  { desc: 'chunk size missing', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n\r\n', error: /chunk size/ },
  { desc: 'chunk size too long', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n00000000000000005\r\nhello\r\n', error: /too long/ },
  { desc: 'chunk size over 2^53-1', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n20000000000000\r\n', error: /too large/ },
  { desc: 'space after chunk size', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n', error: /chunk size/ },
  { desc: 'BWS in chunk extension', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n5; a=b\r\nhello\r\n0\r\n\r\n', error: /extension/ },
  { desc: 'chunk extension without name', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n5;=b\r\nhello\r\n0\r\n\r\n', error: /extension/ },
  { desc: 'chunk extension without value', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n0\r\n\r\n', error: /extension/ },
  { desc: 'chunk extension bad quoted char', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n5;a="\x01"\r\nhello\r\n0\r\n\r\n', error: /extension/ },
  { desc: 'bare LF after chunk size', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n', error: /chunk size/ },
  { desc: 'missing CRLF after chunk data', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n', error: /after chunk data/ },
  { desc: 'bare LF after chunk data', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n', error: /after chunk data/ },
  { desc: 'bad trailer', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n0\r\nX : y\r\n\r\n', error: /before colon/ },
  { desc: 'bare LF ending trailers', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n0\r\n\n', eof: true, error: /incomplete|field line/ },
  { desc: 'EOF inside content-length body', input: ok200 + 'Content-Length: 10\r\n\r\nshort', error: /incomplete/ },
  { desc: 'EOF inside a chunk', input: ok200 + 'Transfer-Encoding: chunked\r\n\r\n5\r\nhel', error: /incomplete/ },
  { desc: 'EOF inside the head', input: ok200 + 'Content-Le', error: /incomplete/ },
];

for (const c of cases) {
  test(`response parser: ${c.desc}`, () => {
    const outcomes = allSplits(c.input, c.isHead ?? false, c.eof ?? true);
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i];
      const how = i === 0 ? 'whole' : i === outcomes.length - 1 ? 'byte by byte' : `split at ${i}`;
      if (c.error !== undefined) {
        assert.equal(o.consumed, -1, `${how}: expected an error, got ${JSON.stringify(o.events)}`);
        assert.match(o.error ?? '', c.error, how);
      } else {
        assert.equal(o.error, null, `${how}: ${o.error}`);
        assert.deepEqual(o.events, c.events, how);
        assert.equal(o.consumed, c.consumed ?? Buffer.byteLength(c.input, 'latin1'), how);
      }
    }
  });
}

test('response parser: header section limit is 64 KiB', () => {
  const line = 'X-Pad: ' + 'a'.repeat(1000) + '\r\n';
  let head = ok200;
  while (head.length + line.length < MAX_SECTION_BYTES - 40) head += line;
  const fits = head + 'Content-Length: 0\r\n\r\n';
  assert.ok(fits.length <= MAX_SECTION_BYTES);
  assert.equal(feed(fits, [], false, true).error, null);
  assert.equal(feed(fits, [100, 30000, 60000], false, true).error, null);
  const over = head + line + 'Content-Length: 0\r\n\r\n';
  assert.ok(over.length > MAX_SECTION_BYTES);
  assert.match(feed(over, [], false, true).error ?? '', /too large/);
  assert.match(feed(over, [100, 30000, 60000], false, true).error ?? '', /too large/);
  // Never ending head: rejected as soon as 64 KiB arrived, not at EOF.
  const endless = ok200 + 'X: ' + 'b'.repeat(MAX_SECTION_BYTES);
  const o = feed(endless, [1000, 2000], false, false);
  assert.match(o.error ?? '', /too large/);
});

test('response parser: reset() re-arms for the next response on the same connection', () => {
  const events: unknown[] = [];
  const c = collector(events);
  const p = new ResponseParser(c.handler);
  p.reset(false);
  assert.equal(p.inProgress, false);
  const first = Buffer.from(ok200 + 'Content-Length: 1\r\n\r\nA');
  assert.equal(p.execute(first.subarray(0, 3)), 3);
  assert.equal(p.inProgress, true);
  assert.equal(p.execute(first.subarray(3)), first.length - 3);
  assert.equal(p.inProgress, false);
  assert.equal(p.execute(Buffer.from('junk')), 0, 'nothing consumed after onEnd');
  p.reset(true);
  const second = Buffer.from(ok200 + 'Content-Length: 1\r\n\r\n');
  assert.equal(p.execute(second), second.length);
  p.reset(false);
  const third = Buffer.from(ok200 + 'Transfer-Encoding: chunked\r\n\r\n1\r\nC\r\n0\r\n\r\n');
  assert.equal(p.execute(third), third.length);
  c.flush();
  assert.deepEqual(
    events.filter((e) => (e as unknown[])[0] !== 'head'),
    [['body', 'A'], ['end', null], ['end', null], ['body', 'C'], ['end', null]],
  );
  assert.equal(p.finish(), true, 'finish after a complete response is fine');
});

test('response parser: finish() before any byte reports a close before the response', () => {
  const p = new ResponseParser(collector([]).handler);
  p.reset(false);
  assert.equal(p.finish(), false);
  assert.match(p.error ?? '', /before a response/);
  assert.equal(p.execute(Buffer.from(ok200)), -1, 'stays failed');
});

test('response parser: body chunks are views of the input (no copy)', () => {
  const seen: Buffer[] = [];
  const p = new ResponseParser({ onInterim() {}, onHead() {}, onBody: (b) => seen.push(b), onEnd() {} });
  p.reset(false);
  const input = Buffer.from(ok200 + 'Content-Length: 4\r\n\r\nabcd');
  p.execute(input);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].buffer, input.buffer);
});

test('response parser: obsText is per head, through the per-connection head memo too', () => {
  const flags: boolean[] = [];
  const p = new ResponseParser({ onInterim() {}, onHead: (_s, _r, _h, f) => flags.push(f.obsText === true), onBody() {}, onEnd() {} });
  const obs = Buffer.from('HTTP/1.1 200 OK\r\nX: caf\xe9\r\nContent-Length: 0\r\n\r\n', 'latin1');
  const ascii = Buffer.from('HTTP/1.1 200 OK\r\nX: cafe\r\nContent-Length: 0\r\n\r\n', 'latin1');
  for (const b of [obs, obs, ascii, ascii, obs]) {
    p.reset(false);
    assert.equal(p.execute(b, b.length), b.length);
  }
  assert.deepEqual(flags, [true, true, false, false, true]);
});
