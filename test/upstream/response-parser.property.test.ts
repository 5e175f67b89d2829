// Differential property test: random valid responses (random headers, framing, chunking, trailers,
// interim 1xx), then random byte mutations and random split points. The same bytes go to our parser
// and to node's llhttp binding (node:_http_common HTTPParser, no lenient flags). Property: whenever
// ours accepts, llhttp accepts the same bytes and both agree on status, reason, headers, body bytes,
// trailers and keep-alive; ours may reject more. Unmutated inputs must be accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ResponseParser, type ResponseFraming } from '../../src/upstream/response-parser';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { HTTPParser } = require('node:_http_common') as { HTTPParser: NodeHTTPParserCtor };

interface NodeHTTPParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(b: Buffer): number | Error;
  finish(): undefined | Error;
  close(): void;
  [k: number]: unknown;
}
interface NodeHTTPParserCtor {
  new (): NodeHTTPParser;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kLenientNone: number;
}

interface Message {
  status: number;
  reason: string;
  headers: string[];
  body: string;
  trailers: string[];
  keepAlive: boolean;
}

interface Result {
  ok: boolean;
  error?: string;
  messages: Message[];
  consumed: number;
  usedFinish: boolean;
  final?: ResponseFraming;
}

function lowerNames(h: string[]): string[] {
  const out = h.slice();
  for (let i = 0; i < out.length; i += 2) out[i] = out[i].toLowerCase();
  return out;
}

function runOurs(bytes: Buffer, cuts: number[], isHead: boolean): Result {
  const messages: Message[] = [];
  let final: ResponseFraming | undefined;
  let body: Buffer[] = [];
  const p = new ResponseParser({
    onInterim: (status, reason, headers) => messages.push({ status, reason, headers, body: '', trailers: [], keepAlive: true }),
    onHead: (status, reason, headers, framing) => {
      final = framing;
      messages.push({ status, reason, headers, body: '', trailers: [], keepAlive: framing.keepAlive });
    },
    onBody: (chunk) => body.push(Buffer.from(chunk)),
    onEnd: (trailers) => {
      const m = messages[messages.length - 1];
      m.body = Buffer.concat(body).toString('latin1');
      m.trailers = trailers ?? [];
      body = [];
    },
  });
  p.reset(isHead);
  let consumed = 0;
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut <= prev) continue;
    const piece = Buffer.from(bytes.subarray(prev, cut));
    prev = cut;
    const n = p.execute(piece);
    if (n < 0) return { ok: false, error: p.error ?? '', messages, consumed, usedFinish: false };
    consumed += n;
    if (n < piece.length) return { ok: true, messages, consumed, usedFinish: false, final };
  }
  if (!p.inProgress) {
    // Ended exactly at the input end (or upgraded).
    return { ok: final !== undefined, messages, consumed, usedFinish: false, final };
  }
  if (!p.finish()) return { ok: false, error: p.error ?? '', messages, consumed, usedFinish: true };
  return { ok: true, messages, consumed, usedFinish: true, final };
}

function runNode(bytes: Buffer, cuts: number[], isHead: boolean, useFinish: boolean): Result {
  const p = new HTTPParser();
  p.initialize(HTTPParser.RESPONSE, {}, 1 << 20, HTTPParser.kLenientNone);
  const messages: Message[] = [];
  let pending: string[] = [];
  let body: Buffer[] = [];
  let complete = 0;
  p[HTTPParser.kOnHeaders] = (h: string[]) => {
    pending.push(...h);
  };
  p[HTTPParser.kOnHeadersComplete] = (
    _maj: number, _min: number, headers: string[] | undefined, _m: unknown, _u: unknown, status: number, reason: string, _up: boolean, keepAlive: boolean,
  ) => {
    const h = headers ?? pending;
    pending = [];
    messages.push({ status, reason, headers: lowerNames(h), body: '', trailers: [], keepAlive });
    return isHead ? 1 : 0;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => body.push(Buffer.from(b));
  p[HTTPParser.kOnMessageComplete] = () => {
    const m = messages[messages.length - 1];
    m.body = Buffer.concat(body).toString('latin1');
    m.trailers = lowerNames(pending);
    pending = [];
    body = [];
    complete++;
  };
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut <= prev) continue;
    const r = p.execute(Buffer.from(bytes.subarray(prev, cut)));
    prev = cut;
    if (r instanceof Error) {
      p.close();
      return { ok: false, error: (r as Error & { code?: string }).code, messages, consumed: prev, usedFinish: false };
    }
  }
  if (useFinish) {
    const r = p.finish();
    if (r instanceof Error) {
      p.close();
      return { ok: false, error: (r as Error & { code?: string }).code, messages, consumed: prev, usedFinish: true };
    }
  }
  p.close();
  return { ok: complete === messages.length && complete > 0, error: 'incomplete', messages, consumed: prev, usedFinish: useFinish };
}

// --- generators ------------------------------------------------------------------------------

const tokenChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~".split('');
const valueChars = [...' !"#$%&\'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~'.split(''), '\t', '\xe9', '\xff', '\x80'];
const token = fc.array(fc.constantFrom(...tokenChars), { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
const fieldValue = fc
  .array(fc.constantFrom(...valueChars), { maxLength: 24 })
  .map((a) => a.join('').replace(/^[ \t]+|[ \t]+$/g, ''));
const ows = fc.constantFrom('', ' ', '  ', '\t', ' \t');
const headerName = fc.oneof(
  token.filter((t) => !/^(content-length|transfer-encoding|connection)$/i.test(t)),
  fc.constantFrom('Content-Type', 'Server', 'Date', 'ETag', 'set-cookie', 'X-Request-Id', 'VARY', 'cache-control'),
);
const field = fc.tuple(headerName, ows, fieldValue, ows).map(([n, a, v, b]) => ({ name: n, raw: `${n}:${a}${v}${b}\r\n`, value: v }));
const chunkExt = fc.array(
  fc.tuple(token, fc.option(fc.oneof(token, fieldValue.map((v) => '"' + v.replace(/["\\\t\x80-\xff]/g, '') + '"')), { nil: undefined })),
  { maxLength: 2 },
).map((exts) => exts.map(([n, v]) => ';' + n + (v === undefined || v === '""' ? '' : '=' + v)).join(''));

const responseArb = fc.record({
  minor: fc.constantFrom(1, 1, 1, 0),
  interim: fc.array(fc.tuple(fc.constantFrom(100, 102, 103), fc.array(field, { maxLength: 2 })), { maxLength: 2 }),
  status: fc.constantFrom(200, 200, 201, 204, 206, 301, 304, 404, 500, 503, 101),
  reason: fc.constantFrom('OK', '', 'Some Reason', 'x\tb'),
  fields: fc.array(field, { maxLength: 6 }),
  framing: fc.constantFrom('length', 'chunked', 'close', 'te-close'),
  connection: fc.constantFrom(null, 'close', 'keep-alive', 'Keep-Alive, Upgrade', 'foo'),
  body: fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
  chunkSizes: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 8 }),
  exts: fc.array(chunkExt, { minLength: 9, maxLength: 9 }),
  hexUpper: fc.boolean(),
  trailers: fc.array(field, { maxLength: 2 }),
  isHead: fc.constantFrom(false, false, false, true),
  tail: fc.constantFrom('', 'HTTP/1.1 200 OK\r\n', 'junk'),
});

type Gen = typeof responseArb extends fc.Arbitrary<infer T> ? T : never;

function serialize(r: Gen): { bytes: Buffer; isHead: boolean } {
  const parts: Buffer[] = [];
  const s = (x: string): void => {
    parts.push(Buffer.from(x, 'latin1'));
  };
  const v = `HTTP/1.${r.minor}`;
  if (r.minor === 1) for (const [st, fs] of r.interim) s(`${v} ${st} Info\r\n${fs.map((f) => f.raw).join('')}\r\n`);
  s(`${v} ${r.status}${r.reason === '' ? '' : ' ' + r.reason}\r\n`);
  for (const f of r.fields) s(f.raw);
  if (r.connection !== null) s(`Connection: ${r.connection}\r\n`);
  const noBody = r.isHead || r.status === 204 || r.status === 304 || r.status === 101;
  let framing = r.framing;
  if (r.minor === 0 && framing === 'chunked') framing = 'length';
  if (r.minor === 0 && framing === 'te-close') framing = 'close';
  if (framing === 'length') s(`Content-Length: ${r.body.length}\r\n`);
  if (framing === 'chunked' && r.status !== 101) s('Transfer-Encoding: chunked\r\n');
  if (framing === 'te-close' && r.status !== 101) s('Transfer-Encoding: gzip\r\n');
  s('\r\n');
  if (r.status === 101) {
    s('\x81\x05hello');
    return { bytes: Buffer.concat(parts), isHead: r.isHead };
  }
  if (!noBody) {
    if (framing === 'chunked') {
      let off = 0;
      let i = 0;
      while (off < r.body.length) {
        const n = Math.min(r.chunkSizes[i % Math.max(1, r.chunkSizes.length)] ?? 16, r.body.length - off);
        const hex = n.toString(16);
        s((r.hexUpper ? hex.toUpperCase() : hex) + r.exts[i % 9] + '\r\n');
        parts.push(r.body.subarray(off, off + n));
        s('\r\n');
        off += n;
        i++;
      }
      s('0' + r.exts[8] + '\r\n' + r.trailers.map((f) => f.raw).join('') + '\r\n');
    } else {
      parts.push(r.body);
    }
  }
  // Bytes after the response (a pipelined-looking tail): not for close-delimited bodies.
  if (noBody || framing === 'length' || framing === 'chunked') s(r.tail);
  return { bytes: Buffer.concat(parts), isHead: r.isHead };
}

const interesting = [13, 10, 32, 9, 58, 44, 59, 61, 34, 92, 48, 49, 97, 65, 0, 127, 255, 128];
const mutation = fc.record({
  kind: fc.constantFrom('replace', 'insert', 'delete'),
  at: fc.nat(),
  byte: fc.oneof(fc.constantFrom(...interesting), fc.integer({ min: 0, max: 255 })),
});

function mutate(bytes: Buffer, muts: { kind: string; at: number; byte: number }[]): Buffer {
  let b = Buffer.from(bytes);
  for (const m of muts) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'replace') b[at] = m.byte;
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
  }
  return b;
}

function checkAgreement(bytes: Buffer, cuts: number[], isHead: boolean, mustAccept: boolean, stats: { accepted: number; rejected: number }): void {
  const ours = runOurs(bytes, cuts, isHead);
  if (!ours.ok) {
    stats.rejected++;
    assert.ok(!mustAccept, `valid response rejected: ${ours.error}\n${JSON.stringify(bytes.toString('latin1'))}`);
    return;
  }
  stats.accepted++;
  const theirs = runNode(bytes.subarray(0, ours.consumed), cuts, isHead, ours.usedFinish);
  const ctx = `\ninput: ${JSON.stringify(bytes.toString('latin1'))}\ncuts: ${cuts}\nhead: ${isHead}`;
  assert.ok(theirs.ok, `ours accepted, llhttp rejected (${theirs.error})${ctx}`);
  assert.equal(ours.messages.length, theirs.messages.length, `message count${ctx}`);
  for (let i = 0; i < ours.messages.length; i++) {
    const a = ours.messages[i];
    const b = theirs.messages[i];
    assert.equal(a.status, b.status, `status${ctx}`);
    assert.equal(a.reason, b.reason, `reason${ctx}`);
    assert.deepEqual(a.headers, b.headers, `headers${ctx}`);
    assert.equal(a.body, b.body, `body${ctx}`);
    assert.deepEqual(a.trailers, b.trailers, `trailers${ctx}`);
  }
  const last = ours.messages.length - 1;
  // Keep-alive: ours may only be more conservative (e.g. `close<HTAB>` is a close token to us, not
  // to llhttp). llhttp computes it before it learns the response is to HEAD; 101 is never reused.
  if (!isHead && ours.final !== undefined && !ours.final.upgrade && ours.messages[last].keepAlive) {
    assert.equal(theirs.messages[last].keepAlive, true, `keepAlive${ctx}`);
  }
}

const cutsArb = fc.array(fc.nat({ max: 600 }), { maxLength: 6 }).map((a) => [...new Set(a)].sort((x, y) => x - y));

test('response parser agrees with llhttp on valid responses (random framing and splits)', () => {
  const stats = { accepted: 0, rejected: 0 };
  fc.assert(
    fc.property(responseArb, cutsArb, (r, cuts) => {
      const { bytes, isHead } = serialize(r);
      checkAgreement(bytes, cuts, isHead, true, stats);
    }),
    { seed: 20240611, numRuns: 1500, includeErrorInReport: true },
  );
  assert.equal(stats.rejected, 0);
});

test('response parser: mutated responses are rejected or parsed exactly like llhttp', () => {
  const stats = { accepted: 0, rejected: 0 };
  fc.assert(
    fc.property(responseArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), cutsArb, (r, muts, cuts) => {
      const { bytes, isHead } = serialize(r);
      checkAgreement(mutate(bytes, muts), cuts, isHead, false, stats);
    }),
    { seed: 20240612, numRuns: 2000, includeErrorInReport: true },
  );
  // Not vacuous: plenty of mutants survive (mutations in bodies and values) and plenty are rejected.
  assert.ok(stats.accepted > 200, `accepted ${stats.accepted}`);
  assert.ok(stats.rejected > 200, `rejected ${stats.rejected}`);
});

/** Every event a parser gives for `bytes` (one execute, then finish), after parsing `first` on it when given. */
function eventsOf(bytes: Buffer, isHead: boolean, first: Buffer | null): unknown[] {
  let log: unknown[] = [];
  const p = new ResponseParser({
    onInterim: (status, reason, headers) => log.push(['interim', status, reason, headers.slice()]),
    onHead: (status, reason, headers, framing) => {
      log.push(['head', status, reason, headers.slice(), { ...framing }]);
      // A handler may edit the list it is given: that must not reach a later response.
      headers.push('x-edited', 'by-handler');
      headers[0] = 'clobbered';
    },
    onBody: (chunk) => log.push(['body', chunk.toString('latin1')]),
    onEnd: (trailers) => log.push(['end', trailers]),
  });
  if (first !== null) {
    p.reset(isHead);
    p.execute(Buffer.from(first));
    p.finish();
    log = [];
  }
  p.reset(isHead);
  const n = p.execute(Buffer.from(bytes));
  log.push(['consumed', n, p.error]);
  if (n >= 0) log.push(['finish', p.inProgress ? p.finish() : null, p.error]);
  return log;
}

test('response parser: a connection parses its next response exactly as a fresh parser would (head memo: same head, or one byte apart)', () => {
  let same = 0;
  fc.assert(
    fc.property(responseArb, fc.array(mutation, { maxLength: 2 }), fc.boolean(), (r, muts, repeat) => {
      const { bytes, isHead } = serialize(r);
      const next = repeat || muts.length === 0 ? bytes : mutate(bytes, muts);
      if (next.equals(bytes)) same++;
      assert.deepEqual(eventsOf(next, isHead, bytes), eventsOf(next, isHead, null));
    }),
    { seed: 20261126, numRuns: 1500, includeErrorInReport: true },
  );
  assert.ok(same > 300, `repeated heads: ${same}`);
});
