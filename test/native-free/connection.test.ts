// What node:http's server used to do for the native-free front end and native-free/connection.ts
// does now: heads the parser hands over in pieces, the pipelining depth, responses counted in
// flight until their bytes are out, and the headers timeout of a connection that sends nothing.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setConsumeHandles } from '../../native-free/frontend';
import { ERR } from '../../src/errors';
import type { Downstream, IncomingHead } from '../../src/http/downstream';
import { Client, delay, GET, header, parseResponses, rawExchange, serverPerTest } from './helpers';

const { serve, current } = serverPerTest();

/** Answers every request in `open` with 200 as it arrives (clearInterval the result). */
function answerEvery5ms(open: Downstream[]): NodeJS.Timeout {
  return setInterval(() => {
    while (open.length > 0) open.shift()!.respond(200, [], 'x', false);
  }, 5);
}

// Both ways the parser gets the bytes: consuming the socket's handle (the default) and from
// 'data' events (handles it cannot consume).
for (const consume of [true, false]) describe(`native-free: connection (${consume ? 'consumed handle' : "'data' events"})`, () => {
  before(() => setConsumeHandles(consume));
  after(() => setConsumeHandles(true));

  it('a head with 40 fields sent in pieces reaches the proxy whole and in order', async () => {
    const heads: IncomingHead[] = [];
    const port = await serve((head, ds) => {
      heads.push(head);
      ds.respond(200, [], 'ok', false);
    });
    let text = 'GET /many?q=1 HTTP/1.1\r\nHost: a\r\n';
    for (let i = 0; i < 40; i++) text += `X-F${i}: v${i}\r\n`;
    text += '\r\n';
    const c = new Client(port);
    await c.ready();
    // Split inside the target, inside a name and inside a value: the parser flushes what it has
    // at the end of each read.
    for (const cut of [9, 40, 200, 333]) {
      c.write(text.slice(0, cut));
      text = text.slice(cut);
      await delay(20);
    }
    c.write(text + GET('/second'));
    const rs = await c.responses(2);
    assert.deepEqual(rs.map((r) => r.status), [200, 200]);
    assert.equal(heads[0].path, '/many');
    assert.equal(heads[0].query, 'q=1');
    const expected = ['host', 'a'];
    for (let i = 0; i < 40; i++) expected.push(`x-f${i}`, `v${i}`);
    assert.deepEqual(heads[0].headers, expected);
    // The fields of the first head do not leak into the next one.
    assert.equal(heads[1].path, '/second');
    assert.deepEqual(heads[1].headers, ['host', 'a']);
    c.destroy();
  });

  it('stops reading a client that pipelines without reading answers, and serves it all once it reads', async () => {
    const open: Downstream[] = [];
    let seen = 0;
    const port = await serve((head, ds) => {
      seen++;
      open.push(ds);
      void head;
    });
    const c = new Client(port);
    await c.ready();
    // 200 requests of ~1 KiB: more than one read. Reading stops once 32 are unanswered; what
    // one read already holds is still parsed (as node:http did), so the proxy sees the 32 plus
    // at most one read's worth (64 KiB), never all 200.
    let burst = '';
    for (let i = 0; i < 200; i++) burst += GET(`/${i}`, `X-Pad: ${'p'.repeat(1000)}\r\n`);
    c.write(burst);
    await delay(300);
    assert.ok(seen >= 32 && seen <= 32 + 64, `proxy saw ${seen} requests while none was answered`);
    // Answer as they come: the rest is read and answered in order.
    const timer = answerEvery5ms(open);
    try {
      const rs = await c.responses(200);
      assert.equal(rs.length, 200);
      assert.equal(seen, 200);
    } finally {
      clearInterval(timer);
    }
    assert.equal(current().listener.inflight, 0);
    c.destroy();
  });

  it('counts a response in flight until its bytes have left, not just until it ended', async () => {
    const body = Buffer.alloc(8 << 20, 0x61);
    let ended = false;
    const port = await serve((_head, ds) => {
      ds.writeHead(200, 'OK', [], body.length, false);
      ds.writeBody(body);
      ds.end(null);
      ended = true;
    });
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.pause(); // read nothing: the 8 MiB cannot all fit in the socket buffers
    socket.write(GET());
    for (let i = 0; i < 100 && !ended; i++) await delay(10);
    assert.ok(ended);
    await delay(50);
    assert.equal(current().listener.inflight, 1, 'still in flight while bytes wait in the socket');
    let got = 0;
    socket.on('data', (d: Buffer) => (got += d.length));
    socket.resume();
    for (let i = 0; i < 300 && got < body.length; i++) await delay(10);
    assert.ok(got > body.length, `client got ${got} bytes`);
    const inflight = (): number => current().listener.inflight;
    for (let i = 0; i < 100 && inflight() !== 0; i++) await delay(10);
    assert.equal(inflight(), 0);
    socket.destroy();
  });

  it('a connection that sends nothing gets 408 after the headers timeout (as node:http)', async () => {
    const port = await serve((_h, ds) => ds.respond(200, [], 'ok', false), { GATEMESH_HEADERS_TIMEOUT_MS: '200' });
    const started = Date.now();
    const { data, closed } = await rawExchange(port, '', 2000);
    const took = Date.now() - started;
    const [r] = parseResponses(data, closed);
    assert.equal(r.status, ERR.HEADERS_TIMEOUT.status);
    assert.equal(header(r, 'connection'), 'close');
    assert.ok(closed);
    assert.ok(took >= 190 && took < 1500, `took ${took} ms`);
  });

  it('a request on a kept-alive connection is not timed from the previous one', async () => {
    const port = await serve((_h, ds) => ds.respond(200, [], 'ok', false), { GATEMESH_HEADERS_TIMEOUT_MS: '300' });
    const c = new Client(port);
    c.write(GET('/1'));
    await c.responses(1);
    c.take();
    await delay(500); // idle longer than the headers timeout: idle is not a slow head
    c.write(GET('/2'));
    const [r] = await c.responses(1);
    assert.equal(r.status, 200);
    c.destroy();
  });

  it('a broken body after the request was answered closes the connection at once', async () => {
    const port = await serve((_h, ds) => ds.respond(200, [], 'early', false), { GATEMESH_IDLE_TIMEOUT_MS: '5000' });
    const c = new Client(port);
    c.write('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n');
    const [r] = await c.responses(1);
    assert.equal(r.status, 200);
    c.write('zz\r\nbroken\r\n');
    assert.ok(await c.waitClose(1000), 'closed well before the idle timeout');
  });

  it('a body still arriving after its response is activity, not idleness', async () => {
    const port = await serve((_h, ds) => ds.respond(200, [], 'early', false), { GATEMESH_IDLE_TIMEOUT_MS: '400' });
    const c = new Client(port);
    c.write('POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n');
    const [r1] = await c.responses(1);
    assert.equal(r1.status, 200);
    c.take();
    for (let i = 0; i < 10; i++) {
      await delay(100); // 1 s in all: past the idle timeout, never idle that long
      c.write('x');
    }
    c.write(GET('/next'));
    const [r2] = await c.responses(1);
    assert.equal(r2.status, 200);
    c.destroy();
  });

  it('a response still flushing to a slow reader is not cut by the idle timeout', async () => {
    const body = Buffer.alloc(16 << 20, 0x62);
    const port = await serve((_h, ds) => {
      ds.writeHead(200, 'OK', [], body.length, false);
      ds.writeBody(body);
      ds.end(null);
    }, { GATEMESH_IDLE_TIMEOUT_MS: '300' });
    const socket = net.connect(port, '127.0.0.1');
    let got = 0;
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('data', (d: Buffer) => {
      got += d.length;
      // Read ~8 MiB/s: the 16 MiB take ~2 s, far past the idle timeout.
      socket.pause();
      setTimeout(() => socket.resume(), Math.ceil(d.length / 8192));
    });
    socket.write(GET());
    for (let i = 0; i < 500 && got <= body.length && !closed; i++) await delay(10);
    assert.ok(got > body.length, `client got ${got} of ${body.length} body bytes (closed: ${closed})`);
    socket.destroy();
  });

  it('thousands of pipelined responses released at once all go out, in order', async () => {
    const held: Downstream[] = [];
    let first: Downstream | null = null;
    const port = await serve((head, ds) => {
      if (head.path === '/first') first = ds;
      else held.push(ds);
    });
    const c = new Client(port);
    await c.ready();
    // Minimal requests (18 bytes: the stub proxy wants no Host), one write: one 64 KiB read
    // holds ~3,600, all parsed before reading stops.
    const one = 'GET / HTTP/1.1\r\n\r\n';
    c.write('GET /first HTTP/1.1\r\n\r\n' + one.repeat(5000));
    await delay(300);
    const n = held.length;
    assert.ok(n > 3000, `parsed ${n}`);
    for (const ds of held) ds.respond(200, [], 'n', false); // all held behind /first
    first!.respond(200, [], 'f', false); // releases the whole chain in one call
    const rs = await c.responses(n + 1);
    assert.equal(rs[0].body.toString(), 'f');
    assert.ok(rs.slice(1).every((r) => r.body.toString() === 'n'));
    c.destroy();
  });

  it('keep-alive responses say Connection: keep-alive and Keep-Alive: timeout=<idle s>', async () => {
    const port = await serve((_h, ds) => ds.respond(200, [], 'ok', false), { GATEMESH_IDLE_TIMEOUT_MS: '7500' });
    const c = new Client(port);
    c.write(GET());
    const [r] = await c.responses(1);
    assert.equal(header(r, 'connection'), 'keep-alive');
    assert.equal(header(r, 'keep-alive'), 'timeout=7');
    c.destroy();
  });

  it('a drain does not cut a response still flushing when the client sends another request', async () => {
    const body = Buffer.alloc(4 << 20, 0x61);
    const port = await serve((head, ds) => {
      if (head.path !== '/big') return ds.respond(200, [], 'two', false);
      ds.writeHead(200, 'OK', [], body.length, false);
      ds.writeBody(body);
      ds.end(null);
    });
    const socket = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let closed = false;
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('close', () => (closed = true));
    socket.pause(); // the 4 MiB wait in the socket buffers
    socket.write(GET('/big'));
    await delay(200);
    current().listener.stopAccepting();
    socket.write(GET('/two')); // arrives after the drain began: not served, not written after end
    await delay(100);
    socket.resume();
    for (let i = 0; i < 300 && !closed; i++) await delay(10);
    assert.ok(closed, 'closed once the response was out');
    const [r] = parseResponses(Buffer.concat(parts), true);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, body.length);
  });

  it('closeAll closes a connection whose upgrade waits behind an unanswered request', async () => {
    const port = await serve(() => {}); // never answers
    const c = new Client(port);
    c.write(GET('/slow') + 'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await delay(100);
    current().listener.stopAccepting();
    current().listener.closeAll();
    assert.ok(await c.waitClose(1000));
    await delay(20);
    assert.equal(current().listener.inflight, 0);
  });

  it('the headers timeout does not run while we are the ones not reading', async () => {
    const open: Downstream[] = [];
    const port = await serve((_h, ds) => void open.push(ds), { GATEMESH_HEADERS_TIMEOUT_MS: '300' });
    const c = new Client(port);
    await c.ready();
    // 33 requests (reading stops at 32 unanswered) and half of a 34th head, its rest 50 ms later.
    let burst = '';
    for (let i = 0; i < 33; i++) burst += GET(`/${i}`);
    c.write(burst + 'GET /33 HT');
    await delay(50);
    c.write('TP/1.1\r\nHost: a\r\n\r\n');
    await delay(800); // well past the headers timeout, all of it spent waiting on us
    const timer = answerEvery5ms(open);
    try {
      const rs = await c.responses(34);
      assert.deepEqual([...new Set(rs.map((r) => r.status))], [200]);
    } finally {
      clearInterval(timer);
    }
    c.destroy();
  });
});
