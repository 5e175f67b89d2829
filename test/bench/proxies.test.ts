import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { allProxies, gatemeshConfig, gatemeshSpec, isPoliciesOff, policiesOffName, runsIn } from '../../bench/harness/proxies';
import type { Pinning } from '../../bench/harness/processes';
import { SCENARIOS, requestHeaders, type RouteTable } from '../../bench/harness/scenarios';
import { ROOT } from '../../bench/harness/paths';

const TABLES: RouteTable[] = ['single', 'routes-10k', 'policies'];

const selections: { desc: string; only?: string[]; want: string[] }[] = [
  {
    desc: 'everything by default, both -nopolicy variants included',
    want: [
      'direct',
      'nginx',
      'haproxy',
      'fastify-proxy',
      'http-proxy',
      'gatemesh-uws',
      'gatemesh-native-free',
      'gatemesh-uws-nopolicy',
      'gatemesh-native-free-nopolicy',
    ],
  },
  {
    desc: 'naming both gatemesh front ends brings both variants',
    only: ['nginx', 'gatemesh-uws', 'gatemesh-native-free'],
    want: ['direct', 'nginx', 'gatemesh-uws', 'gatemesh-native-free', 'gatemesh-uws-nopolicy', 'gatemesh-native-free-nopolicy'],
  },
  { desc: 'a variant only comes with its own base', only: ['nginx', 'gatemesh-uws'], want: ['direct', 'nginx', 'gatemesh-uws', 'gatemesh-uws-nopolicy'] },
  { desc: 'no gatemesh selected: no variant', only: ['nginx', 'haproxy'], want: ['direct', 'nginx', 'haproxy'] },
  { desc: 'a variant can be named on its own', only: ['gatemesh-native-free-nopolicy'], want: ['direct', 'gatemesh-native-free-nopolicy'] },
];

for (const c of selections) {
  test(`allProxies: ${c.desc}`, () => {
    assert.deepEqual(
      allProxies(c.only ? { only: c.only } : {}).map((p) => p.name),
      c.want,
    );
  });
}

test('runsIn: -nopolicy variants run in the policies scenario only, every other proxy everywhere', () => {
  for (const p of allProxies()) {
    for (const t of TABLES) assert.equal(runsIn(p, t), !isPoliciesOff(p.name) || t === 'policies', `${p.name} in ${t}`);
  }
});

test('gatemeshSpec: the policies-off option names the variant and limits it to policies', () => {
  const on = gatemeshSpec('baseline-uws', 'uws', '/nowhere');
  const off = gatemeshSpec('baseline-uws', 'uws', '/nowhere', { policiesOff: true });
  assert.equal(on.name, 'baseline-uws');
  assert.equal(on.tables, undefined);
  assert.equal(off.name, 'baseline-uws-nopolicy');
  assert.equal(policiesOffName('baseline-uws'), off.name);
  assert.deepEqual(off.tables, ['policies']);
  assert.equal(off.kind, 'gatemesh');
  assert.match(off.unavailable() ?? '', /not built/);
});

test('isPoliciesOff: by name suffix', () => {
  assert.equal(isPoliciesOff('gatemesh-uws-nopolicy'), true);
  assert.equal(isPoliciesOff('gatemesh-uws'), false);
  assert.equal(isPoliciesOff('nopolicy-gatemesh'), false);
});

/** An upstream answering every request with a fixed body, recording the headers it saw. */
function upstream(): Promise<{ port: number; seen: http.IncomingHttpHeaders[]; close(): Promise<void> }> {
  const seen: http.IncomingHttpHeaders[] = [];
  return new Promise((resolve) => {
    const s = http.createServer((q, r) => {
      seen.push(q.headers);
      r.end('ok');
    });
    s.listen(0, '127.0.0.1', () =>
      resolve({ port: (s.address() as AddressInfo).port, seen, close: () => new Promise((r) => (s.closeAllConnections(), s.close(() => r()))) }),
    );
  });
}

function get(port: number, headers: Record<string, string>, p = '/small'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const NO_PIN: Pinning = { enabled: false, proxyCpus: '', generatorCpus: '', generatorCoreCount: 1, note: 'off' };
const built = existsSync(path.join(ROOT, 'dist', 'src', 'cli.js'));

test('gatemesh -nopolicy in the policies scenario: catch-all config, no access log, the note says so', { skip: !built && 'gatemesh not built', timeout: 30_000 }, async () => {
  const up = await upstream();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'gatemesh-bench-test-'));
  const ctx = { tmp, upstreamPort: up.port, pin: NO_PIN, threads: 1 };
  const off = gatemeshSpec('gatemesh-uws', 'uws', ROOT, { policiesOff: true });
  const on = gatemeshSpec('gatemesh-uws', 'uws');
  const policies = SCENARIOS.find((s) => s.id === 'policies')!;
  const rpOff = await off.start(ctx, 'policies');
  const rpOn = await on.start(ctx, 'policies');
  try {
    assert.equal(rpOff.note, "policies off: no policies, no access log (the on ÷ off figure's denominator)");
    assert.equal(rpOn.note, 'rate limit + least request + access log to a file');
    assert.equal(readFileSync(path.join(tmp, 'gatemesh-uws-nopolicy-policies.yaml'), 'utf8'), gatemeshConfig(rpOff.port, up.port, 'single'));
    // The scenario's own request (x-tenant header included) passes both.
    assert.equal(await get(rpOff.port, requestHeaders(policies)), 200);
    assert.equal(await get(rpOn.port, requestHeaders(policies)), 200);
    // Without the header only the policies-off config (no header match) still routes it.
    assert.equal(await get(rpOff.port, {}), 200);
    assert.notEqual(await get(rpOn.port, {}), 200);
    // beforeRun empties the access log (each run starts from the same state); the gateway goes on
    // appending at the new end, no hole of NULs where the old lines were.
    assert.equal(rpOff.beforeRun, undefined);
    const log = path.join(tmp, 'gatemesh-uws-access.log');
    await waitFor(() => statSync(log).size > 0);
    rpOn.beforeRun!();
    assert.equal(statSync(log).size, 0);
    assert.equal(await get(rpOn.port, requestHeaders(policies)), 200);
    await waitFor(() => statSync(log).size > 0);
    const lines = readFileSync(log, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 1);
    assert.equal((JSON.parse(lines[0]) as { status: number }).status, 200);
  } finally {
    await rpOff.stop();
    await rpOn.stop();
    await up.close();
  }
  const logs = readdirSync(tmp).filter((f) => f.endsWith('-access.log'));
  rmSync(tmp, { recursive: true, force: true });
  assert.deepEqual(logs, ['gatemesh-uws-access.log']);
});

/** Polls `cond` every 50 ms for up to 5 s (the access log writes its batch within 1 s). */
async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(cond(), 'condition not met within 5 s');
}
