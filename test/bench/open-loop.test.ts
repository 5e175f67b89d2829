import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plainServer as server } from '../helpers/servers';
import { runOpenLoop } from '../../bench/harness/open-loop';

const GET = (port: number, close = false): Buffer =>
  Buffer.from(`GET / HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n${close ? 'connection: close\r\n' : ''}\r\n`);

test('open loop sends at an even pace, not in per-second bursts (what autocannon overallRate does)', async () => {
  const arrivals: number[] = [];
  const s = await server((_req, res) => {
    arrivals.push(performance.now());
    res.end('ok');
  });
  try {
    const r = await runOpenLoop({ port: s.port, request: GET(s.port), rate: 400, durationMs: 1000, warmupMs: 200, connections: 10, newConnectionPerRequest: false });
    assert.ok(r.sent >= 380 && r.sent <= 420, `sent ${r.sent}`);
    assert.equal(r.completed, r.sent);
    assert.equal(r.errors, 0);
    assert.equal(r.histogram.totalCount, r.completed);
    // 100 ms buckets over the measured second: each should hold ~40; a bursty generator puts ~400 in one.
    const t0 = arrivals[0];
    const buckets = new Array(12).fill(0);
    for (const t of arrivals) buckets[Math.min(11, Math.floor((t - t0) / 100))]++;
    for (const b of buckets.slice(0, 10)) assert.ok(b >= 15 && b <= 80, `bucket ${b} in ${buckets.join(',')}`);
  } finally {
    await s.close();
  }
});

test('open loop charges queueing to latency: a server slower than the rate shows it (no coordinated omission)', async () => {
  // 2 connections, 50 ms per response → capacity 40/s; asked for 100/s: requests queue and latency grows.
  const s = await server((_req, res) => setTimeout(() => res.end('ok'), 50));
  try {
    const r = await runOpenLoop({ port: s.port, request: GET(s.port), rate: 100, durationMs: 1000, warmupMs: 0, connections: 2, newConnectionPerRequest: false });
    const p99ms = r.histogram.getValueAtPercentile(99) / 1000;
    // A closed-loop tool would report ~50 ms; queued requests waited up to ~1.5 s.
    assert.ok(p99ms > 500, `p99 ${p99ms} ms`);
    assert.ok(r.completed < r.sent || r.errors > 0 || p99ms > 500);
  } finally {
    await s.close();
  }
});

test('open loop with a new connection per request', async () => {
  const peers = new Set<number>();
  const s = await server((req, res) => {
    peers.add(req.socket.remotePort!);
    res.end('ok');
  });
  try {
    const r = await runOpenLoop({ port: s.port, request: GET(s.port, true), rate: 200, durationMs: 500, warmupMs: 0, connections: 5, newConnectionPerRequest: true });
    assert.ok(r.completed >= 90, `completed ${r.completed}`);
    assert.equal(r.errors, 0);
    // One TCP connection (client port) per request.
    assert.equal(peers.size, r.completed);
  } finally {
    await s.close();
  }
});

test('open loop counts refused connections as errors and still finishes', async () => {
  const s = await server((_req, res) => res.end('ok'));
  const port = s.port;
  await s.close();
  const r = await runOpenLoop({ port, request: GET(port), rate: 100, durationMs: 300, warmupMs: 0, connections: 2, newConnectionPerRequest: false });
  assert.equal(r.completed, 0);
  assert.ok(r.errors > 0);
});

test('open loop says what failed, by kind: statuses, resets, connections closed before the answer', async () => {
  let n = 0;
  const s = await server((req, res) => {
    const i = n++ % 3;
    if (i === 0) res.writeHead(503).end('busy');
    else if (i === 1) req.socket.destroy(); // closed without an answer
    else res.end('ok');
  });
  try {
    const r = await runOpenLoop({ port: s.port, request: GET(s.port, true), rate: 150, durationMs: 400, warmupMs: 0, connections: 5, newConnectionPerRequest: true });
    const f = r.failures;
    assert.equal(f['status 503'], r.non2xx);
    assert.ok(r.non2xx > 5, `non2xx ${r.non2xx}`);
    // A destroyed socket reads as a reset or a plain close, depending on timing; both are counted, nothing else is.
    const closed = (f['closed before the response'] ?? 0) + (f['socket ECONNRESET'] ?? 0);
    assert.ok(closed > 5, JSON.stringify(f));
    assert.equal(closed, r.errors, JSON.stringify(f));
    assert.deepEqual(Object.keys(f).filter((k) => !['status 503', 'closed before the response', 'socket ECONNRESET'].includes(k)), []);
  } finally {
    await s.close();
  }
});
