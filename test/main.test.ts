// Process-level behaviour (src/main.ts, src/cli.ts): admin endpoints, SIGTERM drain, the
// `validate` command, Gateway API manifests end to end, on both front ends.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { readSettings } from '../src/env';
import type { Logger } from '../src/log';
import { chooseFrontend } from '../src/main';
import { FRONTENDS, singleBackend, nativeConfig, startGateway, tempDir, writeConfig, type RunningGateway } from './helpers/gateway';
import { echoUpstream, httpUpstream, rawRequest, rawUpstream, request } from './helpers/servers';

/** The access log has a line for `path` with this status and error code. */
async function assertLogged(gw: RunningGateway, path: string, status: number, error: string): Promise<void> {
  const line = (await gw.accessLog((ls) => ls.some((l) => l.path === path))).find((l) => l.path === path);
  assert.ok(line, `${path} logged`);
  assert.equal(line.status, status);
  assert.equal(line.error, error);
}

/** GatewayClass `gatemesh` (ours) and Gateway `gw` with one HTTP listener on port 0; `addresses` is
 *  its `spec.addresses` line(s), or '' for none. */
function gatewayManifests(addresses: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: gatemesh }
spec: { controllerName: gatemesh.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  gatewayClassName: gatemesh
${addresses}  listeners:
    - { name: http, port: 0, protocol: HTTP }
`;
}

/** Service `app` (port 80, `extra` on its port) and its EndpointSlice: one ready endpoint 127.0.0.1:`port`. */
function appService(port: number, extra = ''): string {
  return `apiVersion: v1
kind: Service
metadata: { name: app, namespace: default }
spec:
  ports: [{ name: http, port: 80${extra ? ', ' + extra : ''} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: app-1
  namespace: default
  labels: { kubernetes.io/service-name: app }
addressType: IPv4
ports: [{ name: http, port: ${port} }]
endpoints:
  - addresses: [127.0.0.1]
`;
}

const BIN = path.resolve(__dirname, '../../bin/gatemesh.js');

describe('gatemesh validate', () => {
  it('exits 0 for a valid config', () => {
    const file = writeConfig(nativeConfig('routes:\n  - name: r\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:1"]\n'));
    const r = spawnSync(process.execPath, [BIN, 'validate', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
  it('exits 1 naming file, line and field', () => {
    const file = writeConfig(nativeConfig('routes:\n  - name: r\n    backend: b\n    wieght: 3\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:1"]\n'));
    const r = spawnSync(process.execPath, [BIN, 'validate', file], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:8: .*wieght`));
  });
  it('refuses to start on a bad config with the same message', () => {
    const file = writeConfig('listeners: [{ name: web, port: 99999 }]\n');
    const r = spawnSync(process.execPath, [BIN, '--config', file], { encoding: 'utf8', env: { ...process.env, GATEMESH_ADMIN_ADDR: '127.0.0.1:0' } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /:1: .*port/);
  });
});

for (const fe of FRONTENDS) {
  describe(`process lifecycle [${fe}]`, () => {
    it('an admin address already in use: exit 1 with the reason, listeners closed cleanly (no abort)', async () => {
      const taken = net.createServer();
      await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
      try {
        const port = (taken.address() as net.AddressInfo).port;
        const file = writeConfig(nativeConfig('routes:\n  - name: r\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:1"]\n'));
        const r = spawnSync(process.execPath, [BIN, '--config', file], {
          encoding: 'utf8',
          timeout: 20000,
          env: { ...process.env, GATEMESH_FRONTEND: fe, GATEMESH_THREADS: '2', GATEMESH_ADMIN_ADDR: `127.0.0.1:${port}` },
        });
        assert.equal(r.signal, null, r.stderr);
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /EADDRINUSE/);
        assert.doesNotMatch(r.stderr, /Assertion failed|open handles/);
      } finally {
        taken.close();
      }
    });
    it('admin /live, /ready, /config and /stats', async () => {
      const echo = await echoUpstream();
      const gw = await startGateway(fe, singleBackend(echo.port));
      try {
        assert.equal((await request(gw.adminPort, { path: '/live' })).status, 200);
        assert.equal((await request(gw.adminPort, { path: '/ready' })).status, 200);
        const cfg = JSON.parse((await request(gw.adminPort, { path: '/config' })).body);
        assert.equal(cfg.frontend, fe);
        assert.equal(cfg.listeners[0].port, gw.port);
        assert.equal(cfg.config.listeners[0].routes[0].name, 'r');
        await request(gw.port, { path: '/x' });
        // The worker counts a request just after its last byte is written: poll briefly.
        let stats = { requests: 0 };
        for (let i = 0; i < 50 && stats.requests < 1; i++) {
          stats = JSON.parse((await request(gw.adminPort, { path: '/stats' })).body);
          if (stats.requests < 1) await new Promise((r) => setTimeout(r, 20));
        }
        assert.ok(stats.requests >= 1);
      } finally {
        await gw.stop();
        await echo.close();
      }
    });

    it('SIGTERM lets an in-flight request finish, then exits 0', async () => {
      const up = await httpUpstream((_req, res) => setTimeout(() => res.end('finished'), 700));
      const gw = await startGateway(fe, singleBackend(up.port), {
        GATEMESH_DRAIN_TIMEOUT_MS: '5000',
      });
      try {
        const pending = request(gw.port, { path: '/slow' });
        await new Promise((r) => setTimeout(r, 200));
        const exit = gw.stop();
        const r = await pending;
        assert.equal(r.status, 200);
        assert.equal(r.body, 'finished');
        assert.equal(await exit, 0);
        // No longer accepting.
        const refused = await new Promise<boolean>((resolve) => {
          const s = net.connect(gw.port, '127.0.0.1');
          s.on('error', () => resolve(true));
          s.on('connect', () => {
            s.destroy();
            resolve(false);
          });
        });
        assert.equal(refused, true);
      } finally {
        await up.close();
      }
    });

    it('SIGTERM with a request that outlasts GATEMESH_DRAIN_TIMEOUT_MS: /ready 503 while draining, the request answered 503 GATEMESH_ERR_DRAINING, exit 0 when the timeout runs out', async () => {
      // An upstream that reads the request and never answers (GATEMESH_UPSTREAM_TIMEOUT_MS, 30 s by
      // default, is far beyond this test, so only the drain timeout can end the request).
      const up = await rawUpstream(() => {});
      const drainMs = 1500;
      const gw = await startGateway(fe, singleBackend(up.port), {
        GATEMESH_DRAIN_TIMEOUT_MS: String(drainMs),
      });
      try {
        const pending = request(gw.port, { path: '/never' }).then(
          (r) => `answered ${r.status} ${r.headers['x-gatemesh-error']} ${r.headers.connection}: ${r.body}`,
          (err: Error) => err.message,
        );
        for (let i = 0; i < 100 && !(up.received[0] ?? '').includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 20));
        assert.match(up.received[0] ?? '', /^GET \/never /, 'the request is in flight at the upstream');
        const sent = Date.now();
        const exit = gw.stop();
        let ready = await request(gw.adminPort, { path: '/ready' });
        for (let i = 0; i < 50 && ready.status === 200; i++) {
          await new Promise((r) => setTimeout(r, 20));
          ready = await request(gw.adminPort, { path: '/ready' });
        }
        assert.equal(ready.status, 503);
        assert.equal(ready.body, 'draining\n');
        assert.equal(await exit, 0);
        const took = Date.now() - sent;
        // Bounds on correctness, not speed: it waited for the request (the drain timer starts after
        // the signal arrives, so never earlier than drainMs, less timer rounding) and then stopped
        // waiting for an upstream that would never answer (generous margin for a loaded machine).
        assert.ok(took >= drainMs - 50, `exited ${took} ms after SIGTERM, before the ${drainMs} ms drain timeout`);
        assert.ok(took < drainMs + 5000, `exited ${took} ms after SIGTERM, drain timeout ${drainMs} ms`);
        // The client is not left hanging, nor cut without a word: still waiting for its response head,
        // it gets a 503 saying why (it was not served and may retry), and the access log says so too.
        assert.equal(await pending, 'answered 503 GATEMESH_ERR_DRAINING close: gateway is shutting down: drain timeout reached\n');
        await assertLogged(gw, '/never', 503, 'GATEMESH_ERR_DRAINING');
      } finally {
        await up.close();
      }
    });

    it('SIGTERM while a response is streaming past GATEMESH_DRAIN_TIMEOUT_MS: the client connection is cut (the body is incomplete) and the access log says GATEMESH_ERR_DRAINING', async () => {
      // The upstream sends a head announcing 1,000 bytes and 10 of them, then nothing more.
      const up = await rawUpstream((sock) => sock.once('data', () => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789')));
      const gw = await startGateway(fe, singleBackend(up.port), {
        GATEMESH_DRAIN_TIMEOUT_MS: '500',
      });
      try {
        let got = '';
        const ended = new Promise<string>((resolve) => {
          const sock = net.connect(gw.port, '127.0.0.1', () => sock.write('GET /streaming HTTP/1.1\r\nHost: h\r\n\r\n'));
          sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
          sock.on('error', () => {});
          sock.on('close', () => resolve(got));
        });
        for (let i = 0; i < 100 && !got.endsWith('0123456789'); i++) await new Promise((r) => setTimeout(r, 20));
        assert.match(got, /^HTTP\/1\.1 200 .*0123456789$/s, 'the head and the first bytes reached the client');
        assert.equal(await gw.stop(), 0);
        // Closed with 10 of the 1,000 announced bytes: the client can tell the body is incomplete.
        assert.match(await ended, /\r\n\r\n0123456789$/);
        await assertLogged(gw, '/streaming', 200, 'GATEMESH_ERR_DRAINING');
      } finally {
        await up.close();
      }
    });

    it('a Gateway without spec.addresses binds all interfaces', async () => {
      const echo = await echoUpstream();
      // An address of this machine other than 127.0.0.1: a socket bound to 127.0.0.1 refuses it,
      // one bound to all interfaces accepts it. Without a non-loopback interface, Linux still
      // routes all of 127.0.0.0/8 to lo.
      const other =
        Object.values(os.networkInterfaces())
          .flat()
          .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address ?? (process.platform === 'linux' ? '127.0.0.2' : undefined);
      assert.ok(other !== undefined, 'this machine has an IPv4 address other than 127.0.0.1');
      const manifests = (addresses: string): string => `${gatewayManifests(addresses)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - backendRefs: [{ name: app, port: 80 }]
---
${appService(echo.port)}`;
      /** GET / through `host`: the status, or 0 when the connection is refused. */
      const statusVia = (host: string, port: number): Promise<number> =>
        new Promise((resolve) => {
          http
            .get({ host, port, path: '/', agent: false }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            })
            .on('error', () => resolve(0));
        });
      try {
        const all = await startGateway(fe, manifests(''));
        try {
          const cfg = JSON.parse((await request(all.adminPort, { path: '/config' })).body);
          assert.equal(cfg.listeners[0].address, '0.0.0.0');
          assert.equal(await statusVia('127.0.0.1', all.port), 200);
          assert.equal(await statusVia(other, all.port), 200);
        } finally {
          await all.stop();
        }
        // The same Gateway with an address: bound there only, so the check above can tell.
        const one = await startGateway(fe, manifests('  addresses: [{ type: IPAddress, value: 127.0.0.1 }]\n'));
        try {
          assert.equal(await statusVia('127.0.0.1', one.port), 200);
          assert.equal(await statusVia(other, one.port), 0);
        } finally {
          await one.stop();
        }
      } finally {
        await echo.close();
      }
    });

    it('serves Gateway API manifests with EndpointSlice addresses', async () => {
      const echo = await echoUpstream();
      const dir = tempDir();
      fs.writeFileSync(
        path.join(dir, 'gateway.yaml'),
        gatewayManifests('  addresses: [{ type: IPAddress, value: 127.0.0.1 }]\n'),
      );
      fs.writeFileSync(
        path.join(dir, 'app.yaml'),
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  hostnames: [app.example.com]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /api } }]
      backendRefs: [{ name: app, port: 80 }]
    - matches: [{ path: { type: Exact, value: /gone } }]
      backendRefs: [{ name: nothing, port: 80 }]
---
${appService(echo.port, 'targetPort: 8080')}`,
      );
      const gw = await startGateway(fe, '', {}, dir);
      try {
        const ok = await request(gw.port, { path: '/api/x', headers: { host: 'app.example.com' } });
        assert.equal(ok.status, 200);
        assert.equal(JSON.parse(ok.body).url, '/api/x');
        assert.equal((await request(gw.port, { path: '/api/x', headers: { host: 'other.example.com' } })).status, 404);
        assert.equal((await request(gw.port, { path: '/gone', headers: { host: 'app.example.com' } })).status, 500);
      } finally {
        await gw.stop();
        await echo.close();
      }
    });
  });
}

describe('worker threads [uws]', () => {
  it('two threads share one port and the shared counters see both', async () => {
    const echo = await echoUpstream();
    const gw = await startGateway('uws', singleBackend(echo.port), {
      GATEMESH_THREADS: '2',
    });
    try {
      const cfg = JSON.parse((await request(gw.adminPort, { path: '/config' })).body);
      assert.equal(cfg.threads, 2);
      const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => request(gw.port, { path: `/t${i}` })));
      assert.ok(rs.every((r) => r.status === 200));
      let stats = { requests: 0 };
      for (let i = 0; i < 50 && stats.requests < 40; i++) {
        stats = JSON.parse((await request(gw.adminPort, { path: '/stats' })).body);
        if (stats.requests < 40) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(stats.requests, 40);
    } finally {
      assert.equal(await gw.stop(), 0);
      await echo.close();
    }
  });
});

describe('HTTP/1.0 clients [native-free]', () => {
  it('never get chunked: the body is close-delimited', async () => {
    const up = await httpUpstream((_req, res) => {
      res.write('part1-');
      res.end('part2');
    });
    const gw = await startGateway('native-free', singleBackend(up.port));
    try {
      const r = await rawRequest(gw.port, 'GET / HTTP/1.0\r\n\r\n', 800);
      assert.equal(r.status, 200);
      assert.equal(r.headers['transfer-encoding'], undefined);
      assert.equal(r.body, 'part1-part2');
      assert.equal(r.closed, true);
    } finally {
      await gw.stop();
      await up.close();
    }
  });
});

/** A logger that keeps its warn and info lines. */
function keptLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = { warn: (m: string) => lines.push('warn ' + m), info: (m: string) => lines.push('info ' + m) } as unknown as Logger;
  return { log, lines };
}

describe('chooseFrontend', () => {
  const loads = (): null => null;
  const missing = (): string => 'no native binary for this Node';

  it('auto: uws when it loads and nothing asks for more', () => {
    const { log, lines } = keptLog();
    assert.equal(chooseFrontend(readSettings({}), log, loads), 'uws');
    assert.deepEqual(lines, []);
  });

  it('auto: native-free, with one line naming the variables, when a timeout or connection limit needs it', () => {
    const { log, lines } = keptLog();
    assert.equal(chooseFrontend(readSettings({ GATEMESH_IDLE_TIMEOUT_MS: '2000', GATEMESH_MAX_CONNECTIONS: '5' }), log, loads), 'native-free');
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^info front end native-free: GATEMESH_IDLE_TIMEOUT_MS=2000, GATEMESH_MAX_CONNECTIONS=5/);
  });

  it('uws asked for by name stays uws and warns that those settings do not apply', () => {
    const { log, lines } = keptLog();
    assert.equal(chooseFrontend(readSettings({ GATEMESH_FRONTEND: 'uws', GATEMESH_HEADERS_TIMEOUT_MS: '500' }), log, loads), 'uws');
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^warn GATEMESH_FRONTEND=uws does not apply GATEMESH_HEADERS_TIMEOUT_MS=500/);
  });

  it('native-free by name, or uws missing under auto; uws by name when missing is an error', () => {
    const { log, lines } = keptLog();
    assert.equal(chooseFrontend(readSettings({ GATEMESH_FRONTEND: 'native-free' }), log, loads), 'native-free');
    assert.equal(chooseFrontend(readSettings({}), log, missing), 'native-free');
    assert.match(lines[0], /front end native-free: no native binary/);
    assert.throws(() => chooseFrontend(readSettings({ GATEMESH_FRONTEND: 'uws' }), log, missing), /GATEMESH_FRONTEND=uws but no native binary/);
  });
});

describe('GATEMESH_FRONTEND=auto honours explicit connection settings (the binary)', () => {
  const frontendOf = async (adminPort: number): Promise<string> => JSON.parse((await request(adminPort, { path: '/config' })).body).frontend;
  /** The binary under GATEMESH_FRONTEND=auto with `env`, in front of an echo upstream, for `body`. */
  const underAuto = async (env: Record<string, string>, body: (gw: RunningGateway) => Promise<void>): Promise<void> => {
    const echo = await echoUpstream();
    const gw = await startGateway('uws', singleBackend(echo.port), { GATEMESH_FRONTEND: 'auto', ...env });
    try {
      await body(gw);
    } finally {
      await gw.stop();
      await echo.close();
    }
  };

  it('unset: uws', async () => {
    await underAuto({}, async (gw) => {
      assert.equal(await frontendOf(gw.adminPort), 'uws');
    });
  });

  it('GATEMESH_IDLE_TIMEOUT_MS=300: an idle keep-alive connection is closed after ~300 ms, not uWS\'s 10 s', async () => {
    await underAuto({ GATEMESH_IDLE_TIMEOUT_MS: '300' }, async (gw) => {
      assert.equal(await frontendOf(gw.adminPort), 'native-free');
      assert.match(gw.stderr(), /front end native-free: GATEMESH_IDLE_TIMEOUT_MS=300/);
      const s = net.connect(gw.port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => (got += d.toString('latin1')));
      const closed = new Promise<number>((r) => s.on('close', () => r(Date.now())));
      s.write('GET /x HTTP/1.1\r\nHost: h\r\n\r\n');
      const start = Date.now();
      const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
      s.destroy();
      assert.match(got, /^HTTP\/1\.1 200/);
      assert.ok(at > 0 && at - start < 3000, `closed after ${at < 0 ? '>5000' : at - start} ms`);
    });
  });

  it('GATEMESH_MAX_CONNECTIONS=1: a second connection is refused while the first is open', async () => {
    await underAuto({ GATEMESH_MAX_CONNECTIONS: '1' }, async (gw) => {
      assert.equal(await frontendOf(gw.adminPort), 'native-free');
      const first = net.connect(gw.port, '127.0.0.1');
      await new Promise<void>((r) => first.once('connect', () => r()));
      let firstGot = '';
      first.on('data', (d) => (firstGot += d.toString('latin1')));
      first.write('GET /x HTTP/1.1\r\nHost: h\r\n\r\n');
      for (let i = 0; i < 100 && !firstGot.includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(firstGot, /^HTTP\/1\.1 200/);
      const second = await rawRequest(gw.port, 'GET /x HTTP/1.1\r\nHost: h\r\n\r\n', 1000);
      assert.equal(second.status, 0, 'no response on the second connection');
      assert.ok(second.closed, 'the second connection is closed');
      first.destroy();
    });
  });

  // The real loader (src/frontend/uws.ts loadUws), not a stub: a preload makes this Node unable to load
  // the addon, as on a Node version the package has no binary for, and makes the package's own entry
  // point (whose loader would fall back to its slow JS imitation) throw if anything requires it.
  const withoutAddon = (): Record<string, string> => {
    const preload = path.join(tempDir(), 'no-uws-addon.js');
    fs.writeFileSync(
      preload,
      `const Module = require('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  if (/uWebSockets\\.js\\/binaries\\/.*\\.node$/.test(request)) throw new Error('no binary for this Node (test)');
  if (request === 'uWebSockets.js') throw new Error('the package entry point (its JS fallback) was required');
  return load.call(this, request, ...rest);
};
`,
    );
    return { NODE_OPTIONS: `--require ${preload}` };
  };

  it('the native addon does not load: auto serves on native-free, saying why in one line, and never loads the JS fallback', async () => {
    await underAuto(withoutAddon(), async (gw) => {
      assert.equal(await frontendOf(gw.adminPort), 'native-free');
      const lines = gw.stderr().split('\n').filter((l) => l.includes('front end native-free'));
      assert.equal(lines.length, 1, gw.stderr());
      assert.match(lines[0], /native uWebSockets\.js addon uWebSockets\.js\/binaries\/uws_.*\.node did not load on Node v.*no binary for this Node \(test\).*the package's JS fallback is never used/);
      assert.equal((await request(gw.port, { path: '/x' })).status, 200);
      assert.doesNotMatch(gw.stderr(), /JS fallback\) was required/);
    });
  });

  it('the native addon does not load and GATEMESH_FRONTEND=uws: it refuses to start, saying why', () => {
    const r = spawnSync(process.execPath, [BIN, '--config', writeConfig(singleBackend(1))], {
      encoding: 'utf8',
      timeout: 15000,
      env: { ...process.env, ...withoutAddon(), GATEMESH_FRONTEND: 'uws', GATEMESH_ADMIN_ADDR: '127.0.0.1:0' },
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /GATEMESH_FRONTEND=uws but native uWebSockets\.js addon .* did not load/);
  });
});
