// Maps what the front end's parser reports (llhttp parse errors as execute() returns them, the
// headers timeout, socket errors; the cases node:http's 'clientError' reported) onto the error
// catalogue. Codes and reasons checked against llhttp in Node 20.20 with
// raw sockets (test/native-free/malformed.test.ts); llhttp's codes have moved between versions,
// so the reason text decides first where it is the more precise signal.
import type { ErrorSpec } from '../src/errors';
import { ERR } from '../src/errors';

/** A parse error as llhttp's binding returns it (`code`, `reason`, `bytesParsed`), plus the read it
 *  failed in (`rawPacket`, as node:http's `prepareError` adds it). */
export interface ClientError extends Error {
  code?: string;
  reason?: string;
  rawPacket?: Buffer;
  bytesParsed?: number;
}

/** Errors of the transport itself: nothing can be written back, the socket is just destroyed. */
export function isTransportError(err: ClientError): boolean {
  const code = err.code;
  return (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    code === 'ERR_STREAM_WRITE_AFTER_END' ||
    code === 'ERR_STREAM_DESTROYED' ||
    code === 'HPE_INVALID_EOF_STATE' // the client closed in the middle of a message
  );
}

/** Catalogue entry for a parse error or timeout; `maxUriBytes` tells 414 from 431 on overflow. */
export function clientErrorSpec(err: ClientError, maxUriBytes: number): ErrorSpec {
  const reason = err.reason ?? '';
  // llhttp reports CL+TE under either code depending on which header came second:
  // "Content-Length can't be present with Transfer-Encoding" (RFC 9112 §6.1, §6.3 item 3).
  if (reason.includes("can't be present with")) return ERR.CL_AND_TE;
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return overflowSpec(err.rawPacket, maxUriBytes);
    case 'HPE_HEADERS_TIMEOUT':
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return ERR.HEADERS_TIMEOUT;
    case 'HPE_UNEXPECTED_CONTENT_LENGTH': // "Duplicate Content-Length"
    case 'HPE_INVALID_CONTENT_LENGTH': // bad digits, empty, overflow
      return ERR.BAD_CONTENT_LENGTH;
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return ERR.BAD_TRANSFER_ENCODING;
    case 'HPE_INVALID_CHUNK_SIZE':
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return ERR.BAD_CHUNK;
    case 'HPE_STRICT': // "Expected LF after chunk data" and other strict-mode checks
    case 'HPE_CR_EXPECTED':
    case 'HPE_LF_EXPECTED':
      // Inside a chunked body these are framing errors of the body, elsewhere of a header line.
      return reason.includes('chunk') ? ERR.BAD_CHUNK : ERR.BAD_HEADER;
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_UNEXPECTED_SPACE': // obs-fold right after the request line
      return reason.includes('chunk') ? ERR.BAD_CHUNK : ERR.BAD_HEADER;
    case 'HPE_INVALID_METHOD':
    case 'HPE_INVALID_URL':
    case 'HPE_INVALID_VERSION':
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_STATUS':
      return ERR.BAD_REQUEST_LINE;
    case 'HPE_PAUSED_H2_UPGRADE': // "PRI * HTTP/2.0": HTTP/2 prior knowledge (RFC 9113 §3.3)
      return ERR.HTTP_VERSION;
    default:
      return ERR.BAD_REQUEST;
  }
}

/**
 * llhttp counts the request-target and the header fields against one `maxHeaderSize`, which we
 * set above both limits so that the shared validator answers 414/431 exactly. Past that backstop
 * we only have the chunk that overflowed: when it starts with a request line whose target runs
 * past `maxUriBytes`, the target is what is too long (414), otherwise the fields are (431).
 */
function overflowSpec(raw: Buffer | undefined, maxUriBytes: number): ErrorSpec {
  if (raw === undefined || raw.length === 0) return ERR.HEADERS_TOO_LARGE;
  let i = 0;
  while (i < raw.length && raw[i] >= 0x41 && raw[i] <= 0x5a) i++; // method: upper-case token
  if (i === 0 || i >= raw.length || raw[i] !== 0x20) return ERR.HEADERS_TOO_LARGE;
  const lf = raw.indexOf(0x0a, i);
  const lineEnd = lf === -1 ? raw.length : lf;
  return lineEnd - i - 1 > maxUriBytes ? ERR.URI_TOO_LONG : ERR.HEADERS_TOO_LARGE;
}
