// Helpers for the traffic-policy integration tests (test/proxy/policy-*.test.ts): a slow,
// concurrency-counting upstream, a keep-alive client pool that hammers the gateway, and
// access-log / stderr readers for the policy fields.
import fs from 'node:fs';
import http from 'node:http';
import type { RunningGateway } from './gateway';
import { httpUpstream } from './servers';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** ms from sending to the end of the response. */
  ms: number;
}

/** One request; `agent` false (a fresh connection) unless given. Rejects on a socket error. */
export function get(port: number, path: string, headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<Reply> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/**
 * An upstream that answers 200 after `?delay=<ms>` (0 by default) and tracks how many requests
 * it holds at once (`peak`), so a test can see what a concurrency limit let through.
 */
export async function slowUpstream() {
  const state = { inFlight: 0, peak: 0, served: 0 };
  const up = await httpUpstream((req, res) => {
    state.inFlight++;
    if (state.inFlight > state.peak) state.peak = state.inFlight;
    const delay = Number(new URL(req.url!, 'http://x').searchParams.get('delay') ?? 0);
    const answer = (): void => {
      state.inFlight--;
      state.served++;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    };
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  });
  return {
    ...up,
    state,
    resetPeak(): void {
      state.peak = state.inFlight;
    },
  };
}

export interface HammerResult {
  /** Responses per status code. */
  statuses: Map<number, number>;
  /** Socket errors (a limit must answer, never drop a request). */
  errors: number;
  /** Wall-clock ms of the whole run. */
  ms: number;
}

/**
 * `clients` keep-alive clients (one connection each, Agent maxSockets 1), each sending
 * `perClient` requests back to back; client i talks to ports[i % ports.length]. All start at once.
 */
export async function hammer(ports: number[], clients: number, perClient: number, path: string, headers: Record<string, string> = {}): Promise<HammerResult> {
  const statuses = new Map<number, number>();
  let errors = 0;
  const agents: http.Agent[] = [];
  const t0 = performance.now();
  const run = async (i: number): Promise<void> => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    const port = ports[i % ports.length];
    for (let n = 0; n < perClient; n++) {
      try {
        const r = await get(port, path, headers, agent);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => run(i)));
  const ms = performance.now() - t0;
  for (const a of agents) a.destroy();
  return { statuses, errors, ms };
}

/** The access log after the gateway stopped (stop() flushes it): one record per line. */
export function readAccessLog(gw: RunningGateway): Record<string, unknown>[] {
  const text = fs.existsSync(gw.accessLogPath) ? fs.readFileSync(gw.accessLogPath, 'utf8') : '';
  return text
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The "gatemesh listening" start-up record (threads, front end, ports). */
export function listeningRecord(gw: RunningGateway): { frontend: string; threads: number } {
  const line = gw.stderr().split('\n').find((l) => l.includes('"gatemesh listening"'));
  if (line === undefined) throw new Error(`no listening line:\n${gw.stderr()}`);
  return JSON.parse(line) as { frontend: string; threads: number };
}

/** Lines of the gateway's operational log (stderr) whose `msg` matches `re`. */
export function logLines(gw: RunningGateway, re: RegExp): string[] {
  return gw
    .stderr()
    .split('\n')
    .filter((l) => re.test(l));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface LoopSample {
  /** performance.now() when the response ended (or the socket failed). */
  at: number;
  /** HTTP status, 0 on a socket error. */
  status: number;
  /** x-gatemesh-error, '' when none. */
  error: string;
  ms: number;
}

/**
 * Closed-loop load that runs until stop(): `clients` keep-alive clients (one connection each),
 * each sending its next request as soon as the last one ended, except after a 503 (a refusal
 * answered at once), where it waits `backoffMs` so refused clients do not spin the CPU.
 * stop() lets each client's request in flight end and returns every response in end order.
 */
export function closedLoop(port: number, clients: number, path: string, backoffMs = 5): { stop(): Promise<LoopSample[]> } {
  const samples: LoopSample[] = [];
  let running = true;
  const run = async (): Promise<void> => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      while (running) {
        try {
          const r = await get(port, path, {}, agent);
          const code = r.headers['x-gatemesh-error'];
          samples.push({ at: performance.now(), status: r.status, error: typeof code === 'string' ? code : '', ms: r.ms });
          if (r.status === 503 && backoffMs > 0) await sleep(backoffMs);
        } catch {
          samples.push({ at: performance.now(), status: 0, error: '', ms: 0 });
          await sleep(backoffMs > 0 ? backoffMs : 1);
        }
      }
    } finally {
      agent.destroy();
    }
  };
  const all = Promise.all(Array.from({ length: clients }, run));
  return {
    async stop() {
      running = false;
      await all;
      return samples;
    },
  };
}
