// Open-loop load sent by autocannon's `overallRate` (issue 3's generator; `--open-loop-generator autocannon`), each connection paced
// evenly and every request timed from when it was due (autocannon-pacing.ts overrides autocannon 9.0.0's
// per-second bursts), into our own histogram, with the paced generator's failure kinds. Also here:
// - autocannon's own coordinated-omission correction is off (`ignoreCoordinatedOmission`; lib/run.js line 244 uses
//   a 1 ms expected interval at any rate, and its histogram is not read). Timing from the due time is the correction
//   (wrk2's), so responses are recorded as they are, without recordValueWithExpectedInterval.
// - it stops only on its sample tick (1 s by default): we sample every 50 ms and stop it ourselves, after the
//   window's requests are answered or DRAIN_MS have passed, as the paced generator does.
// - no connection per request: `reconnectRate` resets the connection before emitting the response
//   (lib/httpClient.js line 92), so no latency is recorded at all, and it reconnects right after the previous
//   response rather than when the next request is due; `new-conn` stays with the paced generator (suite.ts).
import { performance } from 'node:perf_hooks';
import { dueOf, installAutocannonPacing, paceClient } from './autocannon-pacing';
import { autocannon, type AutocannonClient, type LoadRequest } from './closed-loop';
import { addFailure, type Failures } from './failures';
import { DRAIN_MS, type OpenLoopResult } from './open-loop';
import { createHistogram, recordUs } from './stats';

export interface AutocannonOpenLoopOptions {
  request: LoadRequest;
  /** Requests per second across all connections (autocannon's `overallRate`; rounded, at least 1). */
  rate: number;
  durationMs: number;
  /** Sent but not recorded, before `durationMs` starts. */
  warmupMs: number;
  /** Connections asked for; autocannon uses min(connections, rate) (lib/run.js: `opts.connections = opts.overallRate`). */
  connections: number;
}

export interface AutocannonOpenLoopResult extends OpenLoopResult {
  /** Connections autocannon really opened. */
  connections: number;
  /** Each connection's send interval, µs: 1000 × connections ÷ rate ms (the rate is split with a remainder, so a
   * connection's own interval is within one request per second of this). */
  connectionIntervalUs: number;
}

/** The connections autocannon opens for `overallRate`: it lowers the count to the rate when the rate is smaller. */
export function autocannonConnections(overallRate: number, connections: number): number {
  return Math.max(1, Math.min(Math.round(connections), Math.round(overallRate)));
}

/** The interval at which each connection sends, in µs: the rate is shared by the connections. */
export function connectionIntervalUs(overallRate: number, connections: number): number {
  if (!(overallRate > 0)) throw new RangeError(`overallRate ${overallRate}: expected > 0`);
  return (1_000_000 * autocannonConnections(overallRate, connections)) / overallRate;
}

export interface AutocannonRecorderOptions {
  /** performance.now() ms: requests due in [measureFrom, end) are measured. */
  measureFrom: number;
  end: number;
  durationMs: number;
}

/**
 * Turns autocannon's per-connection events into the paced generator's figures. One state per client (autocannon
 * runs pipelining 1 here, so at most one request in flight per client). Phase callbacks are named after the events;
 * times are passed in so tests can drive it without a server.
 */
export interface AutocannonRecorder {
  /** Client 'request': a request was written; `due` is when it was due (autocannon-pacing.ts dueOf). */
  onRequest(client: object, due: number): void;
  /** Tracker 'response': `responseTimeMs` since that request was due (the pacing override sets its start time). */
  onResponse(client: object, status: number, responseTimeMs: number): void;
  /** Client 'connError': the socket failed (autocannon reconnects and sends again). */
  onConnError(client: object, err: Error & { code?: string }): void;
  /** Client 'timeout': no response within autocannon's `timeout` (it reconnects and sends again first). */
  onTimeout(client: object): void;
  /** Measured requests written and neither answered nor failed yet. */
  inFlight(): number;
  /** Counts what is still in flight as unanswered (recorded at its age, as the paced generator does) and returns. */
  finish(now: number): OpenLoopResult;
}

interface ClientState {
  busy: boolean;
  /** When the request in flight was due. */
  due: number;
  measured: boolean;
  /** A measured request was dropped without an answer or error: autocannon reconnected on 'end' (or on a timeout,
   * whose event comes right after the new request). Counted at the client's next event, or at the end. */
  dropped: boolean;
}

export function createAutocannonRecorder(o: AutocannonRecorderOptions): AutocannonRecorder {
  const histogram = createHistogram();
  const failures: Failures = {};
  const states = new Map<object, ClientState>();
  let sent = 0;
  let completed = 0;
  let errors = 0;
  let non2xx = 0;
  let inFlight = 0;

  const fail = (kind: string): void => {
    errors++;
    addFailure(failures, kind);
  };
  const settle = (st: ClientState): void => {
    if (!st.dropped) return;
    st.dropped = false;
    fail('closed before the response');
  };
  const stateOf = (client: object): ClientState => {
    let st = states.get(client);
    if (!st) states.set(client, (st = { busy: false, due: 0, measured: false, dropped: false }));
    return st;
  };

  return {
    onRequest(client, due) {
      const st = stateOf(client);
      settle(st);
      if (st.busy && st.measured) {
        inFlight--;
        st.dropped = true;
      }
      st.busy = true;
      st.due = due;
      st.measured = due >= o.measureFrom && due < o.end;
      if (st.measured) {
        sent++;
        inFlight++;
      }
    },
    onResponse(client, status, responseTimeMs) {
      const st = states.get(client);
      if (!st) return;
      settle(st);
      if (!st.busy) return;
      st.busy = false;
      if (!st.measured) return;
      inFlight--;
      completed++;
      recordUs(histogram, responseTimeMs * 1000);
      if (status < 200 || status >= 300) {
        non2xx++;
        addFailure(failures, `status ${status}`);
      }
    },
    onConnError(client, err) {
      const st = stateOf(client);
      settle(st);
      // An idle keep-alive connection failing is not a failed request (as in the paced generator).
      if (!st.busy) return;
      st.busy = false;
      if (!st.measured) return;
      inFlight--;
      fail(`socket ${err.code ?? err.message}`);
    },
    onTimeout(client) {
      const st = stateOf(client);
      if (st.dropped) {
        st.dropped = false;
        fail('request timed out');
      } else if (st.busy) {
        // No new request came first (the pacing override always sends one on the reconnect; kept for safety).
        st.busy = false;
        if (st.measured) {
          inFlight--;
          fail('request timed out');
        }
      }
    },
    inFlight: () => inFlight,
    finish(now) {
      for (const st of states.values()) {
        settle(st);
        if (st.busy && st.measured) {
          recordUs(histogram, (now - st.due) * 1000);
          fail(`unanswered ${DRAIN_MS / 1000} s after the run`);
          st.busy = false;
        }
      }
      inFlight = 0;
      return { histogram, sent, completed, errors, non2xx, failures, achievedRate: (completed * 1000) / o.durationMs };
    },
  };
}

/** autocannon stops on its sample tick; 50 ms instead of its 1 s so the run ends when we stop it. The req/s and
 * bytes/s samples it takes on that tick are not used. */
const SAMPLE_INT_MS = 50;
/** How often, after the window, we look whether the window's requests are all answered. */
const DRAIN_POLL_MS = 10;

export function runAutocannonOpenLoop(o: AutocannonOpenLoopOptions): Promise<AutocannonOpenLoopResult> {
  return new Promise((resolve, reject) => {
    // Refuses an autocannon other than the one the override was written for (throws: the promise rejects).
    installAutocannonPacing();
    const rate = Math.max(1, Math.round(o.rate));
    const connections = autocannonConnections(rate, o.connections);
    const intervalUs = connectionIntervalUs(rate, connections);
    const start = performance.now();
    const end = start + o.warmupMs + o.durationMs;
    const rec = createAutocannonRecorder({ measureFrom: start + o.warmupMs, end, durationMs: o.durationMs });
    const r = o.request;
    let timer: NodeJS.Timeout | undefined;
    let index = 0;
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${r.port}${r.path}`,
        method: r.method,
        headers: r.headers,
        body: r.body,
        connections,
        pipelining: 1,
        overallRate: rate,
        ignoreCoordinatedOmission: true,
        sampleInt: SAMPLE_INT_MS,
        // A backstop only: we stop it after the window and the drain.
        duration: (o.warmupMs + o.durationMs + DRAIN_MS) / 1000 + 5,
        timeout: 10,
        // Called in each client's constructor, before its first request: client i of n starts i / n of its interval
        // late, so the connections' sends interleave evenly.
        setupClient: (c: AutocannonClient) => {
          paceClient(c, index++ / connections);
          c.on('request', () => rec.onRequest(c, dueOf(c)));
          c.on('connError', (e) => rec.onConnError(c, e));
          c.on('timeout', () => rec.onTimeout(c));
        },
      },
      (err) => {
        clearTimeout(timer);
        if (err) return reject(err);
        resolve({ ...rec.finish(performance.now()), connections, connectionIntervalUs: intervalUs });
      },
    );
    instance.on('response', (client, status, _bytes, ms) => rec.onResponse(client, status, ms));
    const poll = (): void => {
      const now = performance.now();
      if (now >= end && (rec.inFlight() === 0 || now >= end + DRAIN_MS)) instance.stop();
      else timer = setTimeout(poll, now < end ? Math.max(1, end - now) : DRAIN_POLL_MS);
    };
    timer = setTimeout(poll, end - start);
  });
}
