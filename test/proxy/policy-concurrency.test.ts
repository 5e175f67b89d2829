// Concurrency limits (BackendTrafficPolicy concurrency, src/policy/concurrency/) and the circuit
// breaker's maxParallelRequests (src/policy/circuit-breaker/) through the real binary, on both
// front ends, with a slow upstream: queued requests proceed when a slot frees, past the queue
// 503 GATEMESH_ERR_CONCURRENCY_LIMITED at once, past the queue timeout 503
// GATEMESH_ERR_QUEUE_TIMEOUT, a backend's own limit, 503 GATEMESH_ERR_CIRCUIT_OPEN at once, the
// reason in body and access log (flag UO), and with 2 threads one limit across both.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { get, readAccessLog, sleep, slowUpstream, type Reply } from '../helpers/policy';

type Upstream = Awaited<ReturnType<typeof slowUpstream>>;

const CONFIG = (port: number): string =>
  nativeConfig(`routes:
  - name: conc
    match: { path: /conc }
    backend: up
    policy:
      concurrency: { maxInFlight: 2, maxQueue: 2, queueTimeout: 3s }
  - name: qto
    match: { path: /qto }
    backend: up
    policy:
      concurrency: { maxInFlight: 1, maxQueue: 5, queueTimeout: 200ms }
  - name: blim
    match: { path: /blim }
    backend: limited
  - name: cb
    match: { path: /cb }
    backend: breaker
backends:
  - name: up
    endpoints: ["127.0.0.1:${port}"]
  - name: limited
    endpoints: ["127.0.0.1:${port}"]
    policy:
      concurrency: { maxInFlight: 1 }
  - name: breaker
    endpoints: ["127.0.0.1:${port}"]
    policy:
      circuitBreaker: { maxParallelRequests: 2 }
`);

/** `n` requests on fresh connections, started `gapMs` apart (so they arrive in order). */
async function burst(port: number, p: string, n: number, gapMs = 15): Promise<Reply[]> {
  const out: Promise<Reply>[] = [];
  for (let i = 0; i < n; i++) {
    out.push(get(port, p));
    if (gapMs > 0) await sleep(gapMs);
  }
  return Promise.all(out);
}

function count(rs: Reply[], status: number, code?: string): number {
  return rs.filter((r) => r.status === status && (code === undefined || r.headers['x-gatemesh-error'] === code)).length;
}

const summary = (rs: Reply[]): string => JSON.stringify(rs.map((r) => [r.status, r.headers['x-gatemesh-error'] ?? '', Math.round(r.ms)]));

for (const fe of FRONTENDS) {
  describe(`concurrency limits and circuit breaker [${fe}]`, () => {
    let up: Upstream;
    let gw: RunningGateway;

    before(async () => {
      up = await slowUpstream();
      gw = await startGateway(fe, CONFIG(up.port));
    });
    after(async () => {
      await gw.stop();
      await up.close();
    });

    it('queues past maxInFlight and admits the queued requests as slots free', async () => {
      up.resetPeak();
      const rs = await burst(gw.port, '/conc?delay=400', 4);
      assert.equal(count(rs, 200), 4, summary(rs));
      assert.equal(up.state.peak, 2, 'the upstream never saw more than maxInFlight at once');
      const ms = rs.map((r) => r.ms).sort((a, b) => a - b);
      // Two go at once (~400 ms); the two queued ones start when those end (~800 ms).
      assert.ok(ms[1] < 700, summary(rs));
      assert.ok(ms[2] >= 700, summary(rs));
    });

    it('answers 503 GATEMESH_ERR_CONCURRENCY_LIMITED at once past the queue, with the reason', async () => {
      up.resetPeak();
      const rs = await burst(gw.port, '/conc?delay=300', 5);
      assert.equal(count(rs, 200), 4, summary(rs));
      const limited = rs.filter((r) => r.status === 503);
      assert.equal(limited.length, 1, summary(rs));
      assert.equal(limited[0], rs[4], 'the last arrival is the one refused');
      assert.equal(limited[0].headers['x-gatemesh-error'], 'GATEMESH_ERR_CONCURRENCY_LIMITED');
      assert.match(limited[0].body, /too many requests in flight/);
      assert.ok(limited[0].ms < 300, `answered after ${limited[0].ms} ms, not at once`);
      assert.equal(up.state.peak, 2);
    });

    it('answers 503 GATEMESH_ERR_QUEUE_TIMEOUT when a queued request waits past queueTimeout', async () => {
      const rs = await burst(gw.port, '/qto?delay=600', 2, 50);
      assert.equal(rs[0].status, 200, summary(rs));
      assert.equal(rs[1].status, 503, summary(rs));
      assert.equal(rs[1].headers['x-gatemesh-error'], 'GATEMESH_ERR_QUEUE_TIMEOUT');
      assert.match(rs[1].body, /timed out waiting in the concurrency queue/);
      // queueTimeout 200 ms, not the upstream's 600 ms.
      assert.ok(rs[1].ms >= 150 && rs[1].ms < 500, summary(rs));
      // The slot is free again afterwards.
      assert.equal((await get(gw.port, '/qto')).status, 200);
    });

    it('limits all requests to a backend with the backend policy concurrency', async () => {
      const rs = await burst(gw.port, '/blim?delay=400', 3);
      assert.equal(count(rs, 200), 1, summary(rs));
      assert.equal(count(rs, 503, 'GATEMESH_ERR_CONCURRENCY_LIMITED'), 2, summary(rs));
      assert.equal((await get(gw.port, '/blim')).status, 200);
    });

    it('answers 503 GATEMESH_ERR_CIRCUIT_OPEN at once past maxParallelRequests, and closes again', async () => {
      up.resetPeak();
      const rs = await burst(gw.port, '/cb?delay=400', 4);
      assert.equal(count(rs, 200), 2, summary(rs));
      const open = rs.filter((r) => r.status === 503);
      assert.equal(open.length, 2, summary(rs));
      for (const r of open) {
        assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_CIRCUIT_OPEN');
        assert.match(r.body, /circuit breaker open.*breaker/);
        assert.ok(r.ms < 300, summary(rs));
      }
      assert.equal(up.state.peak, 2);
      assert.equal(count(await burst(gw.port, '/cb', 2), 200), 2, 'requests released their breaker counts');
    });

    it('logs every refusal with its error code, reason and the UO flag', async () => {
      await gw.stop();
      const log = readAccessLog(gw);
      const byError = (code: string) => log.filter((l) => l.error === code);
      const limited = byError('GATEMESH_ERR_CONCURRENCY_LIMITED');
      assert.equal(limited.length, 3, JSON.stringify(limited));
      const timedOut = byError('GATEMESH_ERR_QUEUE_TIMEOUT');
      assert.equal(timedOut.length, 1);
      const open = byError('GATEMESH_ERR_CIRCUIT_OPEN');
      assert.equal(open.length, 2);
      for (const l of [...limited, ...timedOut, ...open]) {
        assert.equal(l.status, 503);
        assert.equal(l.flags, 'UO', JSON.stringify(l));
        assert.ok(typeof l.reason === 'string' && l.reason.length > 0, JSON.stringify(l));
      }
      assert.match(String(timedOut[0].reason), /timed out waiting in the concurrency queue/);
      assert.match(String(open[0].reason), /breaker/);
      assert.ok(log.filter((l) => l.status === 200).every((l) => l.flags === undefined));
    });
  });

  describe(`concurrency limits across threads [${fe}]`, () => {
    let up: Upstream;
    let gw: RunningGateway;

    before(async () => {
      up = await slowUpstream();
      gw = await startGateway(
        fe,
        nativeConfig(`routes:
  - name: g
    match: { path: /g }
    backend: up
    policy:
      concurrency: { maxInFlight: 2 }
  - name: gq
    match: { path: /gq }
    backend: up
    policy:
      concurrency: { maxInFlight: 1, maxQueue: 3, queueTimeout: 5s }
  - name: cb
    match: { path: /cb }
    backend: breaker
backends:
  - name: up
    endpoints: ["127.0.0.1:${up.port}"]
  - name: breaker
    endpoints: ["127.0.0.1:${up.port}"]
    policy:
      circuitBreaker: { maxParallelRequests: 2 }
`),
        { GATEMESH_THREADS: '2', GATEMESH_ACCESS_LOG: 'off' },
      );
    });
    after(async () => {
      await gw.stop();
      await up.close();
    });

    it('enforces one maxInFlight for both threads', async () => {
      up.resetPeak();
      const rs = await burst(gw.port, '/g?delay=300', 10, 5);
      assert.equal(count(rs, 200), 2, summary(rs));
      assert.equal(count(rs, 503, 'GATEMESH_ERR_CONCURRENCY_LIMITED'), 8, summary(rs));
      assert.equal(up.state.peak, 2);
    });

    it('shares one bounded queue between the threads, and a freed slot admits a waiter on either', async () => {
      up.resetPeak();
      const rs = await burst(gw.port, '/gq?delay=200', 6, 5);
      assert.equal(count(rs, 200), 4, summary(rs));
      assert.equal(count(rs, 503, 'GATEMESH_ERR_CONCURRENCY_LIMITED'), 2, summary(rs));
      assert.equal(up.state.peak, 1);
      // One at a time: the last admitted finishes after about 4 × 200 ms.
      assert.ok(Math.max(...rs.map((r) => r.ms)) >= 700, summary(rs));
    });

    it('enforces one circuit-breaker maxParallelRequests for both threads', async () => {
      up.resetPeak();
      const rs = await burst(gw.port, '/cb?delay=300', 10, 5);
      assert.equal(count(rs, 200), 2, summary(rs));
      assert.equal(count(rs, 503, 'GATEMESH_ERR_CIRCUIT_OPEN'), 8, summary(rs));
      assert.equal(up.state.peak, 2);
    });
  });
}
