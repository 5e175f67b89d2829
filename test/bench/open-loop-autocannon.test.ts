import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plainServer as server } from '../helpers/servers';
import {
  autocannonConnections,
  connectionIntervalUs,
  createAutocannonRecorder,
  runAutocannonOpenLoop,
  type AutocannonRecorder,
} from '../../bench/harness/open-loop-autocannon';
import { SCENARIOS } from '../../bench/harness/scenarios';
import { createHistogram, recordUs } from '../../bench/harness/stats';
import { chooseOpenLoopGenerator, openLoopGeneratorFor, PROBE_MAX_P50_MS, PROBE_MIN_RATE_SHARE } from '../../bench/harness/suite';

// ---- each connection's interval (pure) ----

const intervals: { desc: string; rate: number; connections: number; conns: number; us: number }[] = [
  { desc: '10,000 req/s over 50 connections: 200/s each, one per 5 ms', rate: 10_000, connections: 50, conns: 50, us: 5_000 },
  { desc: '1,000 req/s over 50 connections: one per 50 ms', rate: 1_000, connections: 50, conns: 50, us: 50_000 },
  { desc: 'one connection at 100 req/s: one per 10 ms', rate: 100, connections: 1, conns: 1, us: 10_000 },
  // autocannon lowers connections to the rate (lib/run.js), so each sends once a second.
  { desc: 'rate below the connections: autocannon opens `rate` connections', rate: 20, connections: 50, conns: 20, us: 1_000_000 },
  { desc: 'an uneven split keeps the mean interval', rate: 30_001, connections: 50, conns: 50, us: (1e6 * 50) / 30_001 },
];

for (const c of intervals) {
  test(`connectionIntervalUs: ${c.desc}`, () => {
    assert.equal(autocannonConnections(c.rate, c.connections), c.conns);
    assert.ok(Math.abs(connectionIntervalUs(c.rate, c.connections) - c.us) < 1e-6, `${connectionIntervalUs(c.rate, c.connections)} µs`);
  });
}

test('connectionIntervalUs: a rate of 0 is refused', () => {
  assert.throws(() => connectionIntervalUs(0, 50), RangeError);
});

// ---- the recorder, driven by the events autocannon emits, without a server ----

const WINDOW = { measureFrom: 1000, end: 2000, durationMs: 1000 };

interface Step {
  ev: 'request' | 'response' | 'connError' | 'timeout';
  client: number;
  at?: number;
  status?: number;
  ms?: number;
  code?: string;
}

function drive(steps: Step[], finishAt = 2500): { rec: AutocannonRecorder; res: ReturnType<AutocannonRecorder['finish']>; inFlightBefore: number } {
  const rec = createAutocannonRecorder(WINDOW);
  const clients = [{}, {}, {}];
  for (const s of steps) {
    const c = clients[s.client];
    if (s.ev === 'request') rec.onRequest(c, s.at!);
    else if (s.ev === 'response') rec.onResponse(c, s.status ?? 200, s.ms ?? 1);
    else if (s.ev === 'connError') rec.onConnError(c, Object.assign(new Error('boom'), s.code ? { code: s.code } : {}));
    else rec.onTimeout(c);
  }
  const inFlightBefore = rec.inFlight();
  return { rec, res: rec.finish(finishAt), inFlightBefore };
}

const cases: {
  desc: string;
  steps: Step[];
  sent: number;
  completed: number;
  errors: number;
  non2xx: number;
  failures: Record<string, number>;
  recorded: number;
  inFlight?: number;
}[] = [
  {
    desc: 'only requests due inside the window count; warm-up and after-window answers are not recorded',
    steps: [
      { ev: 'request', client: 0, at: 500 },
      { ev: 'response', client: 0, ms: 2 },
      { ev: 'request', client: 0, at: 1000 },
      { ev: 'response', client: 0, ms: 2 },
      { ev: 'request', client: 1, at: 1999 },
      { ev: 'response', client: 1, ms: 2 },
      { ev: 'request', client: 1, at: 2000 },
      { ev: 'response', client: 1, ms: 2 },
    ],
    sent: 2,
    completed: 2,
    errors: 0,
    non2xx: 0,
    failures: {},
    recorded: 2,
  },
  {
    desc: 'a non-2xx answer is completed, recorded and counted by status',
    steps: [
      { ev: 'request', client: 0, at: 1100 },
      { ev: 'response', client: 0, status: 503 },
      { ev: 'request', client: 0, at: 1200 },
      { ev: 'response', client: 0, status: 200 },
    ],
    sent: 2,
    completed: 2,
    errors: 0,
    non2xx: 1,
    failures: { 'status 503': 1 },
    recorded: 2,
  },
  {
    // The pacing override already timed it from its due time: one response, one sample, however slow.
    desc: 'a response slower than the connection interval is one sample (no recordValueWithExpectedInterval)',
    steps: [
      { ev: 'request', client: 0, at: 1100 },
      { ev: 'response', client: 0, ms: 12 },
    ],
    sent: 1,
    completed: 1,
    errors: 0,
    non2xx: 0,
    failures: {},
    recorded: 1,
  },
  {
    desc: 'a socket error on a busy connection fails its request; on an idle one it is not a failed request',
    steps: [
      { ev: 'request', client: 0, at: 1100 },
      { ev: 'connError', client: 0, code: 'ECONNRESET' },
      { ev: 'connError', client: 1, code: 'ECONNREFUSED' },
      { ev: 'request', client: 2, at: 1100 },
      { ev: 'response', client: 2 },
      { ev: 'connError', client: 2, code: 'EPIPE' },
    ],
    sent: 2,
    completed: 1,
    errors: 1,
    non2xx: 0,
    failures: { 'socket ECONNRESET': 1 },
    recorded: 1,
  },
  {
    // autocannon reconnects on 'end' and sends again without any error event.
    desc: 'a request dropped by a closed connection (next request without an answer) is "closed before the response"',
    steps: [
      { ev: 'request', client: 0, at: 1100 },
      { ev: 'request', client: 0, at: 1150 },
      { ev: 'response', client: 0, ms: 1 },
    ],
    sent: 2,
    completed: 1,
    errors: 1,
    non2xx: 0,
    failures: { 'closed before the response': 1 },
    recorded: 1,
  },
  {
    // handleTimeout: reconnect, new request, then 'timeout'.
    desc: 'a timeout after the new request of the reconnect is "request timed out", not a close',
    steps: [
      { ev: 'request', client: 0, at: 1100 },
      { ev: 'request', client: 0, at: 1900 },
      { ev: 'timeout', client: 0 },
      { ev: 'response', client: 0, ms: 1 },
    ],
    sent: 2,
    completed: 1,
    errors: 1,
    non2xx: 0,
    failures: { 'request timed out': 1 },
    recorded: 1,
  },
  {
    desc: 'a timeout with no new request (budget spent) fails the request in flight',
    steps: [
      { ev: 'request', client: 0, at: 1100 },
      { ev: 'timeout', client: 0 },
    ],
    sent: 1,
    completed: 0,
    errors: 1,
    non2xx: 0,
    failures: { 'request timed out': 1 },
    recorded: 0,
  },
  {
    desc: 'requests still in flight at the end are unanswered, recorded at their age',
    steps: [
      { ev: 'request', client: 0, at: 1500 },
      { ev: 'request', client: 1, at: 1900 },
      { ev: 'response', client: 1, ms: 1 },
      { ev: 'request', client: 2, at: 2100 }, // after the window: neither measured nor unanswered
    ],
    sent: 2,
    completed: 1,
    errors: 1,
    non2xx: 0,
    failures: { 'unanswered 2 s after the run': 1 },
    // 1 ms, and the unanswered one at its age (1000 ms)
    recorded: 2,
    inFlight: 1,
  },
];

for (const c of cases) {
  test(`autocannon recorder: ${c.desc}`, () => {
    const { res, inFlightBefore } = drive(c.steps);
    assert.equal(res.sent, c.sent, 'sent');
    assert.equal(res.completed, c.completed, 'completed');
    assert.equal(res.errors, c.errors, 'errors');
    assert.equal(res.non2xx, c.non2xx, 'non2xx');
    assert.deepEqual(res.failures, c.failures);
    assert.equal(res.histogram.totalCount, c.recorded, 'histogram samples');
    assert.equal(inFlightBefore, c.inFlight ?? 0, 'in flight before finish');
    assert.equal(res.achievedRate, c.completed, 'completed per second over the 1 s window');
  });
}

test('autocannon recorder: responses are recorded as timed, in µs; the unanswered at their age since due', () => {
  const rec = createAutocannonRecorder(WINDOW);
  const [a, b] = [{}, {}];
  rec.onRequest(a, 1100);
  rec.onResponse(a, 200, 12);
  rec.onRequest(b, 1500);
  const h = rec.finish(1800).histogram;
  assert.equal(h.totalCount, 2);
  assert.ok(Math.abs(h.minNonZeroValue - 12_000) <= 12, `min ${h.minNonZeroValue}`);
  assert.ok(Math.abs(h.maxValue - 300_000) <= 300, `max ${h.maxValue}`);
});

test('openLoopGeneratorFor: as asked, except new-conn (reconnectRate reports no response), which is paced even under auto', () => {
  const small = SCENARIOS.find((s) => s.id === 'small-get')!;
  const newConn = SCENARIOS.find((s) => s.id === 'new-conn')!;
  assert.equal(openLoopGeneratorFor('autocannon', small), 'autocannon');
  assert.equal(openLoopGeneratorFor('autocannon', newConn), 'paced');
  assert.equal(openLoopGeneratorFor('paced', small), 'paced');
  assert.equal(openLoopGeneratorFor('auto', small), 'auto');
  assert.equal(openLoopGeneratorFor('auto', newConn), 'paced');
});

/** A probe result: `p50Us` for every recorded request. */
function probeResult(p50Us: number, achievedRate: number, errors = 0, non2xx = 0) {
  const histogram = createHistogram();
  for (let i = 0; i < 100; i++) recordUs(histogram, p50Us);
  return { histogram, achievedRate, errors, non2xx };
}

const choices: { desc: string; r: ReturnType<typeof probeResult>; want: 'autocannon' | 'paced'; note: RegExp }[] = [
  { desc: 'kept up: autocannon', r: probeResult(400, 37_400), want: 'autocannon', note: /^autocannon: it kept up with 37\.5k req\/s against direct \(37\.4k req\/s completed, p50 0\.40 ms, 0 failed\)$/ },
  // The collapse seen on the 2-core VM: requests timed from their due time, the median far behind.
  { desc: 'fell behind (p50 161 ms): paced', r: probeResult(161_000, 37_200), want: 'paced', note: /^paced: autocannon could not keep up with 37\.5k req\/s .*p50 161\.\d\d ms.*needs p50 ≤ 2 ms/ },
  { desc: 'completed too few: paced', r: probeResult(400, 30_000), want: 'paced', note: /30\.0k req\/s completed/ },
  { desc: 'a failure: paced', r: probeResult(400, 37_500, 1), want: 'paced', note: /1 failed/ },
  { desc: 'a non-2xx answer: paced', r: probeResult(400, 37_500, 0, 3), want: 'paced', note: /3 failed/ },
  { desc: 'the bounds themselves: autocannon', r: probeResult(PROBE_MAX_P50_MS * 1000, PROBE_MIN_RATE_SHARE * 37_500), want: 'autocannon', note: /^autocannon/ },
];

for (const c of choices) {
  test(`chooseOpenLoopGenerator: ${c.desc}`, () => {
    const got = chooseOpenLoopGenerator(c.r, 37_500);
    assert.equal(got.generator, c.want);
    assert.match(got.note, c.note);
  });
}

// ---- against a real server (127.0.0.1, port 0) ----


const get = (port: number) => ({ port, method: 'GET' as const, path: '/', headers: {} });

/** Most arrivals in any `ms`-long window. */
function busiest(times: readonly number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= ms) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

test('autocannon open loop: the pacing override spreads requests evenly (no per-second bursts, connections staggered)', async () => {
  const arrivals: number[] = [];
  const s = await server((_req, res) => {
    arrivals.push(performance.now());
    res.end('ok');
  });
  try {
    // A stall of this process (the machine is shared) bunches any generator's requests; autocannon's own bursts fail
    // every attempt, so up to 3 attempts must not all be unlucky.
    const seen: string[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      arrivals.length = 0;
      const t0 = performance.now();
      const r = await runAutocannonOpenLoop({ request: get(s.port), rate: 1000, durationMs: 1000, warmupMs: 500, connections: 50 });
      assert.equal(r.connections, 50);
      assert.equal(r.connectionIntervalUs, 50_000);
      // The schedule holds 1,000 due times in the window, whatever the timers' lag.
      assert.ok(r.sent >= 950 && r.sent <= 1010, `sent ${r.sent}`);
      assert.equal(r.completed, r.sent);
      assert.equal(r.errors, 0);
      // One sample per response: nothing added for coordinated omission.
      assert.equal(r.histogram.totalCount, r.completed);
      const window = arrivals.filter((t) => t >= t0 + 500 && t < t0 + 1500);
      // Even: ~100 in any 100 ms. autocannon's own _doRequest put nearly all of each second's 1,000 into one 100 ms.
      const most = busiest(window, 100);
      // Staggered: ~5 requests every 5 ms. Fifty connections starting together would fill one 5 ms slot in ten.
      const slots = new Set(window.map((t) => Math.floor((t - t0) / 5))).size;
      seen.push(`busiest 100 ms ${most} of ${window.length}, ${slots} of 200 5-ms slots used`);
      if (window.length >= 900 && most <= 0.15 * window.length && slots >= 100) return;
    }
    assert.fail(seen.join('; '));
  } finally {
    await s.close();
  }
});

test('autocannon open loop: latency runs from the due time; a stalled response shows as the queueing behind it', async () => {
  // One connection at 100 req/s (one due every 10 ms) for 1.5 s; the server holds its 30th answer 300 ms. The ~29
  // requests due meanwhile go out back to back once it is answered, each timed from its own due time (~290, 280, …
  // 10 ms). Timed from the write, only the stalled one would be slow; a schedule reset after it would drop them.
  let n = 0;
  const s = await server((_req, res) => {
    if (++n === 30) setTimeout(() => res.end('ok'), 300);
    else res.end('ok');
  });
  try {
    const r = await runAutocannonOpenLoop({ request: get(s.port), rate: 100, durationMs: 1500, warmupMs: 0, connections: 1 });
    const h = r.histogram;
    const ms = (p: number): number => h.getValueAtPercentile(p) / 1000;
    assert.ok(r.sent >= 135 && r.sent <= 151, `sent ${r.sent} (150 due; ~120 if the schedule restarted after the stall)`);
    assert.equal(r.completed, r.sent);
    assert.equal(h.totalCount, r.completed);
    assert.ok(h.maxValue >= 295_000, `max ${h.maxValue} µs`);
    // ~26 of ~150 samples waited ≥ 50 ms (p90 ≥ 50 ms); the next highest after the stalled one is ~290 ms.
    assert.ok(ms(90) >= 50, `p90 ${ms(90)} ms`);
    assert.ok(ms(99) >= 200, `p99 ${ms(99)} ms`);
    // And the rest is not: local answers take well under a millisecond.
    assert.ok(ms(50) < 50, `p50 ${ms(50)} ms`);
  } finally {
    await s.close();
  }
});

test('autocannon open loop: a server slower than the rate shows the queue growing (no coordinated omission)', async () => {
  // 2 connections at 100 req/s, 50 ms per answer → capacity 40/s: each connection falls further behind its schedule.
  const s = await server((_req, res) => setTimeout(() => res.end('ok'), 50));
  try {
    const r = await runAutocannonOpenLoop({ request: get(s.port), rate: 100, durationMs: 1000, warmupMs: 0, connections: 2 });
    assert.equal(r.connectionIntervalUs, 20_000);
    assert.ok(r.completed >= 20, `completed ${r.completed}`);
    assert.equal(r.histogram.totalCount, r.completed + r.errors);
    // Timed from the write every answer would read ~50 ms; by the end requests were due ~0.6 s before they went out.
    const p99ms = r.histogram.getValueAtPercentile(99) / 1000;
    assert.ok(p99ms > 400, `p99 ${p99ms} ms`);
  } finally {
    await s.close();
  }
});

test('autocannon open loop: failures by kind from its events (statuses, connections closed without an answer)', async () => {
  let n = 0;
  const s = await server((req, res) => {
    const i = n++ % 3;
    if (i === 0) res.writeHead(503).end('busy');
    else if (i === 1) req.socket.destroy();
    else res.end('ok');
  });
  try {
    const r = await runAutocannonOpenLoop({ request: get(s.port), rate: 150, durationMs: 1000, warmupMs: 0, connections: 5 });
    const f = r.failures;
    assert.ok(r.non2xx > 5, `non2xx ${r.non2xx}`);
    assert.equal(f['status 503'], r.non2xx);
    const closed = (f['closed before the response'] ?? 0) + (f['socket ECONNRESET'] ?? 0);
    assert.ok(closed > 5, JSON.stringify(f));
    assert.equal(closed, r.errors, JSON.stringify(f));
    assert.deepEqual(Object.keys(f).filter((k) => !['status 503', 'closed before the response', 'socket ECONNRESET'].includes(k)), []);
  } finally {
    await s.close();
  }
});
