// Response header relay (src/http/forwarding.ts filterResponseHeaders): hop-by-hop and framing
// fields go, fields named by Connection go, the input list comes back as is when nothing goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterResponseHeaders, isRequestHopByHop, isResponseDropped } from '../../src/http/forwarding';

const cases: { desc: string; input: string[]; want: string[]; same?: boolean }[] = [
  { desc: 'nothing to drop: the same list', input: ['content-type', 'text/plain', 'x-a', '1'], want: ['content-type', 'text/plain', 'x-a', '1'], same: true },
  {
    desc: 'nginx-style head: Date, Content-Length and Connection: keep-alive dropped',
    input: ['server', 'nginx', 'date', 'x', 'content-type', 'text/plain', 'content-length', '100', 'connection', 'keep-alive'],
    want: ['server', 'nginx', 'content-type', 'text/plain'],
  },
  { desc: 'Connection: close (any case)', input: ['connection', 'Close', 'x-a', '1'], want: ['x-a', '1'] },
  { desc: 'Connection: Keep-Alive (any case) lists nothing else', input: ['x-b', '2', 'connection', 'Keep-Alive', 'x-a', '1'], want: ['x-b', '2', 'x-a', '1'] },
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

// The two membership tests are switches on the name's length (no hashing of fresh strings): every
// listed name must be found, and no other name, including names of the same lengths.
const REQUEST_DROPPED = [
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'trailer',
  'transfer-encoding', 'upgrade', 'te', 'content-length', 'expect', 'host', 'x-forwarded-for', 'x-forwarded-proto',
  'x-forwarded-host',
];
// Proxy-Authenticate and Proxy-Authorization apply to the next hop only (RFC 9110 §11.7.1, §11.7.2): an upstream's
// challenge is addressed to gatemesh, not to the client.
const RESPONSE_DROPPED = [
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'trailer', 'transfer-encoding',
  'upgrade', 'te', 'content-length', 'date',
];
// Kept names, among them one of every length either list uses, and near misses.
const KEPT = [
  'tf', 'ta', 'hosts', 'hoss', 'accept', 'cookie', 'referer', 'upgradf', 'connectiom', 'keep-alivf', 'content-type',
  'content-lengtg', 'x-forwarded-foo', 'x-forwarded-hosu', 'proxy-connectioo', 'x-forwarded-proto2', 'transfer-encodinh',
  'proxy-authenticatf', 'proxy-authorizatioo', 'x-request-id', 'user-agent', 'authorization', 'cache-control', '', 'Host', 'TE',
];

test('isRequestHopByHop: every dropped request field, and nothing else', () => {
  for (const n of REQUEST_DROPPED) assert.equal(isRequestHopByHop(n), true, n);
  for (const n of KEPT) assert.equal(isRequestHopByHop(n), false, n);
  for (const n of RESPONSE_DROPPED) if (!REQUEST_DROPPED.includes(n)) assert.equal(isRequestHopByHop(n), false, n);
});

test('isResponseDropped: every dropped response field, and nothing else', () => {
  for (const n of RESPONSE_DROPPED) assert.equal(isResponseDropped(n), true, n);
  for (const n of KEPT) assert.equal(isResponseDropped(n), false, n);
  // Request-only drops cross in responses (Host, Expect, X-Forwarded-*).
  for (const n of REQUEST_DROPPED) if (!RESPONSE_DROPPED.includes(n)) assert.equal(isResponseDropped(n), false, n);
});
