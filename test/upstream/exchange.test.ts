// Exchanges against raw upstream servers on 127.0.0.1:0 that write exact bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ERR } from '../../src/errors';
import { createPools, type Pools } from '../../src/upstream/pool';
import { startExchange } from '../../src/upstream/exchange';
import { rawServer, recorder, get, delay, until, unansweredListener } from './helpers';

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

function pools(max = 16): Pools {
  return createPools({ maxConnections: max, connectTimeoutMs: 1000, idleTimeoutMs: 10000 });
}

test('exchange: keep-alive socket is reused for the next request', async () => {
  const srv = await rawServer((s) => s.write(OK));
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    for (let i = 0; i < 3; i++) {
      const { sink, done } = recorder();
      startExchange(pool, get('/' + i), sink);
      const r = await done;
      assert.equal(r.error, null);
      assert.equal(r.head?.status, 200);
      assert.equal(r.bodyText(), 'ok');
      assert.deepEqual(r.trailers, null);
    }
    assert.equal(srv.accepted, 1, 'one upstream connection for three requests');
    assert.equal(pool.idleCount, 1);
    assert.equal(pool.size, 1);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: chunked body with extensions and trailers, socket reused', async () => {
  const resp = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n' + '5;name=val\r\nhello\r\n6;q="a b"\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n';
  const srv = await rawServer((s) => {
    // Split the response awkwardly across writes.
    s.write(resp.slice(0, 70));
    setTimeout(() => s.write(resp.slice(70)), 5);
  });
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    for (let i = 0; i < 2; i++) {
      const { sink, done } = recorder();
      startExchange(pool, get(), sink);
      const r = await done;
      assert.equal(r.error, null);
      assert.equal(r.head?.framing.chunked, true);
      assert.equal(r.bodyText(), 'hello world');
      assert.deepEqual(r.trailers, ['x-checksum', 'abc']);
    }
    assert.equal(srv.accepted, 1);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: close-delimited body ends at EOF and the socket is not pooled', async () => {
  const srv = await rawServer((s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ');
    setTimeout(() => s.end('part two'), 10);
  });
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const { sink, done } = recorder();
    startExchange(pool, get(), sink);
    const r = await done;
    assert.equal(r.error, null);
    assert.equal(r.head?.framing.closeDelimited, true);
    assert.equal(r.bodyText(), 'part one, part two');
    assert.equal(pool.size, 0);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: 100 and 103 arrive as interim responses before the 200', async () => {
  const srv = await rawServer((s) => {
    s.write('HTTP/1.1 100 Continue\r\n\r\n');
    setTimeout(() => s.write('HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n' + OK), 5);
  });
  const p = pools();
  try {
    const { sink, done } = recorder();
    startExchange(p.get({ address: '127.0.0.1', port: srv.port }), get(), sink);
    const r = await done;
    assert.deepEqual(r.interim, [
      [100, 'Continue', []],
      [103, 'Early Hints', ['link', '</s.css>; rel=preload']],
    ]);
    assert.deepEqual(r.calls, ['interim', 'interim', 'head', 'body', 'end']);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: HEAD, 204 and 304 have no body and keep the socket', async () => {
  const answers = [
    'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n',
    'HTTP/1.1 204 No Content\r\n\r\n',
    'HTTP/1.1 304 Not Modified\r\nETag: "1"\r\n\r\n',
    OK,
  ];
  const srv = await rawServer((s, _h, _b, n) => s.write(answers[n]));
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const methods = ['HEAD', 'GET', 'GET', 'GET'];
    const statuses = [200, 204, 304, 200];
    for (let i = 0; i < 4; i++) {
      const { sink, done } = recorder();
      startExchange(pool, get('/', methods[i]), sink);
      const r = await done;
      assert.equal(r.error, null, `request ${i}`);
      assert.equal(r.head?.status, statuses[i]);
      assert.equal(r.head?.framing.noBody, i < 3);
      assert.equal(r.bodyText(), i < 3 ? '' : 'ok');
      if (i === 0) assert.equal(r.head?.framing.contentLength, 1000, 'HEAD reports the length it would have had');
    }
    assert.equal(srv.accepted, 1, 'bodiless responses did not break keep-alive');
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: invalid response → UPSTREAM_BAD_RESPONSE and the socket is destroyed', async () => {
  const srv = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'));
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const { sink, done } = recorder();
    startExchange(pool, get(), sink);
    const r = await done;
    assert.equal(r.error?.err, ERR.UPSTREAM_BAD_RESPONSE);
    assert.equal(r.error?.afterHead, false);
    assert.match(r.error?.detail ?? '', /Content-Length/);
    assert.equal(pool.size, 0);
    await until(() => srv.closed === 1, 2000, 'server to see the close');
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: invalid chunk after the head → error with afterHead=true', async () => {
  const srv = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX'));
  const p = pools();
  try {
    const { sink, done } = recorder();
    startExchange(p.get({ address: '127.0.0.1', port: srv.port }), get(), sink);
    const r = await done;
    assert.equal(r.head?.status, 200);
    assert.equal(r.error?.err, ERR.UPSTREAM_BAD_RESPONSE);
    assert.equal(r.error?.afterHead, true);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: refused port → UPSTREAM_CONNECT', async () => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const p = pools();
  try {
    const { sink, done } = recorder();
    startExchange(p.get({ address: '127.0.0.1', port }), get(), sink);
    const r = await done;
    assert.equal(r.error?.err, ERR.UPSTREAM_CONNECT);
    assert.equal(r.error?.afterHead, false);
    assert.match(r.error?.detail ?? '', /ECONNREFUSED/);
    assert.equal(p.get({ address: '127.0.0.1', port }).size, 0);
  } finally {
    p.closeAll();
  }
});

test('exchange: no response head in time → UPSTREAM_TIMEOUT, socket destroyed', async () => {
  const srv = await rawServer(() => {});
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const { sink, done } = recorder();
    const t0 = Date.now();
    startExchange(pool, { ...get(), responseTimeoutMs: 80 }, sink);
    const r = await done;
    assert.equal(r.error?.err, ERR.UPSTREAM_TIMEOUT);
    assert.equal(r.error?.err.status, 504);
    assert.ok(Date.now() - t0 >= 75);
    assert.equal(pool.size, 0);
    await until(() => srv.closed === 1, 2000, 'server to see the close');
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: reset in the middle of the head → UPSTREAM_RESET', async () => {
  const srv = await rawServer((s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Le');
    setTimeout(() => s.resetAndDestroy(), 10);
  });
  const p = pools();
  try {
    const { sink, done } = recorder();
    startExchange(p.get({ address: '127.0.0.1', port: srv.port }), get(), sink);
    const r = await done;
    assert.equal(r.error?.err, ERR.UPSTREAM_RESET);
    assert.equal(r.error?.afterHead, false);
    assert.equal(r.head, null);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: close in the middle of a body → UPSTREAM_RESET after the head', async () => {
  const srv = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'));
  const p = pools();
  try {
    const { sink, done } = recorder();
    startExchange(p.get({ address: '127.0.0.1', port: srv.port }), get(), sink);
    const r = await done;
    assert.equal(r.bodyText(), 'short');
    assert.equal(r.error?.err, ERR.UPSTREAM_RESET);
    assert.equal(r.error?.afterHead, true);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: a stale pooled socket is retried once on a fresh one for GET', async () => {
  // Connection 0 answers its first request, then closes on the second without answering (the
  // keep-alive race). Later connections answer everything.
  const srv = await rawServer((s, _h, _b, n, conn) => {
    if (conn === 0 && n === 1) s.destroy();
    else s.write(OK);
  });
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const first = recorder();
    startExchange(pool, get(), first.sink);
    assert.equal((await first.done).error, null);
    const second = recorder();
    startExchange(pool, get(), second.sink);
    const r = await second.done;
    assert.equal(r.error, null, r.error?.detail);
    assert.equal(r.bodyText(), 'ok');
    assert.equal(srv.accepted, 2, 'retried on a new connection');
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: the retry happens only once', async () => {
  // Every request after the very first one is answered by a close.
  let answered = 0;
  const srv = await rawServer((s) => {
    if (answered++ === 0) s.write(OK);
    else s.destroy();
  });
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const first = recorder();
    startExchange(pool, get(), first.sink);
    assert.equal((await first.done).error, null);
    const second = recorder();
    startExchange(pool, get(), second.sink);
    const r = await second.done;
    assert.equal(r.error?.err, ERR.UPSTREAM_RESET);
    assert.equal(srv.accepted, 2, 'one retry, not more');
    assert.equal(answered, 3);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: a POST on a stale pooled socket is never replayed', async () => {
  const bodies: string[] = [];
  const srv = await rawServer((s, head, body, n, conn) => {
    if (head.startsWith('POST')) bodies.push(body.toString());
    if (conn === 0 && n === 1) s.destroy();
    else s.write(OK);
  });
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const first = recorder();
    startExchange(pool, get(), first.sink);
    assert.equal((await first.done).error, null);
    const post = recorder();
    const ex = startExchange(
      pool,
      { method: 'POST', head: 'POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\n\r\n', body: 'length', idempotent: false, responseTimeoutMs: 2000 },
      post.sink,
    );
    ex.writeBody(Buffer.from('data'));
    ex.endBody();
    const r = await post.done;
    assert.equal(r.error?.err, ERR.UPSTREAM_RESET);
    assert.equal(r.error?.afterHead, false);
    await delay(50);
    assert.equal(srv.accepted, 1, 'no second connection');
    assert.deepEqual(bodies, ['data'], 'the body reached the upstream once');
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: maxConnections=2 bounds sockets for 5 concurrent exchanges', async () => {
  const srv = await rawServer((s) => setTimeout(() => s.write(OK), 30));
  const p = pools(2);
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const runs = Array.from({ length: 5 }, () => recorder());
    for (const r of runs) startExchange(pool, get(), r.sink);
    assert.equal(pool.size, 2);
    assert.equal(pool.pendingCount, 3);
    const results = await Promise.all(runs.map((r) => r.done));
    for (const r of results) {
      assert.equal(r.error, null);
      assert.equal(r.bodyText(), 'ok');
    }
    assert.ok(srv.maxOpen <= 2, `max open ${srv.maxOpen}`);
    assert.equal(srv.accepted, 2);
    assert.equal(pool.pendingCount, 0);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: waiting for a full pool is bounded by the response timeout → UPSTREAM_POOL_FULL', async () => {
  const srv = await rawServer((s) => setTimeout(() => s.write(OK), 200));
  const p = pools(1);
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const a = recorder();
    startExchange(pool, get(), a.sink);
    const b = recorder();
    startExchange(pool, { ...get(), responseTimeoutMs: 50 }, b.sink);
    const rb = await b.done;
    assert.equal(rb.error?.err, ERR.UPSTREAM_POOL_FULL);
    assert.equal(pool.pendingCount, 0);
    assert.equal((await a.done).error, null);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: onBody returning false pauses the socket; a big body streams with bounded buffering', async () => {
  const total = 16 * 1024 * 1024;
  const block = Buffer.alloc(64 * 1024, 0x61);
  let serverSock: net.Socket | null = null;
  const srv = await rawServer((s) => {
    serverSock = s;
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        sent += block.length;
        if (!s.write(block)) return void s.once('drain', pump);
      }
    };
    pump();
  });
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  let received = 0;
  let paused = false;
  let whilePaused = 0;
  const { sink, done } = recorder();
  // Count instead of keeping 16 MiB; always "slow": every delivery asks for a pause.
  sink.onBody = (chunk: Buffer): boolean => {
    received += chunk.length;
    if (paused) whilePaused += chunk.length;
    paused = true;
    return false;
  };
  try {
    const ex = startExchange(pool, get(), sink);
    let maxServerBacklog = 0;
    let stalls = 0;
    while (received < total) {
      await until(() => paused, 5000, 'a delivery');
      const before = received;
      await delay(stalls < 3 ? 30 : 0);
      if (stalls < 3) {
        assert.equal(received, before, 'nothing delivered while paused');
        maxServerBacklog = Math.max(maxServerBacklog, serverSock!.writableLength);
        stalls++;
      }
      paused = false;
      ex.resume();
      await new Promise((r) => setImmediate(r));
    }
    const r = await done;
    assert.equal(r.error, null);
    assert.equal(received, total);
    assert.equal(whilePaused, 0);
    assert.ok(maxServerBacklog > 0, 'the upstream had to buffer: backpressure reached it');
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: abort() destroys the upstream socket and no callback follows', async () => {
  const srv = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome'));
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const { sink, rec } = recorder();
    const ex = startExchange(pool, get(), sink);
    await until(() => rec.body.length > 0, 2000, 'body bytes');
    ex.abort();
    ex.abort(); // idempotent
    assert.equal(pool.size, 0);
    await until(() => srv.closed === 1, 2000, 'server to see the close');
    await delay(20);
    assert.deepEqual(rec.calls, ['head', 'body']);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: abort() after onEnd does not touch the pooled socket', async () => {
  const srv = await rawServer((s) => s.write(OK));
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const { sink, done } = recorder();
    const ex = startExchange(pool, get(), sink);
    await done;
    ex.abort();
    assert.equal(pool.idleCount, 1);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: 101 hands the socket over with the bytes that followed the head', async () => {
  const srv = await rawServer((s) => {
    s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello');
    s.removeAllListeners('data');
    s.on('data', (d) => s.write(d)); // now an echo server
  });
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const { sink, done } = recorder();
    startExchange(pool, get('/', 'GET', 'connection: upgrade\r\nupgrade: echo\r\n'), sink);
    const r = await done;
    assert.deepEqual(r.calls, ['head', 'upgrade']);
    assert.equal(r.head?.framing.upgrade, true);
    assert.equal(r.upgrade?.rest.toString(), 'hello');
    assert.equal(pool.size, 0, 'the socket left the pool');
    const sock = r.upgrade!.socket;
    const got: Buffer[] = [];
    sock.on('data', (d) => got.push(d));
    sock.resume();
    sock.write('ping');
    await until(() => Buffer.concat(got).toString() === 'ping', 2000, 'echo');
    sock.destroy();
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: body written before connect is queued, then drained; chunked framing', async () => {
  const seen: string[] = [];
  const srv = await rawServer((s, head, body) => {
    seen.push(head.split('\r\n')[0] + '|' + body.toString('latin1'));
    s.write(OK);
  });
  const p = pools();
  try {
    const { sink, rec, done } = recorder();
    const ex = startExchange(
      p.get({ address: '127.0.0.1', port: srv.port }),
      { method: 'POST', head: 'POST /up HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n', body: 'chunked', idempotent: false, responseTimeoutMs: 2000 },
      sink,
    );
    const chunk = Buffer.from('hello');
    assert.equal(ex.writeBody(chunk), false, 'not connected yet: caller must wait');
    chunk.fill(0x78); // the caller reuses its buffer: the exchange must have copied it
    await until(() => rec.drains === 1, 2000, 'onRequestDrain');
    assert.equal(ex.writeBody(Buffer.from(' world!')), true);
    assert.equal(ex.writeBody(Buffer.alloc(0)), true, 'empty chunk is not a last-chunk');
    ex.endBody();
    const r = await done;
    assert.equal(r.error, null);
    assert.deepEqual(seen, ['POST /up HTTP/1.1|5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\n']);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: an early response (413) before the body is finished ends cleanly, socket not reused', async () => {
  const srv = await rawServer(() => {});
  // Answer as soon as the head arrives, without reading the body.
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const { sink, done } = recorder();
    const ex = startExchange(
      pool,
      { method: 'POST', head: 'POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 100000\r\n\r\n', body: 'length', idempotent: false, responseTimeoutMs: 2000 },
      sink,
    );
    ex.writeBody(Buffer.alloc(1000));
    await until(() => srv.sockets.length === 1, 2000, 'connection');
    srv.sockets[0].write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n\r\nbig');
    const r = await done;
    assert.equal(r.error, null);
    assert.equal(r.head?.status, 413);
    assert.equal(r.bodyText(), 'big');
    assert.equal(ex.writeBody(Buffer.alloc(10)), true, 'late body writes are dropped');
    ex.endBody();
    assert.equal(pool.size, 0, 'the half-sent request makes the socket unusable');
    await until(() => srv.closed === 1, 2000, 'server to see the close');
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: extra bytes after a response keep the socket out of the pool', async () => {
  const srv = await rawServer((s) => s.write(OK + 'HTTP/1.1 200 OK\r\n'));
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const { sink, done } = recorder();
    startExchange(pool, get(), sink);
    const r = await done;
    assert.equal(r.error, null);
    assert.equal(pool.size, 0);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: Connection: close response is not pooled', async () => {
  const srv = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'));
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const { sink, done } = recorder();
    startExchange(pool, get(), sink);
    assert.equal((await done).error, null);
    assert.equal(pool.size, 0);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: connect timeout → UPSTREAM_CONNECT_TIMEOUT', async () => {
  const srv = await unansweredListener();
  const p = createPools({ maxConnections: 16, connectTimeoutMs: 150, idleTimeoutMs: 10000 });
  try {
    const runs = Array.from({ length: 6 }, () => recorder());
    for (const r of runs) startExchange(p.get({ address: '127.0.0.1', port: srv.port }), { ...get(), responseTimeoutMs: 2000 }, r.sink);
    const first = await Promise.race(runs.map((r) => r.done));
    assert.equal(first.error?.err, ERR.UPSTREAM_CONNECT_TIMEOUT, first.error?.detail);
    assert.equal(first.error?.err.status, 504);
    assert.equal(first.error?.afterHead, false);
  } finally {
    p.closeAll();
    await srv.close();
  }
});

test('exchange: closeAll fails in-flight and queued exchanges at once', async () => {
  const srv = await rawServer(() => {});
  const p = pools(1);
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  try {
    const busy = recorder();
    startExchange(pool, get(), busy.sink);
    const queued = recorder();
    startExchange(pool, get(), queued.sink);
    await until(() => srv.accepted === 1, 2000, 'connection');
    await delay(10);
    const t0 = Date.now();
    p.closeAll();
    const [a, b] = await Promise.all([busy.done, queued.done]);
    assert.ok(Date.now() - t0 < 500, 'not left to the 2 s response timeout');
    assert.equal(a.error?.afterHead, false);
    assert.ok(a.error?.err === ERR.UPSTREAM_RESET || a.error?.err === ERR.UPSTREAM_CONNECT, a.error?.err.code);
    assert.equal(b.error?.err, ERR.UPSTREAM_CONNECT);
  } finally {
    await srv.close();
  }
});

test('exchange: a request body that is already there leaves with its head in one write; a missing one does not hold the head', async () => {
  const srv = await rawServer((s) => s.write(OK));
  const p = pools();
  const pool = p.get({ address: '127.0.0.1', port: srv.port });
  // Count the socket-level writes of connections to this server (net.Socket#_write / #_writev).
  const proto = net.Socket.prototype as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const orig = { w: proto._write, v: proto._writev };
  const writes: number[] = [];
  proto._write = function (this: net.Socket, ...a: unknown[]) {
    if (this.remotePort === srv.port) writes.push(1);
    return orig.w.apply(this, a);
  };
  proto._writev = function (this: net.Socket, ...a: unknown[]) {
    if (this.remotePort === srv.port) writes.push((a[0] as unknown[]).length);
    return orig.v.apply(this, a);
  };
  try {
    // Warm one pooled connection, so the next exchange gets it synchronously (as on a busy gateway).
    const warm = recorder();
    startExchange(pool, get(), warm.sink);
    await warm.done;
    writes.length = 0;
    const post = { ...get('/p', 'POST', 'content-length: 5\r\n'), body: 'length' as const, idempotent: false };
    const a = recorder();
    const ex = startExchange(pool, post, a.sink);
    ex.writeBody(Buffer.from('hello'));
    ex.endBody();
    assert.equal((await a.done).head?.status, 200);
    assert.deepEqual(writes, [2], 'one writev carrying the head and the body');

    // The body has not arrived: the head still goes out within the loop iteration.
    writes.length = 0;
    const b = recorder();
    const ex2 = startExchange(pool, post, b.sink);
    await until(() => writes.length > 0, 1000, 'the head written before the body');
    assert.deepEqual(writes, [1]);
    ex2.writeBody(Buffer.from('hello'));
    ex2.endBody();
    assert.equal((await b.done).head?.status, 200);
  } finally {
    proto._write = orig.w;
    proto._writev = orig.v;
    p.closeAll();
    await srv.close();
  }
});
