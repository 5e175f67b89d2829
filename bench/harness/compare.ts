// The release gate's arithmetic, kept pure so it is tested on its own (test/bench/compare.test.ts).
// Absolute times drift between machines, so every figure is a ratio against a peer measured in the same run, and
// the gate compares those ratios with the committed ones in bench/baseline.json.
import type { OpenLoopGenerator } from './args';
import { isPoliciesOff } from './proxies';
import type { BenchResults, ScenarioResult } from './results';
import { median, medianPercentiles } from './stats';

/** gatemesh ÷ peer, for one scenario. */
export interface GateRatios {
  /** p99 at the 50 % rate ÷ the peer's (medians of the rounds): > 1 means slower than the peer. */
  p99: number;
  /** Closed-loop req/s ÷ the peer's (medians of the rounds): < 1 means less throughput than the peer. */
  throughput: number;
  /**
   * The same ratios at the most favourable corner of the rounds' interquartile ranges (candidate's lower quartile
   * p99 ÷ peer's upper quartile; candidate's upper quartile req/s ÷ peer's lower quartile). Measured runs only;
   * a regression must show here too, i.e. be larger than the run's own round-to-round noise.
   */
  p99Best?: number;
  throughputBest?: number;
}

/** scenario → gatemesh proxy → reference peer → ratios. */
export type RatioTable = Record<string, Record<string, Record<string, GateRatios>>>;

export interface Thresholds {
  /** Fail when the p99 ratio grows by more than this fraction (issue: 10 %). */
  p99: number;
  /** Fail when the throughput ratio shrinks by more than this fraction (issue: 5 %). */
  throughput: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { p99: 0.1, throughput: 0.05 };

/** Preferred reference, best first: the issue states the throughput rule against nginx. */
export const PEER_PREFERENCE = ['nginx', 'haproxy', 'fastify-proxy', 'http-proxy'];

export interface Baseline {
  schema: 1;
  createdAt: string;
  /** The machine the ratios were measured on, for the reader; the gate does not compare it. */
  machine: string;
  mode: string;
  thresholds: Thresholds;
  ratios: RatioTable;
  /**
   * Per scenario, the open-loop generator whose p99 is in its ratios (absent: every scenario paced, as before the
   * field existed). p99 measured by one generator does not compare with the other's, so the gate refuses a run
   * whose generator differs (openLoopMismatches).
   */
  openLoopGenerators?: Record<string, OpenLoopGenerator>;
}

/** The generator that timed each scenario's 50 % rate runs ("paced" for runs saved before the field; "a+b" if mixed). */
export function scenarioGenerators(r: BenchResults): Record<string, string> {
  const out: Record<string, string> = {};
  for (const sc of r.scenarios) {
    const gi = rate50(sc);
    if (gi < 0) continue;
    const seen = new Set(Object.values(sc.proxies).flatMap((p) => (p.latency[gi]?.runs ?? []).map((x) => x.generator ?? 'paced')));
    if (seen.size) out[sc.id] = [...seen].sort().join('+');
  }
  return out;
}

/**
 * Scenarios the baseline has ratios for whose p99 it took with another generator than `candidate` (scenario →
 * generator) uses, as "small-get: baseline paced, this run autocannon". Empty when everything compares.
 */
export function openLoopMismatches(b: Pick<Baseline, 'ratios' | 'openLoopGenerators'>, candidate: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [sc, gen] of Object.entries(candidate)) {
    if (!b.ratios[sc]) continue;
    const base = b.openLoopGenerators?.[sc] ?? 'paced';
    if (base !== gen) out.push(`${sc}: baseline ${base}, this run ${gen}`);
  }
  return out;
}

/** Value at quantile q (0..1) of a list, linear interpolation between order statistics. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Index of the 50 % rate in a scenario (the gate's figure), or -1. */
function rate50(sc: ScenarioResult): number {
  return sc.rates.findIndex((r) => r.pct === 50);
}

/**
 * Ratios of every gatemesh build against every peer present in `r`. By default the `-nopolicy` rows (gatemesh with
 * policies off, the bench's on ÷ off denominator) are no subject: the gate compares builds, not configurations.
 */
export function ratiosOf(r: BenchResults, subjects?: (name: string) => boolean, peers?: (name: string) => boolean): RatioTable {
  const kind = new Map(r.proxies.map((p) => [p.name, p.kind]));
  const isSubject = subjects ?? ((n: string) => kind.get(n) === 'gatemesh' && !isPoliciesOff(n));
  const isPeer = peers ?? ((n: string) => kind.get(n) === 'peer');
  const out: RatioTable = {};
  for (const sc of r.scenarios) {
    const gi = rate50(sc);
    if (gi < 0) continue;
    const names = Object.keys(sc.proxies);
    for (const g of names.filter(isSubject)) {
      for (const p of names.filter(isPeer)) {
        const G = sc.proxies[g];
        const P = sc.proxies[p];
        // Ratio of the medians (the table's ×nginx columns), not the median of per-round ratios: on a busy machine
        // p99 spikes hit single runs, and a spike in either proxy's run would spoil that round's ratio, while each
        // median alone shrugs off a minority of spiky rounds.
        const gp99 = G.latency[gi].runs.map((x) => x.percentiles.p99);
        const pp99 = P.latency[gi].runs.map((x) => x.percentiles.p99);
        const grps = G.throughput.runs.map((x) => x.rps);
        const prps = P.throughput.runs.map((x) => x.rps);
        const ratios: GateRatios = {
          p99: G.latency[gi].median.p99 / P.latency[gi].median.p99,
          throughput: G.throughput.median / P.throughput.median,
          ...(gp99.length && pp99.length
            ? {
                p99Best: quantile(gp99, 0.25) / quantile(pp99, 0.75),
                throughputBest: quantile(grps, 0.75) / quantile(prps, 0.25),
              }
            : {}),
        };
        ((out[sc.id] ??= {})[g] ??= {})[p] = ratios;
      }
    }
  }
  return out;
}

export interface Check {
  scenario: string;
  proxy: string;
  peer: string;
  figure: 'p99' | 'throughput';
  baseline: number;
  candidate: number;
  /** candidate ÷ baseline − 1. */
  change: number;
  /** The same at the candidate's most favourable interquartile corner, when the run has rounds. */
  bestChange?: number;
  ok: boolean;
  /**
   * The median ratio breached but the favourable corner did not, and the two are so far apart (more than
   * NOISE_FACTOR × the threshold) that the run cannot tell a regression from noise. Not ok, and not a regression
   * either: the verdict is "too noisy".
   */
  noisy: boolean;
}

/**
 * Widest median-to-corner gap, in thresholds, still read as ordinary round-to-round noise: 2 → 20 points for p99,
 * 10 for throughput. Wider, and a real regression could hide in the spread (seen: a 2 ms delay measured against an
 * nginx slowed 3× by other jobs on the machine), so the gate says "too noisy" instead of passing.
 */
export const NOISE_FACTOR = 2;

export interface Comparison {
  checks: Check[];
  /** Candidate entries with no baseline to compare against (new scenario or proxy): reported, never failing. */
  unmatched: string[];
}

/**
 * Compares the candidate's ratios with the baseline's, against the first peer in `preference` that both have.
 * p99 fails when it grew by more than `t.p99`; throughput fails when it fell by more than `t.throughput`.
 */
export function compareRatios(baseline: RatioTable, candidate: RatioTable, t: Thresholds, preference: readonly string[] = PEER_PREFERENCE): Comparison {
  const checks: Check[] = [];
  const unmatched: string[] = [];
  for (const [scenario, byProxy] of Object.entries(candidate)) {
    for (const [proxy, byPeer] of Object.entries(byProxy)) {
      const base = baseline[scenario]?.[proxy];
      const peer = preference.find((p) => byPeer[p] && base?.[p]) ?? Object.keys(byPeer).find((p) => base?.[p]);
      if (!peer || !base) {
        unmatched.push(`${scenario}/${proxy}`);
        continue;
      }
      const b = base[peer];
      const c = byPeer[peer];
      // A figure that could not be measured (NaN) fails: the gate must not pass on missing data. A breach of the
      // median ratio counts only when the favourable interquartile corner breaches too (when there is one); when
      // only the median breaches and the corner is far from it, the run is too noisy to decide either way.
      const judge = (change: number, best: number | undefined, within: (x: number) => boolean, limit: number): { ok: boolean; noisy: boolean } => {
        if (!Number.isFinite(change)) return { ok: false, noisy: false };
        if (within(change)) return { ok: true, noisy: false };
        if (best === undefined || !Number.isFinite(best) || !within(best)) return { ok: false, noisy: false };
        return Math.abs(change - best) <= NOISE_FACTOR * limit ? { ok: true, noisy: false } : { ok: false, noisy: true };
      };
      const p99Change = c.p99 / b.p99 - 1;
      const p99Best = c.p99Best === undefined ? undefined : c.p99Best / b.p99 - 1;
      const tpChange = c.throughput / b.throughput - 1;
      const tpBest = c.throughputBest === undefined ? undefined : c.throughputBest / b.throughput - 1;
      const p99 = judge(p99Change, p99Best, (x) => x <= t.p99, t.p99);
      const tp = judge(tpChange, tpBest, (x) => x >= -t.throughput, t.throughput);
      checks.push({ scenario, proxy, peer, figure: 'p99', baseline: b.p99, candidate: c.p99, change: p99Change, bestChange: p99Best, ...p99 });
      checks.push({ scenario, proxy, peer, figure: 'throughput', baseline: b.throughput, candidate: c.throughput, change: tpChange, bestChange: tpBest, ...tp });
    }
  }
  return { checks, unmatched };
}

/**
 * Pools the rounds of several runs of the same plan into one result (medians recomputed over all rounds), so a
 * confirmation run adds evidence instead of being a second coin toss. Scenarios and proxies missing from any run
 * are dropped.
 */
export function poolRuns(runs: readonly BenchResults[]): BenchResults {
  const [first, ...rest] = runs;
  const scenarios = first.scenarios.map((sc) => {
    const others = rest.map((r) => r.scenarios.find((x) => x.id === sc.id));
    if (others.some((o) => !o)) return null;
    const proxies: ScenarioResult['proxies'] = {};
    for (const [name, p] of Object.entries(sc.proxies)) {
      const all = [p, ...others.map((o) => o!.proxies[name])];
      if (all.some((x) => !x)) continue;
      const tpRuns = all.flatMap((x) => x.throughput.runs);
      proxies[name] = {
        note: p.note,
        throughput: { median: median(tpRuns.map((r) => r.rps)), runs: tpRuns },
        latency: p.latency.map((_l, i) => {
          const lr = all.flatMap((x) => x.latency[i]?.runs ?? []);
          return { median: medianPercentiles(lr.map((r) => r.percentiles)), runs: lr };
        }),
      };
    }
    return { ...sc, proxies };
  });
  return { ...first, scenarios: scenarios.filter((x): x is ScenarioResult => x !== null) };
}

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
}

export function formatChecks(checks: readonly Check[]): string {
  // The reference column fits its longest name (`baseline-native-free` with --baseline-dir).
  const peerWidth = Math.max(10, ...checks.map((c) => c.peer.length + 2));
  const lines = ['scenario      proxy                  ' + 'vs'.padEnd(peerWidth) + 'figure        baseline  candidate   change  (best)  result'];
  for (const c of checks) {
    lines.push(
      c.scenario.padEnd(14) +
        c.proxy.padEnd(23) +
        c.peer.padEnd(peerWidth) +
        (c.figure === 'p99' ? 'p99@50% ratio' : 'req/s ratio  ').padEnd(14) +
        c.baseline.toFixed(3).padStart(8) +
        c.candidate.toFixed(3).padStart(11) +
        pct(c.change).padStart(9) +
        (c.bestChange === undefined ? '' : pct(c.bestChange)).padStart(9) +
        '  ' +
        (c.ok ? 'ok' : c.noisy ? 'TOO NOISY' : 'REGRESSION'),
    );
  }
  return lines.join('\n');
}
