// The per-request retry decision, as a table: method, body, what went wrong, attempts so far
// and the request deadline → retried (after which backoff) or not. Plus the body replay and the
// three timers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERR, type ErrorSpec } from '../../src/errors';
import { AttemptController, type AttemptHost, type BodyKind } from '../../src/retry/attempt-controller';
import { createRulePolicy, REPLAY_BODY_LIMIT } from '../../src/retry/rule-policy';
import type { Exchange, ExchangeRequest } from '../../src/upstream/exchange';

class Host implements AttemptHost {
  events: string[] = [];
  requestTimedOut(): void {
    this.events.push('request');
  }
  attemptTimedOut(): void {
    this.events.push('attempt');
  }
  backoffDone(): void {
    this.events.push('backoff');
  }
}

function req(): ExchangeRequest {
  return { method: 'GET', head: '', body: 'none', idempotent: true, responseTimeoutMs: 30000 };
}

interface Opts {
  attempts?: number;
  codes?: number[];
  backoffMs?: number;
  requestMs?: number;
  backendRequestMs?: number;
  idempotent?: boolean;
  body?: BodyKind;
  contentLength?: number;
  upgrade?: boolean;
}

function controller(o: Opts, host = new Host()): AttemptController {
  const timeouts = o.requestMs !== undefined || o.backendRequestMs !== undefined ? { requestMs: o.requestMs, backendRequestMs: o.backendRequestMs } : undefined;
  const policy = createRulePolicy({
    matches: [],
    backendRefs: [],
    retry: { attempts: o.attempts ?? 2, codes: o.codes ?? [502, 503], backoffMs: o.backoffMs ?? 10 },
    timeouts,
  })!;
  return new AttemptController(policy, host, o.idempotent ?? true, o.body ?? 'none', o.contentLength ?? -1, o.upgrade ?? false, () => 0);
}

type Outcome = { status: number } | { error: ErrorSpec };

interface Case {
  desc: string;
  opts: Opts;
  /** Outcomes of the attempts so far; the last one is decided. */
  outcomes: Outcome[];
  /** Body chunks received before the decision: [bytes, last]. */
  chunks?: [number, boolean][];
  /** Expected backoff of the last decision, or -1 for "not retried". */
  want: number;
}

const cases: Case[] = [
  { desc: 'GET, listed status → retry after the backoff', opts: {}, outcomes: [{ status: 503 }], want: 10 },
  { desc: 'GET, second failure → backoff doubles', opts: {}, outcomes: [{ status: 503 }, { status: 502 }], want: 20 },
  { desc: 'GET, attempts exhausted → relay', opts: { attempts: 2 }, outcomes: [{ status: 503 }, { status: 503 }, { status: 503 }], want: -1 },
  { desc: 'attempts 0 → never retried', opts: { attempts: 0 }, outcomes: [{ status: 503 }], want: -1 },
  { desc: 'status not in codes → relay', opts: {}, outcomes: [{ status: 500 }], want: -1 },
  { desc: '2xx is never retried', opts: { codes: [503] }, outcomes: [{ status: 200 }], want: -1 },
  { desc: 'POST, listed status → relay (not idempotent)', opts: { idempotent: false, body: 'length', contentLength: 5 }, chunks: [[5, true]], outcomes: [{ status: 503 }], want: -1 },
  { desc: 'GET, reset before the head → retry', opts: {}, outcomes: [{ error: ERR.UPSTREAM_RESET }], want: 10 },
  { desc: 'GET, upstream head timeout → retry', opts: {}, outcomes: [{ error: ERR.UPSTREAM_TIMEOUT }], want: 10 },
  { desc: 'GET, backendRequest timeout → retry', opts: {}, outcomes: [{ error: ERR.BACKEND_TIMEOUT }], want: 10 },
  { desc: 'POST, reset after sending → not retried', opts: { idempotent: false }, outcomes: [{ error: ERR.UPSTREAM_RESET }], want: -1 },
  { desc: 'POST, connection refused (never sent) → retry', opts: { idempotent: false }, outcomes: [{ error: ERR.UPSTREAM_CONNECT }], want: 10 },
  { desc: 'POST, connect timeout (never sent) → retry', opts: { idempotent: false }, outcomes: [{ error: ERR.UPSTREAM_CONNECT_TIMEOUT }], want: 10 },
  { desc: 'POST, no pool slot (never sent) → retry', opts: { idempotent: false }, outcomes: [{ error: ERR.UPSTREAM_POOL_FULL }], want: 10 },
  { desc: 'PUT, Content-Length ≤ 64 KiB → retry', opts: { body: 'length', contentLength: REPLAY_BODY_LIMIT }, chunks: [[1000, false]], outcomes: [{ status: 503 }], want: 10 },
  { desc: 'PUT, Content-Length > 64 KiB → relay', opts: { body: 'length', contentLength: REPLAY_BODY_LIMIT + 1 }, outcomes: [{ status: 503 }], want: -1 },
  { desc: 'POST > 64 KiB, refused → not retried (body not held)', opts: { idempotent: false, body: 'length', contentLength: 70000 }, outcomes: [{ error: ERR.UPSTREAM_CONNECT }], want: -1 },
  { desc: 'PUT chunked, ended, small → retry', opts: { body: 'chunked' }, chunks: [[100, false], [100, true]], outcomes: [{ status: 503 }], want: 10 },
  { desc: 'PUT chunked, not ended yet → relay (size unknown)', opts: { body: 'chunked' }, chunks: [[100, false]], outcomes: [{ status: 503 }], want: -1 },
  { desc: 'PUT chunked grown past 64 KiB → relay', opts: { body: 'chunked' }, chunks: [[40000, false], [40000, true]], outcomes: [{ status: 503 }], want: -1 },
  { desc: 'upgrade → never retried', opts: { upgrade: true }, outcomes: [{ error: ERR.UPSTREAM_RESET }], want: -1 },
  { desc: 'backoff would pass the request deadline → relay', opts: { requestMs: 50, backoffMs: 60 }, outcomes: [{ status: 503 }], want: -1 },
  { desc: 'backoff fits in the request deadline → retry', opts: { requestMs: 5000, backoffMs: 60 }, outcomes: [{ status: 503 }], want: 60 },
];

describe('AttemptController: retry decisions', () => {
  for (const c of cases) {
    it(c.desc, () => {
      const ctl = controller(c.opts);
      ctl.start();
      for (const [n, last] of c.chunks ?? []) ctl.keep(Buffer.alloc(n, 1), last);
      let got = -2;
      for (const o of c.outcomes) {
        ctl.beginAttempt(req());
        got = 'status' in o ? ctl.afterStatus(o.status) : ctl.afterFailure(o.error);
      }
      ctl.stop();
      assert.equal(got, c.want);
    });
  }
});

describe('AttemptController: replay and timers', () => {
  it('replays the body received so far, then its end', () => {
    const ctl = controller({ body: 'length', contentLength: 6 });
    const chunk = Buffer.from('abc');
    ctl.keep(chunk, false);
    chunk.write('XYZ'); // the caller's buffer is reused: the controller must have copied it
    ctl.keep(Buffer.from('def'), true);
    const written: string[] = [];
    let ended = false;
    const ex: Exchange = { writeBody: (b) => (written.push(b.toString()), true), endBody: () => void (ended = true), resume() {}, abort() {} };
    assert.equal(ctl.replay(ex), true, 'every chunk accepted');
    assert.deepStrictEqual(written, ['abc', 'def']);
    assert.equal(ended, true);
  });

  it('the first attempt keeps its request; backendRequest replaces the exchange head timeout', () => {
    const ctl = controller({ backendRequestMs: 5000 });
    const r = req();
    ctl.beginAttempt(r);
    assert.equal(ctl.request, r);
    assert.equal(r.responseTimeoutMs, 0);
    assert.equal(ctl.attempts, 1);
    ctl.stop();
    const unset = controller({});
    const r2 = req();
    unset.beginAttempt(r2);
    assert.equal(r2.responseTimeoutMs, 30000, 'without backendRequest the upstream timeout stays');
    unset.stop();
  });

  it('fires the request, attempt and backoff timers; stop() silences them', async () => {
    const until = async (host: Host, event: string): Promise<void> => {
      for (let i = 0; i < 200 && !host.events.includes(event); i++) await new Promise((r) => setTimeout(r, 10));
    };
    const host = new Host();
    const ctl = controller({ requestMs: 1000, backendRequestMs: 30 }, host);
    ctl.start();
    ctl.beginAttempt(req());
    await until(host, 'attempt');
    assert.deepStrictEqual(host.events, ['attempt']);
    ctl.schedule(5);
    assert.equal(ctl.waiting, true);
    await until(host, 'backoff');
    assert.equal(ctl.waiting, false);
    assert.deepStrictEqual(host.events, ['attempt', 'backoff']);
    await until(host, 'request');
    assert.deepStrictEqual(host.events, ['attempt', 'backoff', 'request']);
    const quiet = new Host();
    const c2 = controller({ requestMs: 10, backendRequestMs: 10 }, quiet);
    c2.start();
    c2.beginAttempt(req());
    c2.schedule(10);
    c2.stop();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepStrictEqual(quiet.events, []);
  });
});
