// The scenarios of the end-to-end suite. Each names the request the generator sends and the route table every proxy
// is configured with; the upstream answers by path suffix (see bench/upstream.ts and peers/nginx-upstream.conf).

/** Which route table the proxies get: one catch-all, 10,000 prefixes, or the policies-on config. */
export type RouteTable = 'single' | 'routes-10k' | 'policies';

export interface Scenario {
  id: string;
  title: string;
  method: 'GET' | 'POST';
  path: string;
  /** Request body (POST). */
  body?: Buffer;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Sends `Connection: close`: a new TCP connection per request. */
  newConnection: boolean;
  table: RouteTable;
  /** Expected response body size, checked once per proxy before measuring. */
  responseBytes: number;
}

/** Upstream bodies: ~100 B, 16 KiB, 1 MiB. */
export const SMALL_BODY = 'gatemesh-bench ' + 'x'.repeat(84) + '\n';
export const BODY_16K = 16 * 1024;
export const BODY_1M = 1024 * 1024;
export const POST_BYTES = 4096;
/** Routes in the routes-10k table; the request matches the last one. */
export const ROUTE_COUNT = 10_000;

export const SCENARIOS: readonly Scenario[] = [
  { id: 'small-get', title: 'GET, 100 B response', method: 'GET', path: '/small', newConnection: false, table: 'single', responseBytes: SMALL_BODY.length },
  { id: 'get-16k', title: 'GET, 16 KiB response', method: 'GET', path: '/16k', newConnection: false, table: 'single', responseBytes: BODY_16K },
  { id: 'get-1m', title: 'GET, 1 MiB response', method: 'GET', path: '/1m', newConnection: false, table: 'single', responseBytes: BODY_1M },
  {
    id: 'post-4k',
    title: 'POST 4 KiB body, 100 B response',
    method: 'POST',
    path: '/post',
    body: Buffer.alloc(POST_BYTES, 'p'),
    newConnection: false,
    table: 'single',
    responseBytes: SMALL_BODY.length,
  },
  { id: 'new-conn', title: 'GET 100 B, new connection per request', method: 'GET', path: '/small', newConnection: true, table: 'single', responseBytes: SMALL_BODY.length },
  {
    id: 'routes-10k',
    title: `GET 100 B, ${ROUTE_COUNT.toLocaleString('en')} routes, matching the last`,
    method: 'GET',
    path: `/svc-${ROUTE_COUNT - 1}/small`,
    newConnection: false,
    table: 'routes-10k',
    responseBytes: SMALL_BODY.length,
  },
  {
    id: 'policies',
    title: 'GET 100 B, policies on (rate limit, least request, access log)',
    method: 'GET',
    path: '/small',
    headers: { 'x-tenant': 'bench' },
    newConnection: false,
    table: 'policies',
    responseBytes: SMALL_BODY.length,
  },
];

/** `--quick`: the release-gate scenario only, to stay under 3 minutes with every peer (about 2.5). */
export const QUICK_SCENARIOS = ['small-get'];

export function requestHeaders(s: Scenario): Record<string, string> {
  const h: Record<string, string> = { ...s.headers };
  if (s.body) h['content-type'] = 'application/octet-stream';
  if (s.newConnection) h['connection'] = 'close';
  return h;
}

/** The raw request the open-loop generator writes. */
export function rawRequest(s: Scenario, port: number): Buffer {
  let head = `${s.method} ${s.path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n`;
  for (const [k, v] of Object.entries(requestHeaders(s))) head += `${k}: ${v}\r\n`;
  if (s.body) head += `content-length: ${s.body.length}\r\n`;
  head += '\r\n';
  return s.body ? Buffer.concat([Buffer.from(head, 'latin1'), s.body]) : Buffer.from(head, 'latin1');
}
