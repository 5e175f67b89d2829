// Closed-loop throughput: a fixed number of connections, each sending its next request as soon as the previous one
// is answered. autocannon runs in-process; wrk (C, multi-core capable) takes over when autocannon's own ceiling is
// too close to the proxies' figures to tell them apart (decided per scenario by the suite).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { addFailure, type Failures } from './failures';
import { createHistogram, recordUs, type Histogram } from './stats';

export interface LoadRequest {
  port: number;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface ClosedLoopOptions {
  request: LoadRequest;
  connections: number;
  durationMs: number;
}

export interface ClosedLoopResult {
  tool: 'autocannon' | 'wrk';
  /** 2xx responses per second. */
  rps: number;
  total: number;
  non2xx: number;
  errors: number;
  /** non2xx and errors by kind ("status 400", "socket ECONNRESET", "read errors (wrk)"); empty when none. */
  failures: Failures;
  /** Closed-loop latency (saturated), for the record; the gate uses the open-loop figure. */
  histogram: Histogram | null;
  /** wrk's own latency summary line, kept raw. */
  raw?: string;
}

interface AutocannonResult {
  duration: number;
  '2xx': number;
  non2xx: number;
  /** Includes `timeouts` (autocannon counts a timeout as both). */
  errors: number;
  timeouts: number;
  statusCodeStats?: Record<string, { count: number }>;
}
export interface AutocannonInstance {
  /** Per response: the client (one per connection), status, bytes, and ms since the request was written. */
  on(ev: 'response', fn: (client: AutocannonClient, status: number, bytes: number, ms: number) => void): void;
  on(ev: 'reqError', fn: (err: Error & { code?: string }) => void): void;
  /** Stops at the next `sampleInt` tick (lib/run.js tickInterval), then calls the callback. */
  stop(): void;
}
/** One autocannon connection (lib/httpClient.js Client, an EventEmitter), as `setupClient` receives it. */
export interface AutocannonClient {
  on(ev: 'request', fn: () => void): void;
  on(ev: 'connError', fn: (err: Error & { code?: string }) => void): void;
  on(ev: 'timeout', fn: () => void): void;
}
export type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, res: AutocannonResult) => void) => AutocannonInstance;
// autocannon ships no types; this is the slice we use.
// eslint-disable-next-line @typescript-eslint/no-var-requires
export const autocannon = require('autocannon') as Autocannon;

export function runAutocannon(o: ClosedLoopOptions): Promise<ClosedLoopResult> {
  return new Promise((resolve, reject) => {
    const histogram = createHistogram();
    const failures: Failures = {};
    const r = o.request;
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${r.port}${r.path}`,
        method: r.method,
        headers: r.headers,
        body: r.body,
        connections: o.connections,
        pipelining: 1,
        duration: o.durationMs / 1000,
        timeout: 10,
      },
      (err, res) => {
        if (err) return reject(err);
        const seconds = res.duration || o.durationMs / 1000;
        for (const [code, st] of Object.entries(res.statusCodeStats ?? {})) if (!/^2/.test(code)) addFailure(failures, `status ${code}`, st.count);
        if (res.statusCodeStats === undefined) addFailure(failures, 'non-2xx', res.non2xx);
        resolve({
          tool: 'autocannon',
          rps: res['2xx'] / seconds,
          total: res['2xx'] + res.non2xx,
          non2xx: res.non2xx,
          errors: res.errors,
          failures,
          histogram,
        });
      },
    );
    instance.on('response', (_c, _s, _b, ms) => recordUs(histogram, ms * 1000));
    // Timeouts arrive here too, as "request timed out" without a code.
    instance.on('reqError', (e) => addFailure(failures, e.code ? `socket ${e.code}` : e.message));
  });
}

/** Lua for wrk: method, body and headers of the scenario (wrk's CLI has no body flag). */
function wrkScript(dir: string, r: LoadRequest): string {
  const lines = [`wrk.method = "${r.method}"`];
  for (const [k, v] of Object.entries(r.headers)) lines.push(`wrk.headers["${k}"] = "${v}"`);
  if (r.body) lines.push(`wrk.body = string.rep("x", ${r.body.length})`);
  const file = path.join(dir, `wrk-${r.method}-${r.body?.length ?? 0}-${Object.keys(r.headers).join('_')}.lua`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Runs wrk with one thread per generator core, pinned with `prefix` (e.g. ['taskset', '-c', '0']). */
export function runWrk(o: ClosedLoopOptions, tmpDir: string, prefix: string[], threads: number): Promise<ClosedLoopResult> {
  const r = o.request;
  const args = [
    'wrk',
    `-t${Math.max(1, Math.min(threads, o.connections))}`,
    `-c${o.connections}`,
    `-d${Math.max(1, Math.round(o.durationMs / 1000))}s`,
    '--latency',
    '-s',
    wrkScript(tmpDir, r),
    `http://127.0.0.1:${r.port}${r.path}`,
  ];
  const argv = [...prefix, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const parsed = parseWrkOutput(out, Math.max(1, Math.round(o.durationMs / 1000)));
      if (code !== 0 || !parsed) return reject(new Error(`wrk failed (exit ${code}): ${out.slice(-400)}`));
      resolve(parsed);
    });
  });
}

const WRK_SOCKET_KINDS = ['connect errors (wrk)', 'read errors (wrk)', 'write errors (wrk)', 'timeouts (wrk)'];

/**
 * wrk's summary → 2xx/s and failures by kind, or null when there is no summary. wrk counts a response with status
 * > 399 as "Non-2xx or 3xx" (src/wrk.c response_complete) without saying which status, and a socket error by the
 * syscall that failed; a read error is also what it reports when the server closes a connection it still meant to use.
 */
export function parseWrkOutput(out: string, seconds: number): ClosedLoopResult | null {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!rps) return null;
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const failures: Failures = {};
  addFailure(failures, 'status ≥ 400 (wrk)', non2xx);
  let errors = 0;
  if (sock) {
    for (let i = 0; i < WRK_SOCKET_KINDS.length; i++) {
      const n = Number(sock[i + 1]);
      errors += n;
      addFailure(failures, WRK_SOCKET_KINDS[i], n);
    }
  }
  // wrk counts non-2xx in Requests/sec; subtract them so both tools report 2xx/s.
  return {
    tool: 'wrk',
    rps: Number(rps[1]) - non2xx / seconds,
    total,
    non2xx,
    errors,
    failures,
    histogram: null,
    // The latency summary always; the whole output when something went wrong, to see what.
    raw: non2xx + errors > 0 ? out : (/Latency Distribution[\s\S]*?99%[^\n]*/.exec(out)?.[0] ?? '').replace(/\s+/g, ' '),
  };
}
