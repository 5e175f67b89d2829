// The binary as `npm start` and the environment drive it (src/cli.ts, src/main.ts, src/log.ts):
// the embedded default config, GATEMESH_CONFIG, GATEMESH_ACCESS_LOG=off, GATEMESH_LOG_LEVEL, and
// GATEMESH_MAX_CONNECTIONS on uws. test/helpers/gateway.ts always passes --config and drops
// stdout, so these tests start the process themselves.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FRONTENDS, singleBackend, nativeConfig, startGateway, tempDir, writeConfig } from './helpers/gateway';
import { echoUpstream, httpUpstream, request } from './helpers/servers';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/gatemesh.js');

interface Launched {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then the exit code (-9: killed after 10 s without exiting). */
  stop(): Promise<number | null>;
}

/**
 * `node <args>` in `cwd` with the test runner's environment minus every GATEMESH_* variable (so
 * nothing set outside leaks in: GATEMESH_CONFIG above all), plus one thread, an admin port of the
 * kernel's choosing, and `env`.
 */
function launch(args: string[], env: Record<string, string>, cwd = ROOT): Launched {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GATEMESH_')));
  const proc = spawn(process.execPath, args, {
    cwd,
    env: { ...base, GATEMESH_THREADS: '1', GATEMESH_ADMIN_ADDR: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  // 'close', not 'exit': by then stdout and stderr have been read to the end.
  const exited = new Promise<number | null>((r) => proc.once('close', (code) => r(code)));
  let stopping: Promise<number | null> | null = null;
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    stop() {
      if (stopping) return stopping;
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
      stopping = exited.then((code) => {
        clearTimeout(timer);
        return code ?? -9;
      });
      return stopping;
    },
  };
}

/** Runs `body`, then stops `p` and expects exit 0; a failure in `body` is the one reported. */
async function whileRunning<T>(p: Launched, body: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await body();
  } catch (err) {
    await p.stop();
    throw err;
  }
  assert.equal(await p.stop(), 0, p.stderr());
  return result;
}

/** The "gatemesh listening" start-up line (info level), once the process has written it. */
async function listening(p: Launched): Promise<{ listeners: { address: string; port: number }[]; adminPort: number }> {
  for (let i = 0; i < 300; i++) {
    const line = p.stderr().split('\n').find((l) => l.includes('"gatemesh listening"'));
    if (line !== undefined) {
      const rec = JSON.parse(line) as { listeners: { address: string; port: number }[]; admin: string };
      return { listeners: rec.listeners, adminPort: Number(rec.admin.split(':').pop()) };
    }
    if (p.proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gatemesh did not start in 15 s:\n${p.stderr()}`);
}

/** The operational log's lines (pino JSON on stderr). */
function logRecords(stderr: string): { level: number; msg: string }[] {
  return stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string });
}

/** A port nothing listens on now (bound, then closed). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** An upstream answering every request with `text`. */
const textUpstream = (text: string) => httpUpstream((_req, res) => res.end(text));


describe('npm start: no --config and no GATEMESH_CONFIG', () => {
  // package.json's start script, as npm would run it from the repo root (its prestart only builds).
  const start = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(' ');
  // Port 8080 is fixed by examples/gatemesh.yaml (no other test binds it); the front ends run one
  // after the other, as node:test runs the tests of a file.
  for (const fe of FRONTENDS) {
    it(`[${fe}] serves examples/gatemesh.yaml: port 8080 on all interfaces → the built-in demo upstream`, async () => {
      assert.equal(start[0], 'node');
      const gm = launch(start.slice(1), { GATEMESH_FRONTEND: fe, GATEMESH_ACCESS_LOG: 'off' });
      await whileRunning(gm, async () => {
        const { listeners, adminPort } = await listening(gm);
        assert.deepEqual(listeners, [{ address: '0.0.0.0', port: 8080 }]);
        const hello = await request(8080, { path: '/' });
        assert.equal(hello.status, 200);
        assert.match(hello.body, /^Hello from the gatemesh demo upstream\./);
        // Any other path: the demo's JSON echo of what the gateway forwarded.
        const echo = await request(8080, { path: '/echo?x=1' });
        assert.equal(echo.status, 200);
        const seen = JSON.parse(echo.body) as { url: string; headers: Record<string, string> };
        assert.equal(seen.url, '/echo?x=1');
        assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
        const cfg = JSON.parse((await request(adminPort, { path: '/config' })).body) as { frontend: string; config: { listeners: { name: string; routes: { name: string }[] }[] } };
        assert.equal(cfg.frontend, fe);
        assert.deepEqual(cfg.config.listeners.map((l) => [l.name, l.routes.map((r) => r.name)]), [['web', ['default']]]);
      });
    });
  }
});

for (const fe of FRONTENDS) {
  describe(`GATEMESH_CONFIG [${fe}]`, () => {
    it('selects the config file when no --config is given; --config wins over it', async () => {
      const a = await textUpstream('from A');
      const b = await textUpstream('from B');
      const fileA = writeConfig(singleBackend(a.port));
      const fileB = writeConfig(singleBackend(b.port));
      try {
        const byEnv = launch([BIN], { GATEMESH_FRONTEND: fe, GATEMESH_CONFIG: fileA, GATEMESH_ACCESS_LOG: 'off' });
        await whileRunning(byEnv, async () => {
          const { listeners } = await listening(byEnv);
          assert.deepEqual(listeners.map((l) => l.address), ['127.0.0.1']);
          const r = await request(listeners[0].port, { path: '/' });
          assert.equal(r.status, 200);
          assert.equal(r.body, 'from A');
        });
        const byFlag = launch([BIN, '--config', fileB], { GATEMESH_FRONTEND: fe, GATEMESH_CONFIG: fileA, GATEMESH_ACCESS_LOG: 'off' });
        await whileRunning(byFlag, async () => {
          const { listeners } = await listening(byFlag);
          const r = await request(listeners[0].port, { path: '/' });
          assert.equal(r.status, 200);
          assert.equal(r.body, 'from B');
        });
      } finally {
        await a.close();
        await b.close();
      }
    });
  });

  describe(`GATEMESH_ACCESS_LOG and GATEMESH_LOG_LEVEL [${fe}]`, () => {
    /** Runs the binary in an empty working directory with `env`, sends `/logged` and `/none` (404), stops it. */
    const serveTwo = async (env: Record<string, string>): Promise<{ out: string; err: string; cwdFiles: string[] }> => {
      const up = await echoUpstream();
      const cwd = tempDir();
      const file = writeConfig(nativeConfig(`routes:\n  - name: r\n    match:\n      - path: /logged\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:${up.port}"]\n`));
      const gm = launch([BIN, '--config', file], { GATEMESH_FRONTEND: fe, ...env }, cwd);
      try {
        // Stopping flushes the access log (src/worker.ts 'close').
        await whileRunning(gm, async () => {
          const { listeners } = await listening(gm);
          assert.equal((await request(listeners[0].port, { path: '/logged' })).status, 200);
          assert.equal((await request(listeners[0].port, { path: '/none' })).status, 404);
        });
      } finally {
        await up.close();
      }
      return { out: gm.stdout(), err: gm.stderr(), cwdFiles: fs.readdirSync(cwd) };
    };

    it('on: one JSON line per request on stdout; off: requests served, no line on stdout, stderr or in a file', async () => {
      const on = await serveTwo({ GATEMESH_ACCESS_LOG: 'on' });
      const lines = on.out.trim().split('\n').map((l) => JSON.parse(l) as { path: string; status: number });
      assert.deepEqual(lines.map((l) => [l.path, l.status]), [['/logged', 200], ['/none', 404]]);

      const off = await serveTwo({ GATEMESH_ACCESS_LOG: 'off' });
      assert.equal(off.out, '');
      assert.doesNotMatch(off.err, /"path":"\/(logged|none)"/);
      // Not taken for a file name ("off" in the working directory) either.
      assert.deepEqual(off.cwdFiles, []);
    });

    it('GATEMESH_LOG_LEVEL=warn drops the info start-up and drain lines that info shows, keeps warnings', async () => {
      // A route to a backend that does not exist: a config warning at start-up (src/config/native.ts).
      const config = nativeConfig(
        `routes:\n  - name: ghost\n    match:\n      - pathExact: /ghost\n    backend: ghost\n  - name: r\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:1"]\n`,
      );
      const file = writeConfig(config);
      const warning = /no backend named "ghost"/;

      const info = launch([BIN, '--config', file], { GATEMESH_FRONTEND: fe, GATEMESH_ACCESS_LOG: 'off', GATEMESH_LOG_LEVEL: 'info' });
      await whileRunning(info, () => listening(info));
      const shown = logRecords(info.stderr());
      assert.ok(shown.some((r) => r.level === 40 && warning.test(r.msg)), info.stderr());
      const infoLines = shown.filter((r) => r.level === 30).map((r) => r.msg);
      assert.ok(infoLines.includes('gatemesh listening') && infoLines.includes('draining'), info.stderr());

      // Without the info line the admin port cannot be learnt from the log: it is chosen here (again
      // if another process took it between freePort and the bind).
      let warn: Launched;
      let adminPort: number;
      let ready = 0;
      let attempts = 0;
      do {
        adminPort = await freePort();
        warn = launch([BIN, '--config', file], { GATEMESH_FRONTEND: fe, GATEMESH_ACCESS_LOG: 'off', GATEMESH_LOG_LEVEL: 'warn', GATEMESH_ADMIN_ADDR: `127.0.0.1:${adminPort}` });
        for (let i = 0; i < 300 && ready !== 200 && warn.proc.exitCode === null; i++) {
          ready = await request(adminPort, { path: '/ready' }).then((r) => r.status, () => 0);
          if (ready !== 200) await new Promise((r) => setTimeout(r, 50));
        }
      } while (ready !== 200 && ++attempts < 5 && (await warn.stop()) === 1 && /EADDRINUSE/.test(warn.stderr()));
      await whileRunning(warn, async () => {
        assert.equal(ready, 200, warn.stderr());
        const cfg = JSON.parse((await request(adminPort, { path: '/config' })).body) as { listeners: { port: number }[] };
        assert.equal((await request(cfg.listeners[0].port, { path: '/ghost' })).status, 500);
      });
      const kept = logRecords(warn.stderr());
      assert.ok(kept.some((r) => r.level === 40 && warning.test(r.msg)), warn.stderr());
      assert.deepEqual(kept.filter((r) => r.level < 40), []);
    });
  });
}

describe('GATEMESH_MAX_CONNECTIONS with GATEMESH_FRONTEND=uws', () => {
  it('limits requests in flight per listener: one more gets 503; idle connections do not count', async () => {
    // Requests to /hold wait until released; anything else is answered at once.
    const held: http.ServerResponse[] = [];
    const up = await httpUpstream((req, res) => (req.url === '/hold' ? held.push(res) : res.end('quick')));
    // startGateway sets GATEMESH_FRONTEND=uws itself.
    const gw = await startGateway('uws', singleBackend(up.port), { GATEMESH_MAX_CONNECTIONS: '2' });
    const idle = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      assert.equal(JSON.parse((await request(gw.adminPort, { path: '/config' })).body).frontend, 'uws');
      assert.match(gw.stderr(), /GATEMESH_FRONTEND=uws does not apply GATEMESH_MAX_CONNECTIONS=2/);
      const codes = new Map<string, string | undefined>();
      const get = (p: string, agent: http.Agent | false = false): Promise<{ status: number; body: string }> =>
        new Promise((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port: gw.port, path: p, agent }, (res) => {
              codes.set(p, res.headers['x-gatemesh-error'] as string | undefined);
              let body = '';
              res.on('data', (c: Buffer) => (body += c.toString()));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
            })
            .on('error', reject);
        });
      // A keep-alive connection left open and idle: with a connection limit of 2 it would take a slot.
      assert.equal((await get('/first', idle)).status, 200);
      const first = get('/hold');
      const second = get('/hold');
      for (let i = 0; i < 100 && held.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(held.length, 2, 'both held requests reached the upstream');
      // Two refused: had each kept its slot, the requests below would be refused too.
      for (const p of ['/third', '/fourth']) assert.deepEqual(await get(p), { status: 503, body: 'connection limit reached\n' });
      // An answer of gatemesh's own, like every other: its code in x-gatemesh-error and in the access log.
      for (const p of ['/third', '/fourth']) assert.equal(codes.get(p), 'GATEMESH_ERR_CONNECTION_LIMIT', p);
      const log = await gw.accessLog((ls) => ls.filter((l) => l.path === '/third' || l.path === '/fourth').length === 2);
      for (const p of ['/third', '/fourth']) {
        const line = log.find((l) => l.path === p);
        assert.ok(line, `${p} logged`);
        assert.equal(line.status, 503);
        assert.equal(line.error, 'GATEMESH_ERR_CONNECTION_LIMIT');
      }
      for (const res of held) res.end('released');
      assert.deepEqual(await Promise.all([first, second]), [{ status: 200, body: 'released' }, { status: 200, body: 'released' }]);
      // The slots are free again and the idle connection still serves.
      assert.deepEqual(await get('/again', idle), { status: 200, body: 'quick' });
      assert.deepEqual(await get('/again'), { status: 200, body: 'quick' });
    } finally {
      idle.destroy();
      await gw.stop();
      await up.close();
    }
  });
});
