// The native-free front end writes every response head by hand: final responses (exchange.ts),
// 1xx and upgrade answers (rawHead), and errors written straight to a socket (errorResponse).
import { STATUS_CODES } from 'node:http';
import type { ErrorSpec } from '../src/errors';
import { errorBody } from '../src/errors';
import { flat } from '../src/shared/flat-string';

let dateText = '';
let dateAt = 0;
/** `\r\nDate: <dateText>\r\n`, the line finalHead ends with, flat. */
let dateField = '';

/** IMF-fixdate for the Date field (RFC 9110 §6.6.1), recomputed at most once per second. */
export function httpDate(): string {
  const now = Date.now();
  if (now - dateAt >= 1000) {
    dateAt = now - (now % 1000);
    dateText = new Date(dateAt).toUTCString();
    dateField = flat('\r\nDate: ' + dateText + '\r\n');
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
 *
 * Every name and value is checked, but what was checked once is not scanned again: the status line
 * is built once per status and reason, each name once (fieldName), and a short value equal to the
 * last one written under its name is not scanned either (FieldName.line; an upstream repeats its
 * Server, Content-Type, ...). Four indexOf calls per field were ~2,400 instructions per request
 * under bench/callgrind.sh `policies` (native-free), with the RateLimit fields; with these memos
 * the whole head costs ~1,000 (`off`) to ~2,100 (`policies`), checks, joins and Date included.
 */
export function finalHead(status: number, reason: string, headers: readonly string[]): string | null {
  let head = statusLine(status, reason);
  let date = false;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const field = fieldName(headers[i]);
    if (field === null) return null;
    const line = field.line(headers[i + 1]);
    if (line === null) return null;
    if (field.date) date = true;
    head += line;
  }
  if (date) return head + '\r\n';
  httpDate();
  return head + dateField;
}

// Status lines already built, by status code, and the (short) reason each was built for:
// upstreams send the same few reason phrases.
const lineReason: string[] = [];
const lineText: string[] = [];

/** `HTTP/1.1 <status> <reason>`, without CRLF; a reason with CR or LF gives way to the standard one. */
function statusLine(status: number, reason: string): string {
  // Short reasons only, as for values (FieldName.line): a long one may cost more to compare.
  const short = reason.length < SHORT_VALUE;
  if (short && lineReason[status] === reason) return lineText[status];
  const clean = !hasLineBreak(reason);
  const line = flat('HTTP/1.1 ' + status + ' ' + reasonFor(status, clean ? reason : ''));
  if (short && clean && Number.isInteger(status) && status >= 100 && status <= 599) {
    lineReason[status] = reason;
    lineText[status] = line;
  }
  return line;
}

/** A response field name that passed the CR/LF check, and what writing it needs. */
class FieldName {
  /** `\r\n<name>: ` (the CRLF ends the line before). */
  readonly prefix: string;
  /** The name is Date (any case): the head already has one. */
  readonly date: boolean;
  /** The last short value written under this name, checked, and its line (flat). */
  private last = '';
  private lastLine: string;

  constructor(name: string) {
    this.prefix = flat('\r\n' + name + ': ');
    this.date = name.length === 4 && name.toLowerCase() === 'date';
    this.lastLine = this.prefix;
  }

  /**
   * `\r\n<name>: <value>`, or null when the value holds CR or LF. A short value equal to the last
   * one is known clean and its line is built: V8 keeps strings under 13 characters flat (it copies
   * shorter slices and concatenations) and compares two flat strings in a builtin. A longer value
   * may be a slice of the upstream's head or a concatenation (RateLimit), which V8 compares in the
   * runtime at ~900 instructions, more than the scan (callgrind); it is scanned each time.
   */
  line(value: string): string | null {
    if (value.length >= SHORT_VALUE) return hasLineBreak(value) ? null : this.prefix + value;
    if (value !== this.last) {
      if (hasLineBreak(value)) return null;
      this.last = value;
      this.lastLine = flat(this.prefix + value);
    }
    return this.lastLine;
  }
}

/** Names already checked, by name as given (case kept: it is written as given). */
const FIELD_NAMES = new Map<string, FieldName>();
/** Names come from upstreams: past this many, a name is checked and built on each use. */
const FIELD_NAMES_MAX = 1024;
/** V8's ConsString::kMinLength: shorter strings are always flat. */
const SHORT_VALUE = 13;

/** The checked name, or null when it holds CR or LF. */
function fieldName(name: string): FieldName | null {
  let field = FIELD_NAMES.get(name);
  if (field !== undefined) return field;
  if (hasLineBreak(name)) return null;
  field = new FieldName(name);
  if (FIELD_NAMES.size < FIELD_NAMES_MAX) FIELD_NAMES.set(internalized(name), field);
  return field;
}

/**
 * `s` as V8's internalized copy (what a property key becomes): a name from the response parser is
 * a slice of the upstream's whole head, which the map would keep alive, and a key equal to a
 * constant name (`RateLimit`) is then the same string, found without comparing characters.
 */
function internalized(s: string): string {
  return Object.keys({ [s]: 0 })[0];
}


// The last Content-Length ending built: a proxied upstream repeats its length, and the ending
// (`end`: the Connection field and the blank line) is one of a listener's two constants.
let endLength = -1;
let endTail = '';
let endText = '';

/** `Content-Length: <length>` CRLF, then `end`. */
export function lengthHeadEnd(length: number, end: string): string {
  if (length !== endLength || end !== endTail) {
    endLength = length;
    endTail = end;
    endText = flat('Content-Length: ' + length + '\r\n' + end);
  }
  return endText;
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
