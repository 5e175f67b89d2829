import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plainServer as server } from '../helpers/servers';
import {
  autocannonConnections,
  createAutocannonRecorder,
  expectedIntervalUs,
  runAutocannonOpenLoop,
  type AutocannonRecorder,
} from '../../bench/harness/open-loop-autocannon';
import { SCENARIOS } from '../../bench/harness/scenarios';
import { openLoopGeneratorFor } from '../../bench/harness/suite';

// ---- the expected interval (pure) ----

const intervals: { desc: string; rate: number; connections: number; conns: number; us: number }[] = [
  { desc: '10,000 req/s over 50 connections: 200/s each, one per 5 ms', rate: 10_000, connections: 50, conns: 50, us: 5_000 },
  { desc: '1,000 req/s over 50 connections: one per 50 ms', rate: 1_000, connections: 50, conns: 50, us: 50_000 },
  { desc: 'one connection at 100 req/s: one per 10 ms', rate: 100, connections: 1, conns: 1, us: 10_000 },
  // autocannon lowers connections to the rate (lib/run.js), so each sends once a second.
  { desc: 'rate below the connections: autocannon opens `rate` connections', rate: 20, connections: 50, conns: 20, us: 1_000_000 },
  { desc: 'an uneven split keeps the mean interval', rate: 30_001, connections: 50, conns: 50, us: (1e6 * 50) / 30_001 },
];

for (const c of intervals) {
  test(`expectedIntervalUs: ${c.desc}`, () => {
    assert.equal(autocannonConnections(c.rate, c.connections), c.conns);
    assert.ok(Math.abs(expectedIntervalUs(c.rate, c.connections) - c.us) < 1e-6, `${expectedIntervalUs(c.rate, c.connections)} µs`);
    // What autocannon itself passes (Math.ceil(1 / per-connection rate) ms): 1 ms whatever the rate.
    const autocannonOwnMs = Math.ceil(1 / Math.floor(c.rate / c.conns));
    assert.equal(autocannonOwnMs, 1);
  });
}

test('expectedIntervalUs: a rate of 0 is refused', () => {
  assert.throws(() => expectedIntervalUs(0, 50), RangeError);
});

// ---- the recorder, driven by the events autocannon emits, without a server ----

const WINDOW = { measureFrom: 1000, end: 2000, durationMs: 1000, expectedIntervalUs: 5000 };

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
    desc: 'only requests written inside the window count; warm-up and after-window answers are not recorded',
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
    // 12 ms with 5 ms expected: the connection owed requests at 7 ms too (12 − 5); 12 − 10 = 2 < 5 stops.
    desc: 'a response slower than the expected interval adds the corrected samples',
    steps: [
      { ev: 'request', client: 0, at: 1100 },
      { ev: 'response', client: 0, ms: 12 },
    ],
    sent: 1,
    completed: 1,
    errors: 0,
    non2xx: 0,
    failures: {},
    recorded: 2,
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
    // 1 ms; and 1000 ms at 5 ms expected: 1000, 995, … 5 → 200 samples
    recorded: 1 + 200,
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

test('autocannon recorder: corrected samples are the response minus whole intervals, in µs', () => {
  const rec = createAutocannonRecorder(WINDOW);
  const c = {};
  rec.onRequest(c, 1100);
  rec.onResponse(c, 200, 12);
  const h = rec.finish(2500).histogram;
  assert.equal(h.totalCount, 2);
  assert.ok(Math.abs(h.maxValue - 12_000) <= 12, `max ${h.maxValue}`);
  assert.ok(Math.abs(h.minNonZeroValue - 7_000) <= 7, `min ${h.minNonZeroValue}`);
});

test('openLoopGeneratorFor: autocannon where asked, except new-conn; paced by default', () => {
  const small = SCENARIOS.find((s) => s.id === 'small-get')!;
  const newConn = SCENARIOS.find((s) => s.id === 'new-conn')!;
  assert.equal(openLoopGeneratorFor('autocannon', small), 'autocannon');
  assert.equal(openLoopGeneratorFor('autocannon', newConn), 'paced');
  assert.equal(openLoopGeneratorFor('paced', small), 'paced');
  assert.equal(openLoopGeneratorFor(undefined, small), 'paced');
});

// ---- against a real server (127.0.0.1, port 0) ----


const get = (port: number) => ({ port, method: 'GET' as const, path: '/', headers: {} });

test('autocannon open loop: the fixed rate, every response recorded, and the per-second bursts it is known for', async () => {
  const arrivals: number[] = [];
  const s = await server((_req, res) => {
    arrivals.push(performance.now());
    res.end('ok');
  });
  try {
    const r = await runAutocannonOpenLoop({ request: get(s.port), rate: 200, durationMs: 2000, warmupMs: 500, connections: 10 });
    assert.equal(r.connections, 10);
    assert.equal(r.expectedIntervalUs, 50_000);
    // Two 1 s budgets fall in the window (the ticks at 1 s and 2 s); ±1 budget for where the window edges fall.
    assert.ok(r.sent >= 200 && r.sent <= 600, `sent ${r.sent}`);
    assert.equal(r.completed, r.sent);
    assert.equal(r.errors, 0);
    assert.deepEqual(r.failures, {});
    // Local answers take far less than 50 ms: no corrected samples, one per response.
    assert.equal(r.histogram.totalCount, r.completed);
    // autocannon's overallRate: each second's 200 requests arrive together right after the tick (about 1 s after the
    // first), where an even pace puts 20 in any 100 ms.
    const t0 = arrivals[0];
    const second = arrivals.filter((t) => t >= t0 + 500 && t < t0 + 1500);
    let busiest = 0;
    for (let i = 0, j = 0; i < second.length; i++) {
      while (second[i] - second[j] >= 100) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    assert.ok(second.length >= 150 && second.length <= 250, `arrivals in that second: ${second.length}`);
    assert.ok(busiest >= 150, `busiest 100 ms of that second: ${busiest} of ${second.length}`);
  } finally {
    await s.close();
  }
});

test('autocannon open loop: a slow server gets corrected samples at the connection interval, none below it', async () => {
  // 2 connections at 100 req/s: one request per 20 ms each; the server takes 50 ms, so each response owes ~1–2 more.
  const s = await server((_req, res) => setTimeout(() => res.end('ok'), 50));
  try {
    const r = await runAutocannonOpenLoop({ request: get(s.port), rate: 100, durationMs: 1000, warmupMs: 0, connections: 2 });
    assert.equal(r.expectedIntervalUs, 20_000);
    assert.ok(r.completed >= 20, `completed ${r.completed}`);
    assert.ok(r.histogram.totalCount >= 2 * r.completed, `samples ${r.histogram.totalCount} for ${r.completed} responses`);
    assert.ok(r.histogram.minNonZeroValue >= 19_900, `min ${r.histogram.minNonZeroValue} µs`);
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
