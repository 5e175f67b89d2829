// Upgrade requests on the native-free front end: a 101 becomes a two-way tunnel to the
// upstream socket; any other answer is a complete response and the connection closes.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import type { IncomingHead } from '../../src/http/downstream';
import type { UpgradeDownstream, UpgradeHandler } from '../../src/frontend/types';
import { Client, delay, echoHead, header, parseResponses, startServer } from './helpers';
import type { TestServer } from './helpers';

const UPGRADE = 'GET /chat?room=1 HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n';

describe('native-free: upgrade', () => {
  // "Upstream": a raw TCP echo server.
  let echo: net.Server;
  let echoPort = 0;
  const upstreamClosed: Promise<void>[] = [];
  let server: TestServer | null = null;

  before(async () => {
    echo = net.createServer((s) => {
      upstreamClosed.push(new Promise((r) => s.on('close', () => r())));
      s.on('error', () => {});
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((r) => echo.close(() => r())));
  afterEach(async () => {
    if (server !== null) await server.close();
    server = null;
  });

  async function serve(onUpgrade: UpgradeHandler): Promise<number> {
    server = await startServer(echoHead, {}, onUpgrade);
    return server.port;
  }

  function connectUpstream(): Promise<net.Socket> {
    return new Promise((resolve) => {
      const up = net.connect(echoPort, '127.0.0.1', () => resolve(up));
    });
  }

  it('relays the 101 and then bytes both ways (rest and early client bytes included)', async () => {
    let seen: IncomingHead | null = null;
    let bodyLast: boolean | null = null;
    const port = await serve(async (head, ds) => {
      seen = head;
      ds.readBody((chunk, last) => (bodyLast = last && chunk.length === 0), () => {});
      const up = await connectUpstream();
      ds.accept(['Upgrade', 'echo', 'Sec-WebSocket-Accept', 'xyz', 'Connection', 'ignored'], up, Buffer.from('<rest>'));
      assert.ok(ds.done);
    });
    const c = new Client(port);
    c.write(UPGRADE + '<early>');
    await c.until((b) => b.includes('<rest><early>'));
    const text = c.take().toString('latin1');
    const headEnd = text.indexOf('\r\n\r\n');
    const lines = text.slice(0, headEnd).split('\r\n');
    assert.equal(lines[0], 'HTTP/1.1 101 Switching Protocols');
    assert.deepEqual(lines.slice(1).sort(), ['Connection: Upgrade', 'Sec-WebSocket-Accept: xyz', 'Upgrade: echo']);
    assert.equal(text.slice(headEnd + 4), '<rest><early>');
    assert.equal(seen!.path, '/chat');
    assert.equal(seen!.query, 'room=1');
    assert.deepEqual(seen!.headers, ['host', 'a', 'connection', 'Upgrade', 'upgrade', 'echo']);
    assert.equal(bodyLast, true);
    // Both ways, larger than one socket buffer.
    const big = Buffer.alloc(3 * 1024 * 1024, 0x62);
    c.write(big);
    const got = await c.until((b) => b.length >= big.length, 5000);
    assert.ok(got.equals(big));
    assert.equal(server!.listener.inflight, 1, 'a tunnel counts as in flight');
    const closed = upstreamClosed[upstreamClosed.length - 1];
    c.destroy();
    await closed; // the client leaving closes the upstream side
    await delay(20);
    assert.equal(server!.listener.inflight, 0);
  });

  it('closes the client when the upstream closes; echoes the requested Upgrade when none is given', async () => {
    let up!: net.Socket;
    const port = await serve(async (_head, ds) => {
      up = await connectUpstream();
      ds.accept([], up, Buffer.alloc(0));
    });
    const c = new Client(port);
    c.write(UPGRADE);
    await c.until((b) => b.includes('\r\n\r\n'));
    assert.match(c.take().toString(), /\r\nUpgrade: echo\r\n/);
    up.destroy();
    assert.ok(await c.waitClose());
  });

  it('a non-101 answer is a complete response and the connection closes', async () => {
    const port = await serve((head, ds: UpgradeDownstream) => {
      if (head.path === '/len') {
        ds.respond(502, ['Content-Type', 'text/plain'], 'upstream said no\n', true);
        return;
      }
      ds.writeHead(403, 'Forbidden', ['Content-Type', 'text/plain'], -1, false);
      ds.writeBody(Buffer.from('denied'));
      ds.end(null);
    });
    const a = new Client(port);
    a.write(UPGRADE);
    assert.ok(await a.waitClose());
    const [r] = parseResponses(a.take(), true);
    assert.equal(r.status, 403);
    assert.equal(header(r, 'connection'), 'close');
    assert.ok(r.closeDelimited);
    assert.equal(r.body.toString(), 'denied');
    const b = new Client(port);
    b.write(UPGRADE.replace('/chat?room=1', '/len'));
    assert.ok(await b.waitClose());
    const [r2] = parseResponses(b.take(), true);
    assert.equal(r2.status, 502);
    assert.equal(header(r2, 'content-length'), '17');
    assert.equal(r2.body.toString(), 'upstream said no\n');
    assert.equal(server!.listener.inflight, 0);
  });

  it('a client gone before the upstream answered: onAbort, and accept() closes the upstream', async () => {
    let aborted = 0;
    let accepted!: Promise<void>;
    const port = await serve((_head, ds) => {
      ds.onAbort(() => aborted++);
      accepted = (async () => {
        await delay(60);
        const up = await connectUpstream();
        const closed = new Promise<void>((r) => up.on('close', () => r()));
        ds.accept([], up, Buffer.alloc(0));
        await closed;
      })();
    });
    const c = new Client(port);
    c.write(UPGRADE);
    await delay(20);
    c.destroy();
    await delay(20);
    assert.equal(aborted, 1);
    await accepted;
  });

  it('an upgrade pipelined behind a slow response waits for it', async () => {
    server = await startServer(
      (_head, ds) => setTimeout(() => ds.respond(200, [], 'first', false), 60),
      {},
      async (_head, ds) => ds.accept(['Upgrade', 'echo'], await connectUpstream(), Buffer.alloc(0)),
    );
    const c = new Client(server.port);
    c.write('GET /slow HTTP/1.1\r\nHost: a\r\n\r\n' + UPGRADE + 'ping');
    const text = (await c.until((b) => b.includes('ping'))).toString();
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nfirstHTTP\/1\.1 101 Switching Protocols\r\n[^]*\r\n\r\nping$/);
    c.destroy();
  });

  it('client bytes sent while an upgrade waits behind paused pipelined requests all reach the upstream', async () => {
    // A slow GET, then a POST whose 20 KB body pauses reading, then the upgrade: reading resumes
    // (the POST is answered) before the upgrade starts, and the tunnel must still get every byte.
    server = await startServer(
      (head, ds) => {
        if (head.path === '/slow') setTimeout(() => ds.respond(200, [], 'slow', false), 400);
        else setTimeout(() => ds.readBody((_c, last) => last && ds.respond(200, [], 'post', false), () => {}), 50);
      },
      {},
      async (_head, ds) => ds.accept(['Upgrade', 'echo'], await connectUpstream(), Buffer.alloc(0)),
    );
    const c = new Client(server.port);
    c.write(
      'GET /slow HTTP/1.1\r\nHost: a\r\n\r\n' +
        'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n' +
        'b'.repeat(20000) +
        UPGRADE +
        'AFTER-HEAD|',
    );
    await delay(150);
    c.write('EARLY|');
    await delay(500);
    c.write('LATE');
    const text = (await c.until((b) => b.includes('LATE'))).toString();
    assert.match(text, /\r\n\r\nAFTER-HEAD\|EARLY\|LATE$/);
    c.destroy();
  });

  it('closeAll() destroys open tunnels', async () => {
    const port = await serve(async (_head, ds) => ds.accept(['Upgrade', 'echo'], await connectUpstream(), Buffer.alloc(0)));
    const c = new Client(port);
    c.write(UPGRADE);
    await c.until((b) => b.includes('\r\n\r\n'));
    server!.listener.closeAll();
    assert.ok(await c.waitClose());
  });
});
