// The circuit breaker's maxConnections / maxPendingRequests as the pool applies them
// (EndpointPool.limits), with the real breaker counting across pools (threads) of one backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERR, type ErrorSpec } from '../../src/errors';
import { createPools, type Acquirer, type EndpointPool, type UpstreamConnection } from '../../src/upstream/pool';
import { breakerSharedBytes, createCircuitBreaker } from '../../src/policy/circuit-breaker';
import { rawServer } from './helpers';

interface Got {
  err: ErrorSpec | null;
  detail: string;
  conn: UpstreamConnection | null;
}

function acquire(pool: EndpointPool): { got: Promise<Got>; who: Acquirer; queued: boolean } {
  let resolve!: (g: Got) => void;
  const got = new Promise<Got>((r) => (resolve = r));
  const who: Acquirer = { onAcquire: (err, detail, conn) => resolve({ err, detail, conn }) };
  const queued = pool.acquire(who);
  return { got, who, queued };
}

test('pool limits: maxConnections across two pools of one backend, then pending, then overflow', async () => {
  const srv = await rawServer(() => {});
  const shared = new SharedArrayBuffer(breakerSharedBytes());
  const cfg = { maxConnections: 2, maxPendingRequests: 1, maxRequests: 100, maxRetries: 3 };
  // Two pools sharing one breaker buffer: what two worker threads have for one endpoint.
  const poolsA = createPools({ maxConnections: 10, connectTimeoutMs: 1000, idleTimeoutMs: 10000 });
  const poolsB = createPools({ maxConnections: 10, connectTimeoutMs: 1000, idleTimeoutMs: 10000 });
  const a = poolsA.get({ address: '127.0.0.1', port: srv.port });
  const b = poolsB.get({ address: '127.0.0.1', port: srv.port });
  const breakerA = createCircuitBreaker(cfg, shared);
  a.limits = breakerA;
  b.limits = createCircuitBreaker(cfg, shared);
  try {
    const c1 = (await acquire(a).got).conn!;
    const c2 = (await acquire(b).got).conn!;
    assert.ok(c1 !== null && c2 !== null);
    assert.equal(breakerA.connections, 2, 'both sockets counted against the backend');
    // Pool a has a socket of its own to wait for: pending (maxPendingRequests 1).
    const pending = acquire(a);
    assert.equal(pending.queued, true);
    assert.equal(breakerA.pending, 1);
    // The next one overflows at once.
    const over = await acquire(a).got;
    assert.equal(over.err, ERR.CIRCUIT_OPEN);
    assert.match(over.detail, /maxPendingRequests/);
    // Pool b has no room and nothing to wait for in another thread's pool: maxConnections overflow.
    b.release(c2);
    const again = await acquire(b).got; // the idle socket is reused, not a new one
    assert.equal(again.conn, c2);
    // A released socket goes to the pending waiter; pending drops back to 0.
    a.release(c1);
    const served = await pending.got;
    assert.equal(served.conn, c1);
    assert.equal(breakerA.pending, 0);
    // Closing sockets gives the connections back.
    a.destroy(c1);
    b.destroy(c2);
    assert.equal(breakerA.connections, 0);
    const fresh = await acquire(b).got;
    assert.ok(fresh.conn !== null, 'a new connection is allowed again');
    assert.equal(breakerA.connections, 1);
    assert.equal(breakerA.overflows.pending, 1);
  } finally {
    poolsA.closeAll();
    poolsB.closeAll();
    await srv.close();
  }
});

test('pool limits: a pool with no socket of its own overflows on maxConnections instead of waiting', async () => {
  const srv = await rawServer(() => {});
  const shared = new SharedArrayBuffer(breakerSharedBytes());
  const cfg = { maxConnections: 1, maxPendingRequests: 10, maxRequests: 100, maxRetries: 3 };
  const poolsA = createPools({ maxConnections: 10, connectTimeoutMs: 1000, idleTimeoutMs: 10000 });
  const poolsB = createPools({ maxConnections: 10, connectTimeoutMs: 1000, idleTimeoutMs: 10000 });
  const a = poolsA.get({ address: '127.0.0.1', port: srv.port });
  const b = poolsB.get({ address: '127.0.0.1', port: srv.port });
  a.limits = createCircuitBreaker(cfg, shared);
  b.limits = createCircuitBreaker(cfg, shared);
  try {
    const c1 = (await acquire(a).got).conn!;
    assert.ok(c1 !== null);
    const over = await acquire(b).got;
    assert.equal(over.err, ERR.CIRCUIT_OPEN);
    assert.match(over.detail, /maxConnections/);
  } finally {
    poolsA.closeAll();
    poolsB.closeAll();
    await srv.close();
  }
});
