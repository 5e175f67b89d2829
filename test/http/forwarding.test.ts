// Response header relay (src/http/forwarding.ts filterResponseHeaders): hop-by-hop and framing
// fields go, fields named by Connection go, the input list comes back as is when nothing goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterResponseHeaders } from '../../src/http/forwarding';

const cases: { desc: string; input: string[]; want: string[]; same?: boolean }[] = [
  { desc: 'nothing to drop: the same list', input: ['content-type', 'text/plain', 'x-a', '1'], want: ['content-type', 'text/plain', 'x-a', '1'], same: true },
  {
    desc: 'nginx-style head: Date, Content-Length and Connection: keep-alive dropped',
    input: ['server', 'nginx', 'date', 'x', 'content-type', 'text/plain', 'content-length', '100', 'connection', 'keep-alive'],
    want: ['server', 'nginx', 'content-type', 'text/plain'],
  },
  { desc: 'Connection: close (any case)', input: ['connection', 'Close', 'x-a', '1'], want: ['x-a', '1'] },
  { desc: 'Connection lists a field: that field goes too', input: ['connection', 'keep-alive, X-Secret', 'x-secret', 's', 'x-a', '1'], want: ['x-a', '1'] },
  { desc: 'a listed field before Connection (and before any dropped field) goes too', input: ['x-secret', 's', 'x-a', '1', 'connection', 'X-Secret', 'x-b', '2'], want: ['x-a', '1', 'x-b', '2'] },
  { desc: 'the input list is not changed when a copy is made', input: ['date', 'x', 'x-a', '1'], want: ['x-a', '1'] },
  { desc: 'two Connection lines are combined', input: ['connection', 'close', 'connection', 'x-b', 'x-b', '2', 'x-a', '1'], want: ['x-a', '1'] },
  { desc: 'transfer-encoding, trailer, upgrade, keep-alive dropped', input: ['transfer-encoding', 'chunked', 'trailer', 'x', 'upgrade', 'h2c', 'keep-alive', 'timeout=5', 'etag', '"1"'], want: ['etag', '"1"'] },
];

for (const c of cases) {
  test(`filterResponseHeaders: ${c.desc}`, () => {
    const before = c.input.slice();
    const out = filterResponseHeaders(c.input);
    assert.deepEqual(out, c.want);
    assert.deepEqual(c.input, before, 'input untouched');
    if (c.same === true) assert.equal(out, c.input);
  });
}
