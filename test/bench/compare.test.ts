import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compareRatios,
  DEFAULT_THRESHOLDS,
  formatChecks,
  openLoopMismatches,
  poolRuns,
  quantile,
  ratiosOf,
  scenarioGenerators,
  type RatioTable,
} from '../../bench/harness/compare';
import type { BenchResults, ProxyScenarioResult } from '../../bench/harness/results';

function table(p99: number, throughput: number, peer = 'nginx', proxy = 'gatemesh-uws'): RatioTable {
  return { 'small-get': { [proxy]: { [peer]: { p99, throughput } } } };
}

const cases: { desc: string; base: [number, number]; cand: [number, number]; p99ok: boolean; tpok: boolean }[] = [
  { desc: 'unchanged passes', base: [1.2, 0.8], cand: [1.2, 0.8], p99ok: true, tpok: true },
  { desc: 'p99 +9.9 % passes', base: [1.0, 0.8], cand: [1.099, 0.8], p99ok: true, tpok: true },
  { desc: 'p99 +10.1 % fails', base: [1.0, 0.8], cand: [1.101, 0.8], p99ok: false, tpok: true },
  { desc: 'p99 better passes', base: [1.0, 0.8], cand: [0.5, 0.8], p99ok: true, tpok: true },
  { desc: 'throughput −4.9 % passes', base: [1.0, 1.0], cand: [1.0, 0.951], p99ok: true, tpok: true },
  { desc: 'throughput −5.1 % fails', base: [1.0, 1.0], cand: [1.0, 0.949], p99ok: true, tpok: false },
  { desc: 'throughput better passes', base: [1.0, 0.5], cand: [1.0, 0.9], p99ok: true, tpok: true },
  { desc: 'a 2 ms delay on a 0.5 ms p99 fails both', base: [1.0, 0.6], cand: [5.0, 0.3], p99ok: false, tpok: false },
  { desc: 'a figure that could not be measured (NaN) fails', base: [1.0, 0.6], cand: [NaN, NaN], p99ok: false, tpok: false },
];

for (const c of cases) {
  test(`compareRatios: ${c.desc}`, () => {
    const { checks, unmatched } = compareRatios(table(...c.base), table(...c.cand), DEFAULT_THRESHOLDS);
    assert.deepEqual(unmatched, []);
    assert.equal(checks.length, 2);
    assert.equal(checks.find((x) => x.figure === 'p99')!.ok, c.p99ok);
    assert.equal(checks.find((x) => x.figure === 'throughput')!.ok, c.tpok);
  });
}

test('compareRatios prefers nginx, falls back to a peer both sides have', () => {
  const base: RatioTable = { s: { g: { haproxy: { p99: 1, throughput: 1 }, nginx: { p99: 1, throughput: 1 } } } };
  const cand: RatioTable = { s: { g: { haproxy: { p99: 2, throughput: 1 }, nginx: { p99: 1, throughput: 1 } } } };
  assert.equal(compareRatios(base, cand, DEFAULT_THRESHOLDS).checks[0].peer, 'nginx');
  const noNginx: RatioTable = { s: { g: { haproxy: { p99: 2, throughput: 1 } } } };
  const r = compareRatios(base, noNginx, DEFAULT_THRESHOLDS);
  assert.equal(r.checks[0].peer, 'haproxy');
  assert.equal(r.checks[0].ok, false);
});

test('compareRatios reports entries without a baseline as unmatched, not as failures', () => {
  const r = compareRatios(table(1, 1), table(9, 0.1, 'nginx', 'gatemesh-new'), DEFAULT_THRESHOLDS);
  assert.deepEqual(r.checks, []);
  assert.deepEqual(r.unmatched, ['small-get/gatemesh-new']);
});

function proxyResult(rps: number, p99: number): ProxyScenarioResult {
  const pct = { p50: p99 / 2, p90: p99 / 1.5, p99, p999: p99 * 2, max: p99 * 3 };
  return {
    note: '',
    throughput: { median: rps, runs: [{ rps, non2xx: 0, errors: 0 }] },
    latency: [{ median: pct, runs: [] }],
  };
}

/** Bench results of one run: `proxies` as [name, kind] (no versions), `first` measured at the 50 % rate of 1,000 req/s, then `more`. */
function results(proxies: [string, string][], first: { id: string; proxies: Record<string, ProxyScenarioResult> }, ...more: object[]): BenchResults {
  return {
    proxies: proxies.map(([name, kind]) => ({ name, kind, version: '' })),
    scenarios: [{ id: first.id, rates: [{ pct: 50, rps: 1000 }], proxies: first.proxies }, ...more],
  } as unknown as BenchResults;
}

test('ratiosOf: gatemesh builds against peers, at the 50 % rate, from the medians', () => {
  const r = results(
    [['direct', 'ceiling'], ['nginx', 'peer'], ['gatemesh-uws', 'gatemesh']],
    { id: 'small-get', proxies: { direct: proxyResult(80000, 0.2), nginx: proxyResult(40000, 0.5), 'gatemesh-uws': proxyResult(20000, 1.0) } },
    // No 50 % rate: not gated.
    { id: 'other', rates: [{ pct: 25, rps: 1 }], proxies: { nginx: proxyResult(1, 1), 'gatemesh-uws': proxyResult(1, 1) } },
  );
  // No per-round runs in this fixture: only the median ratios.
  const t = ratiosOf(r)['small-get']['gatemesh-uws'].nginx;
  assert.deepEqual(Object.keys(ratiosOf(r)), ['small-get']);
  assert.equal(t.p99, 2);
  assert.equal(t.throughput, 0.5);
});

test('compareRatios: a median breach inside the run\'s own noise band passes; beyond it fails', () => {
  const base = table(1.0, 1.0);
  // p99 +15 % (corner +5 %, gap 10 points ≤ 20); throughput −8 % (corner −3 %, gap 5 points ≤ 10).
  const noisy: RatioTable = { 'small-get': { 'gatemesh-uws': { nginx: { p99: 1.15, throughput: 0.92, p99Best: 1.05, throughputBest: 0.97 } } } };
  const real: RatioTable = { 'small-get': { 'gatemesh-uws': { nginx: { p99: 3.0, throughput: 0.6, p99Best: 2.2, throughputBest: 0.7 } } } };
  const n = compareRatios(base, noisy, DEFAULT_THRESHOLDS).checks;
  assert.deepEqual(n.map((c) => c.ok), [true, true]);
  assert.equal(n[0].bestChange!.toFixed(2), '0.05');
  // The same medians with a corner 25 / 12 points away: too noisy to pass.
  const wide: RatioTable = { 'small-get': { 'gatemesh-uws': { nginx: { p99: 1.15, throughput: 0.92, p99Best: 0.9, throughputBest: 1.04 } } } };
  const w = compareRatios(base, wide, DEFAULT_THRESHOLDS).checks;
  assert.deepEqual(w.map((c) => [c.ok, c.noisy]), [[false, true], [false, true]]);
  const r = compareRatios(base, real, DEFAULT_THRESHOLDS).checks;
  assert.deepEqual(r.map((c) => c.ok), [false, false]);
  assert.deepEqual(r.map((c) => c.noisy), [false, false]);
});

test('compareRatios: a median breach that only a very wide band excuses is "too noisy", neither ok nor a regression', () => {
  const garbage: RatioTable = { 'small-get': { 'gatemesh-uws': { nginx: { p99: 20, throughput: 1, p99Best: 0.2, throughputBest: 1 } } } };
  const [p99] = compareRatios(table(1, 1), garbage, DEFAULT_THRESHOLDS).checks;
  assert.equal(p99.ok, false);
  assert.equal(p99.noisy, true);
});

test('quantile interpolates between order statistics', () => {
  assert.equal(quantile([5, 1, 3, 2, 4], 0.25), 2);
  assert.equal(quantile([5, 1, 3, 2, 4], 0.75), 4);
  assert.equal(quantile([1, 2], 0.5), 1.5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('poolRuns: medians over the rounds of all runs; proxies missing from a run are dropped', () => {
  const pct = (p99: number) => ({ p50: 0, p90: 0, p99, p999: 0, max: 0 });
  const lat = (p99s: number[]) => ({ median: pct(0), runs: p99s.map((p99) => ({ percentiles: pct(p99), sent: 1, completed: 1, errors: 0, non2xx: 0, achievedRate: 1, histogram: '' })) });
  const run = (rps: number[], p99s: number[], extra: boolean) =>
    ({
      proxies: [],
      settings: { rounds: rps.length },
      scenarios: [
        {
          id: 's',
          rates: [{ pct: 50, rps: 1 }],
          proxies: {
            nginx: { note: '', throughput: { median: 0, runs: rps.map((r) => ({ rps: r, non2xx: 0, errors: 0 })) }, latency: [lat(p99s)] },
            ...(extra ? { only: { note: '', throughput: { median: 0, runs: [] }, latency: [lat([])] } } : {}),
          },
        },
      ],
    }) as unknown as BenchResults;
  const pooled = poolRuns([run([1, 2, 3], [10, 20, 30], true), run([4, 5, 6], [40, 50, 60], false)]);
  const n = pooled.scenarios[0].proxies.nginx;
  assert.equal(n.throughput.runs.length, 6);
  assert.equal(n.throughput.median, 3.5);
  assert.equal(n.latency[0].median.p99, 35);
  assert.deepEqual(Object.keys(pooled.scenarios[0].proxies), ['nginx']);
});

test('ratiosOf: the -nopolicy rows (policies off) are no gate subject', () => {
  const r = results([['nginx', 'peer'], ['gatemesh-uws', 'gatemesh'], ['gatemesh-uws-nopolicy', 'gatemesh']], {
    id: 'policies',
    proxies: { nginx: proxyResult(40000, 0.5), 'gatemesh-uws': proxyResult(20000, 1.0), 'gatemesh-uws-nopolicy': proxyResult(30000, 0.8) },
  });
  const t = ratiosOf(r);
  assert.deepEqual(Object.keys(t.policies), ['gatemesh-uws']);
  assert.deepEqual(Object.keys(t.policies['gatemesh-uws']), ['nginx']);
  // …so a baseline without them reports nothing unmatched for them.
  const base: RatioTable = { policies: { 'gatemesh-uws': { nginx: { p99: 2, throughput: 0.5 } } } };
  const cmp = compareRatios(base, t, DEFAULT_THRESHOLDS);
  assert.deepEqual(cmp.unmatched, []);
  assert.deepEqual(
    cmp.checks.map((c) => c.proxy),
    ['gatemesh-uws', 'gatemesh-uws'],
  );
});

test('formatChecks keeps the columns apart for a long reference name (--baseline-dir: baseline-native-free)', () => {
  const base = { scenario: 'small-get', proxy: 'gatemesh-native-free', figure: 'p99' as const, baseline: 1, candidate: 0.9, change: -0.1, ok: true, noisy: false };
  const text = formatChecks([
    { ...base, peer: 'baseline-native-free' },
    { ...base, peer: 'nginx', figure: 'throughput' },
  ]);
  const [header, long, short] = text.split('\n');
  assert.match(long, /baseline-native-free +p99@50% ratio/);
  // Every line puts the figure in the same column as the header's "figure".
  const col = header.indexOf('figure');
  assert.equal(long.indexOf('p99@50%'), col);
  assert.equal(short.indexOf('req/s ratio'), col);
});

// ---- which open-loop generator took the p99s ----

/** A proxy whose 50 % rate runs were timed by these generators (undefined: a run saved before the field). */
function timedBy(...gens: ('paced' | 'autocannon' | undefined)[]): ProxyScenarioResult {
  const p = proxyResult(1000, 1);
  const pct = p.latency[0].median;
  p.latency[0].runs = gens.map((generator) => ({ percentiles: pct, sent: 1, completed: 1, errors: 0, non2xx: 0, achievedRate: 1, histogram: '', ...(generator ? { generator } : {}) }));
  return p;
}

test('scenarioGenerators: per scenario, from the 50 % rate runs; older runs read as paced; a mix shows both', () => {
  const r = results(
    [['nginx', 'peer'], ['gatemesh-uws', 'gatemesh']],
    { id: 'small-get', proxies: { nginx: timedBy('autocannon', 'autocannon'), 'gatemesh-uws': timedBy('autocannon') } },
    { id: 'new-conn', rates: [{ pct: 50, rps: 1 }], proxies: { nginx: timedBy('paced'), 'gatemesh-uws': timedBy(undefined) } },
    { id: 'mixed', rates: [{ pct: 50, rps: 1 }], proxies: { nginx: timedBy('paced'), 'gatemesh-uws': timedBy('autocannon') } },
    { id: 'no-50', rates: [{ pct: 25, rps: 1 }], proxies: { nginx: timedBy('paced') } },
  );
  assert.deepEqual(scenarioGenerators(r), { 'small-get': 'autocannon', 'new-conn': 'paced', mixed: 'autocannon+paced' });
});

const ratios: RatioTable = { 'small-get': table(1, 1)['small-get'], 'new-conn': table(1, 1)['small-get'] };

const mismatches: { desc: string; base: Record<string, 'paced' | 'autocannon'> | undefined; cand: Record<string, string>; want: string[] }[] = [
  { desc: 'same generators compare', base: { 'small-get': 'autocannon', 'new-conn': 'paced' }, cand: { 'small-get': 'autocannon', 'new-conn': 'paced' }, want: [] },
  {
    desc: 'a baseline without the field was paced: an autocannon run does not compare with it',
    base: undefined,
    cand: { 'small-get': 'autocannon', 'new-conn': 'paced' },
    want: ['small-get: baseline paced, this run autocannon'],
  },
  {
    desc: 'an autocannon baseline and a paced run',
    base: { 'small-get': 'autocannon', 'new-conn': 'paced' },
    cand: { 'small-get': 'paced' },
    want: ['small-get: baseline autocannon, this run paced'],
  },
  { desc: 'a scenario the baseline has no ratios for is not checked (unmatched, not gated)', base: {}, cand: { routes: 'autocannon' }, want: [] },
  {
    desc: 'a scenario missing from the map reads as paced',
    base: { 'small-get': 'autocannon' },
    cand: { 'small-get': 'autocannon', 'new-conn': 'autocannon' },
    want: ['new-conn: baseline paced, this run autocannon'],
  },
];

for (const c of mismatches) {
  test(`openLoopMismatches: ${c.desc}`, () => {
    assert.deepEqual(openLoopMismatches({ ratios, ...(c.base ? { openLoopGenerators: c.base } : {}) }, c.cand), c.want);
  });
}
