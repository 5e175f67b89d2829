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

// RFC 9110 §5.6.2 token.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: no CTLs except HTAB (RFC 9110 §5.5); NUL, CR and LF included.
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
// Host: uri-host [ ":" port ], reg-name / IPv4 / IP-literal (RFC 3986 §3.2.2).
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::[0-9]*)?$/;
const DIGITS = /^[0-9]+$/;
// Path chars allowed in origin-form (RFC 3986 pchar, '/', and '%'-escapes). Anything else
// (spaces, CTLs, '#', raw non-ASCII) is a malformed request-target.
const TARGET = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
const QUERY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;

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
  if (checkSyntax && !TOKEN.test(head.method)) return ERR.BAD_REQUEST_LINE;

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
  if (checkSyntax && (!TARGET.test(path) || (head.query.length !== 0 && !QUERY.test(head.query)))) {
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
    const value = h[i + 1];
    bytes += name.length + value.length + 4;
    if (checkSyntax) {
      if (!TOKEN.test(name)) return ERR.BAD_HEADER;
      if (BAD_VALUE.test(value)) return ERR.BAD_HEADER;
    }
    switch (name) {
      case 'host':
        hostCount++;
        host = value.trim();
        break;
      case 'content-length': {
        if (out.contentLength !== -1) return ERR.BAD_CONTENT_LENGTH; // duplicate, even if equal
        const v = value.trim();
        if (!DIGITS.test(v) || v.length > 15) return ERR.BAD_CONTENT_LENGTH;
        out.contentLength = Number(v);
        break;
      }
      case 'transfer-encoding':
        // Only a single `chunked` coding is accepted: gatemesh does not decode other transfer
        // codings, and a final coding other than chunked makes the length undeterminable
        // (RFC 9112 §6.3 rule 4 → 400 and close). A second TE field is also refused.
        if (teSeen || value.trim().toLowerCase() !== 'chunked') return ERR.BAD_TRANSFER_ENCODING;
        teSeen = true;
        break;
      case 'connection':
        parseConnection(value, out);
        if (head.httpMinor === 0 && /(?:^|,)\s*keep-alive\s*(?:,|$)/i.test(value)) keepAlive10 = true;
        break;
      case 'upgrade':
        upgradeHeader = true;
        break;
      case 'expect':
        // 100-continue is answered by the front end; nothing else can be met (RFC 9110 §10.1.1).
        if (value.trim().toLowerCase() !== '100-continue') return ERR.EXPECTATION_FAILED;
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
  if (!HOST.test(host)) return ERR.BAD_HOST;
  out.host = host;
  if (head.httpMinor === 0 && keepAlive10) out.close = false;
  out.upgrade = upgradeHeader && out.connectionTokens.indexOf('upgrade') >= 0;
  if (settings.maxBodyBytes > 0 && out.contentLength > settings.maxBodyBytes) return ERR.BODY_TOO_LARGE;
  return null;
}

function parseConnection(value: string, out: RequestFraming): void {
  const parts = value.split(',');
  for (let i = 0; i < parts.length; i++) {
    const t = parts[i].trim().toLowerCase();
    if (t.length === 0) continue;
    if (t === 'close') out.close = true;
    if (out.connectionTokens === NO_TOKENS) out.connectionTokens = [];
    out.connectionTokens.push(t);
  }
}
