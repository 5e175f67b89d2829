// RequestRedirect (Gateway API HTTPRequestRedirectFilter): answer with a 3xx and a Location
// built from the request, never forwarding it.
//
// Location = scheme://hostname[:port]path[?query] where (apis/v1/httproute_types.go):
// - scheme: the filter's, else the request's;
// - hostname: the filter's, else the request Host's name (its port dropped);
// - port: the filter's; else, when the filter sets a scheme, that scheme's well-known port
//   (http 80, https 443); else the Gateway listener's port. A listener configured with port 0
//   (tests: the OS picked it) has no port to name, so the Host header's port stands in, then the
//   request scheme's default;
// - the port is left out when it is the scheme's default ("SHOULD NOT add the port number" for
//   http:80 and https:443);
// - path: the filter's ReplaceFullPath / ReplacePrefixMatch of the request path, else as is; the
//   query string is kept (as Envoy's redirect action, strip_query false);
// - status: 301, 302 (default), 303, 307 or 308.
import type { HTTPFilter, RouteRule } from '../../config/model';
import { hostnameProblem } from '../../config/hostname';
import { checkPathModifier, createPathModifier } from '../path-modifier';
import { localResponse, type FilterProblem, type FilterRequest, type FilterResult, type HttpFilter } from '../types';

export type RequestRedirectSpec = Extract<HTTPFilter, { type: 'RequestRedirect' }>;

/** 301 and 302 are Core, 303/307/308 Extended; all supported. */
export const REDIRECT_STATUS_CODES: readonly number[] = [301, 302, 303, 307, 308];

export function checkRequestRedirect(spec: RequestRedirectSpec, rule: RouteRule): FilterProblem[] {
  const out: FilterProblem[] = [];
  if (spec.scheme !== undefined && spec.scheme !== 'http' && spec.scheme !== 'https') {
    out.push({ path: ['scheme'], what: `expected one of: http, https (got ${JSON.stringify(spec.scheme)})` });
  }
  if (spec.hostname !== undefined) {
    const h = spec.hostname.toLowerCase();
    const p = h.startsWith('*') ? 'expected a precise hostname (no wildcard)' : hostnameProblem(h);
    if (p) out.push({ path: ['hostname'], what: p });
  }
  if (spec.port !== undefined && !(Number.isInteger(spec.port) && spec.port >= 1 && spec.port <= 65535)) {
    out.push({ path: ['port'], what: 'expected integer 1..65535' });
  }
  if (!REDIRECT_STATUS_CODES.includes(spec.statusCode)) {
    out.push({ path: ['statusCode'], what: `expected one of: ${REDIRECT_STATUS_CODES.join(', ')} (got ${spec.statusCode})` });
  }
  if (spec.path !== undefined) out.push(...checkPathModifier(spec.path, rule, ['path']));
  return out;
}

export function defaultPort(scheme: string): number {
  return scheme === 'https' ? 443 : 80;
}

/** The name part of a Host value: `[v6]` kept with its brackets, `:port` dropped. */
export function hostName(host: string): string {
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    return close < 0 ? host : host.slice(0, close + 1);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/** The port in a Host value, or -1 when it names none. */
export function hostPort(host: string): number {
  const close = host.charCodeAt(0) === 91 ? host.indexOf(']') : -1;
  const colon = host.indexOf(':', close < 0 ? 0 : close);
  if (colon < 0 || colon === host.length - 1) return -1;
  const n = Number(host.slice(colon + 1));
  return Number.isInteger(n) && n > 0 && n <= 65535 ? n : -1;
}

/** `scheme://host` or `scheme://host:port`, the port left out when it is the scheme's default. */
function origin(scheme: string, host: string, port: number): string {
  return port === defaultPort(scheme) ? scheme + '://' + host : scheme + '://' + host + ':' + port;
}

export function createRequestRedirect(spec: RequestRedirectSpec, rule: RouteRule): HttpFilter {
  const status = spec.statusCode;
  const pathOf = spec.path === undefined ? null : createPathModifier(spec.path, rule);
  const scheme = spec.scheme;
  const hostname = spec.hostname?.toLowerCase();
  // scheme set → port known without the request (its own or the scheme's default).
  const fixedPort = spec.port ?? (scheme !== undefined ? defaultPort(scheme) : -1);
  // Scheme, host and port all fixed: the origin is one precomputed string.
  const fixedOrigin = scheme !== undefined && hostname !== undefined ? origin(scheme, hostname, fixedPort) : null;
  const reason = 'redirect ' + status;
  return {
    type: 'RequestRedirect',
    editsRequestHeaders: false,
    onRequest(req: FilterRequest): FilterResult {
      let base: string;
      if (fixedOrigin !== null) base = fixedOrigin;
      else {
        const s = scheme ?? req.scheme;
        let port = fixedPort;
        if (port < 0) {
          port = req.listenerPort;
          if (port === 0) port = hostPort(req.clientHost);
          if (port < 0) port = defaultPort(req.scheme);
        }
        base = origin(s, hostname ?? hostName(req.clientHost).toLowerCase(), port);
      }
      const path = pathOf === null ? req.path : pathOf(req.path);
      const location = req.query.length !== 0 ? base + path + '?' + req.query : base + path;
      req.local = true;
      return localResponse(status, ['location', location], '', reason);
    },
  };
}
