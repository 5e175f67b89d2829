// Header rewriting at the proxy boundary: the upstream request head we send, and the response
// header list we give the front end. Hop-by-hop fields (RFC 9110 §7.6.1) are stripped both ways,
// and X-Forwarded-* are added the way nginx/Envoy users expect.
import net from 'node:net';
import type { IncomingHead } from './downstream';
import type { RequestFraming } from './request-head';

/** droppedIn(): the field is never forwarded upstream in a request. */
const IN_REQUEST = 1;
/** droppedIn(): the field is not relayed in a response. */
const IN_RESPONSE = 2;
const IN_BOTH = IN_REQUEST | IN_RESPONSE;

/**
 * Where a lower-case field name is dropped, one table for both directions:
 * - both: hop-by-hop fields (RFC 9110 §7.6.1; `te` is special-cased in requests, `TE: trailers`
 *   may pass), Content-Length (framing is re-derived on each side), and Proxy-Authorization and
 *   Proxy-Authenticate: each applies only to the next hop (RFC 9110 §11.7.1, §11.7.2), so an
 *   upstream's Proxy-Authenticate challenges gatemesh, not the client, and neither field has a
 *   meaning to pass on in the other direction;
 * - requests: Host and X-Forwarded-* (buildUpstreamHead writes them), Expect (the front end answers
 *   100-continue, RFC 9110 §10.1.1);
 * - responses: Date (both front ends write their own; uWS cannot be told not to).
 *
 * A switch on the length, not a Set: the uws front end's header names are new strings on every
 * request, so Set#has hashes each one. Node 20, names sliced fresh from a Buffer per lookup
 * (a browser-like mix, most of them kept): Set 20 ns → switch 4.5 ns per name.
 */
function droppedIn(name: string): number {
  switch (name.length) {
    case 2:
      return name === 'te' ? IN_BOTH : 0;
    case 4:
      return name === 'host' ? IN_REQUEST : name === 'date' ? IN_RESPONSE : 0;
    case 6:
      return name === 'expect' ? IN_REQUEST : 0;
    case 7:
      return name === 'trailer' || name === 'upgrade' ? IN_BOTH : 0;
    case 10:
      return name === 'connection' || name === 'keep-alive' ? IN_BOTH : 0;
    case 14:
      return name === 'content-length' ? IN_BOTH : 0;
    case 15:
      return name === 'x-forwarded-for' ? IN_REQUEST : 0;
    case 16:
      return name === 'proxy-connection' ? IN_BOTH : name === 'x-forwarded-host' ? IN_REQUEST : 0;
    case 17:
      return name === 'transfer-encoding' ? IN_BOTH : name === 'x-forwarded-proto' ? IN_REQUEST : 0;
    case 18:
      return name === 'proxy-authenticate' ? IN_BOTH : 0;
    case 19:
      return name === 'proxy-authorization' ? IN_BOTH : 0;
    default:
      return 0;
  }
}

/** The request field is not forwarded upstream (droppedIn). */
export function isRequestHopByHop(name: string): boolean {
  return (droppedIn(name) & IN_REQUEST) !== 0;
}

/** The response field is not relayed to the client (droppedIn). */
export function isResponseDropped(name: string): boolean {
  return (droppedIn(name) & IN_RESPONSE) !== 0;
}

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
    if (isRequestHopByHop(name)) {
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
    s += forwardedTail(peer, head.scheme, framing.host);
  }
  if (upgrade) s += 'connection: upgrade\r\nupgrade: ' + (findHeader(h, 'upgrade') ?? '') + '\r\n';
  return s + '\r\n';
}

// The X-Forwarded-* lines of the last untrusted request, by peer, scheme and Host: consecutive
// requests mostly repeat all three (keep-alive clients), so the lines are one string reused instead
// of six concatenations per request. Callgrind, uws small GET: 34,519 → 34,418 instructions per request.
let tailPeer = '';
let tailScheme = '';
let tailHost = '';
let tailText = '';

function forwardedTail(peer: string, scheme: string, host: string): string {
  if (peer !== tailPeer || scheme !== tailScheme || host !== tailHost) {
    tailPeer = peer;
    tailScheme = scheme;
    tailHost = host;
    tailText = 'x-forwarded-for: ' + peer + '\r\nx-forwarded-proto: ' + scheme + '\r\nx-forwarded-host: ' + host + '\r\n';
  }
  return tailText;
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
    if (isResponseDropped(name)) {
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
  if (value.length !== 10 && value.length !== 5) return false;
  // Upstreams send these lower-case (nginx, node:http): compare before lower-casing a copy.
  if (value === 'keep-alive' || value === 'close') return true;
  const v = value.toLowerCase();
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
