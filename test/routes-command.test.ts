// `gatemesh routes` (src/routes-command.ts) through the real binary, and the admin /routes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nativeConfig, startGateway, writeConfig } from './helpers/gateway';
import { request } from './helpers/servers';
import { parseTestRequest } from '../src/routes-command';

const BIN = path.resolve(__dirname, '../../bin/gatemesh.js');

const CONFIG = `listeners:
  - name: web
    port: 8080
    address: 127.0.0.1
  - name: admin-api
    port: 9090
    address: 127.0.0.1
routes:
  - name: api
    listeners: [web]
    hostnames: [api.example.com]
    match:
      - path: /api
        headers: { x-env: canary }
    backends: [{ name: canary, weight: 1 }, { name: stable, weight: 9 }]
    timeouts: { request: 5s, backendRequest: 1s }
    retry: { attempts: 2, codes: [502, 503], backoff: 100ms }
  - name: api-stable
    listeners: [web]
    hostnames: [api.example.com]
    match: { path: /api }
    backend: stable
  - name: health
    listeners: [web, admin-api]
    match: { pathExact: /healthz, method: GET }
    backend: stable
backends:
  - name: canary
    endpoints: ["127.0.0.1:3001"]
  - name: stable
    endpoints: ["127.0.0.1:3002"]
`;

function gatemesh(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, GATEMESH_CONFIG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('gatemesh routes', () => {
  const file = writeConfig(CONFIG);

  it('prints the compiled table per listener port, in lookup order', () => {
    const r = gatemesh(['routes', '--config', file]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'listener web (127.0.0.1:8080)');
    assert.match(lines[1], /^ {2}# {2}HOSTNAME +MATCH +RULE +BACKENDS +POLICY$/);
    assert.match(lines[2], /^ {2}1 {2}api\.example\.com +PathPrefix \/api header x-env=canary +api\/rule0 +canary=1 stable=9 +request=5s backendRequest=1s retry=2x\[502,503\]\/100ms$/);
    assert.match(lines[3], /^ {2}2 {2}api\.example\.com +PathPrefix \/api +api-stable\/rule0 +stable=1 +-$/);
    assert.match(lines[4], /^ {2}3 {2}\* +Exact \/healthz method=GET +health\/rule0 +stable=1/);
    assert.ok(r.stdout.includes('listener admin-api (127.0.0.1:9090)'));
  });

  it('--json gives the same table as data', () => {
    const r = gatemesh(['routes', '--config', file, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepStrictEqual(report.map((p: { port: number; routes: unknown[] }) => [p.port, p.routes.length]), [[8080, 3], [9090, 1]]);
    assert.deepStrictEqual(report[0].routes[0].backends, [{ backend: 'canary', weight: 1 }, { backend: 'stable', weight: 9 }]);
  });

  it('--test names the winning rule and why', () => {
    const r = gatemesh(['routes', '--config', file, '--test', 'GET http://api.example.com:8080/api/v1?q=1', '-H', 'X-Env: canary', '-H', 'accept: */*']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^GET http:\/\/api\.example\.com:8080\/api\/v1\?q=1\nlistener web \(127\.0\.0\.1:8080\)\n {2}route api, rule api\/rule0\n/);
    assert.match(r.stdout, /hostname: api\.example\.com is api\.example\.com/);
    assert.match(r.stdout, /path: \/api\/v1 is under prefix \/api/);
    assert.match(r.stdout, /header: x-env: canary/);
    assert.match(r.stdout, /backends: canary=1 stable=9/);
    assert.match(r.stdout, /policy: request=5s/);
    assert.doesNotMatch(r.stdout, /admin-api/, 'the URL port picks the listener');
  });

  it('--test without the header falls to the next rule and lists the miss', () => {
    const r = gatemesh(['routes', '--config', file, '--test', 'GET http://api.example.com:8080/api']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /route api-stable, rule api-stable\/rule0/);
    assert.match(r.stdout, /tried first \(did not match\):\n {4}api\/rule0 .*: no header x-env/);
  });

  it('--test with no matching rule prints "no route (404)" and exits 1', () => {
    const r = gatemesh(['routes', '--config', file, '--test', 'POST http://other.example.com:9090/healthz']);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /listener admin-api \(127\.0\.0\.1:9090\)\n {2}no route \(404\)/);
    assert.match(r.stdout, /health\/rule0 .*: method POST is not GET/);
  });

  it('--test on every port when the URL names none, or on --listener', () => {
    const all = gatemesh(['routes', '--config', file, '--test', '/healthz', '-H', 'host: x']);
    assert.equal(all.status, 0, all.stderr);
    assert.equal((all.stdout.match(/route health, rule health\/rule0/g) ?? []).length, 2);
    const one = gatemesh(['routes', '--config', file, '--test', 'GET /healthz', '--listener', 'admin-api']);
    assert.equal((one.stdout.match(/route health/g) ?? []).length, 1);
    assert.match(one.stdout, /listener admin-api/);
  });

  it('usage errors exit 2; config errors exit 1 with file:line', () => {
    assert.equal(gatemesh(['routes', '--config', file, '--bogus']).status, 2);
    assert.equal(gatemesh(['routes', '--config', file, '--test', 'GET http://h/', '-H', 'novalue']).status, 2);
    assert.equal(gatemesh(['routes', '--config', file, '--test', 'GET /', '--listener', 'nope']).status, 2);
    const bad = writeConfig(nativeConfig('routes:\n  - name: r\n    backend: b\n    timeouts: { request: 1s, backendRequest: 2s }\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:1"]\n'));
    const r = gatemesh(['routes', '--config', bad]);
    assert.equal(r.status, 1);
    assert.ok(r.stderr.includes(`${bad}:8: routes[0].timeouts.backendRequest: backendRequest timeout (2s) cannot be longer`), r.stderr);
  });
});

describe('parseTestRequest', () => {
  const cases: { text: string; headers?: string[]; want: unknown }[] = [
    { text: 'GET http://a.example.com/p/q?x=1&y', want: { req: { host: 'a.example.com', method: 'GET', path: '/p/q', query: 'x=1&y', headers: ['host', 'a.example.com'] }, port: 80 } },
    { text: 'http://u:p@a:81', want: { req: { host: 'a:81', method: 'GET', path: '/', query: '', headers: ['host', 'a:81'] }, port: 81 } },
    { text: 'DELETE /x/%2F/../y', headers: ['Host: h.test', 'X-A:  1 '], want: { req: { host: 'h.test', method: 'DELETE', path: '/x/%2F/../y', query: '', headers: ['host', 'h.test', 'x-a', '1'] }, port: undefined } },
  ];
  for (const c of cases) it(c.text, () => assert.deepStrictEqual(parseTestRequest(c.text, c.headers ?? []), c.want));
  it('an empty GATEMESH_CONFIG counts as unset, as when serving: the embedded default config is described', () => {
    const r = gatemesh(['routes']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^listener web \(0\.0\.0\.0:8080\)\n.*\n {2}1 {2}\* +PathPrefix \/ +default\/rule0 +demo=1/);
  });

  it('refuses what it cannot read', () => {
    assert.match(String(parseTestRequest('GET a b', [])), /expected '<METHOD> <url>'/);
    assert.match(String(parseTestRequest('GET relative/path', [])), /must be absolute/);
  });
});

describe('admin /routes', () => {
  it('serves the table of the running gateway as JSON, with bound ports, and explains ?test=', async () => {
    const gw = await startGateway('native-free', nativeConfig('routes:\n  - name: r\n    match: { path: /r }\n    backend: b\n    retry: { codes: [503] }\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:1"]\n'));
    try {
      const r = await request(gw.adminPort, { path: '/routes' });
      assert.equal(r.status, 200);
      assert.match(String(r.headers['content-type']), /application\/json/);
      const body = JSON.parse(r.body);
      assert.equal(body.listeners[0].port, gw.port);
      assert.deepStrictEqual(body.listeners[0].routes, [
        { hostname: '*', match: 'PathPrefix /r', route: 'r', rule: 'r/rule0', backends: [{ backend: 'b', weight: 1 }], policy: 'retry=1x[503]/25ms' },
      ]);
      const t = await request(gw.adminPort, { path: `/routes?test=${encodeURIComponent('GET http://h/r/x')}&header=${encodeURIComponent('x-a: 1')}` });
      assert.equal(t.status, 200);
      const x = JSON.parse(t.body);
      assert.equal(x.listeners[0].result.winner.rule, 'r/rule0');
      const miss = JSON.parse((await request(gw.adminPort, { path: `/routes?test=${encodeURIComponent('GET /nope')}` })).body);
      assert.equal(miss.listeners[0].result.winner, null);
      assert.equal((await request(gw.adminPort, { path: '/routes?test=a%20b%20c' })).status, 400);
    } finally {
      await gw.stop();
    }
  });
});
