// Listener lifecycle of both front ends (src/frontend/uws.ts, native-free/frontend.ts) under the
// churn a hot reload causes (issue 4, flat memory after 1,000 reloads): a listener opened and
// closed again and again leaves nothing behind, and a reopened one serves with its own index and
// handler. uws: uWS.js never frees an App, so closed apps are recycled; the assertion is on the
// number of apps made, not on memory (bench/reload.ts --listener-churn measures that).
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { readSettings } from '../../src/env';
import type { Downstream, IncomingHead } from '../../src/http/downstream';
import type { BoundListener, Frontend, RequestHandler, UpgradeDownstream } from '../../src/frontend/types';
import { uwsAppStats, uwsFrontend, uwsUnavailableReason } from '../../src/frontend/uws';
import { nativeFreeFrontend } from '../../native-free/frontend';
import { refused, request } from '../helpers/servers';

const settings = readSettings({ GATEMESH_THREADS: '1', GATEMESH_ACCESS_LOG: 'off' });
/** Listen/close cycles per case: enough to show a per-listener leak as a count, and quick. */
const CYCLES = 25;

/** Answers `<tag> <listener index>`, so a request shows which binding served it. */
function answer(tag: string): RequestHandler {
  return (_head: IncomingHead, ds: Downstream, listener: number) => ds.respond(200, ['content-type', 'text/plain'], `${tag} ${listener}`, false);
}
function noUpgrade(_head: IncomingHead, ds: UpgradeDownstream): void {
  ds.respond(502, ['content-type', 'text/plain'], 'no upgrades here\n', true);
}

function listen(fe: Frontend, index: number, tag: string, port = 0): Promise<BoundListener> {
  return fe.listen({ address: '127.0.0.1', port }, index, settings, answer(tag), noUpgrade);
}


/** Server sockets node knows of (native-free listeners; uWS sockets are not node handles). */
function nodeServers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
}

/** Per front end: what "nothing left behind" means, as counts taken before and after. */
const cases: { desc: string; fe: Frontend; skip: string | false; count(): Record<string, number>; grown(before: Record<string, number>, after: Record<string, number>): Record<string, number> }[] = [
  {
    desc: 'uws',
    fe: uwsFrontend,
    skip: uwsUnavailableReason() ?? false,
    count: () => ({ ...uwsAppStats() }),
    // One app may be made for the first churned listener; after that each one reuses it, and every
    // closed one is idle again.
    grown: (b, a) => ({ created: Math.max(0, a.created - b.created - 1), idle: Math.max(0, a.idle - b.idle - 1) }),
  },
  {
    desc: 'native-free',
    fe: nativeFreeFrontend,
    skip: false,
    count: () => ({ servers: nodeServers() }),
    grown: (b, a) => ({ servers: a.servers - b.servers }),
  },
];

for (const c of cases) {
  describe(`listener lifecycle [${c.desc}]`, { skip: c.skip }, () => {
    it(`${CYCLES} listeners opened, used and closed beside a steady one leave nothing behind`, async () => {
      const steady = await listen(c.fe, 0, 'steady');
      try {
        const before = c.count();
        for (let k = 1; k <= CYCLES; k++) {
          const b = await listen(c.fe, k, `churn${k}`);
          assert.notEqual(b.port, steady.port);
          // A recycled app serves the listener it is bound to now: its index and its handler.
          assert.equal((await request(b.port, { path: '/x' })).body, `churn${k} ${k}`);
          assert.equal((await request(steady.port, { path: '/x' })).body, 'steady 0');
          b.stopAccepting();
          b.closeAll();
          b.closeAll(); // twice, as a drain timeout racing a thread close may
          assert.equal(await refused(b.port), true, `listener ${k} still accepts after closeAll`);
          assert.equal(b.inflight, 0);
        }
        await new Promise((r) => setImmediate(r));
        const after = c.count();
        assert.deepEqual(c.grown(before, after), Object.fromEntries(Object.keys(c.grown(before, before)).map((k) => [k, 0])), `before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
        assert.equal((await request(steady.port, { path: '/y' })).body, 'steady 0');
      } finally {
        steady.stopAccepting();
        steady.closeAll();
      }
    });

    it('a draining listener keeps serving its open connection while a new one binds, then closes', async () => {
      const draining = await listen(c.fe, 1, 'old');
      const sock = net.connect(draining.port, '127.0.0.1');
      await new Promise<void>((r) => sock.once('connect', () => r()));
      draining.stopAccepting();
      assert.equal(await refused(draining.port), true);
      const fresh = await listen(c.fe, 2, 'new');
      try {
        assert.equal((await request(fresh.port, { path: '/z' })).body, 'new 2');
        // The connection accepted before stopAccepting is still the old listener's.
        let got = '';
        sock.setEncoding('latin1');
        sock.on('data', (d: string) => (got += d));
        sock.write('GET /w HTTP/1.1\r\nhost: t\r\n\r\n');
        for (let i = 0; i < 100 && !got.includes('old 1'); i++) await new Promise((r) => setTimeout(r, 10));
        assert.match(got, /^HTTP\/1\.1 200[^]*old 1$/);
      } finally {
        sock.destroy();
        draining.closeAll();
        fresh.stopAccepting();
        fresh.closeAll();
      }
    });
  });
}

describe('listener lifecycle [uws]: app reuse', { skip: uwsUnavailableReason() ?? false }, () => {
  it('an app still draining is not handed out; a listen that fails gives its app back', async () => {
    const draining = await listen(uwsFrontend, 1, 'a');
    draining.stopAccepting();
    const start = uwsAppStats();
    const second = await listen(uwsFrontend, 2, 'b');
    // Only idle apps are reused: with none idle a new one is made, the draining one stays its own.
    assert.equal(uwsAppStats().created, start.created + (start.idle === 0 ? 1 : 0));
    assert.equal((await request(second.port, { path: '/' })).body, 'b 2');
    draining.closeAll();
    second.stopAccepting();
    second.closeAll();
    const idle = uwsAppStats();
    assert.ok(idle.idle >= 2);

    // A port held without SO_REUSEPORT: uSockets cannot bind it, and the app goes back idle.
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const busy = (holder.address() as net.AddressInfo).port;
    try {
      await assert.rejects(listen(uwsFrontend, 3, 'c', busy), /cannot listen/);
      assert.deepEqual(uwsAppStats(), idle);
    } finally {
      holder.close();
    }
  });
});
