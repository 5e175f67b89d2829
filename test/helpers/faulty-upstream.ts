// Fault-injecting upstreams for the traffic-policy integration tests (test/proxy/policy-*.test.ts):
// each one names itself in every answer (`x-upstream` header and body), counts its traffic and
// its health checks apart, and misbehaves on demand: slow, failing with a status (optionally with
// Retry-After), resetting the connection, or flapping between healthy and failing.
// All on 127.0.0.1, port 0.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What one request gets. */
export type Fault =
  | { kind: 'ok' }
  /** 200 after `ms`. */
  | { kind: 'slow'; ms: number }
  /** `status` (after `ms`, default 0) with extra headers (e.g. Retry-After). */
  | { kind: 'status'; status: number; headers?: Record<string, string>; ms?: number }
  /** The connection is destroyed before any byte of a response. */
  | { kind: 'reset' };

export const OK: Fault = { kind: 'ok' };
export const slow = (ms: number): Fault => ({ kind: 'slow', ms });
export const fail = (status: number, headers?: Record<string, string>, ms?: number): Fault => ({ kind: 'status', status, headers, ms });
export const RESET: Fault = { kind: 'reset' };

/** Alternates between `a` and `b` every `periodMs` of wall time (a first). */
export function flapping(periodMs: number, a: Fault, b: Fault): () => Fault {
  const t0 = performance.now();
  return () => (Math.floor((performance.now() - t0) / periodMs) % 2 === 0 ? a : b);
}

/** Alternates between `a` and `b` on every call (a first): a check that passes, fails, passes... */
export function alternating(a: Fault, b: Fault): () => Fault {
  let n = 0;
  return () => (n++ % 2 === 0 ? a : b);
}

export interface Hit {
  method: string;
  url: string;
  /** performance.now() when the request (with its body) had arrived. */
  at: number;
  /** 1-based count of requests with this path (query excluded) so far. */
  nth: number;
  headers: http.IncomingHttpHeaders;
}

export interface FaultyUpstream {
  readonly name: string;
  readonly port: number;
  /** `127.0.0.1:<port>`, as gatemesh's access log names the endpoint. */
  readonly address: string;
  /** Traffic requests seen (health checks excluded). */
  readonly hits: Hit[];
  /** Health-check requests (path `healthPath`) seen, with their arrival times. */
  readonly healthHits: number[];
  /** Traffic requests being answered right now, and the most at once since reset(). */
  readonly inflight: number;
  readonly maxInflight: number;
  /**
   * The fault for traffic; the default reads the query: `?fail=N&mode=status|reset|slow&status=S&delay=ms`
   * makes the first N requests of that path fail (answer S, 503 by default; reset; or 200 after
   * `delay`), later ones succeed (after `okdelay` ms when given). Set it to misbehave for every request.
   */
  behave: (req: http.IncomingMessage, nth: number) => Fault;
  /** The fault for health checks (default OK). */
  health: () => Fault;
  /** Forgets hits, health hits and max in flight (behaviours stay). */
  reset(): void;
  close(): Promise<void>;
}

/** Per-query faults: see FaultyUpstream.behave. */
export function queryFault(req: http.IncomingMessage, nth: number): Fault {
  const q = new URL(req.url!, 'http://x').searchParams;
  const failN = Number(q.get('fail') ?? 0);
  if (nth > failN) return q.has('okdelay') ? slow(Number(q.get('okdelay'))) : OK;
  const mode = q.get('mode') ?? 'status';
  if (mode === 'reset') return RESET;
  if (mode === 'slow') return slow(Number(q.get('delay') ?? 1000));
  return fail(Number(q.get('status') ?? 503));
}

export async function faultyUpstream(name: string, healthPath = '/healthz'): Promise<FaultyUpstream> {
  const counts = new Map<string, number>();
  const state = { inflight: 0, maxInflight: 0 };
  const self = {
    name,
    port: 0,
    address: '',
    hits: [] as Hit[],
    healthHits: [] as number[],
    get inflight() {
      return state.inflight;
    },
    get maxInflight() {
      return state.maxInflight;
    },
    behave: queryFault as FaultyUpstream['behave'],
    health: (() => OK) as () => Fault,
    reset() {
      self.hits.length = 0;
      self.healthHits.length = 0;
      counts.clear();
      state.maxInflight = state.inflight;
    },
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      const path = req.url!.split('?')[0];
      let fault: Fault;
      if (path === healthPath) {
        self.healthHits.push(performance.now());
        fault = self.health();
      } else {
        const nth = (counts.get(path) ?? 0) + 1;
        counts.set(path, nth);
        self.hits.push({ method: req.method!, url: req.url!, at: performance.now(), nth, headers: req.headers });
        fault = self.behave(req, nth);
        state.inflight++;
        if (state.inflight > state.maxInflight) state.maxInflight = state.inflight;
        let done = false;
        const end = (): void => {
          if (!done) state.inflight--;
          done = true;
        };
        res.on('close', end);
      }
      answer(res, req, fault);
    });
  });
  server.keepAliveTimeout = 30000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  self.port = (server.address() as AddressInfo).port;
  self.address = `127.0.0.1:${self.port}`;
  self.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return self;

  function answer(res: http.ServerResponse, req: http.IncomingMessage, f: Fault): void {
    const send = (status: number, headers: Record<string, string> = {}): void => {
      if (res.destroyed) return;
      const body = `${name} ${status}`;
      res.writeHead(status, { ...headers, 'x-upstream': name, 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    switch (f.kind) {
      case 'ok':
        return send(200);
      case 'slow':
        setTimeout(() => send(200), f.ms);
        return;
      case 'status':
        if (f.ms !== undefined && f.ms > 0) setTimeout(() => send(f.status, f.headers), f.ms);
        else send(f.status, f.headers);
        return;
      case 'reset':
        req.socket.destroy();
        return;
    }
  }
}

/** Starts `n` upstreams named `<prefix>0..<prefix>n-1`. */
export function faultyUpstreams(prefix: string, n: number): Promise<FaultyUpstream[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => faultyUpstream(`${prefix}${i}`)));
}

export interface LoadResult {
  status: number;
  /** The `x-upstream` that answered ('' for gatemesh's own answers). */
  upstream: string;
  body: string;
  headers: http.IncomingHttpHeaders;
}

export interface LoadRequest {
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * Sends `count` requests through gatemesh with `concurrency` keep-alive connections; `make(i)`
 * describes request i. Results are in request order. `fresh` uses a new connection per request
 * (spreads over the worker threads of a multi-threaded gateway).
 */
export async function load(port: number, count: number, concurrency: number, make: (i: number) => LoadRequest, fresh = false): Promise<LoadResult[]> {
  const agent = fresh ? undefined : new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const out: LoadResult[] = new Array(count);
  let next = 0;
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const r = make(i);
      const req = http.request({ host: '127.0.0.1', port, method: r.method ?? 'GET', path: r.path, headers: r.headers, agent: agent ?? false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const up = res.headers['x-upstream'];
          out[i] = { status: res.statusCode!, upstream: typeof up === 'string' ? up : '', body: Buffer.concat(chunks).toString(), headers: res.headers };
          resolve();
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(r.body);
    });
  const worker = async (): Promise<void> => {
    while (next < count) await one(next++);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } finally {
    agent?.destroy();
  }
  return out;
}

/** How many results each upstream answered. */
export function shares(results: LoadResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) out[r.upstream] = (out[r.upstream] ?? 0) + 1;
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms until true or `ms` passed; returns whether it became true. */
export async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

/** A timeline of `up.inflight`, read every `everyMs` until stop(): what the upstream held at once, when. */
export function watchInflight(up: FaultyUpstream, everyMs = 5): { stop(): { at: number; n: number }[] } {
  const points: { at: number; n: number }[] = [];
  const timer = setInterval(() => points.push({ at: performance.now(), n: up.inflight }), everyMs);
  return {
    stop() {
      clearInterval(timer);
      return points;
    },
  };
}
