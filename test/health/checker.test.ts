// The active checker against real upstreams on 127.0.0.1: thresholds, timeouts, unexpected
// statuses, refused connections, a flapping upstream, reloads; and worker threads that read what
// the main thread wrote (and eject across threads exactly once).
import assert from 'node:assert/strict';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { after, describe, it } from 'node:test';
import type { ActiveHealthCheck, Endpoint, HealthPolicy } from '../../src/config/model';
import { createEndpointHealth, createHealthChecker, healthSharedBytes, initHealthShared, type HealthChecker } from '../../src/health';
import { httpUpstream, type TestServer } from '../helpers/servers';

const MODULE = path.resolve(__dirname, '../../src/health/index.js');

interface LogLine {
  level: 'info' | 'warn';
  obj: Record<string, unknown>;
  msg: string;
}

function logger() {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  };
}

function check(o: Partial<ActiveHealthCheck> = {}): ActiveHealthCheck {
  return { path: '/', method: 'GET', intervalMs: 20, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 1, expectedStatuses: [200], ...o };
}

function policy(active: ActiveHealthCheck | undefined, extra: Partial<HealthPolicy> = {}): HealthPolicy {
  return { active, panicThresholdPercent: 0, honorRetryAfter: true, ...extra };
}

function buffer(p: HealthPolicy, n: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(healthSharedBytes(p, n));
  initHealthShared(sab, n);
  return sab;
}

function ep(port: number): Endpoint {
  return { address: '127.0.0.1', port };
}

async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An upstream whose answer the test switches: a status, or 'hang' (never answers). */
async function switchable(initial: number | 'hang' | 'flap') {
  const state = { mode: initial as number | 'hang' | 'flap', n: 0 };
  const up = await httpUpstream((_req, res) => {
    state.n++;
    if (state.mode === 'hang') return;
    const status = state.mode === 'flap' ? (state.n % 2 === 0 ? 200 : 500) : state.mode;
    res.writeHead(status, { 'content-length': '0' });
    res.end();
  });
  return Object.assign(up, { state });
}

const servers: TestServer[] = [];
const checkers: HealthChecker[] = [];
after(async () => {
  for (const c of checkers) c.close();
  for (const s of servers) await s.close();
});

function start(log = logger()) {
  const c = createHealthChecker({ logger: log });
  checkers.push(c);
  return c;
}

describe('active health checker', () => {
  it('thresholds: unhealthy after 3 failures, healthy again after 2 passes, one log line per transition', async () => {
    const up = await switchable(200);
    servers.push(up);
    const log = logger();
    const c = start(log);
    const p = policy(check({ intervalMs: 40, healthyThreshold: 2, unhealthyThreshold: 3 }));
    const sab = buffer(p, 1);
    const h = createEndpointHealth(p, 1, sab);
    c.update([{ name: 'svc', endpoints: [ep(up.port)], policy: p, shared: sab }]);
    await waitFor(() => c.status()[0].checks >= 2, 'two passing checks');
    assert.equal(h.usable(0), true);
    up.state.mode = 500;
    // Read run and verdict in one tick: they are written together.
    await waitFor(() => c.status()[0].run === -2, 'two failures');
    assert.equal(c.status()[0].healthy, true, 'two failures are below the threshold');
    await waitFor(() => c.status()[0].run <= -3, 'three failures');
    assert.equal(c.status()[0].healthy, false);
    assert.equal(h.usable(0), false);
    up.state.mode = 200;
    await waitFor(() => c.status()[0].run === 1, 'one pass');
    assert.equal(c.status()[0].healthy, false, 'one pass is below the healthy threshold');
    await waitFor(() => c.status()[0].run >= 2, 'two passes');
    assert.equal(c.status()[0].healthy, true);
    assert.equal(h.usable(0), true);
    assert.deepEqual(
      log.lines.map((l) => [l.level, l.obj.backend, l.obj.endpoint]),
      [
        ['warn', 'svc', `127.0.0.1:${up.port}`],
        ['info', 'svc', `127.0.0.1:${up.port}`],
      ],
    );
    assert.match(String(log.lines[0].obj.reason), /status 500/);
  });

  it('a timeout counts as a failure', async () => {
    const up = await switchable('hang');
    servers.push(up);
    const c = start();
    const p = policy(check({ timeoutMs: 60 }));
    const sab = buffer(p, 1);
    const t0 = Date.now();
    c.update([{ name: 'slow', endpoints: [ep(up.port)], policy: p, shared: sab }]);
    await waitFor(() => !c.status()[0].healthy, 'unhealthy');
    assert.ok(Date.now() - t0 >= 60, 'not before the timeout');
    assert.match(c.status()[0].last, /timeout after 60 ms/);
    assert.equal(createEndpointHealth(p, 1, sab).usable(0), false);
  });

  const statusCases: { desc: string; expected: number[]; answers: number; healthy: boolean }[] = [
    { desc: 'an expected status other than 200 passes', expected: [200, 204], answers: 204, healthy: true },
    { desc: 'a redirect is not healthy', expected: [200], answers: 302, healthy: false },
    { desc: 'a 404 is not healthy', expected: [200, 204], answers: 404, healthy: false },
    { desc: 'a 503 is not healthy', expected: [200], answers: 503, healthy: false },
  ];
  for (const sc of statusCases) {
    it(`expected statuses: ${sc.desc}`, async () => {
      const up = await switchable(sc.answers);
      servers.push(up);
      const c = start();
      const p = policy(check({ expectedStatuses: sc.expected }));
      c.update([{ name: 'st', endpoints: [ep(up.port)], policy: p, shared: buffer(p, 1) }]);
      await waitFor(() => c.status()[0].checks >= 3, 'three checks');
      assert.equal(c.status()[0].healthy, sc.healthy);
      assert.equal(c.status()[0].last, `status ${sc.answers}`);
    });
  }

  it('a refused connection fails', async () => {
    const up = await switchable(200);
    const port = up.port;
    await up.close();
    const c = start();
    const p = policy(check());
    c.update([{ name: 'gone', endpoints: [ep(port)], policy: p, shared: buffer(p, 1) }]);
    await waitFor(() => !c.status()[0].healthy, 'unhealthy');
    assert.equal(c.status()[0].last, 'ECONNREFUSED');
  });

  it('sends the configured method, path and Host (default: the endpoint address:port)', async () => {
    const up = await switchable(200);
    servers.push(up);
    const c = start();
    const p1 = policy(check({ method: 'HEAD', path: '/healthz?deep=1', hostname: 'svc.internal' }));
    const p2 = policy(check());
    c.update([
      { name: 'a', endpoints: [ep(up.port)], policy: p1, shared: buffer(p1, 1) },
      { name: 'b', endpoints: [ep(up.port)], policy: p2, shared: buffer(p2, 1) },
    ]);
    await waitFor(() => up.requests.some((r) => r.method === 'HEAD') && up.requests.some((r) => r.method === 'GET'), 'both checks');
    const head = up.requests.find((r) => r.method === 'HEAD')!;
    assert.equal(head.url, '/healthz?deep=1');
    assert.equal(head.headers.host, 'svc.internal');
    assert.equal(head.headers['user-agent'], 'gatemesh-health-check');
    assert.equal(up.requests.find((r) => r.method === 'GET')!.headers.host, `127.0.0.1:${up.port}`);
  });

  it('a flapping upstream: thresholds of 2 hold the verdict, thresholds of 1 follow every flap', async () => {
    const steady = await switchable('flap');
    const jumpy = await switchable('flap');
    servers.push(steady, jumpy);
    const log = logger();
    const c = start(log);
    const p2 = policy(check({ healthyThreshold: 2, unhealthyThreshold: 2 }));
    const p1 = policy(check());
    c.update([
      { name: 'steady', endpoints: [ep(steady.port)], policy: p2, shared: buffer(p2, 1) },
      { name: 'jumpy', endpoints: [ep(jumpy.port)], policy: p1, shared: buffer(p1, 1) },
    ]);
    await waitFor(() => c.status().every((s) => s.checks >= 10), 'ten checks each');
    c.close();
    const by = (b: string) => log.lines.filter((l) => l.obj.backend === b);
    assert.equal(by('steady').length, 0, 'alternating pass/fail never reaches a threshold of 2');
    assert.ok(by('jumpy').length >= 8, `jumpy logged ${by('jumpy').length} transitions`);
    // Transitions alternate unhealthy, healthy, unhealthy...
    by('jumpy').forEach((l, i) => assert.equal(l.level, i % 2 === 0 ? 'warn' : 'info'));
  });

  it('spreads checks with jitter: intervals vary within ±10 %', async () => {
    const up = await switchable(200);
    servers.push(up);
    const times: number[] = [];
    up.server.on('request', () => times.push(performance.now()));
    const c = start();
    const p = policy(check({ intervalMs: 50 }));
    c.update([{ name: 'j', endpoints: [ep(up.port)], policy: p, shared: buffer(p, 1) }]);
    await waitFor(() => times.length >= 8, 'eight checks');
    c.close();
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    for (const g of gaps) assert.ok(g >= 40 && g <= 100, `gap ${g.toFixed(1)} ms`);
    assert.ok(new Set(gaps.map((g) => Math.round(g))).size > 1, 'not all gaps equal');
  });
});

describe('active health checker: reload', () => {
  it('keeps running checks and state for unchanged endpoints, copies state into a rebuilt buffer, marks new endpoints pending', async () => {
    const a = await switchable(200);
    const b = await switchable(500);
    const cUp = await switchable(200);
    servers.push(a, b, cUp);
    const log = logger();
    const checker = start(log);
    const p = policy(check({ intervalMs: 25 }), {
      passive: { consecutive5xx: 1, consecutiveGatewayErrors: 0, baseEjectionTimeMs: 60_000, maxEjectionPercent: 100, maxEjectionTimeMs: 300_000 },
    });
    const sab1 = buffer(p, 2);
    const eps1 = [ep(a.port), ep(b.port)];
    checker.update([{ name: 'svc', endpoints: eps1, policy: p, shared: sab1 }]);
    // A new backend starts healthy, even the failing endpoint, until its checks say otherwise.
    assert.deepEqual(createEndpointHealth(p, 2, sab1).snapshot().map((s) => s.healthy), [true, true]);
    await waitFor(() => checker.status()[1].healthy === false && checker.status()[0].checks >= 2, 'b unhealthy');

    // Same config, same buffer (the registry reuses it): nothing restarts.
    const before = checker.status()[0].checks;
    checker.update([{ name: 'svc', endpoints: eps1, policy: p, shared: sab1 }]);
    assert.ok(checker.status()[0].checks >= before, 'a kept check keeps its counters');
    assert.equal(checker.status()[1].healthy, false);

    // A worker ejects A through outlier detection in the old buffer.
    createEndpointHealth(p, 2, sab1).onResult(0, 500, false);
    // Reload adds C: the registry builds a new buffer for three endpoints.
    const sab2 = buffer(p, 3);
    const eps2 = [ep(a.port), ep(b.port), ep(cUp.port)];
    const countBefore = checker.status()[0].checks;
    checker.update([{ name: 'svc', endpoints: eps2, policy: p, shared: sab2 }]);
    const h2 = createEndpointHealth(p, 3, sab2);
    const snap = h2.snapshot();
    assert.equal(snap[0].healthy, true);
    assert.ok(snap[0].ejectedUntil > Date.now() + 50_000, 'the ejection carried over');
    assert.equal(snap[1].healthy, false, 'the failing verdict carried over');
    assert.equal(snap[2].healthy, false, 'a new endpoint of a checked backend is pending');
    assert.equal(checker.status()[2].pending, true);
    assert.deepEqual([h2.usable(0), h2.usable(1), h2.usable(2)], [false, false, false]);
    assert.ok(checker.status()[0].checks >= countBefore, 'A kept its check across the rebuilt buffer');
    await waitFor(() => h2.usable(2), 'C healthy after its first pass');
    assert.ok(log.lines.some((l) => l.msg.includes('new endpoint healthy') && l.obj.endpoint === `127.0.0.1:${cUp.port}`));
    // Checks now write into the new buffer.
    b.state.mode = 200;
    await waitFor(() => h2.usable(1), 'B healthy again, seen in the new buffer');

    // Reload removes B: its checks stop.
    const sab3 = buffer(p, 2);
    checker.update([{ name: 'svc', endpoints: [ep(a.port), ep(cUp.port)], policy: p, shared: sab3 }]);
    const bCount = b.state.n;
    await sleep(150);
    assert.ok(b.state.n <= bCount + 1, `removed endpoint still checked (${b.state.n - bCount} more)`);
    assert.deepEqual(checker.status().map((s) => s.endpoint), [`127.0.0.1:${a.port}`, `127.0.0.1:${cUp.port}`]);

    // Changed check settings restart the checks but keep the verdict.
    a.state.mode = 500;
    await waitFor(() => !createEndpointHealth(p, 2, sab3).snapshot()[0].healthy, 'A unhealthy');
    const p4 = { ...p, active: check({ intervalMs: 1000, path: '/other' }) };
    checker.update([{ name: 'svc', endpoints: [ep(a.port), ep(cUp.port)], policy: p4, shared: sab3 }]);
    assert.equal(checker.status()[0].checks, 0, 'restarted');
    assert.equal(createEndpointHealth(p4, 2, sab3).snapshot()[0].healthy, false, 'verdict kept');

    // Active checks removed: nothing holds an endpoint unhealthy any more.
    const p5 = { ...p, active: undefined };
    checker.update([{ name: 'svc', endpoints: [ep(a.port), ep(cUp.port)], policy: p5, shared: sab3 }]);
    assert.equal(checker.status().length, 0);
    assert.equal(createEndpointHealth(p5, 2, sab3).snapshot()[0].healthy, true);

    // The backend goes away.
    checker.update([]);
    assert.equal(checker.status().length, 0);
  });
});

function spawn(code: string, workerData: unknown): Worker {
  return new Worker(code, { eval: true, workerData });
}

describe('health across worker threads', () => {
  it('a worker sees the verdicts the main-thread checker writes', async () => {
    const up = await switchable(200);
    servers.push(up);
    const c = start();
    const p = policy(check({ intervalMs: 15 }));
    const sab = buffer(p, 1);
    c.update([{ name: 'x', endpoints: [ep(up.port)], policy: p, shared: sab }]);
    const seen: boolean[] = [];
    const w = spawn(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { createEndpointHealth } = require(workerData.mod);
       const h = createEndpointHealth(workerData.policy, 1, workerData.sab);
       let last = h.usable(0);
       parentPort.postMessage(last);
       const t = setInterval(() => { const u = h.usable(0); if (u !== last) { last = u; parentPort.postMessage(u); } }, 1);
       parentPort.on('message', () => { clearInterval(t); parentPort.close(); });`,
      { mod: MODULE, policy: p, sab },
    );
    w.on('message', (u: boolean) => seen.push(u));
    try {
      await waitFor(() => seen.length >= 1, 'worker started');
      up.state.mode = 500;
      await waitFor(() => seen.length >= 2, 'worker saw unhealthy');
      up.state.mode = 200;
      await waitFor(() => seen.length >= 3, 'worker saw healthy');
      assert.deepEqual(seen.slice(0, 3), [true, false, true]);
    } finally {
      w.postMessage('stop');
      await w.terminate();
    }
  });

  it('four threads failing the same endpoints: each ejected exactly once, maxEjectionPercent never exceeded', async () => {
    const n = 10;
    const p: HealthPolicy = {
      passive: { consecutive5xx: 3, consecutiveGatewayErrors: 2, baseEjectionTimeMs: 60_000, maxEjectionTimeMs: 300_000, maxEjectionPercent: 30 },
      panicThresholdPercent: 0,
      honorRetryAfter: true,
    };
    const sab = buffer(p, n);
    const go = new Int32Array(new SharedArrayBuffer(4));
    const code = `const { parentPort, workerData } = require('node:worker_threads');
      const { createEndpointHealth } = require(workerData.mod);
      const h = createEndpointHealth(workerData.policy, workerData.n, workerData.sab);
      Atomics.wait(workerData.go, 0, 0);
      let maxSeen = 0;
      for (let round = 0; round < 3000; round++) {
        for (let j = 0; j < workerData.n; j++) {
          const i = (j * workerData.stride + workerData.offset) % workerData.n;
          if (round % 2) h.onResult(i, 500, false); else h.onResult(i, 0, true);
        }
        if (round % 100 === 0) maxSeen = Math.max(maxSeen, h.ejectedCount());
      }
      parentPort.postMessage({ maxSeen });`;
    const workers = [0, 1, 2, 3].map((t) => spawn(code, { mod: MODULE, policy: p, n, sab, go: go, offset: t * 3, stride: t % 2 ? 3 : 7 }));
    const done = workers.map((w) => new Promise<{ maxSeen: number }>((r, j) => (w.once('message', r), w.once('error', j))));
    await sleep(50);
    Atomics.store(go, 0, 1);
    Atomics.notify(go, 0);
    const results = await Promise.all(done);
    await Promise.all(workers.map((w) => w.terminate()));
    const h = createEndpointHealth(p, n, sab);
    // 30 % of 10: (ejected + 1) × 100 <= 300 → at most 3.
    assert.equal(h.ejectedCount(), 3);
    for (const r of results) assert.ok(r.maxSeen <= 3, `a worker saw ${r.maxSeen} ejected`);
    const snap = h.snapshot();
    assert.equal(snap.filter((s) => s.ejections === 1).length, 3, 'each ejected endpoint was ejected once');
    assert.equal(snap.filter((s) => s.ejections === 0).length, 7);
  });
});

describe('active health checker: input', () => {
  it('a buffer that does not fit the endpoints throws and leaves running checks alone', async () => {
    const up = await switchable(200);
    servers.push(up);
    const c = start();
    const p = policy(check());
    const sab = buffer(p, 1);
    c.update([{ name: 'ok', endpoints: [ep(up.port)], policy: p, shared: sab }]);
    await waitFor(() => c.status()[0]?.checks >= 1, 'first check');
    assert.throws(
      () => c.update([
        { name: 'ok', endpoints: [ep(up.port)], policy: p, shared: sab },
        { name: 'bad', endpoints: [ep(up.port), ep(up.port)], policy: p, shared: sab },
      ]),
      /does not fit 2 endpoints/,
    );
    const n = c.status()[0].checks;
    await waitFor(() => c.status()[0].checks > n, 'the running check still runs');
    assert.equal(c.status().length, 1);
  });
});
