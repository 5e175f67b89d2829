import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeFailures, mergeFailures } from '../../bench/harness/failures';
import { latencyGeneratorLabel, policiesOnOff, renderTable, scenarioTable, troubleDetails } from '../../bench/harness/report-table';
import type { BenchResults, LatencyRun, ProxyScenarioResult, ScenarioResult, ThroughputRun } from '../../bench/harness/results';

const P = { p50: 1, p90: 1, p99: 1, p999: 1, max: 1 };

function lat(o: Partial<LatencyRun> = {}): LatencyRun {
  return { percentiles: P, sent: 1000, completed: 1000, errors: 0, non2xx: 0, achievedRate: 250, histogram: '', ...o };
}

function proxy(tp: ThroughputRun[], l: LatencyRun[] = [lat()]): ProxyScenarioResult {
  return { note: '', throughput: { median: 5000, runs: tp }, latency: [{ median: P, runs: l }] };
}

function scenario(proxies: Record<string, ProxyScenarioResult>): ScenarioResult {
  return { id: 'new-conn', title: 't', throughputTool: 'wrk', toolNote: '', autocannonCeiling: 1, rates: [{ pct: 50, rps: 2441 }], proxies, failed: {} };
}

const clean: ThroughputRun = { rps: 5000, non2xx: 0, errors: 0 };
const wrkFailed: ThroughputRun = {
  rps: 5000,
  non2xx: 21817,
  errors: 21817,
  failures: { 'status ≥ 400 (wrk)': 21817, 'read errors (wrk)': 21817 },
};

const cases: { desc: string; p: ProxyScenarioResult; want: string[] }[] = [
  { desc: 'clean runs: no details, no !', p: proxy([clean, clean]), want: [] },
  {
    desc: 'throughput failures summed over the runs, by kind',
    p: proxy([wrkFailed, clean, wrkFailed]),
    want: ['throughput (wrk, 3 runs): 43,634 read errors (wrk), 43,634 status ≥ 400 (wrk)'],
  },
  {
    desc: 'results from before the breakdown still say how many failed',
    p: proxy([{ rps: 1, non2xx: 5, errors: 2 }]),
    want: ['throughput (wrk, 1 run): 7 failed (no detail)'],
  },
  {
    desc: 'open-loop failures by kind, and requests lost without an error',
    p: proxy([clean], [lat({ completed: 900, errors: 10, non2xx: 3, failures: { 'status 503': 3, 'socket ECONNRESET': 10 } })]),
    want: ['latency @50% (1 run): 90 unanswered, 10 socket ECONNRESET, 3 status 503'],
  },
];

for (const c of cases) {
  test(`troubleDetails: ${c.desc}`, () => {
    const sc = scenario({ x: c.p });
    assert.deepEqual(troubleDetails(sc, c.p), c.want);
    const table = scenarioTable(sc);
    assert.equal(table.includes('x !'), c.want.length > 0, table);
    for (const w of c.want) assert.ok(table.includes(`x: ${w}`), table);
  });
}

test('describeFailures: largest first, empty when nothing failed', () => {
  assert.equal(describeFailures({}), '');
  assert.equal(describeFailures(mergeFailures([{ a: 1 }, undefined, { b: 2, a: 2 }])), '3 a, 2 b');
});

test('latencyGeneratorLabel: older runs read as paced; autocannon runs name their pacing interval', () => {
  const paced = scenario({ x: proxy([clean], [lat(), lat({ generator: 'paced' })]) });
  assert.equal(latencyGeneratorLabel(paced), 'paced generator');
  assert.match(scenarioTable(paced), /latency: open loop \(paced generator\) at 50% = 2,441/);
  const ac = scenario({ x: proxy([clean], [lat({ generator: 'autocannon', connectionIntervalUs: 5000 })]) });
  assert.equal(latencyGeneratorLabel(ac), 'autocannon overallRate, paced every 5 ms/connection');
  const both = scenario({ x: proxy([clean], [lat({ generator: 'autocannon', connectionIntervalUs: 20480 }), lat()]) });
  assert.equal(latencyGeneratorLabel(both), 'autocannon overallRate, paced every 20.5 ms/connection + paced generator');
  // Saved before the pacing override: bursts, corrected afterwards.
  const old = scenario({ x: proxy([clean], [lat({ generator: 'autocannon', expectedIntervalUs: 5000 })]) });
  assert.equal(latencyGeneratorLabel(old), 'autocannon overallRate, CO-corrected at 5 ms/connection');
});

/** A proxy row with this closed-loop median. */
function rps(median: number): ProxyScenarioResult {
  return { note: '', throughput: { median, runs: [{ rps: median, non2xx: 0, errors: 0 }] }, latency: [{ median: P, runs: [lat()] }] };
}

function run(scenarios: Record<string, Record<string, number>>): BenchResults {
  const names = new Set(Object.values(scenarios).flatMap((x) => Object.keys(x)));
  const kind = (n: string): 'ceiling' | 'peer' | 'gatemesh' => (n === 'direct' ? 'ceiling' : n.startsWith('gatemesh') || n.startsWith('baseline') ? 'gatemesh' : 'peer');
  return {
    schema: 1,
    mode: 'quick',
    startedAt: '',
    finishedAt: '',
    argv: [],
    machine: { cores: 2, cpuModel: 'x', node: 'v20', kernel: 'k', platform: 'linux', pinning: 'off' },
    upstream: 'nginx',
    settings: { connections: 50, rounds: 3, warmupMs: 1, throughputMs: 1, latencyMs: 1, threads: 1, ratePcts: [50] },
    proxies: [...names].map((name) => ({ name, kind: kind(name), version: '1' })),
    scenarios: Object.entries(scenarios).map(([id, p]) => ({
      ...scenario(Object.fromEntries(Object.entries(p).map(([n, v]) => [n, rps(v)]))),
      id,
    })),
    micro: [],
  } as unknown as BenchResults;
}

const onOffCases: {
  desc: string;
  r: BenchResults;
  want: { name: string; ratio: number; source: 'same-scenario' | 'small-get'; offName: string }[];
}[] = [
  {
    desc: 'the same scenario\'s -nopolicy row wins over small-get',
    r: run({
      'small-get': { nginx: 67000, 'gatemesh-uws': 50000 },
      policies: { nginx: 76000, 'gatemesh-uws': 45000, 'gatemesh-uws-nopolicy': 48000 },
    }),
    want: [{ name: 'gatemesh-uws', ratio: 45000 / 48000, source: 'same-scenario', offName: 'gatemesh-uws-nopolicy' }],
  },
  {
    desc: 'without a -nopolicy row: small-get of the same run, said so',
    r: run({ 'small-get': { nginx: 67000, 'gatemesh-uws': 50000 }, policies: { nginx: 76000, 'gatemesh-uws': 45000 } }),
    want: [{ name: 'gatemesh-uws', ratio: 0.9, source: 'small-get', offName: 'gatemesh-uws' }],
  },
  {
    desc: 'each front end with its own denominator; a -nopolicy row is never a subject',
    r: run({
      'small-get': { 'gatemesh-uws': 10000, 'gatemesh-native-free': 40000 },
      policies: { 'gatemesh-uws': 30000, 'gatemesh-native-free': 36000, 'gatemesh-native-free-nopolicy': 40000, 'gatemesh-uws-nopolicy': 0 },
    }),
    want: [
      // A -nopolicy row that measured nothing falls back to small-get rather than dividing by 0.
      { name: 'gatemesh-uws', ratio: 3, source: 'small-get', offName: 'gatemesh-uws' },
      { name: 'gatemesh-native-free', ratio: 0.9, source: 'same-scenario', offName: 'gatemesh-native-free-nopolicy' },
    ],
  },
  { desc: 'policies alone, no -nopolicy row: nothing to divide by', r: run({ policies: { 'gatemesh-uws': 1 } }), want: [] },
  { desc: 'no policies scenario: nothing', r: run({ 'small-get': { 'gatemesh-uws': 1 } }), want: [] },
  { desc: 'peers get no line', r: run({ policies: { nginx: 2, 'nginx-nopolicy': 1 } }), want: [] },
];

for (const c of onOffCases) {
  test(`policiesOnOff: ${c.desc}`, () => {
    const got = policiesOnOff(c.r).map((x) => ({ name: x.name, ratio: x.ratio, source: x.source, offName: x.offName }));
    for (const x of policiesOnOff(c.r)) if (x.source === 'small-get') assert.deepEqual(x.rounds, []);
    assert.deepEqual(got, c.want);
  });
}

test('renderTable: the on ÷ off line names its denominator', () => {
  const same = renderTable(onOffCases[0].r);
  assert.match(same, /policies on ÷ off \(req\/s, median of rounds; target ≥ 0\.90\):/);
  assert.match(same, /  gatemesh-uws: 0\.938 \(policies 45,000 ÷ gatemesh-uws-nopolicy 48,000, same scenario, interleaved rounds\)$/m);
  const fallback = renderTable(onOffCases[1].r);
  assert.match(fallback, /  gatemesh-uws: 0\.900 \(policies 45,000 ÷ small-get 50,000, separate scenarios: drift between them is in the ratio\)/);
  assert.doesNotMatch(fallback, /below target/);
  assert.match(renderTable(run({ policies: { 'gatemesh-uws': 80, 'gatemesh-uws-nopolicy': 100 } })), /gatemesh-uws: 0\.800 .* below target/);
  // Just under the target: four decimals, so the figure does not read as meeting it.
  assert.match(renderTable(run({ policies: { 'gatemesh-uws': 40737, 'gatemesh-uws-nopolicy': 45275 } })), /gatemesh-uws: 0\.8998 .* below target/);
  // The longest name still leaves a gap before the req/s column.
  assert.match(renderTable(run({ policies: { 'gatemesh-native-free-nopolicy': 45275 } })), /  gatemesh-native-free-nopolicy +45,275 /);
  assert.doesNotMatch(renderTable(run({ 'small-get': { 'gatemesh-uws': 1 } })), /on ÷ off/);
});

test('policiesOnOff: per-round ratios pair round r of both rows', () => {
  const r = run({ policies: { 'gatemesh-uws': 45000, 'gatemesh-uws-nopolicy': 50000 } });
  const sc = r.scenarios[0];
  sc.proxies['gatemesh-uws'].throughput.runs = [40, 45, 50].map((k) => ({ rps: k * 1000, non2xx: 0, errors: 0 }));
  sc.proxies['gatemesh-uws-nopolicy'].throughput.runs = [50, 50, 40].map((k) => ({ rps: k * 1000, non2xx: 0, errors: 0 }));
  assert.deepEqual(policiesOnOff(r)[0].rounds, [0.8, 0.9, 1.25]);
  assert.match(renderTable(r), /interleaved rounds; per round 0\.800 0\.900 1\.250\)/);
  sc.proxies['gatemesh-uws-nopolicy'].throughput.runs.pop();
  assert.deepEqual(policiesOnOff(r)[0].rounds, []);
});
