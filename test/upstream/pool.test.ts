// Endpoint pool behaviour with raw sockets: caching, bound + FIFO queue, LIFO reuse, idle eviction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERR, type ErrorSpec } from '../../src/errors';
import { createPools, type Acquirer, type EndpointPool, type UpstreamConnection } from '../../src/upstream/pool';
import { rawServer, until, delay } from './helpers';

interface Got {
  err: ErrorSpec | null;
  conn: UpstreamConnection | null;
}

function acquire(pool: EndpointPool, fresh = false): { got: Promise<Got>; who: Acquirer; queued: boolean } {
  let resolve!: (g: Got) => void;
  const got = new Promise<Got>((r) => (resolve = r));
  const who: Acquirer = { onAcquire: (err, _detail, conn) => resolve({ err, conn }) };
  const queued = pool.acquire(who, fresh);
  return { got, who, queued };
}

test('pool: cached per address:port', () => {
  const pools = createPools({ maxConnections: 4, connectTimeoutMs: 1000, idleTimeoutMs: 1000 });
  const a = pools.get({ address: '127.0.0.1', port: 1 });
  assert.equal(pools.get({ address: '127.0.0.1', port: 1 }), a);
  assert.notEqual(pools.get({ address: '127.0.0.1', port: 2 }), a);
  assert.equal(a.key, '127.0.0.1:1');
  pools.closeAll();
  assert.throws(() => createPools({ maxConnections: 0, connectTimeoutMs: 1, idleTimeoutMs: 1 }), /maxConnections/);
});

test('pool: idle sockets are reused LIFO (warmest first)', async () => {
  const srv = await rawServer(() => {});
  const pools = createPools({ maxConnections: 4, connectTimeoutMs: 1000, idleTimeoutMs: 10000 });
  const pool = pools.get({ address: '127.0.0.1', port: srv.port });
  try {
    const a = (await acquire(pool).got).conn!;
    const b = (await acquire(pool).got).conn!;
    assert.notEqual(a, b);
    assert.equal(a.uses, 0);
    pool.release(a);
    pool.release(b);
    assert.equal(pool.idleCount, 2);
    const c = (await acquire(pool).got).conn!;
    assert.equal(c, b, 'last released comes out first');
    assert.equal(c.uses, 1, 'marked as reused');
    assert.equal(srv.accepted, 2);
  } finally {
    pools.closeAll();
    await srv.close();
  }
});

test('pool: bound + FIFO queue; a released socket goes to the first waiter', async () => {
  const srv = await rawServer(() => {});
  const pools = createPools({ maxConnections: 1, connectTimeoutMs: 1000, idleTimeoutMs: 10000 });
  const pool = pools.get({ address: '127.0.0.1', port: srv.port });
  try {
    const first = (await acquire(pool).got).conn!;
    const w1 = acquire(pool);
    const w2 = acquire(pool);
    const w3 = acquire(pool);
    assert.equal(w1.queued && w2.queued && w3.queued, true);
    assert.equal(pool.pendingCount, 3);
    pool.cancel(w2.who);
    assert.equal(pool.pendingCount, 2);
    pool.release(first);
    const g1 = await w1.got;
    assert.equal(g1.conn, first);
    pool.destroy(g1.conn!); // a destroyed socket frees its slot: the next waiter gets a new connection
    const g3 = await w3.got;
    assert.ok(g3.conn !== null && g3.conn !== first);
    assert.equal(pool.size, 1);
    await until(() => srv.accepted === 2, 2000, 'second connection');
  } finally {
    pools.closeAll();
    await srv.close();
  }
});

test('pool: idle sockets closed by the upstream are removed', async () => {
  const srv = await rawServer(() => {});
  const pools = createPools({ maxConnections: 4, connectTimeoutMs: 1000, idleTimeoutMs: 10000 });
  const pool = pools.get({ address: '127.0.0.1', port: srv.port });
  try {
    const c = (await acquire(pool).got).conn!;
    pool.release(c);
    assert.equal(pool.idleCount, 1);
    await until(() => srv.sockets.length === 1, 2000, 'accept');
    srv.sockets[0].end();
    await until(() => pool.size === 0, 2000, 'eviction');
    assert.equal(pool.idleCount, 0);
  } finally {
    pools.closeAll();
    await srv.close();
  }
});

test('pool: an idle socket that receives unexpected bytes is removed', async () => {
  const srv = await rawServer(() => {});
  const pools = createPools({ maxConnections: 4, connectTimeoutMs: 1000, idleTimeoutMs: 10000 });
  const pool = pools.get({ address: '127.0.0.1', port: srv.port });
  try {
    pool.release((await acquire(pool).got).conn!);
    await until(() => srv.sockets.length === 1, 2000, 'accept');
    srv.sockets[0].write('HTTP/1.1 200 OK\r\n\r\n');
    await until(() => pool.size === 0, 2000, 'eviction');
    await until(() => srv.closed === 1, 2000, 'close seen by server');
  } finally {
    pools.closeAll();
    await srv.close();
  }
});

test('pool: idle timeout closes pooled sockets', async () => {
  const srv = await rawServer(() => {});
  const pools = createPools({ maxConnections: 4, connectTimeoutMs: 1000, idleTimeoutMs: 40 });
  const pool = pools.get({ address: '127.0.0.1', port: srv.port });
  try {
    const c = (await acquire(pool).got).conn!;
    await delay(80);
    assert.equal(pool.size, 1, 'a busy socket is not subject to the idle timeout');
    pool.release(c);
    await until(() => pool.size === 0, 2000, 'idle timeout');
  } finally {
    pools.closeAll();
    await srv.close();
  }
});

test('pool: fresh acquisition skips idle sockets', async () => {
  const srv = await rawServer(() => {});
  const pools = createPools({ maxConnections: 1, connectTimeoutMs: 1000, idleTimeoutMs: 10000 });
  const pool = pools.get({ address: '127.0.0.1', port: srv.port });
  try {
    const a = (await acquire(pool).got).conn!;
    pool.release(a);
    const b = (await acquire(pool, true).got).conn!;
    assert.notEqual(b, a);
    assert.equal(b.uses, 0);
    assert.equal(pool.size, 1, 'the idle one was closed to stay within the bound');
  } finally {
    pools.closeAll();
    await srv.close();
  }
});

test('pool: closeAll fails waiters and destroys every socket', async () => {
  const srv = await rawServer(() => {});
  const pools = createPools({ maxConnections: 1, connectTimeoutMs: 1000, idleTimeoutMs: 10000 });
  const pool = pools.get({ address: '127.0.0.1', port: srv.port });
  try {
    const busy = (await acquire(pool).got).conn!;
    const w = acquire(pool);
    pools.closeAll();
    const g = await w.got;
    assert.equal(g.err, ERR.UPSTREAM_CONNECT);
    assert.equal(busy.socket.destroyed, true);
    await until(() => srv.closed === 1, 2000, 'close seen by server');
  } finally {
    await srv.close();
  }
});
