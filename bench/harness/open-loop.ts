// Open-loop load at a fixed rate (the default generator, `--open-loop-generator paced`; always for `new-conn`): requests are released on a
// schedule that does not wait for responses, so a slow proxy cannot slow the generator down and hide its own latency
// (coordinated omission). Unlike autocannon's paced `overallRate` (open-loop-autocannon.ts, the option), released
// requests go to any free connection rather than to a schedule per connection, and a connection can be opened per
// request. Like wrk2, latency is counted from the moment a request was due, so
// time spent queued for a free connection counts; the release tick is 1 ms (Node timers' resolution), and a
// request's due time is the tick that released it, so the generator's own timer lag is not charged to the proxy.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { addFailure, type Failures } from './failures';
import { createResponseReader } from './response-reader';
import { createHistogram, recordUs, type Histogram } from './stats';

export interface OpenLoopOptions {
  port: number;
  /** The complete request bytes (head + body), sent as is. */
  request: Buffer;
  /** Requests per second across all connections. */
  rate: number;
  durationMs: number;
  /** Released but not recorded, before `durationMs` starts. */
  warmupMs: number;
  /** Concurrent connections (in-flight cap); default 50, the same as the closed-loop figure. */
  connections: number;
  /** Open a new connection per request (the request must carry `Connection: close`). */
  newConnectionPerRequest: boolean;
}

export interface OpenLoopResult {
  histogram: Histogram;
  /** Requests released during the measured window. */
  sent: number;
  completed: number;
  /** Socket errors, framing errors and requests still unanswered 2 s after the window (recorded at their age). */
  errors: number;
  non2xx: number;
  /** The measured errors and non-2xx answers by kind: "status 400", "socket ECONNRESET", "closed before the
   * response", "bad response framing", "unanswered 2 s after the run". Empty when none. */
  failures: Failures;
  /** Completed per second over the measured window. */
  achievedRate: number;
}

interface Conn {
  socket: net.Socket | null;
  /** Due time of the request in flight, or -1 when idle. */
  due: number;
  measured: boolean;
}

/** After the window, in-flight requests get this long before they are counted as errors (both generators). */
export const DRAIN_MS = 2000;

export function runOpenLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  return new Promise((resolve) => {
    const histogram = createHistogram();
    const conns: Conn[] = [];
    const idle: Conn[] = [];
    const queue: number[] = []; // due times of released requests waiting for a connection
    let queueHead = 0;
    let released = 0;
    let sent = 0;
    let completed = 0;
    let errors = 0;
    let non2xx = 0;
    const failures: Failures = {};
    let stopping = false;
    let finished = false;
    const start = performance.now();
    const measureFrom = start + o.warmupMs;
    const end = measureFrom + o.durationMs;

    function connect(c: Conn): void {
      const s = net.connect({ port: o.port, host: '127.0.0.1', noDelay: true });
      c.socket = s;
      const reader = createResponseReader((status) => {
        const now = performance.now();
        if (c.measured) {
          recordUs(histogram, (now - c.due) * 1000);
          completed++;
          if (status < 200 || status >= 300) {
            non2xx++;
            addFailure(failures, `status ${status}`);
          }
        }
        c.due = -1;
        if (o.newConnectionPerRequest) {
          s.destroy();
          c.socket = null;
        }
        release(c);
      });
      s.on('data', (d: Buffer) => {
        try {
          reader.push(d);
        } catch {
          fail(c, 'bad response framing');
        }
      });
      s.on('error', (e: Error & { code?: string }) => fail(c, `socket ${e.code ?? e.message}`));
      s.on('close', () => {
        if (c.socket === s && c.due >= 0) fail(c, 'closed before the response');
        else if (c.socket === s) c.socket = null;
      });
    }

    function fail(c: Conn, kind: string): void {
      const busy = c.due >= 0; // an idle keep-alive connection closing is not an error
      if (c.measured && busy) {
        errors++;
        addFailure(failures, kind);
      }
      c.socket?.destroy();
      c.socket = null;
      c.due = -1;
      if (busy) release(c);
    }

    function send(c: Conn, due: number): void {
      c.due = due;
      c.measured = due >= measureFrom;
      if (c.measured) sent++;
      if (!c.socket) connect(c);
      c.socket!.write(o.request);
    }

    /** A connection became free: give it the oldest queued request, or park it. */
    function release(c: Conn): void {
      if (finished) return;
      if (queueHead < queue.length) {
        send(c, queue[queueHead++]);
        if (queueHead > 4096 && queueHead * 2 > queue.length) {
          queue.splice(0, queueHead);
          queueHead = 0;
        }
      } else {
        idle.push(c);
        if (stopping && idle.length === conns.length) done();
      }
    }

    function tick(): void {
      const now = performance.now();
      if (now >= end) {
        stopping = true;
        queue.length = 0;
        queueHead = 0;
        if (idle.length === conns.length) done();
        else setTimeout(timeoutInFlight, DRAIN_MS);
        return;
      }
      const due = Math.floor(((now - start) * o.rate) / 1000);
      while (released < due) {
        released++;
        const c = idle.pop();
        if (c) send(c, now);
        else queue.push(now);
      }
      setTimeout(tick, 1);
    }

    function timeoutInFlight(): void {
      if (finished) return;
      const now = performance.now();
      for (const c of conns) {
        if (c.due >= 0 && c.measured) {
          recordUs(histogram, (now - c.due) * 1000);
          errors++;
          addFailure(failures, 'unanswered 2 s after the run');
        }
      }
      done();
    }

    function done(): void {
      if (finished) return;
      finished = true;
      for (const c of conns) c.socket?.destroy();
      resolve({ histogram, sent, completed, errors, non2xx, failures, achievedRate: (completed * 1000) / o.durationMs });
    }

    for (let i = 0; i < o.connections; i++) {
      const c: Conn = { socket: null, due: -1, measured: false };
      conns.push(c);
      idle.push(c);
      if (!o.newConnectionPerRequest) connect(c);
    }
    setTimeout(tick, 1);
  });
}
