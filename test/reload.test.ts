// Hot reload end to end (src/reload/, src/main.ts, src/worker.ts), on both front ends: a changed
// config file is applied without a restart, a bad one is rejected while the old one serves,
// requests in flight finish where they started, listeners open and close one by one, SIGHUP,
// admin /config version + hash, /metrics, and no failed request while reloading under load.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, startGateway, tempDir, type RunningGateway } from './helpers/gateway';
import { adminConfig, adminStats, replaceFile, waitForLog, waitForVersion } from './helpers/reload';
import { httpUpstream, refused, request, type TestServer } from './helpers/servers';

/** A native config: listeners (name → port, 0 for any), routes (path prefix → backend a|b|slow). */
function config(listeners: Record<string, number>, routes: Record<string, string>, ports: Record<string, number>, extra = ''): string {
  let out = 'listeners:\n';
  for (const [name, port] of Object.entries(listeners)) out += `  - name: ${name}\n    port: ${port}\n    address: 127.0.0.1\n`;
  out += 'routes:\n';
  for (const [p, backend] of Object.entries(routes)) {
    const name = `r${p.replace(/[^a-z0-9]/gi, '') || 'root'}`;
    out += `  - name: ${name}\n    match: { path: ${p} }\n    backend: ${backend}\n`;
  }
  out += 'backends:\n';
  for (const [name, port] of Object.entries(ports)) out += `  - name: ${name}\n    endpoints: ["127.0.0.1:${port}"]\n`;
  return out + extra;
}

/** An upstream that answers `<name> <path>`; paths starting /slow wait `slowMs` first. */
function namedUpstream(name: string, slowMs = 0): ReturnType<typeof httpUpstream> {
  return httpUpstream((req, res) => {
    const reply = (): void => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${name} ${req.url}`);
    };
    if (slowMs > 0 && req.url!.startsWith('/slow')) setTimeout(reply, slowMs);
    else reply();
  });
}

function get(port: number, p: string, agent?: http.Agent): Promise<{ status: number; body: string; localPort: number }> {
  return new Promise<{ status: number; body: string; localPort: number }>((resolve, reject) => {
    let localPort = 0;
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, localPort }));
      res.on('error', reject);
    });
    req.on('socket', (s: net.Socket) => {
      const note = (): void => {
        localPort = s.localPort ?? 0;
      };
      if (s.localPort !== undefined) note();
      else s.once('connect', note);
    });
    req.on('error', reject);
  }).catch((err: Error) => {
    throw new Error(`GET :${port}${p}${agent ? ' (keep-alive)' : ''}: ${err.message}`);
  });
}

for (const fe of FRONTENDS) {
  describe(`hot reload [${fe}]`, () => {
    let a: TestServer;
    let b: TestServer;
    let ports: Record<string, number>;
    before(async () => {
      a = await namedUpstream('A', 600);
      b = await namedUpstream('B');
      ports = { a: a.port, b: b.port };
    });
    after(async () => {
      await a.close();
      await b.close();
    });

    it('applies an edited config file: a new route answers, a removed one 404s; /config version and hash change', async () => {
      const dir = tempDir();
      const file = path.join(dir, 'gatemesh.yaml');
      fs.writeFileSync(file, config({ web: 0 }, { '/one': 'a' }, ports));
      const gw = await startGateway(fe, '', {}, file);
      try {
        assert.equal((await get(gw.port, '/one/x')).body, 'A /one/x');
        assert.equal((await get(gw.port, '/two/x')).status, 404);
        const before = await adminConfig(gw);
        assert.equal(before.version, 1);
        assert.match(before.hash, /^[0-9a-f]{64}$/);

        replaceFile(file, config({ web: 0 }, { '/two': 'b' }, ports));
        const cfg = await waitForVersion(gw, 2);
        assert.notEqual(cfg.hash, before.hash);
        assert.equal((await get(gw.port, '/two/x')).body, 'B /two/x');
        assert.equal((await get(gw.port, '/one/x')).status, 404);
        // The listener kept its socket (same port, nothing rebound).
        assert.equal(cfg.listeners[0].port, gw.port);

        // Going back to the first config gives the first hash again (it names what is served).
        replaceFile(file, config({ web: 0 }, { '/one': 'a' }, ports));
        const back = await waitForVersion(gw, 3);
        assert.equal(back.hash, before.hash);
        const stats = await adminStats(gw);
        assert.equal(stats.reloadsApplied, 2);
        assert.equal(stats.reloadsRejected, 0);
        assert.equal(stats.configVersion, 3);
        assert.ok(stats.lastApplyMs > 0 && stats.lastApplyMs < 5000, String(stats.lastApplyMs));
      } finally {
        await gw.stop();
      }
    });

    it('rejects a config that does not validate with one log line naming file:line: field; the old one keeps serving', async () => {
      const dir = tempDir();
      const file = path.join(dir, 'gatemesh.yaml');
      const good = config({ web: 0 }, { '/one': 'a' }, ports);
      fs.writeFileSync(file, good);
      const gw = await startGateway(fe, '', {}, file);
      try {
        // A schema error in a backend added at the end.
        const bad = good + '  - name: broken\n    endpoints: 12\n';
        const badLine = bad.split('\n').indexOf('    endpoints: 12') + 1;
        replaceFile(file, bad);
        const line = await waitForLog(gw, /config reload rejected/);
        assert.ok(line.includes(`${file}:${badLine}: backends[2].endpoints:`), line);
        assert.match(line, /version 1 keeps serving/);
        assert.equal((await get(gw.port, '/one/x')).body, 'A /one/x');

        // A YAML syntax error, reported at its line.
        replaceFile(file, good + 'routes: [\n');
        for (let i = 0; i < 250 && (await adminStats(gw)).reloadsRejected < 2; i++) await new Promise((r) => setTimeout(r, 20));
        const lines = gw.stderr().split('\n').filter((l) => l.includes('config reload rejected'));
        assert.equal(lines.length, 2, gw.stderr());
        assert.ok(lines[1].includes(`${file}:`) && lines[1].includes('(yaml)'), lines[1]);

        const cfg = await adminConfig(gw);
        assert.equal(cfg.version, 1);
        const stats = await adminStats(gw);
        assert.equal(stats.reloadsRejected, 2);
        assert.equal(stats.reloadsApplied, 0);
        assert.equal((await get(gw.port, '/one/y')).body, 'A /one/y');

        // Fixing the file applies it.
        replaceFile(file, config({ web: 0 }, { '/one': 'b' }, ports));
        await waitForVersion(gw, 2);
        assert.equal((await get(gw.port, '/one/z')).body, 'B /one/z');
      } finally {
        await gw.stop();
      }
    });

    it('lets a request in flight finish on the backend it started with', async () => {
      const dir = tempDir();
      const file = path.join(dir, 'gatemesh.yaml');
      fs.writeFileSync(file, config({ web: 0 }, { '/slow': 'a' }, ports));
      const gw = await startGateway(fe, '', {}, file);
      try {
        const inflight = get(gw.port, '/slow/1'); // A answers after 600 ms
        await new Promise((r) => setTimeout(r, 100));
        replaceFile(file, config({ web: 0 }, { '/slow': 'b' }, ports));
        await waitForVersion(gw, 2);
        // Applied while the first request is still waiting on A.
        const fresh = await get(gw.port, '/slow/2');
        assert.equal(fresh.body, 'B /slow/2');
        const old = await inflight;
        assert.equal(old.status, 200);
        assert.equal(old.body, 'A /slow/1');
      } finally {
        await gw.stop();
      }
    });

    it('opens an added listener and drains a removed one, leaving the others and their connections alone', async () => {
      const dir = tempDir();
      const file = path.join(dir, 'gatemesh.yaml');
      fs.writeFileSync(file, config({ web: 0 }, { '/': 'a' }, ports));
      const gw = await startGateway(fe, '', { GATEMESH_DRAIN_TIMEOUT_MS: '5000' }, file);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await get(gw.port, '/x', agent);
        assert.equal(first.body, 'A /x');

        replaceFile(file, config({ web: 0, extra: 0 }, { '/': 'a' }, ports));
        const cfg = await waitForVersion(gw, 2);
        assert.equal(cfg.listeners.length, 2);
        assert.equal(cfg.listeners[0].port, gw.port);
        const extra = cfg.listeners.find((l) => l.names.includes('extra'))!;
        assert.ok(extra.port > 0 && extra.port !== gw.port);
        assert.equal((await get(extra.port, '/y')).body, 'A /y');
        // The unchanged listener's keep-alive connection survived the reload.
        const second = await get(gw.port, '/x2', agent);
        assert.equal(second.body, 'A /x2');
        assert.equal(second.localPort, first.localPort);

        // Remove `extra` while a request on it is in flight: it finishes, then the port closes.
        const inflight = get(extra.port, '/slow/on-extra');
        await new Promise((r) => setTimeout(r, 100));
        replaceFile(file, config({ web: 0 }, { '/': 'a' }, ports));
        await waitForVersion(gw, 3);
        assert.equal(await refused(extra.port), true);
        const done = await inflight;
        assert.equal(done.status, 200);
        assert.equal(done.body, 'A /slow/on-extra');
        await waitForLog(gw, /removed listener closed/);
        const third = await get(gw.port, '/x3', agent);
        assert.equal(third.body, 'A /x3');
        assert.equal(third.localPort, first.localPort);
        assert.equal((await adminConfig(gw)).listeners.length, 1);
      } finally {
        agent.destroy();
        await gw.stop();
      }
    });

    it('reloads on SIGHUP', async () => {
      // The config path is a symlink into another directory: editing the target is invisible to
      // the watch (it watches the link's directory), so only the signal can pick it up.
      const real = path.join(tempDir(), 'real.yaml');
      fs.writeFileSync(real, config({ web: 0 }, { '/one': 'a' }, ports));
      const link = path.join(tempDir(), 'gatemesh.yaml');
      fs.symlinkSync(real, link);
      const gw = await startGateway(fe, '', {}, link);
      try {
        fs.writeFileSync(real, config({ web: 0 }, { '/one': 'b' }, ports));
        await new Promise((r) => setTimeout(r, 300));
        assert.equal((await adminConfig(gw)).version, 1);
        gw.proc.kill('SIGHUP');
        await waitForVersion(gw, 2);
        assert.equal((await get(gw.port, '/one/x')).body, 'B /one/x');
        // SIGHUP with nothing changed applies nothing and says so.
        gw.proc.kill('SIGHUP');
        await waitForLog(gw, /config unchanged, nothing to apply/);
        assert.equal((await adminConfig(gw)).version, 2);
      } finally {
        await gw.stop();
      }
    });

    it('serves every request while the config is reloaded under load', async () => {
      const dir = tempDir();
      const file = path.join(dir, 'gatemesh.yaml');
      fs.writeFileSync(file, config({ web: 0 }, { '/hot': 'a' }, ports));
      const gw = await startGateway(fe, '', { GATEMESH_THREADS: '2' }, file);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      try {
        let stop = false;
        let ok = 0;
        const failures: string[] = [];
        const client = async (): Promise<void> => {
          // Bounded: at most 5,000 requests per client, and the reload loop below sets `stop`.
          for (let i = 0; i < 5000 && !stop; i++) {
            try {
              const r = await get(gw.port, '/hot/x', agent);
              if (r.status === 200 && (r.body === 'A /hot/x' || r.body === 'B /hot/x')) ok++;
              else failures.push(`${r.status} ${r.body}`);
            } catch (err) {
              failures.push(String(err));
            }
          }
        };
        const clients = Array.from({ length: 8 }, client);
        // 12 reloads, ~200 ms apart: /hot flips between two backends and other routes come and go.
        for (let v = 2; v <= 13; v++) {
          const routes: Record<string, string> = { '/hot': v % 2 === 0 ? 'b' : 'a' };
          for (let k = 0; k < v; k++) routes[`/cold${k}`] = 'a';
          replaceFile(file, config({ web: 0 }, routes, ports));
          await waitForVersion(gw, v);
          await new Promise((r) => setTimeout(r, 100));
        }
        stop = true;
        await Promise.all(clients);
        assert.deepEqual(failures, []);
        assert.ok(ok > 100, `only ${ok} requests completed`);
        assert.equal((await adminStats(gw)).reloadsApplied, 12);
      } finally {
        agent.destroy();
        await gw.stop();
      }
    });
  });
}

describe('admin /metrics', () => {
  it('exposes request and reload counters in the Prometheus text format', async () => {
    const up = await namedUpstream('A');
    const dir = tempDir();
    const file = path.join(dir, 'gatemesh.yaml');
    fs.writeFileSync(file, config({ web: 0 }, { '/one': 'a' }, { a: up.port }));
    const gw: RunningGateway = await startGateway(FRONTENDS[1], '', {}, file);
    try {
      await get(gw.port, '/one');
      await get(gw.port, '/nothing-here');
      replaceFile(file, config({ web: 0 }, { '/two': 'a' }, { a: up.port }));
      await waitForVersion(gw, 2);
      replaceFile(file, 'listeners: 7\n');
      await waitForLog(gw, /config reload rejected/);
      let text = '';
      for (let i = 0; i < 50; i++) {
        const r = await request(gw.adminPort, { path: '/metrics' });
        assert.equal(r.status, 200);
        assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
        text = r.body;
        if (/^gatemesh_requests_total 2$/m.test(text)) break;
        await new Promise((res) => setTimeout(res, 20));
      }
      // Every sample line is `name{labels} value`, and every family has HELP and TYPE first.
      const families = new Set<string>();
      for (const line of text.trim().split('\n')) {
        const help = /^# HELP (\w+) .+$/.exec(line);
        const type = /^# TYPE (\w+) (counter|gauge)$/.exec(line);
        if (help) families.add(help[1]);
        else if (type) assert.ok(families.has(type[1]), line);
        else assert.match(line, /^(\w+)(\{\w+="[^"]*"\})? -?[0-9.e+-]+$/, line);
      }
      assert.match(text, /^gatemesh_requests_total 2$/m);
      assert.match(text, /^gatemesh_errors_total 1$/m);
      assert.match(text, /^gatemesh_config_reloads_total\{result="applied"\} 1$/m);
      assert.match(text, /^gatemesh_config_reloads_total\{result="rejected"\} 1$/m);
      const apply = /^gatemesh_config_apply_seconds ([0-9.e-]+)$/m.exec(text);
      assert.ok(apply && Number(apply[1]) > 0 && Number(apply[1]) < 5, text);
    } finally {
      await gw.stop();
      await up.close();
    }
  });
});
