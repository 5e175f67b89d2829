// The native-free front end writes every response head by hand: final responses (exchange.ts),
// 1xx and upgrade answers (rawHead), and errors written straight to a socket (errorResponse).
import { STATUS_CODES } from 'node:http';
import type { ErrorSpec } from '../src/errors';
import { errorBody } from '../src/errors';

let dateText = '';
let dateAt = 0;

/** IMF-fixdate for the Date field (RFC 9110 §6.6.1), recomputed at most once per second. */
export function httpDate(): string {
  const now = Date.now();
  if (now - dateAt >= 1000) {
    dateAt = now - (now % 1000);
    dateText = new Date(dateAt).toUTCString();
  }
  return dateText;
}

/** Standard reason phrase, or 'unknown' as node:http does for unregistered codes. */
export function reasonFor(status: number, reason: string): string {
  return reason !== '' ? reason : STATUS_CODES[status] ?? 'unknown';
}

/** A complete `Connection: close` error response for `spec` (status, text/plain reason body). */
export function errorResponse(spec: ErrorSpec): string {
  const body = errorBody(spec);
  return (
    `HTTP/1.1 ${spec.status} ${reasonFor(spec.status, '')}\r\n` +
    `Date: ${httpDate()}\r\n` +
    'Content-Type: text/plain\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

/**
 * `HTTP/1.1 <status> <reason>` and the fields of a final response, plus Date when they have none
 * (RFC 9110 §6.6.1), without the blank line; null when a field holds CR or LF (it would split the
 * head: the caller refuses the response). rawHead drops such a pair instead, for heads where a
 * refusal has nowhere to go.
 */
export function finalHead(status: number, reason: string, headers: readonly string[]): string | null {
  let head = 'HTTP/1.1 ' + status + ' ' + reasonFor(status, hasLineBreak(reason) ? '' : reason) + '\r\n';
  let date = false;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i];
    const value = headers[i + 1];
    if (hasLineBreak(name) || hasLineBreak(value)) return null;
    if (!date && name.length === 4 && name.toLowerCase() === 'date') date = true;
    head += name + ': ' + value + '\r\n';
  }
  if (!date) head += 'Date: ' + httpDate() + '\r\n';
  return head;
}

/** True when `s` would break the head it is written into (CR or LF: response splitting). */
export function hasLineBreak(s: string): boolean {
  return s.indexOf('\r') !== -1 || s.indexOf('\n') !== -1;
}

/**
 * `HTTP/1.1 <status> <reason>` plus every [name, value] pair of `headers` except the ones named
 * `skip` (lower-case), without the blank line. Pairs with CR/LF are dropped (never split a head).
 */
export function rawHead(status: number, reason: string, headers: readonly string[], skip: string): string {
  let head = `HTTP/1.1 ${status} ${reasonFor(status, hasLineBreak(reason) ? '' : reason)}\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i];
    const value = headers[i + 1];
    if (skip !== '' && name.length === skip.length && name.toLowerCase() === skip) continue;
    if (hasLineBreak(name) || hasLineBreak(value)) continue;
    head += name + ': ' + value + '\r\n';
  }
  return head;
}
