// Header rewriting at the proxy boundary: the upstream request head we send, and the response
// header list we give the front end. Hop-by-hop fields (RFC 9110 §7.6.1) are stripped both ways,
// and X-Forwarded-* are added the way nginx/Envoy users expect.
import net from 'node:net';
import type { IncomingHead } from './downstream';
import type { RequestFraming } from './request-head';

/** Fields that are never forwarded in either direction (lower-case). `te` is special-cased. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization', // consumed by the proxy it is addressed to (RFC 9110 §11.7.2)
  'proxy-authenticate',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'te',
  'content-length', // framing is re-derived on each side
  'expect', // 100-continue is answered by the front end (RFC 9110 §10.1.1)
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
]);

/** Response fields the front end writes itself, or that must not cross (lower-case). */
const RESPONSE_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'te',
  'content-length',
  'date', // both front ends write their own Date (uWS cannot be told not to)
]);

/**
 * Which peers may set X-Forwarded-*: GATEMESH_TRUSTED_PROXIES CIDRs (IPv4 and IPv6), in a
 * node:net BlockList built once at start-up.
 */
export class TrustedProxies {
  private readonly list: net.BlockList | null;
  constructor(cidrs: string[]) {
    if (cidrs.length === 0) {
      this.list = null;
      return;
    }
    const list = new net.BlockList();
    for (const c of cidrs) {
      const slash = c.indexOf('/');
      const addr = slash < 0 ? c : c.slice(0, slash);
      const type = net.isIPv6(addr) ? 'ipv6' : net.isIPv4(addr) ? 'ipv4' : null;
      if (type === null) throw new Error(`GATEMESH_TRUSTED_PROXIES: ${c}: not an IP address or CIDR`);
      const prefix = slash < 0 ? (type === 'ipv4' ? 32 : 128) : Number(c.slice(slash + 1));
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128)) {
        throw new Error(`GATEMESH_TRUSTED_PROXIES: ${c}: bad prefix length`);
      }
      list.addSubnet(addr, prefix, type);
    }
    this.list = list;
  }

  trusts(address: string): boolean {
    if (this.list === null) return false;
    return this.list.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4');
  }

  /**
   * The client address for policies: the rightmost X-Forwarded-For hop that is not a trusted
   * proxy, walking left from the socket peer (as nginx's real_ip_recursive on).
   */
  clientAddress(head: IncomingHead): string {
    let addr = head.remoteAddress;
    if (!this.trusts(addr)) return addr;
    const xff = findHeader(head.headers, 'x-forwarded-for');
    if (xff === undefined) return addr;
    const hops = xff.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i].trim();
      if (net.isIP(hop) === 0) return addr;
      addr = hop;
      if (!this.trusts(hop)) return hop;
    }
    return addr;
  }
}

export function findHeader(headers: string[], lowerName: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === lowerName) return headers[i + 1];
  return undefined;
}

/** Joins every value of `lowerName` with ", " (RFC 9110 §5.3), or undefined. */
function joinHeader(headers: string[], lowerName: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === lowerName) out = out === undefined ? headers[i + 1] : out + ', ' + headers[i + 1];
  }
  return out;
}

/** What request filters changed (src/filters/types.ts FilterRequest): headers, Host, path. */
export interface UpstreamEdit {
  headers: string[];
  host: string;
  path: string;
}

/**
 * Serializes the request head for the upstream (RFC 9112 §3). Always HTTP/1.1 with keep-alive;
 * framing is Content-Length when the client declared one, chunked when it sent chunked, and
 * nothing for bodiless requests, so CL and TE never travel together. `edit` (request filters)
 * replaces the header list, the Host and the path sent; X-Forwarded-Host keeps the client's Host.
 */
export function buildUpstreamHead(
  head: IncomingHead,
  framing: RequestFraming,
  trusted: TrustedProxies,
  upgrade: boolean,
  edit: UpstreamEdit | null = null,
): string {
  const h = edit === null ? head.headers : edit.headers;
  const tokens = framing.connectionTokens;
  const path = edit === null ? framing.path : edit.path;
  const host = edit === null ? framing.host : edit.host;
  let s = head.method + ' ' + path + (head.query.length !== 0 ? '?' + head.query : '') + ' HTTP/1.1\r\nhost: ' + host + '\r\n';
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    if (HOP_BY_HOP.has(name)) {
      // RFC 9110 §10.1.4: "TE: trailers" may be forwarded; other TE values are hop-by-hop.
      if (name === 'te' && h[i + 1].trim().toLowerCase() === 'trailers' && tokens.indexOf('te') < 0) {
        s += 'te: trailers\r\n';
      }
      continue;
    }
    if (tokens.length !== 0 && tokens.indexOf(name) >= 0) continue;
    s += name + ': ' + h[i + 1] + '\r\n';
  }
  if (framing.chunked) s += 'transfer-encoding: chunked\r\n';
  else if (framing.contentLength >= 0) s += 'content-length: ' + framing.contentLength + '\r\n';
  const peer = head.remoteAddress;
  if (trusted.trusts(peer)) {
    const xff = joinHeader(h, 'x-forwarded-for');
    s += 'x-forwarded-for: ' + (xff === undefined ? peer : xff + ', ' + peer) + '\r\n';
    s += 'x-forwarded-proto: ' + (findHeader(h, 'x-forwarded-proto') ?? head.scheme) + '\r\n';
    s += 'x-forwarded-host: ' + (findHeader(h, 'x-forwarded-host') ?? framing.host) + '\r\n';
  } else {
    s += 'x-forwarded-for: ' + peer + '\r\nx-forwarded-proto: ' + head.scheme + '\r\nx-forwarded-host: ' + framing.host + '\r\n';
  }
  if (upgrade) s += 'connection: upgrade\r\nupgrade: ' + (findHeader(h, 'upgrade') ?? '') + '\r\n';
  return s + '\r\n';
}

/**
 * Response headers to relay: drops hop-by-hop and framing fields and whatever the upstream's
 * Connection lists. Returns `headers` itself when nothing needs dropping (the common case).
 */
export function filterResponseHeaders(headers: string[]): string[] {
  // One pass: the copy starts at the first field to drop (nearly every response has one: Date,
  // Content-Length, Connection), so each field is looked up once instead of twice (nginx's 5-field
  // head, same process: 69 → 62 ns).
  let out: string[] | null = null;
  let connection: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (RESPONSE_DROP.has(name)) {
      if (out === null) out = headers.slice(0, i);
      if (name === 'connection') connection = connection === undefined ? headers[i + 1] : connection + ',' + headers[i + 1];
    } else if (out !== null) {
      out.push(name, headers[i + 1]);
    }
  }
  if (out === null) return headers;
  // `Connection: keep-alive` / `close` (what upstreams send) list no field to drop: skip the split.
  if (connection === undefined || onlyKeepAliveOrClose(connection)) return out;
  // Fields the Connection header lists are hop-by-hop too (RFC 9110 §7.6.1), wherever they came.
  const listed = connection.toLowerCase().split(',').map((t) => t.trim());
  let w = 0;
  for (let i = 0; i < out.length; i += 2) {
    if (listed.indexOf(out[i]) >= 0) continue;
    out[w++] = out[i];
    out[w++] = out[i + 1];
  }
  out.length = w;
  return out;
}

function onlyKeepAliveOrClose(value: string): boolean {
  const v = value.length === 10 || value.length === 5 ? value.toLowerCase() : '';
  return v === 'keep-alive' || v === 'close';
}

/** Headers of an upstream 101 to relay (keeps Sec-WebSocket-*; drops framing and Connection/Upgrade,
 *  which the front end writes itself). */
export function filterUpgradeHeaders(headers: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name === 'connection' || name === 'upgrade' || name === 'content-length' || name === 'transfer-encoding' || name === 'keep-alive' || name === 'date') continue;
    out.push(name, headers[i + 1]);
  }
  return out;
}
