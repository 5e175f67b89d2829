// Header handling on the request path: the request-head checks (src/http/request-head.ts), the
// upstream request head (hop-by-hop stripping, X-Forwarded-*; src/http/forwarding.ts) and the
// response headers relayed, against a peer written the way Node proxies usually do it (headers as
// an object, a Set of hop-by-hop names, http-proxy's style), on the same 10-header request.
import { buildUpstreamHead, filterResponseHeaders, TrustedProxies } from '../../src/http/forwarding';
import type { IncomingHead } from '../../src/http/downstream';
import { checkRequestHead, newRequestFraming } from '../../src/http/request-head';
import { readSettings } from '../../src/env';
import { calibrateOps, median, ROUND_MS, ROUNDS } from '../harness/micro-timing';


const head: IncomingHead = {
  method: 'GET',
  path: '/api/v1/items',
  query: 'page=2',
  httpMinor: 1,
  headers: [
    'host', 'api.example.com',
    'user-agent', 'Mozilla/5.0 (X11; Linux x86_64) bench',
    'accept', 'application/json',
    'accept-encoding', 'gzip, deflate, br',
    'accept-language', 'en-US,en;q=0.9',
    'connection', 'keep-alive',
    'cookie', 'session=abc123; theme=dark',
    'x-request-id', '4f9c2e1a-7b3d-4c55-9a0e-1d2f3a4b5c6d',
    'x-tenant', 'bench',
    'authorization', 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x',
  ],
  remoteAddress: '127.0.0.1',
  scheme: 'http',
  headBytes: 400,
};
const response = ['content-type', 'application/json', 'content-length', '100', 'date', 'Tue, 11 Jun 2024 10:00:00 GMT', 'server', 'up/1.0', 'cache-control', 'no-cache', 'x-request-id', 'abc'];

const settings = readSettings({});
const trusted = new TrustedProxies([]);
const framing = newRequestFraming();
let sink = 0;

function gatemesh(ops: number): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    checkRequestHead(head, settings, true, framing);
    sink += buildUpstreamHead(head, framing, trusted, false).length;
    sink += filterResponseHeaders(response).length;
  }
  return Number(process.hrtime.bigint() - t) / ops;
}

// The peer: an object of headers, a Set of hop-by-hop names, header lines joined at the end.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
function peer(ops: number): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    const obj: Record<string, string> = {};
    const h = head.headers;
    for (let j = 0; j < h.length; j += 2) obj[h[j].toLowerCase()] = h[j + 1];
    const lines: string[] = [`${head.method} ${head.path}?${head.query} HTTP/1.1`];
    for (const [k, v] of Object.entries(obj)) if (!HOP.has(k)) lines.push(`${k}: ${v}`);
    lines.push(`x-forwarded-for: ${head.remoteAddress}`, `x-forwarded-proto: ${head.scheme}`, `x-forwarded-host: ${obj.host}`);
    sink += (lines.join('\r\n') + '\r\n\r\n').length;
    const out: string[] = [];
    for (let j = 0; j < response.length; j += 2) if (!HOP.has(response[j])) out.push(response[j], response[j + 1]);
    sink += out.length;
  }
  return Number(process.hrtime.bigint() - t) / ops;
}

const opsA = calibrateOps(gatemesh, ROUND_MS, 1000);
const opsB = calibrateOps(peer, ROUND_MS, 1000);
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  a.push(gatemesh(opsA));
  b.push(peer(opsB));
}
const g = median(a);
const p = median(b);
console.log(`headers: node ${process.version}, ${ROUNDS} alternating rounds of ~${ROUND_MS} ms, median ns per request (check + upstream head + response headers)`);
console.log('| implementation                          | ns/request | vs peer |');
console.log('|-----------------------------------------|------------|---------|');
console.log(`| object + Set + join (peer)              | ${p.toFixed(0).padStart(10)} | 1.00x   |`);
console.log(`| gatemesh checkRequestHead + forwarding  | ${g.toFixed(0).padStart(10)} | ${(p / g).toFixed(2)}x   |`);
if (sink === 0) console.log('(nothing built)');
