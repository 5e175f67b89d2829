// BoundListener of the native-free front end: binding, connection limit, draining.
import assert from 'node:assert/strict';
import { refused } from '../helpers/servers';
import { afterEach, describe, it } from 'node:test';
import type { Downstream } from '../../src/http/downstream';
import { NO_REUSEPORT, nativeFreeFrontend, reusePortSupported } from '../../native-free/frontend';
import { Client, delay, echoHead, GET, header, settingsWith, startServer } from './helpers';
import type { TestServer } from './helpers';

let server: TestServer | null = null;
afterEach(async () => {
  if (server !== null) await server.close();
  server = null;
});


describe('native-free: listener', () => {
  it('binds port 0 to a real port', async () => {
    server = await startServer(echoHead);
    assert.ok(server.port > 0);
    assert.equal(server.listener.inflight, 0);
  });

  it(`a second bind of the same port: ${reusePortSupported ? 'shares it (SO_REUSEPORT)' : NO_REUSEPORT}`, async () => {
    server = await startServer(echoHead);
    const again = nativeFreeFrontend.listen({ address: '127.0.0.1', port: server.port }, 0, settingsWith(), echoHead, () => {});
    if (reusePortSupported) {
      const second = await again;
      assert.equal(second.port, server.port);
      second.closeAll();
    } else {
      await assert.rejects(again, (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, NO_REUSEPORT);
        assert.match(err.message, /SO_REUSEPORT/);
        return true;
      });
    }
  });

  it('GATEMESH_MAX_CONNECTIONS: excess connections are closed, freed slots are reused', async () => {
    server = await startServer(echoHead, { GATEMESH_MAX_CONNECTIONS: '2' });
    const a = new Client(server.port);
    const b = new Client(server.port);
    a.write(GET());
    b.write(GET());
    await a.responses(1);
    await b.responses(1);
    const c = new Client(server.port);
    c.write(GET());
    assert.ok(await c.waitClose(), 'third connection closed');
    assert.equal(c.take().length, 0, 'without an answer');
    a.destroy();
    await delay(50);
    const d = new Client(server.port);
    d.write(GET());
    const [r] = await d.responses(1);
    assert.equal(r.status, 200);
    b.destroy();
    d.destroy();
  });

  it('stopAccepting: idle connections close, busy ones finish with Connection: close, no new ones', async () => {
    const held: Downstream[] = [];
    server = await startServer((head, ds) => {
      if (head.path === '/hold') held.push(ds);
      else echoHead(head, ds);
    });
    const idle = new Client(server.port);
    idle.write(GET());
    await idle.responses(1);
    const busy = new Client(server.port);
    busy.write(GET('/hold'));
    while (held.length < 1) await delay(5);
    // A keep-alive response whose head went out before the drain: closed once it is done.
    const early = new Client(server.port);
    early.write(GET('/hold'));
    while (held.length < 2) await delay(5);
    const [busyDs, earlyDs] = held;
    earlyDs.writeHead(200, '', [], 2, false);
    assert.equal(server.listener.inflight, 2);

    server.listener.stopAccepting();
    assert.ok(await idle.waitClose(), 'idle keep-alive connection closed');
    assert.ok(await refused(server.port), 'no new connections');

    busyDs.respond(200, [], 'done', false);
    const [r] = await busy.responses(1);
    assert.equal(header(r, 'connection'), 'close');
    assert.ok(await busy.waitClose(), 'busy connection closed after its response');

    earlyDs.writeBody(Buffer.from('ok'));
    earlyDs.end(null);
    const [r2] = await early.responses(1);
    assert.equal(header(r2, 'connection'), 'keep-alive');
    assert.ok(await early.waitClose(), 'closed once idle');
    assert.equal(server.listener.inflight, 0);
  });

  it('closeAll closes busy connections now; onAbort fires', async () => {
    let aborted = 0;
    server = await startServer((_head, ds) => ds.onAbort(() => aborted++));
    const c = new Client(server.port);
    c.write(GET());
    await delay(30);
    assert.equal(server.listener.inflight, 1);
    server.listener.closeAll();
    assert.ok(await c.waitClose());
    await delay(10);
    assert.equal(aborted, 1);
    assert.equal(server.listener.inflight, 0);
  });
});
