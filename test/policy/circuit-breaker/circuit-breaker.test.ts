// Circuit breaker thresholds per kind, Envoy's defaults, overflow counters, a buffer shared by two
// breakers, and exactness with 4 worker threads hammering tryRequest on one buffer.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { CircuitBreaker as CircuitBreakerConfig } from '../../../src/config/model';
import {
  BREAKER_DEFAULTS,
  breakerSharedBytes,
  createCircuitBreaker,
  type CircuitBreaker,
} from '../../../src/policy/circuit-breaker/circuit-breaker';

type Kind = 'connections' | 'pending' | 'requests' | 'retries';
const ops: Record<Kind, { take: (b: CircuitBreaker) => boolean; end: (b: CircuitBreaker) => void }> = {
  connections: { take: (b) => b.tryConnection(), end: (b) => b.endConnection() },
  pending: { take: (b) => b.tryPending(), end: (b) => b.endPending() },
  requests: { take: (b) => b.tryRequest(), end: (b) => b.endRequest() },
  retries: { take: (b) => b.tryRetry(), end: (b) => b.endRetry() },
};
const kinds: Kind[] = ['connections', 'pending', 'requests', 'retries'];

describe('createCircuitBreaker', () => {
  const cfg: CircuitBreakerConfig = { maxConnections: 2, maxPendingRequests: 3, maxRequests: 4, maxRetries: 1 };
  const cases: { desc: string; cfg?: CircuitBreakerConfig; kind: Kind; tries: number; want: number }[] = [
    { desc: 'connections: 2 of 5', cfg, kind: 'connections', tries: 5, want: 2 },
    { desc: 'pending: 3 of 5', cfg, kind: 'pending', tries: 5, want: 3 },
    { desc: 'requests: 4 of 10', cfg, kind: 'requests', tries: 10, want: 4 },
    { desc: 'retries: 1 of 3', cfg, kind: 'retries', tries: 3, want: 1 },
    { desc: 'threshold 0 refuses all', cfg: { ...cfg, maxRetries: 0 }, kind: 'retries', tries: 3, want: 0 },
    { desc: 'default requests: 1024', kind: 'requests', tries: 1100, want: 1024 },
    { desc: 'default retries: 3 (Envoy)', kind: 'retries', tries: 10, want: 3 },
    { desc: 'default connections: 1024', kind: 'connections', tries: 1030, want: 1024 },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const b = createCircuitBreaker(c.cfg, undefined);
      let ok = 0;
      for (let i = 0; i < c.tries; i++) if (ops[c.kind].take(b)) ok++;
      assert.equal(ok, c.want);
      assert.equal(b[c.kind], c.want);
      assert.equal(b.overflows[c.kind], c.tries - c.want);
      // The other kinds are untouched.
      for (const k of kinds) if (k !== c.kind) assert.equal(b[k] + b.overflows[k], 0, k);
      // Ending one frees exactly one.
      if (c.want > 0) {
        ops[c.kind].end(b);
        assert.equal(ops[c.kind].take(b), true);
        assert.equal(ops[c.kind].take(b), false);
      }
    });
  }

  it('defaults are Envoy’s', () => {
    assert.deepStrictEqual(createCircuitBreaker(undefined, undefined).thresholds, BREAKER_DEFAULTS);
    assert.deepStrictEqual({ ...BREAKER_DEFAULTS }, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });
  });

  it('two breakers on one buffer share counts and overflows', () => {
    const sab = new SharedArrayBuffer(breakerSharedBytes());
    const a = createCircuitBreaker(cfg, sab);
    const b = createCircuitBreaker(cfg, sab);
    assert.equal(a.tryRequest(), true);
    assert.equal(b.tryRequest(), true);
    assert.equal(a.tryRequest(), true);
    assert.equal(b.tryRequest(), true);
    assert.equal(a.tryRequest(), false);
    assert.equal(b.requests, 4);
    assert.equal(b.overflows.requests, 1);
    b.endRequest();
    assert.equal(a.tryRequest(), true);
  });

  const bad: { desc: string; cfg: CircuitBreakerConfig; match: RegExp }[] = [
    { desc: 'negative', cfg: { ...cfg, maxRequests: -1 }, match: /maxRequests/ },
    { desc: 'fractional', cfg: { ...cfg, maxConnections: 1.5 }, match: /maxConnections/ },
  ];
  for (const c of bad) {
    it(`rejects a ${c.desc} threshold`, () => {
      assert.throws(() => createCircuitBreaker(c.cfg, undefined), c.match);
    });
  }
  it('rejects a short buffer', () => {
    assert.throws(() => createCircuitBreaker(cfg, new SharedArrayBuffer(16)), /breakerSharedBytes/);
  });
});

const MODULE = path.resolve(__dirname, '../../../src/policy/circuit-breaker/circuit-breaker.js');
// Each worker: `iterations` times two tryRequest; when admitted, count itself in the probe (which
// the breaker knows nothing about), check the probe against the threshold, then leave.
const WORKER = `
const { parentPort, workerData: d } = require('node:worker_threads');
const { createCircuitBreaker } = require(d.module);
const b = createCircuitBreaker(d.cfg, d.sab);
const probe = new Int32Array(d.probe);
const go = new Int32Array(d.go);
Atomics.wait(go, 0, 0);
let ok = 0, refused = 0, violations = 0, peak = 0;
// Each iteration tries to hold two at once, so 4 threads want up to 8 against the threshold.
function enter() {
  if (!b.tryRequest()) { refused++; return false; }
  ok++;
  const n = Atomics.add(probe, 0, 1) + 1;
  // Both what the test counts and what the breaker counts stay within the threshold.
  if (n > d.cfg.maxRequests || b.requests > d.cfg.maxRequests) violations++;
  if (n > peak) peak = n;
  return true;
}
function leave() {
  Atomics.sub(probe, 0, 1);
  b.endRequest();
}
for (let i = 0; i < d.iterations; i++) {
  const first = enter();
  const second = enter();
  for (let j = 0; j < (i & 15); j++) Atomics.load(probe, 0);
  if (second) leave();
  if (first) leave();
}
parentPort.postMessage({ ok, refused, violations, peak });
`;

describe('circuit breaker across worker threads', () => {
  it('4 threads hammering tryRequest: never more than maxRequests admitted at once', async () => {
    const cfg: CircuitBreakerConfig = { maxConnections: 1, maxPendingRequests: 1, maxRequests: 3, maxRetries: 1 };
    const sab = new SharedArrayBuffer(breakerSharedBytes());
    const probe = new SharedArrayBuffer(4);
    const go = new SharedArrayBuffer(4);
    const iterations = 100_000;
    const workers = [0, 1, 2, 3].map(
      () => new Worker(WORKER, { eval: true, workerData: { module: MODULE, cfg, sab, probe, go, iterations } }),
    );
    const done = workers.map(
      (w) =>
        new Promise<{ ok: number; refused: number; violations: number; peak: number }>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        }),
    );
    // Start together once all are up (they block on `go`).
    await new Promise((r) => setTimeout(r, 50));
    Atomics.store(new Int32Array(go), 0, 1);
    Atomics.notify(new Int32Array(go), 0);
    const results = await Promise.all(done);
    await Promise.all(workers.map((w) => w.terminate()));
    const b = createCircuitBreaker(cfg, sab);
    const ok = results.reduce((s, r) => s + r.ok, 0);
    const refused = results.reduce((s, r) => s + r.refused, 0);
    console.log(`breaker: ${ok} admitted, ${refused} refused, peak ${Math.max(...results.map((r) => r.peak))} of ${cfg.maxRequests}`);
    assert.equal(results.reduce((s, r) => s + r.violations, 0), 0);
    assert.equal(ok + refused, 2 * 4 * iterations);
    assert.equal(b.overflows.requests, refused, 'every refusal counted once');
    assert.ok(refused > 0, 'the threshold was actually contended');
    assert.equal(b.requests, 0, 'every admitted request ended');
  });
});
