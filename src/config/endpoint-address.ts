// Parses native `endpoints` entries: "127.0.0.1:3000", "[::1]:3001", "localhost:3002".
import net from 'node:net';
import type { Endpoint } from './model';

const HOST_RE = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/;

/** Returns the endpoint, or an error text that says what the accepted forms are. */
export function parseEndpoint(text: string): Endpoint | string {
  const hint = 'expected "host:port", "ipv4:port" or "[ipv6]:port" with port 1..65535';
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return hint;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (net.isIPv6(host) === false) return `${JSON.stringify(host)} is not an IPv6 address; ${hint}`;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return hint;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return `IPv6 addresses need brackets, e.g. "[::1]:8080"; ${hint}`;
    if (!net.isIPv4(host) && !HOST_RE.test(host)) return `invalid host ${JSON.stringify(host)}; ${hint}`;
  }
  if (!/^\d{1,5}$/.test(portText)) return hint;
  const port = Number(portText);
  if (port < 1 || port > 65535) return hint;
  return { address: host, port };
}
