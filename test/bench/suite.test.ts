import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plainServer as server } from '../helpers/servers';
import http from 'node:http';
import { SCENARIOS } from '../../bench/harness/scenarios';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allProxies, isPoliciesOff } from '../../bench/harness/proxies';
import { planPinning } from '../../bench/harness/processes';
import { closesAfterClose, planSuite, proxiesFor, runSuite, slowestForRates } from '../../bench/harness/suite';
import type { OpenLoopChoice } from '../../bench/harness/args';

const NEW_CONN = SCENARIOS.find((s) => s.id === 'new-conn')!;


const cases: { desc: string; handler: http.RequestListener; open: boolean }[] = [
  { desc: 'a server that honours Connection: close passes', handler: (_q, r) => r.end('ok'), open: false },
  {
    // What @fastify/reply-from did with nginx's `connection: keep-alive`: node:http then keeps the socket open.
    desc: 'a server that relays `connection: keep-alive` to a close request is caught',
    handler: (_q, r) => r.setHeader('connection', 'keep-alive').end('ok'),
    open: true,
  },
];

for (const c of cases) {
  test(`closesAfterClose: ${c.desc}`, async () => {
    const s = await server(c.handler);
    try {
      const why = await closesAfterClose(s.port, NEW_CONN);
      if (c.open) assert.match(why ?? '', /kept the connection open .*RFC 9112 §9\.6/);
      else assert.equal(why, null);
    } finally {
      await s.close();
    }
  });
}


test('proxiesFor: -nopolicy rows only in the policies scenario, only with their base selected', () => {
  const specs = allProxies({ only: ['nginx', 'gatemesh-uws'] });
  for (const sc of SCENARIOS) {
    const names = proxiesFor(specs, sc).map((p) => p.name);
    assert.deepEqual(names, sc.id === 'policies' ? ['direct', 'nginx', 'gatemesh-uws', 'gatemesh-uws-nopolicy'] : ['direct', 'nginx', 'gatemesh-uws'], sc.id);
  }
});

test('planSuite: per-scenario proxy counts (the variants add steps to policies only)', () => {
  const specs = allProxies({ only: ['nginx', 'gatemesh-uws', 'gatemesh-native-free'] });
  const s = { warmupMs: 1000, rounds: 3, throughputMs: 2000, ratePcts: [50], latencyMs: 3000 };
  const small = SCENARIOS.filter((x) => x.id === 'small-get');
  const pol = SCENARIOS.filter((x) => x.id === 'policies');
  // small-get: 4 proxies (direct, nginx, 2 gatemesh); policies: 6. Steps: 1 + n + rounds × n × (1 + rates).
  assert.equal(planSuite(small, specs, s).steps, 1 + 4 + 3 * 4 * 2);
  assert.equal(planSuite(pol, specs, s).steps, 1 + 6 + 3 * 6 * 2);
  assert.equal(planSuite([...small, ...pol], specs, s).steps, 1 + 4 + 3 * 4 * 2 + 1 + 6 + 3 * 6 * 2);
  // seconds: n × (2 start + 1 warm-up + 3 × 2 throughput + 3 × 3.5 latency) = n × 19.5
  assert.equal(planSuite(pol, specs, s).seconds, 6 * 19.5);
});

const kinds: Record<string, 'ceiling' | 'peer' | 'gatemesh'> = {
  direct: 'ceiling',
  nginx: 'peer',
  'gatemesh-uws': 'gatemesh',
  'gatemesh-uws-nopolicy': 'gatemesh',
};
const rateCases: { desc: string; medians: Record<string, number>; want: number }[] = [
  { desc: 'the slowest proxy, ceiling excluded', medians: { direct: 100, nginx: 70, 'gatemesh-uws': 50 }, want: 50 },
  { desc: 'a -nopolicy row never lowers the rate', medians: { direct: 100, nginx: 70, 'gatemesh-uws': 50, 'gatemesh-uws-nopolicy': 40 }, want: 50 },
  { desc: 'nor raises it', medians: { direct: 100, nginx: 70, 'gatemesh-uws': 50, 'gatemesh-uws-nopolicy': 90 }, want: 50 },
  { desc: 'a -nopolicy row alone still gives a rate', medians: { direct: 100, 'gatemesh-uws-nopolicy': 60 }, want: 60 },
  { desc: 'only the ceiling ran', medians: { direct: 100 }, want: 100 },
];
for (const c of rateCases) {
  test(`slowestForRates: ${c.desc}`, () => {
    assert.equal(slowestForRates(new Map(Object.entries(c.medians)), (n) => kinds[n]), c.want);
    assert.ok(Object.keys(kinds).some(isPoliciesOff));
  });
}

// ---- the open-loop generator, end to end (runSuite against the real upstream, direct only) ----

/** One short run of small-get with only `direct`; `ratePct` of direct's own throughput sets the open-loop rate. */
async function directOnly(asked: OpenLoopChoice, ratePct: number) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'gatemesh-suite-test-'));
  try {
    return await runSuite({
      mode: 'quick',
      argv: [],
      scenarios: SCENARIOS.filter((s) => s.id === 'small-get'),
      proxies: allProxies({ only: [] }),
      settings: { connections: 10, rounds: 1, warmupMs: 200, throughputMs: 500, latencyMs: 500, threads: 1, ratePcts: [ratePct], openLoopGenerator: asked },
      pin: planPinning(true),
      tmp,
      wrk: 'never',
      quiet: true,
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

test('runSuite, auto: at a rate autocannon easily sends (1 % of direct), its probe keeps up and it times the runs; the choice and why are in the results', async () => {
  const r = await directOnly('auto', 1);
  const sc = r.scenarios[0];
  assert.equal(r.settings.openLoopGenerator, 'auto');
  assert.equal(sc.openLoopGenerator, 'autocannon', sc.generatorNote);
  assert.match(sc.generatorNote ?? '', /^autocannon: it kept up with \d+ req\/s against direct \(\d+ req\/s completed, p50 \d\.\d\d ms, 0 failed\)$/);
  const runs = sc.proxies['direct'].latency[0].runs;
  assert.ok(runs.length === 1 && runs.every((x) => x.generator === 'autocannon' && x.completed > 0), JSON.stringify(runs.map((x) => x.generator)));
});

test('runSuite, auto: at twice the rate autocannon itself reached closed-loop, its probe cannot keep up and the paced generator times the runs', async () => {
  const r = await directOnly('auto', 200);
  const sc = r.scenarios[0];
  assert.equal(sc.openLoopGenerator, 'paced', sc.generatorNote);
  assert.match(sc.generatorNote ?? '', /^paced: autocannon could not keep up with [\d.k]+ req\/s against direct \(.*needs p50 ≤ 2 ms/);
  assert.ok(sc.proxies['direct'].latency[0].runs.every((x) => x.generator === 'paced'));
});

test('runSuite: a generator asked for by name is used without a probe, and the note says it was asked for', async () => {
  const r = await directOnly('paced', 1);
  const sc = r.scenarios[0];
  assert.equal(sc.openLoopGenerator, 'paced');
  assert.equal(sc.generatorNote, 'paced: asked for');
  assert.ok(sc.proxies['direct'].latency[0].runs.every((x) => x.generator === 'paced'));
});
