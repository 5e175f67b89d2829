// Reloads that add and remove a listener again and again (src/worker.ts, src/frontend/uws.ts,
// native-free/), on both front ends with two threads: every added listener binds a new port and
// serves it with its own routes (on uws through an app recycled from a closed listener), every
// removed one closes on every thread, and the listener that stays keeps its socket and its
// keep-alive connection throughout. Memory over 1,000 such reloads: bench/reload.ts --listener-churn.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, startGateway, tempDir } from '../helpers/gateway';
import { adminConfig, replaceFile, waitForVersion } from '../helpers/reload';
import { httpUpstream, rawUpstream, refused, type TestServer } from '../helpers/servers';

/** Add/remove cycles: each recycles the app the previous cycle closed. */
const CYCLES = 6;
const THREADS = 2;

/** Listener `web` always; `extra` (port 0: a new port each time) when asked. Routes: /web → a, /extra → b. */
function config(extra: boolean, a: number, b: number): string {
  return `listeners:
  - { name: web, port: 0, address: 127.0.0.1 }
${extra ? '  - { name: extra, port: 0, address: 127.0.0.1 }\n' : ''}routes:
  - { name: to-a, listeners: [web], match: { path: /web }, backend: a }
${extra ? '  - { name: to-b, listeners: [extra], match: { path: /extra }, backend: b }\n' : ''}backends:
  - { name: a, endpoints: ["127.0.0.1:${a}"] }
  - { name: b, endpoints: ["127.0.0.1:${b}"] }
`;
}

function get(port: number, p: string, agent?: http.Agent): Promise<{ status: number; body: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: agent ?? false }, (res) => {
      let body = '';
      const localPort = res.socket.localPort ?? 0; // the socket is detached by 'end'
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, localPort }));
      res.on('error', reject);
    });
    req.on('error', (err: Error) => reject(new Error(`GET :${port}${p}: ${err.message}`)));
    // A hung request fails the test with its name instead of stalling the run.
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
  });
}

/** Lines of the gateway's log that say a removed listener closed (one per thread per listener). */
function closedLines(stderr: string): number {
  return stderr.split('\n').filter((l) => l.includes('"removed listener closed"')).length;
}

for (const fe of FRONTENDS) {
  describe(`listener add/remove reloads [${fe}]`, () => {
    let a: TestServer;
    let b: TestServer;
    before(async () => {
      a = await httpUpstream((req, res) => res.end(`A ${req.url}`));
      b = await httpUpstream((req, res) => res.end(`B ${req.url}`));
    });
    after(async () => {
      await a.close();
      await b.close();
    });

    it(`${CYCLES} times: the added listener serves its routes on a new port, the removed one closes on every thread`, async () => {
      const file = path.join(tempDir(), 'gatemesh.yaml');
      fs.writeFileSync(file, config(false, a.port, b.port));
      const gw = await startGateway(fe, '', { GATEMESH_THREADS: String(THREADS), GATEMESH_DRAIN_TIMEOUT_MS: '2000' }, file);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await get(gw.port, '/web/0', agent);
        assert.equal(first.body, 'A /web/0');
        // Native-free on Node < 22.12 serves from one thread (no SO_REUSEPORT): count what started.
        const threads = JSON.parse((await get(gw.adminPort, '/config')).body).threads as number;
        let version = 1;
        const seen = new Set<number>();
        for (let k = 1; k <= CYCLES; k++) {
          replaceFile(file, config(true, a.port, b.port));
          const added = await waitForVersion(gw, ++version);
          assert.equal(added.listeners.length, 2);
          const extra = added.listeners.find((l) => l.names.includes('extra'))!;
          assert.ok(extra.port !== gw.port && !seen.has(extra.port), `cycle ${k}: port ${extra.port} is not new`);
          seen.add(extra.port);
          // Several connections, so with two threads both threads' sockets answer.
          for (let i = 0; i < 4; i++) assert.equal((await get(extra.port, `/extra/${k}/${i}`)).body, `B /extra/${k}/${i}`);
          assert.equal((await get(extra.port, '/web/x')).status, 404, 'the extra listener has only its own routes');
          assert.equal((await get(gw.port, '/extra/x')).status, 404, 'the steady listener did not get the extra routes');

          replaceFile(file, config(false, a.port, b.port));
          const removed = await waitForVersion(gw, ++version);
          assert.equal(removed.listeners.length, 1);
          assert.equal(await refused(extra.port), true, `cycle ${k}: removed port ${extra.port} still accepts`);
          for (let i = 0; i < 250 && closedLines(gw.stderr()) < k * threads; i++) await new Promise((r) => setTimeout(r, 20));
          assert.equal(closedLines(gw.stderr()), k * threads, `cycle ${k}: every thread closes the removed listener once`);
          // The listener that stayed kept its socket and its keep-alive connection.
          const again = await get(gw.port, `/web/${k}`, agent);
          assert.equal(again.body, `A /web/${k}`);
          assert.equal(again.localPort, first.localPort);
        }
        const cfg = await adminConfig(gw);
        assert.equal(cfg.version, 1 + 2 * CYCLES);
        assert.deepEqual(cfg.listeners.map((l) => [l.port, l.names]), [[gw.port, ['web']]]);
        assert.doesNotMatch(gw.stderr(), /not bound on thread|uncaught exception|worker thread (failed|exited)/);
      } finally {
        agent.destroy();
        assert.equal(await gw.stop(), 0);
      }
    });

    it('a removed listener whose request outlasts GATEMESH_DRAIN_TIMEOUT_MS: that request gets 503 GATEMESH_ERR_DRAINING, the listener that stays serves on', async () => {
      // Listener `extra`'s backend reads the request and never answers.
      const never = await rawUpstream(() => {});
      const file = path.join(tempDir(), 'gatemesh.yaml');
      fs.writeFileSync(file, config(true, a.port, never.port));
      const gw = await startGateway(fe, '', { GATEMESH_DRAIN_TIMEOUT_MS: '800' }, file);
      try {
        const extra = (await adminConfig(gw)).listeners.find((l) => l.names.includes('extra'))!;
        const pending = get(extra.port, '/extra/never').then(
          (r) => `${r.status} ${r.body}`,
          (err: Error) => err.message,
        );
        for (let i = 0; i < 100 && !(never.received[0] ?? '').includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 20));
        assert.match(never.received[0] ?? '', /^GET \/extra\/never /, 'the request is in flight at the upstream');
        replaceFile(file, config(false, a.port, never.port));
        await waitForVersion(gw, 2);
        // Not cut without a word: it was not served, and says so (RFC 9110 §15.6.4), as at shutdown.
        assert.equal(await pending, '503 gateway is shutting down: drain timeout reached\n');
        assert.equal(await refused(extra.port), true, 'the removed port is closed');
        assert.equal((await get(gw.port, '/web/after')).body, 'A /web/after');
        const line = (await gw.accessLog((ls) => ls.some((l) => l.path === '/extra/never'))).find((l) => l.path === '/extra/never');
        assert.equal(line?.error, 'GATEMESH_ERR_DRAINING');
      } finally {
        assert.equal(await gw.stop(), 0);
        await never.close();
      }
    });

    it("a removed listener's drain timeout does not count against the backend's endpoints: the listener that stays still reaches them all", async () => {
      // One backend of three endpoints for both listeners, an endpoint ejected after a single gateway
      // error (passive outlier detection). Ending a request because its listener went away says
      // nothing about the endpoint it was waiting on.
      const held: http.ServerResponse[] = [];
      const hits = [0, 0, 0];
      const ups = await Promise.all(
        hits.map((_, i) => httpUpstream((req, res) => (req.url === '/extra/never' ? held.push(res) : (hits[i]++, res.end(`B ${req.url}`))))),
      );
      const shared = (extra: boolean): string => `listeners:
  - { name: web, port: 0, address: 127.0.0.1 }
${extra ? '  - { name: extra, port: 0, address: 127.0.0.1 }\n' : ''}routes:
  - { name: web, listeners: [web], match: { path: /web }, backend: b }
${extra ? '  - { name: extra, listeners: [extra], match: { path: /extra }, backend: b }\n' : ''}backends:
  - name: b
    endpoints: [${ups.map((u) => `"127.0.0.1:${u.port}"`).join(', ')}]
    policy: { healthCheck: { passive: { consecutive5XxErrors: 1, baseEjectionTime: 30s, maxEjectionPercent: 100 } } }
`;
      const file = path.join(tempDir(), 'gatemesh.yaml');
      fs.writeFileSync(file, shared(true));
      const gw = await startGateway(fe, '', { GATEMESH_DRAIN_TIMEOUT_MS: '800' }, file);
      try {
        const extra = (await adminConfig(gw)).listeners.find((l) => l.names.includes('extra'))!;
        const pending = get(extra.port, '/extra/never').then((r) => r.status);
        for (let i = 0; i < 100 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
        assert.equal(held.length, 1, 'the request is in flight at the upstream');
        replaceFile(file, shared(false));
        await waitForVersion(gw, 2);
        assert.equal(await pending, 503);
        for (let i = 0; i < 30; i++) assert.equal((await get(gw.port, `/web/${i}`)).status, 200);
        // Had the shutdown counted as the endpoint's failure, one of the three would get nothing now.
        assert.ok(hits.every((n) => n > 0), `requests per endpoint after the reload: ${hits.join(', ')}`);
      } finally {
        assert.equal(await gw.stop(), 0);
        await Promise.all(ups.map((u) => u.close()));
      }
    });
  });
}
