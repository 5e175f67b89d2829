// CORS (Gateway API v1.2+ HTTPCORSFilter; Fetch standard §3.2 "CORS protocol").
//
// - A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered by the gateway
//   and never forwarded: 200 with an empty body. The spec allows 200 or 204; the conformance suite
//   (HTTPRouteCORS) insists on 200 for several cases, so 200 it is. An origin that is not allowed
//   gets the same 200 without any CORS header, so the browser blocks the real request.
// - Any other request with an allowed Origin is forwarded, and its response gets
//   Access-Control-Allow-Origin (+ -Allow-Credentials, -Expose-Headers), replacing any the
//   upstream set so there is never two. A response for an origin that is not allowed is left as is.
// - allowOrigins: `*` alone allows every origin; a host may start with `*`, a greedy match of one
//   or more labels (`https://*.bar.com` allows `https://a.b.bar.com`); a missing port means the
//   scheme's default (80/443) on both sides; scheme and host compare case-insensitively.
// - Wildcards and credentials (the spec's rules): without allowCredentials, `*` is sent as `*`;
//   with it, the request's own Origin / Access-Control-Request-Method / -Headers are echoed
//   instead (and the header is left out when there is nothing to echo). An echoed origin adds
//   `Vary: Origin` (Fetch §3.2.5, so caches key on it).
// - maxAge: Access-Control-Max-Age on preflights, seconds, default 5.
import type { HTTPFilter } from '../../config/model';
import { findHeader } from '../../http/forwarding';
import { HTTP_METHODS } from '../../config/match-check';
import { headerNameProblem } from '../header-names';
import { CONTINUE, localResponse, type FilterProblem, type FilterRequest, type FilterResult, type HttpFilter } from '../types';

export type CORSSpec = Extract<HTTPFilter, { type: 'CORS' }>;

// CORSOrigin: scheme://host[:port], host possibly starting with `*`.
const ORIGIN_RE = /^(https?):\/\/(\*|(?:\*\.|\*)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)(?::([0-9]{1,5}))?$/;

export function checkCORS(spec: CORSSpec): FilterProblem[] {
  const out: FilterProblem[] = [];
  const wildcardAlone = (list: string[], field: string, max: number): void => {
    if (list.length > max) out.push({ path: [field], what: `expected at most ${max} items` });
    if (list.includes('*') && list.length > 1) out.push({ path: [field, list.indexOf('*')], what: `"*" cannot be listed alongside other values in ${field}` });
  };
  wildcardAlone(spec.allowOrigins, 'allowOrigins', 64);
  spec.allowOrigins.forEach((o, i) => {
    if (o === '*') return;
    const m = ORIGIN_RE.exec(o.toLowerCase());
    if (!m || (m[5] !== undefined && (Number(m[5]) < 1 || Number(m[5]) > 65535))) {
      out.push({ path: ['allowOrigins', i], what: `expected "*" or an origin like "https://app.example.com", "https://*.example.com" or "http://localhost:8080" (got ${JSON.stringify(o)})` });
    }
  });
  wildcardAlone(spec.allowMethods, 'allowMethods', 9);
  spec.allowMethods.forEach((m, i) => {
    // Methods are case-sensitive (RFC 9110 §9.1); the spec's enum is the upper-case set plus "*".
    if (m !== '*' && !(HTTP_METHODS as readonly string[]).includes(m)) out.push({ path: ['allowMethods', i], what: `expected "*" or one of: ${HTTP_METHODS.join(', ')}` });
  });
  for (const field of ['allowHeaders', 'exposeHeaders'] as const) {
    if (field === 'allowHeaders') wildcardAlone(spec[field], field, 64);
    else if (spec[field].length > 64) out.push({ path: [field], what: 'expected at most 64 items' });
    spec[field].forEach((h, i) => {
      const p = h === '*' ? undefined : headerNameProblem(h);
      if (p) out.push({ path: [field, i], what: p });
    });
  }
  if (!(Number.isInteger(spec.maxAge) && spec.maxAge >= 1)) out.push({ path: ['maxAge'], what: 'expected integer >= 1 (seconds)' });
  return out;
}

/** One allowed origin, parsed once. */
interface OriginRule {
  scheme: string;
  /** Exact host, or for a wildcard the suffix after `*` (`.bar.com`); '' with `any` = any host. */
  host: string;
  wildcard: boolean;
  port: number;
}

function defaultPort(scheme: string): number {
  return scheme === 'https' ? 443 : 80;
}

function parseAllowed(o: string): OriginRule {
  const m = ORIGIN_RE.exec(o.toLowerCase())!;
  const scheme = m[1];
  const host = m[2];
  const port = m[5] !== undefined ? Number(m[5]) : defaultPort(scheme);
  if (host.startsWith('*')) return { scheme, host: host.slice(1), wildcard: true, port };
  return { scheme, host, wildcard: false, port };
}

/** True when the request's Origin value is covered by `rules` (origins are case-insensitive). */
function originAllowed(rules: OriginRule[], origin: string): boolean {
  const o = origin.toLowerCase();
  const sep = o.indexOf('://');
  if (sep <= 0) return false; // "null" and anything malformed
  const scheme = o.slice(0, sep);
  let host = o.slice(sep + 3);
  let port = defaultPort(scheme);
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && host.indexOf(']') < colon) {
    port = Number(host.slice(colon + 1));
    host = host.slice(0, colon);
  }
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    if (r.scheme !== scheme || r.port !== port) continue;
    if (r.wildcard ? host.length > r.host.length && host.endsWith(r.host) : host === r.host) return true;
  }
  return false;
}

/** Drops every field named `name` (lower-case) from `headers`, in place. */
function drop(headers: string[], name: string): void {
  let w = 0;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) continue;
    headers[w] = headers[i];
    headers[w + 1] = headers[i + 1];
    w += 2;
  }
  headers.length = w;
}

export function createCORS(spec: CORSSpec): HttpFilter {
  const anyOrigin = spec.allowOrigins.length === 1 && spec.allowOrigins[0] === '*';
  const rules = anyOrigin ? [] : spec.allowOrigins.map(parseAllowed);
  const credentials = spec.allowCredentials;
  const anyMethod = spec.allowMethods.length === 1 && spec.allowMethods[0] === '*';
  const anyHeader = spec.allowHeaders.length === 1 && spec.allowHeaders[0] === '*';
  // Precomputed header values ('' = send none).
  const methods = anyMethod ? (credentials ? '' : '*') : spec.allowMethods.join(', ');
  const allowHeaders = anyHeader ? (credentials ? '' : '*') : spec.allowHeaders.join(', ');
  // With credentials "the gateway cannot use the `*`" in Expose-Headers: the named ones remain.
  const expose = (credentials ? spec.exposeHeaders.filter((h) => h !== '*') : spec.exposeHeaders).join(', ');
  const maxAge = String(spec.maxAge);
  const starOrigin = anyOrigin && !credentials;

  const allowed = (origin: string): boolean => anyOrigin || originAllowed(rules, origin);

  return {
    type: 'CORS',
    editsRequestHeaders: false,
    onRequest(req: FilterRequest): FilterResult {
      if (req.method !== 'OPTIONS') return CONTINUE;
      const origin = findHeader(req.clientHeaders, 'origin');
      const method = findHeader(req.clientHeaders, 'access-control-request-method');
      if (origin === undefined || method === undefined) return CONTINUE; // a plain OPTIONS: forward it
      req.local = true;
      if (!allowed(origin)) return localResponse(200, [], '', 'cors preflight: origin not allowed');
      const h: string[] = [];
      if (starOrigin) h.push('access-control-allow-origin', '*');
      else h.push('access-control-allow-origin', origin, 'vary', 'origin');
      if (credentials) h.push('access-control-allow-credentials', 'true');
      if (anyMethod && credentials) h.push('access-control-allow-methods', method);
      else if (methods.length !== 0) h.push('access-control-allow-methods', methods);
      if (anyHeader && credentials) {
        const requested = findHeader(req.clientHeaders, 'access-control-request-headers');
        if (requested !== undefined) h.push('access-control-allow-headers', requested);
      } else if (allowHeaders.length !== 0) h.push('access-control-allow-headers', allowHeaders);
      if (expose.length !== 0) h.push('access-control-expose-headers', expose);
      h.push('access-control-max-age', maxAge);
      return localResponse(200, h, '', 'cors preflight');
    },
    onResponse(_status: number, headers: string[], req: FilterRequest): void {
      // Our own preflight answer already carries its headers.
      if (req.local && req.method === 'OPTIONS' && findHeader(req.clientHeaders, 'access-control-request-method') !== undefined) return;
      const origin = findHeader(req.clientHeaders, 'origin');
      if (origin === undefined || !allowed(origin)) return;
      drop(headers, 'access-control-allow-origin');
      if (starOrigin) headers.push('access-control-allow-origin', '*');
      else headers.push('access-control-allow-origin', origin, 'vary', 'origin');
      if (credentials) {
        drop(headers, 'access-control-allow-credentials');
        headers.push('access-control-allow-credentials', 'true');
      }
      if (expose.length !== 0) {
        drop(headers, 'access-control-expose-headers');
        headers.push('access-control-expose-headers', expose);
      }
    },
  };
}
