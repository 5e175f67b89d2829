// Policy keys (PolicyKey in src/config/model.ts) compiled once per policy into a reader: the
// rate limiter, quotas and consistent hashing all ask "what is this request's key?" the same way.
import type { PolicyKey } from '../config/model';
import type { IncomingHead } from '../http/downstream';
import { findHeader, type TrustedProxies } from '../http/forwarding';
import { queryValueStart } from '../router/compiled-match';

/** What a key can be read from: one request after routing. */
export interface KeyInput {
  head: IncomingHead;
  /** GATEMESH_TRUSTED_PROXIES, for ClientIP behind proxies. */
  trusted: TrustedProxies;
  /** The matched rule's label (`route/rule`), the Route key. */
  route: string;
  /** The authenticated consumer, or null (no auth filter yet). */
  consumer: string | null;
}

/** Returns the request's key, or null when it lacks a part of it. */
export type KeyReader = (input: KeyInput) => string | null;

/** Separator of composite keys: NUL cannot occur in header values or a decoded-free query value. */
const JOIN = '\u0000';

export function compileKey(parts: PolicyKey[]): KeyReader {
  if (parts.length === 0) return routeKey;
  const readers = parts.map(compilePart);
  if (readers.length === 1) return readers[0];
  return (input) => {
    let out = '';
    for (let i = 0; i < readers.length; i++) {
      const v = readers[i](input);
      if (v === null) return null;
      out = i === 0 ? v : out + JOIN + v;
    }
    return out;
  };
}

function routeKey(input: KeyInput): string {
  return input.route;
}

function compilePart(part: PolicyKey): KeyReader {
  switch (part.type) {
    case 'ClientIP':
      return (input) => input.trusted.clientAddress(input.head);
    case 'Header': {
      const name = part.name.toLowerCase();
      return (input) => findHeader(input.head.headers, name) ?? null;
    }
    case 'QueryParam': {
      const name = part.name;
      return (input) => queryValue(input.head.query, name);
    }
    case 'Route':
      return routeKey;
    case 'Consumer':
      return (input) => input.consumer;
    case 'Cookie': {
      const name = part.name;
      return (input) => {
        const header = findHeader(input.head.headers, 'cookie');
        return header === undefined ? null : cookieValue(header, name);
      };
    }
  }
}

/** The first value of `name` in a raw query string (no '?'), undecoded; '' for `name` or `name=`
 *  (the router's HTTPQueryParamMatch scan, src/router/compiled-match.ts). */
export function queryValue(query: string, name: string): string | null {
  const start = queryValueStart(query, name);
  if (start < 0) return null;
  const end = query.indexOf('&', start);
  return query.slice(start, end < 0 ? query.length : end);
}

/** A cookie's value from a Cookie header (RFC 6265 §4.2.1: `name=value; name2=value2`). */
export function cookieValue(header: string, name: string): string | null {
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end < 0) end = header.length;
    while (start < end && header.charCodeAt(start) === 0x20) start++;
    const eq = header.indexOf('=', start);
    if (eq > 0 && eq < end && eq - start === name.length && header.startsWith(name, start)) {
      let v = header.slice(eq + 1, end).trim();
      if (v.length >= 2 && v.charCodeAt(0) === 0x22 && v.charCodeAt(v.length - 1) === 0x22) v = v.slice(1, -1);
      return v;
    }
    start = end + 1;
  }
  return null;
}
