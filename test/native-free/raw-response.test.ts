// The native-free response head builder: finalHead against the plain build it replaced (every
// name and value scanned for CR/LF on every call), across sequences of calls, since it remembers
// what it checked; the Content-Length ending memo.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { finalHead, httpDate, lengthHeadEnd, reasonFor } from '../../native-free/raw-response';

/** What finalHead returned before it remembered anything (native-free/raw-response.ts, 10cc82c). */
function plainHead(status: number, reason: string, headers: readonly string[], date: string): string | null {
  const lb = (s: string): boolean => s.includes('\r') || s.includes('\n');
  let head = 'HTTP/1.1 ' + status + ' ' + reasonFor(status, lb(reason) ? '' : reason) + '\r\n';
  let hasDate = false;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i];
    const value = headers[i + 1];
    if (lb(name) || lb(value)) return null;
    if (!hasDate && name.length === 4 && name.toLowerCase() === 'date') hasDate = true;
    head += name + ': ' + value + '\r\n';
  }
  if (!hasDate) head += 'Date: ' + date + '\r\n';
  return head;
}

/** finalHead and plainHead agree (plainHead with the Date of either side of the call). */
function assertSame(status: number, reason: string, headers: readonly string[]): string | null {
  const before = httpDate();
  const got = finalHead(status, reason, headers);
  const after = httpDate();
  const want = plainHead(status, reason, headers, before);
  if (got !== want) assert.equal(got, plainHead(status, reason, headers, after), JSON.stringify({ status, reason, headers }));
  return got;
}

describe('finalHead', () => {
  const cases: { desc: string; status: number; reason: string; headers: string[]; want: string | null }[] = [
    { desc: 'fields in order, Date added', status: 200, reason: 'OK', headers: ['server', 'nginx', 'content-type', 'text/plain'], want: 'HTTP/1.1 200 OK\r\nserver: nginx\r\ncontent-type: text/plain\r\nDate: <date>\r\n' },
    { desc: 'a Date field of the caller, any case, is the only one', status: 200, reason: 'OK', headers: ['DATE', 'Thu, 01 Jan 1970 00:00:00 GMT'], want: 'HTTP/1.1 200 OK\r\nDATE: Thu, 01 Jan 1970 00:00:00 GMT\r\n' },
    { desc: 'empty reason → the standard one', status: 404, reason: '', headers: [], want: 'HTTP/1.1 404 Not Found\r\nDate: <date>\r\n' },
    { desc: 'unregistered status', status: 599, reason: '', headers: [], want: 'HTTP/1.1 599 unknown\r\nDate: <date>\r\n' },
    { desc: 'reason with CR/LF → the standard one', status: 200, reason: 'OK\r\nX-Injected: 1', headers: [], want: 'HTTP/1.1 200 OK\r\nDate: <date>\r\n' },
    { desc: 'short value with LF → refused', status: 200, reason: 'OK', headers: ['server', 'a\nb'], want: null },
    { desc: 'short value with CR → refused', status: 200, reason: 'OK', headers: ['server', 'a\rb'], want: null },
    { desc: 'long value with CRLF → refused', status: 200, reason: 'OK', headers: ['x-long', 'abcdefghijklmnop\r\nX-Injected: 1'], want: null },
    { desc: 'name with CRLF → refused', status: 200, reason: 'OK', headers: ['X-A\r\nX-Injected', '1'], want: null },
    { desc: 'a trailing name without value is ignored', status: 204, reason: '', headers: ['a', 'b', 'c'], want: 'HTTP/1.1 204 No Content\r\na: b\r\nDate: <date>\r\n' },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      // Twice: the second call finds the status line, names and short values already checked.
      for (let round = 0; round < 2; round++) {
        const got = assertSame(c.status, c.reason, c.headers);
        assert.equal(got === null ? null : got.replace(/Date: [^\r]+ GMT\r\n$/, 'Date: <date>\r\n'), c.want);
      }
    });
  }

  it('a value checked before does not let a different one through under the same name', () => {
    for (const [value, ok] of [
      ['nginx/1.22.1', true],
      ['nginx\r\n1.22', false],
      ['nginx/1.22.1', true],
      ['x\n', false],
      ['"p";r=1;t=1, "q";r=2;t=2', true],
      ['"p";r=1;t=1\r\n"q";r=2', false],
    ] as const) {
      assert.equal(assertSame(200, 'OK', ['server', 'v', 'server', value]) !== null, ok, JSON.stringify(value));
    }
  });

  it('a reason checked before does not let a different one through for the same status', () => {
    assert.match(finalHead(200, 'Fine', [])!, /^HTTP\/1\.1 200 Fine\r\n/);
    assert.match(finalHead(200, 'Fi\rne', [])!, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(finalHead(200, 'Fine', [])!, /^HTTP\/1\.1 200 Fine\r\n/);
    assert.match(finalHead(200, 'A rather long reason', [])!, /^HTTP\/1\.1 200 A rather long reason\r\n/);
    assert.match(finalHead(200, 'A rather long\nreason', [])!, /^HTTP\/1\.1 200 OK\r\n/);
  });

  it('past the remembered names (1024), names are still checked and written as given', () => {
    for (let i = 0; i < 1100; i++) assertSame(200, 'OK', ['x-name-' + i, 'v' + i]);
    assertSame(200, 'OK', ['x-name-1099', 'v']);
    assert.equal(finalHead(200, 'OK', ['x-name-1099', 'v\r\n']), null);
    assert.equal(finalHead(200, 'OK', ['x-name-\r\n1100', 'v']), null);
  });

  it('agrees with the plain build over random sequences of heads', () => {
    // Few names and values, so that they repeat across calls; CR, LF and NUL among the characters.
    const text = (max: number): fc.Arbitrary<string> =>
      fc.array(fc.constantFrom('a', 'B', ' ', ':', '"', ';', '=', '1', '\r', '\n', '\0', 'é'), { maxLength: max }).map((cs) => cs.join(''));
    const name = fc.oneof(fc.constantFrom('server', 'content-type', 'RateLimit', 'RateLimit-Policy', 'Date', 'date', 'x-a-rather-long-name'), text(16));
    const value = fc.oneof(fc.constantFrom('nginx/1.22.1', 'text/plain', '"per-tenant";r=99;t=1', ''), text(30));
    const head = fc.record({
      status: fc.constantFrom(200, 201, 404, 599),
      reason: fc.oneof(fc.constantFrom('OK', '', 'Not Found'), text(16)),
      headers: fc.array(fc.tuple(name, value), { maxLength: 6 }).map((pairs) => pairs.flat()),
    });
    fc.assert(
      fc.property(fc.array(head, { minLength: 1, maxLength: 8 }), (heads) => {
        for (const h of heads) assertSame(h.status, h.reason, h.headers);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('lengthHeadEnd', () => {
  it('is Content-Length then the given ending, whatever came before', () => {
    const keep = 'Connection: keep-alive\r\n\r\n';
    const close = 'Connection: close\r\n\r\n';
    for (const [length, end] of [
      [100, keep],
      [100, keep],
      [100, close],
      [0, close],
      [0, keep],
      [123456789, keep],
      [100, keep],
    ] as const) {
      assert.equal(lengthHeadEnd(length, end), `Content-Length: ${length}\r\n${end}`);
    }
  });
});
