// Even pacing for autocannon's `overallRate`: a small override of autocannon 9.0.0's HTTP client, installed before
// an open-loop run (open-loop-autocannon.ts), so that each connection sends on its own even schedule and every
// request is timed from when it was due on it (wrk2's coordinated-omission correction). Why, with line numbers:
// bench/README.md "The figures".
//
// autocannon 9.0.0, lib/httpClient.js `_doRequest` (line 157) sends while `this.reqsMadeThisSecond++ < this.rate`
// and only a 1 s `setInterval` (line 68) resets the count, so each connection fires its whole per-second budget
// back to back and then idles: saturation bursts, timed from the write. The replacement below, for clients with a
// rate only (closed-loop runs have none and keep the original):
// - sends one request every 1000 / rate ms, `rate` being the client's own share of `overallRate` (lib/run.js
//   distributeNums), from a first due time the caller staggers across connections (paceClient), so 50 connections
//   do not fire together;
// - never has more than one request in flight (pipelining 1): a response that comes back early waits for the next
//   due time (a timer); one that comes back after it sends the next request at once, and the schedule is kept, not
//   reset, so a slow response shows up as the queueing of the requests behind it;
// - timestamps the request in autocannon's PipelinedRequestsQueue (`startTime`, lib/pipelinedRequestsQueue.js
//   line 24, read by terminateRequest for the 'response' event's duration) with its due time when it was overdue.
//   A request released by its timer is timed from the moment the timer fired: Node timers fire up to ~1 ms late
//   (and early against performance.now(), their clock being the loop's cached millisecond), and that lag is the
//   generator's, not the proxy's; the paced generator (open-loop.ts) does not charge it either.
// Every response's duration is then already its latency from the due time, so it is recorded as is: no
// recordValueWithExpectedInterval (that would add samples for requests this schedule really sent), and
// autocannon's own correction (lib/run.js line 244, 1 ms expected interval at any rate) stays off
// (`ignoreCoordinatedOmission`).
//
// The rest of the original `_doRequest` is kept as it is (`responseMax`, the request iterator, the write, the
// timeout ticker). The 1 s interval of line 68 keeps running: it resets a count nothing reads any more, and
// `paused` is never set. The override is written against 9.0.0's internals; installing it refuses any other
// version, so an upgrade cannot change the figures without someone reading the new lib/httpClient.js first.
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/** The autocannon version whose lib/httpClient.js, lib/pipelinedRequestsQueue.js and lib/run.js this was checked against. */
export const AUTOCANNON_VERSION = '9.0.0';

export class AutocannonVersionError extends Error {}

/** Throws unless `found` is exactly the version the override was written for. */
export function checkAutocannonVersion(found: string): void {
  if (found === AUTOCANNON_VERSION) return;
  throw new AutocannonVersionError(
    `autocannon ${found || '(no version)'} is installed, but bench/harness/autocannon-pacing.ts overrides the HTTP client of ` +
      `autocannon ${AUTOCANNON_VERSION} (lib/httpClient.js _doRequest, lib/pipelinedRequestsQueue.js startTime): ` +
      `install autocannon@${AUTOCANNON_VERSION}, or check the override against the new version and update AUTOCANNON_VERSION, ` +
      `or measure with --open-loop-generator paced`,
  );
}

/** The version in node_modules/autocannon/package.json. */
export function installedAutocannonVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return String((require('autocannon/package.json') as { version?: string }).version ?? '');
}

/** One queued request of lib/pipelinedRequestsQueue.js. */
interface PendingRequest {
  startTime: [number, number];
}

/** The slice of lib/httpClient.js Client this override reads and writes (9.0.0). */
interface ClientInternals extends EventEmitter {
  opts: { pipelining: number };
  rate?: number;
  destroyed: boolean;
  conn: { write(b: Buffer): unknown };
  reqsMade: number;
  responseMax?: number;
  timeout: number;
  timeoutTicker: { reschedule(ms: number): void };
  requestIterator: { nextRequest(): void; resetted: boolean; currentRequest: unknown };
  pipelinedRequests: { insertRequest(r: unknown): void; size(): number; clear(): void; toArray(): PendingRequest[] };
  getRequestBuffer(): Buffer;
  destroy(): void;
  _doRequest(): void;
  [kPace]?: Pace;
}

interface Pace {
  /** 1000 / the client's own rate, ms. */
  intervalMs: number;
  /** performance.now() ms at which the next request is due. */
  nextDue: number;
  /** The timer that sends the next request at `nextDue`, while the connection is idle. */
  timer: NodeJS.Timeout | null;
  /** The socket the request in flight was written on: after autocannon reconnects, that request is lost. */
  conn: unknown;
  /** When the last request sent was due (what its latency is timed from), performance.now() ms. */
  due: number;
}

const kPace = Symbol('gatemesh.autocannonPace');

let installed: ((this: ClientInternals) => void) | null = null;

/**
 * Replaces lib/httpClient.js `Client.prototype._doRequest` (once per process) after checking the version. The module
 * instance is the one autocannon's lib/run.js constructs its clients from: both resolve to the same file, which
 * require's cache loads once (checked here, and again per client in paceClient).
 */
export function installAutocannonPacing(version: string = installedAutocannonVersion()): void {
  checkAutocannonVersion(version);
  if (installed) return;
  const clientFile = require.resolve('autocannon/lib/httpClient');
  const runFile = require.resolve('autocannon/lib/run');
  if (path.dirname(clientFile) !== path.dirname(runFile)) {
    throw new Error(`autocannon/lib/httpClient resolves to ${clientFile}, not beside lib/run.js (${runFile}): the override would not reach autocannon's clients`);
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const Client = require(clientFile) as { prototype: ClientInternals };
  const original = Client.prototype._doRequest;
  installed = function pacedDoRequest(this: ClientInternals): void {
    if (!this.rate) {
      original.call(this);
      return;
    }
    const p = this[kPace] ?? (this[kPace] = newPace(this, 0));
    if (this.destroyed || p.timer) return;
    if (this.pipelinedRequests.size() > 0) {
      // One in flight on this connection: its response calls us again.
      if (p.conn === this.conn) return;
      // autocannon reconnected ('end' or 'error', lib/httpClient.js lines 138–150) with a request unanswered: it is
      // lost (its client's 'request' event with no response tells the recorder so).
      this.pipelinedRequests.clear();
    }
    const now = performance.now();
    if (p.nextDue <= now) send(this, p, p.nextDue);
    // Whole milliseconds: Node keeps one timer list per distinct duration, and a fractional delay would make a new
    // list (and a priority-queue entry) for nearly every request; timers fire on the loop's millisecond anyway.
    else p.timer = setTimeout(onDue, Math.max(1, Math.round(p.nextDue - now)), this, p).unref();
  };
  Client.prototype._doRequest = installed;
}

function newPace(c: ClientInternals, firstDue: number): Pace {
  return { intervalMs: 1000 / c.rate!, nextDue: firstDue, timer: null, conn: null, due: NaN };
}

function onDue(c: ClientInternals, p: Pace): void {
  p.timer = null;
  if (c.destroyed) return;
  // Released by its timer: timed from now, as the connection was free at its due time (the timer's lag, either way,
  // is the generator's).
  send(c, p, performance.now());
}

/** lib/httpClient.js 9.0.0 `_doRequest` lines 159–172, without the per-second budget, plus the schedule. */
function send(c: ClientInternals, p: Pace, due: number): void {
  if (!c.destroyed && c.responseMax && c.reqsMade >= c.responseMax) return c.destroy();
  p.due = due;
  p.nextDue += p.intervalMs;
  p.conn = c.conn;
  c.emit('request');
  if (c.reqsMade > 0) {
    c.requestIterator.nextRequest();
    if (c.requestIterator.resetted) c.emit('reset');
  }
  c.pipelinedRequests.insertRequest(c.requestIterator.currentRequest);
  const q = c.pipelinedRequests.toArray();
  q[q.length - 1].startTime = hrtimeAt(due);
  c.conn.write(c.getRequestBuffer());
  c.timeoutTicker.reschedule(c.timeout);
  c.reqsMade++;
}

/** process.hrtime() tuple of a performance.now() instant not later than now (both read the same monotonic clock). */
function hrtimeAt(ms: number): [number, number] {
  const agoNs = BigInt(Math.max(0, Math.round((performance.now() - ms) * 1e6)));
  const t = process.hrtime.bigint() - agoNs;
  return [Number(t / 1_000_000_000n), Number(t % 1_000_000_000n)];
}

/**
 * Sets one client's schedule; call it from autocannon's `setupClient` (lib/httpClient.js line 53: after `rate` is
 * set, before the first request). `phase` in [0, 1) staggers the first due time by that fraction of the client's
 * interval (client i of n: i / n). Throws when the client is not a paced one: the override is not installed, the
 * client has no rate, or it pipelines (more than one request in flight would not be open loop per connection).
 */
export function paceClient(client: object, phase: number): void {
  const c = client as ClientInternals;
  if (!installed || c._doRequest !== installed) {
    throw new Error('autocannon client without the pacing override: call installAutocannonPacing() first (and load autocannon from one copy only)');
  }
  if (!(c.rate! > 0)) throw new Error('paceClient: the client has no rate (overallRate or connectionRate)');
  if (c.opts.pipelining !== 1) throw new Error(`paceClient: pipelining ${c.opts.pipelining}; the paced schedule keeps one request in flight per connection`);
  c[kPace] = newPace(c, performance.now() + ((phase % 1) * 1000) / c.rate!);
}

/** When the client's latest request was due (performance.now() ms), for its 'request' event; NaN before any. */
export function dueOf(client: object): number {
  return (client as ClientInternals)[kPace]?.due ?? NaN;
}
