import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeFailures, mergeFailures } from '../../bench/harness/failures';
import { latencyGeneratorLabel, scenarioTable, troubleDetails } from '../../bench/harness/report-table';
import type { LatencyRun, ProxyScenarioResult, ScenarioResult, ThroughputRun } from '../../bench/harness/results';

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

test('latencyGeneratorLabel: older runs read as paced; autocannon runs name the correction interval', () => {
  const paced = scenario({ x: proxy([clean], [lat(), lat({ generator: 'paced' })]) });
  assert.equal(latencyGeneratorLabel(paced), 'paced generator');
  assert.match(scenarioTable(paced), /latency: open loop \(paced generator\) at 50% = 2,441/);
  const ac = scenario({ x: proxy([clean], [lat({ generator: 'autocannon', expectedIntervalUs: 5000 })]) });
  assert.equal(latencyGeneratorLabel(ac), 'autocannon overallRate, CO-corrected at 5 ms/connection');
  const both = scenario({ x: proxy([clean], [lat({ generator: 'autocannon', expectedIntervalUs: 20480 }), lat()]) });
  assert.equal(latencyGeneratorLabel(both), 'autocannon overallRate, CO-corrected at 20.5 ms/connection + paced generator');
});
