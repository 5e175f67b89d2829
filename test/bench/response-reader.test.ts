import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createResponseReader } from '../../bench/harness/response-reader';

function feedAll(parts: (string | Buffer)[]): number[] {
  const seen: number[] = [];
  const r = createResponseReader((s) => seen.push(s));
  for (const p of parts) r.push(Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1'));
  return seen;
}

/** Feeds `text` split at every possible single point, and one byte at a time. */
function everySplit(text: string): number[][] {
  const out: number[][] = [];
  for (let i = 0; i <= text.length; i++) out.push(feedAll([text.slice(0, i), text.slice(i)]));
  out.push(feedAll(text.split('')));
  return out;
}

const cases: { desc: string; wire: string; statuses: number[] }[] = [
  { desc: 'content-length', wire: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', statuses: [200] },
  { desc: 'zero length', wire: 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n', statuses: [200] },
  {
    desc: 'chunked with extension and trailer',
    wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n',
    statuses: [200],
  },
  { desc: '204 has no body', wire: 'HTTP/1.1 204 No Content\r\n\r\n', statuses: [204] },
  { desc: '100 continue is interim', wire: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', statuses: [200] },
  {
    desc: 'two pipelined responses',
    wire: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n',
    statuses: [200, 503],
  },
  { desc: 'incomplete body is not a response yet', wire: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello', statuses: [] },
];

for (const c of cases) {
  test(`response reader: ${c.desc}, at every split point`, () => {
    for (const seen of everySplit(c.wire)) assert.deepEqual(seen, c.statuses);
  });
}

test('response reader: a 1 MiB body in 64 KiB pieces is one response', () => {
  const body = Buffer.alloc(1 << 20, 'b');
  const wire = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
  const parts: Buffer[] = [];
  for (let i = 0; i < wire.length; i += 65536) parts.push(wire.subarray(i, i + 65536));
  assert.deepEqual(feedAll(parts), [200]);
});

test('response reader: rejects a response it cannot frame', () => {
  assert.throws(() => feedAll(['HTTP/1.1 200 OK\r\n\r\nbody']), /Content-Length or chunked/);
  assert.throws(() => feedAll(['garbage\r\n\r\n']), /bad status line/);
  assert.throws(() => feedAll(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n']), /bad chunk size/);
});
