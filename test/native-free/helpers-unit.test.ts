// Pure helpers of the native-free front end: address unwrapping, error mapping, raw heads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERR } from '../../src/errors';
import { clientErrorSpec, isTransportError } from '../../native-free/client-error';
import type { ClientError } from '../../native-free/client-error';
import { unwrapAddress } from '../../native-free/incoming-head';
import { errorResponse, rawHead } from '../../native-free/raw-response';

function err(code: string, reason = '', rawPacket?: Buffer): ClientError {
  return Object.assign(new Error(reason), { code, reason, rawPacket });
}

describe('native-free helpers', () => {
  const addresses: [string | undefined, string][] = [
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    ['::ffff:abcd', '::ffff:abcd'],
    ['2001:db8::ffff:1', '2001:db8::ffff:1'],
    [undefined, ''],
  ];
  for (const [input, want] of addresses) {
    it(`unwrapAddress(${input}) = ${want}`, () => assert.equal(unwrapAddress(input), want));
  }

  const cases: { desc: string; e: ClientError; want: (typeof ERR)[keyof typeof ERR] }[] = [
    { desc: 'CL+TE by reason, whatever the code', e: err('HPE_INVALID_CONTENT_LENGTH', "Content-Length can't be present with Transfer-Encoding"), want: ERR.CL_AND_TE },
    { desc: 'duplicate CL', e: err('HPE_UNEXPECTED_CONTENT_LENGTH', 'Duplicate Content-Length'), want: ERR.BAD_CONTENT_LENGTH },
    { desc: 'headers timeout', e: err('ERR_HTTP_REQUEST_TIMEOUT'), want: ERR.HEADERS_TIMEOUT },
    { desc: 'CR expected in chunk', e: err('HPE_CR_EXPECTED', 'Missing expected CR after chunk size'), want: ERR.BAD_CHUNK },
    { desc: 'CR expected in header', e: err('HPE_CR_EXPECTED', 'Missing expected CR after header value'), want: ERR.BAD_HEADER },
    { desc: 'unknown code', e: err('HPE_SOMETHING_NEW'), want: ERR.BAD_REQUEST },
    { desc: 'overflow in the fields', e: err('HPE_HEADER_OVERFLOW', '', Buffer.from('GET / HTTP/1.1\r\nX: ' + 'a'.repeat(100))), want: ERR.HEADERS_TOO_LARGE },
    { desc: 'overflow in the target', e: err('HPE_HEADER_OVERFLOW', '', Buffer.from('GET /' + 'a'.repeat(100))), want: ERR.URI_TOO_LONG },
    { desc: 'overflow mid-stream', e: err('HPE_HEADER_OVERFLOW', '', Buffer.from('a'.repeat(100))), want: ERR.HEADERS_TOO_LARGE },
  ];
  for (const c of cases) {
    it(`clientErrorSpec: ${c.desc} → ${c.want.code}`, () => assert.equal(clientErrorSpec(c.e, 50), c.want));
  }

  it('transport errors are not answered', () => {
    assert.ok(isTransportError(err('ECONNRESET')));
    assert.ok(!isTransportError(err('HPE_INVALID_METHOD')));
  });

  it('errorResponse is a complete response with Content-Length and Connection: close', () => {
    const text = errorResponse(ERR.BAD_HEADER);
    assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\nDate: .+ GMT\r\nContent-Type: text\/plain\r\nContent-Length: 23\r\nConnection: close\r\n\r\nmalformed header field\n$/);
  });

  it('rawHead skips one field by name and any pair with CR/LF', () => {
    const head = rawHead(101, '', ['Upgrade', 'websocket', 'CONNECTION', 'x', 'X-Bad', 'a\r\nB: c'], 'connection');
    assert.equal(head, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n');
  });
});
