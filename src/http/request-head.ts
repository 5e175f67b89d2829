// Strict request-head checks shared by both front ends, run before routing (RFC 9110, RFC 9112).
// node:http (llhttp) already rejects most framing errors itself; uWebSockets.js 20.30 lets some
// through (duplicate Content-Length, duplicate Host, `Transfer-Encoding: gzip, chunked`,
// non-token header names), so everything the brief asks for is checked here once more.
// The result is written into a caller-owned RequestFraming so the hot path allocates nothing.
import type { Settings } from '../env';
import { ERR, type ErrorSpec } from '../errors';
import type { IncomingHead } from './downstream';

export interface RequestFraming {
  /** Host to route on: the Host field (or the absolute-form authority, RFC 9112 §3.2.2). */
  host: string;
  /** Declared Content-Length, or -1 when absent. */
  contentLength: number;
  /** Transfer-Encoding: chunked (RFC 9112 §7.1). */
  chunked: boolean;
  /** Client asked to close after this exchange (Connection: close, or HTTP/1.0 without keep-alive). */
  close: boolean;
  /** Connection: upgrade + Upgrade present (RFC 9110 §7.8). */
  upgrade: boolean;
  /** Header names listed in Connection (lower-case), to strip as hop-by-hop (RFC 9110 §7.6.1). */
  connectionTokens: string[];
  /** Request-target path to forward (absolute-form reduced to origin-form). */
  path: string;
}

/** Shared by every request without a Connection field (frozen: parseConnection replaces it before pushing). */
const NO_TOKENS: string[] = Object.freeze([]) as unknown as string[];

export function newRequestFraming(): RequestFraming {
  return { host: '', contentLength: -1, chunked: false, close: false, upgrade: false, connectionTokens: NO_TOKENS, path: '/' };
}

// Character classes as tables indexed by char code (ASCII only: anything above 127 is outside
// every class). Per request they replace seven or more RegExp#test calls (method, target, host,
// and a name and a value per field) with plain loops. Measured (node 20, same process, 3e6 calls):
// checkRequestHead on wrk's head (Host + one field) 83 → 37 ns; with `Connection: keep-alive`
// (and the shared token list below) 230 → 83 ns.
const C_TOKEN = 1; // RFC 9110 §5.6.2 tchar
const C_TARGET = 2; // origin-form path: RFC 3986 pchar, '/', '%'-escapes (not SP, CTLs, '#', non-ASCII)
const C_QUERY = 4; // the same plus '?'
const C_REG_NAME = 8; // Host reg-name / IPv4 chars (RFC 3986 §3.2.2)
const C_IP_LITERAL = 16; // inside [ ]: hex digits, ':' and '.'
const CLASS = new Uint8Array(128);
function addClass(bit: number, chars: string): void {
  for (let i = 0; i < chars.length; i++) CLASS[chars.charCodeAt(i)] |= bit;
}
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
addClass(C_TOKEN, ALNUM + "!#$%&'*+-.^_`|~");
addClass(C_TARGET | C_QUERY, ALNUM + "-._~!$&'()*+,;=:@/%");
addClass(C_QUERY, '?');
addClass(C_REG_NAME, ALNUM + "-._~%!$&'()*+,;=");
addClass(C_IP_LITERAL, '0123456789ABCDEFabcdef:.');

/** Every char of `s` is in class `bit`; `s` may be empty. */
function allIn(s: string, bit: number): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || (CLASS[c] & bit) === 0) return false;
  }
  return true;
}

/** RFC 9110 §5.6.2 token: one or more tchar. */
function isToken(s: string): boolean {
  return s.length !== 0 && allIn(s, C_TOKEN);
}

const VALUE_OK = 0;
const VALUE_BAD = 1;
/** A character above 0x7F: obs-text (RFC 9110 §5.5), or what a decoder made of it. */
const VALUE_NON_ASCII = 2;

/** VALUE_BAD for a CTL other than HTAB (RFC 9110 §5.5: NUL, CR, LF and DEL included), else
 *  VALUE_NON_ASCII when a character is above 0x7F, else VALUE_OK. */
function valueCheck(s: string): number {
  let r = VALUE_OK;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return VALUE_BAD;
    if (c > 127) r = VALUE_NON_ASCII;
  }
  return r;
}

/** How many fields of `h` are named `name`. */
function fieldCount(h: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) n++;
  return n;
}

/** Host = uri-host [ ":" port ], uri-host a reg-name / IPv4 or an IP-literal in brackets (RFC 3986 §3.2.2). */
function isHost(s: string): boolean {
  let i = 0;
  const n = s.length;
  if (n !== 0 && s.charCodeAt(0) === 91 /* [ */) {
    i = 1;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c > 127 || (CLASS[c] & C_IP_LITERAL) === 0) break;
      i++;
    }
    if (i === 1 || i === n || s.charCodeAt(i) !== 93 /* ] */) return false;
    i++;
  } else {
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c > 127 || (CLASS[c] & C_REG_NAME) === 0) break;
      i++;
    }
  }
  if (i === n) return true;
  if (s.charCodeAt(i) !== 58 /* : */) return false;
  for (i++; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

const DIGITS = /^[0-9]+$/;

/**
 * Checks `head` and fills `out`. Returns null when the request may be routed, else the error to
 * answer with (the front end then closes the connection: every framing error is fatal).
 * `checkSyntax`: also check token/value syntax (the uws front end; llhttp already did).
 */
export function checkRequestHead(
  head: IncomingHead,
  settings: Settings,
  checkSyntax: boolean,
  out: RequestFraming,
): ErrorSpec | null {
  out.contentLength = -1;
  out.chunked = false;
  out.upgrade = false;
  out.close = head.httpMinor === 0;
  if (out.connectionTokens.length !== 0) out.connectionTokens = NO_TOKENS;

  if (head.httpMinor !== 0 && head.httpMinor !== 1) return ERR.HTTP_VERSION;
  if (checkSyntax && !isToken(head.method)) return ERR.BAD_REQUEST_LINE;

  let path = head.path;
  let authority: string | null = null;
  if (path.charCodeAt(0) !== 47 /* / */) {
    if (path === '*' && head.method === 'OPTIONS') {
      // asterisk-form (RFC 9112 §3.2.4)
    } else if (/^https?:\/\//i.test(path)) {
      // absolute-form (RFC 9112 §3.2.2): the authority replaces Host.
      const start = path.indexOf('//') + 2;
      let end = path.indexOf('/', start);
      if (end < 0) end = path.length;
      authority = path.slice(start, end);
      path = end === path.length ? '/' : path.slice(end);
    } else {
      return ERR.BAD_REQUEST_LINE;
    }
  }
  if (path.length + head.query.length + 1 > settings.maxUriBytes) return ERR.URI_TOO_LONG;
  if (checkSyntax && (!allIn(path, C_TARGET) || !allIn(head.query, C_QUERY))) {
    return ERR.BAD_REQUEST_LINE;
  }
  out.path = path;

  const h = head.headers;
  let hostCount = 0;
  let host = '';
  let teSeen = false;
  let upgradeHeader = false;
  let keepAlive10 = false;
  // Request line + CRLF; each field adds name ": " value CRLF (RFC 9112 §2.1).
  let bytes = head.method.length + head.path.length + head.query.length + 12;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    let value = h[i + 1];
    bytes += name.length + value.length + 4;
    if (checkSyntax) {
      if (!isToken(name)) return ERR.BAD_HEADER;
      const v = valueCheck(value);
      if (v === VALUE_BAD) return ERR.BAD_HEADER;
      if (v === VALUE_NON_ASCII && head.latin1Value !== undefined) {
        // The uws front end's header list decodes values as UTF-8, which loses obs-text bytes
        // (an invalid sequence becomes U+FFFD) or re-encodes them (é as UTF-8 C3 A9 becomes one
        // character): the value is read again as Latin-1, byte for byte. uWS reads only the first
        // field of a name, so a repeated field with such a value cannot be forwarded as sent.
        const raw = fieldCount(h, name) === 1 ? head.latin1Value(name) : null;
        if (raw === null) return ERR.BAD_HEADER;
        bytes += raw.length - value.length;
        h[i + 1] = value = raw;
      }
    }
    // On the name's length first (the six names below differ in length): most fields are none of
    // them, and a string switch compares each fresh uws name with every case.
    switch (name.length) {
      case 4: // host
        if (name !== 'host') break;
        hostCount++;
        host = value.trim();
        break;
      case 14: {
        if (name !== 'content-length') break;
        if (out.contentLength !== -1) return ERR.BAD_CONTENT_LENGTH; // duplicate, even if equal
        const v = value.trim();
        if (!DIGITS.test(v) || v.length > 15) return ERR.BAD_CONTENT_LENGTH;
        out.contentLength = Number(v);
        break;
      }
      case 17:
        if (name !== 'transfer-encoding') break;
        // Only a single `chunked` coding is accepted: gatemesh does not decode other transfer
        // codings, and a final coding other than chunked makes the length undeterminable
        // (RFC 9112 §6.3 rule 4 → 400 and close). A second TE field is also refused.
        if (teSeen || value.trim().toLowerCase() !== 'chunked') return ERR.BAD_TRANSFER_ENCODING;
        teSeen = true;
        break;
      case 10:
        if (name !== 'connection') break;
        parseConnection(value, out);
        if (head.httpMinor === 0 && /(?:^|,)\s*keep-alive\s*(?:,|$)/i.test(value)) keepAlive10 = true;
        break;
      case 7:
        if (name === 'upgrade') upgradeHeader = true;
        break;
      case 6:
        // 100-continue is answered by the front end; nothing else can be met (RFC 9110 §10.1.1).
        if (name === 'expect' && value.trim().toLowerCase() !== '100-continue') return ERR.EXPECTATION_FAILED;
        break;
    }
  }
  if (bytes > settings.maxHeaderBytes) return ERR.HEADERS_TOO_LARGE;
  if (teSeen) {
    if (out.contentLength !== -1) return ERR.CL_AND_TE;
    // RFC 9112 §6.1: TE in an HTTP/1.0 request means faulty framing.
    if (head.httpMinor === 0) return ERR.BAD_TRANSFER_ENCODING;
    out.chunked = true;
  }
  if (hostCount > 1) return ERR.DUPLICATE_HOST;
  if (hostCount === 0 && head.httpMinor === 1 && authority === null) return ERR.MISSING_HOST;
  if (authority !== null) host = authority;
  if (!isHost(host)) return ERR.BAD_HOST;
  out.host = host;
  if (head.httpMinor === 0 && keepAlive10) out.close = false;
  out.upgrade = upgradeHeader && out.connectionTokens.indexOf('upgrade') >= 0;
  if (settings.maxBodyBytes > 0 && out.contentLength > settings.maxBodyBytes) return ERR.BODY_TOO_LARGE;
  return null;
}

/** The lists of a lone `Connection: keep-alive` / `close`, what clients send (frozen: copied before a push). */
const KEEP_ALIVE_TOKENS: string[] = Object.freeze(['keep-alive']) as unknown as string[];
const CLOSE_TOKENS: string[] = Object.freeze(['close']) as unknown as string[];

function parseConnection(value: string, out: RequestFraming): void {
  if (out.connectionTokens === NO_TOKENS && (value.length === 10 || value.length === 5)) {
    // One bare token: a shared list instead of split + trim + a new array per request.
    const v = value.toLowerCase();
    if (v === 'keep-alive') {
      out.connectionTokens = KEEP_ALIVE_TOKENS;
      return;
    }
    if (v === 'close') {
      out.close = true;
      out.connectionTokens = CLOSE_TOKENS;
      return;
    }
  }
  const parts = value.split(',');
  for (let i = 0; i < parts.length; i++) {
    const t = parts[i].trim().toLowerCase();
    if (t.length === 0) continue;
    if (t === 'close') out.close = true;
    const list = out.connectionTokens;
    if (list === NO_TOKENS || list === KEEP_ALIVE_TOKENS || list === CLOSE_TOKENS) out.connectionTokens = list.slice();
    out.connectionTokens.push(t);
  }
}
