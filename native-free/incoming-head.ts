// Turns a parsed request head (native-free/parser.ts) into the front-end-neutral IncomingHead,
// faithfully: method and target as received, every header line in order with duplicates (the
// shared validator needs them to see a second Content-Length or Host).
import type { IncomingHead } from '../src/http/downstream';
import type { ParsedRequest } from './parser';

/** `::ffff:1.2.3.4` → `1.2.3.4` (IPv4-mapped IPv6, RFC 4291 §2.5.5.2); anything else as is. */
export function unwrapAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.indexOf('.') !== -1 ? address.slice(7) : address;
}

/**
 * Build the head. `req.rawHeaders` is reused as `headers` with its names lower-cased in place,
 * so a request costs one small object.
 * `headBytes` is the head's size on the wire counted as if every field were written
 * `name: value\r\n` (llhttp strips the optional whitespace around values before we see them):
 * exact for what clients normally send, a byte or so off per field written otherwise.
 */
export function createIncomingHead(req: ParsedRequest, remoteAddress: string): IncomingHead {
  const url = req.url;
  const method = req.method;
  const raw = req.rawHeaders;
  // "<method> <target> HTTP/1.x\r\n" + "\r\n" at the end of the head.
  let bytes = method.length + url.length + 14;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    raw[i] = name.toLowerCase(); // V8 returns the same string when already lower-case
    bytes += name.length + raw[i + 1].length + 4; // ": " and CRLF
  }
  const q = url.indexOf('?');
  return {
    method,
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? '' : url.slice(q + 1),
    httpMinor: req.versionMinor,
    headers: raw,
    remoteAddress,
    scheme: 'http',
    headBytes: bytes,
  };
}
