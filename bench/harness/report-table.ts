// The terminal table: per scenario, each proxy's throughput and open-loop latency, as absolute figures and as ratios
// against nginx and against direct (the ceiling), measured in the same run.
import { describeFailures, failureTotal, mergeFailures, type Failures } from './failures';
import { isPoliciesOff, policiesOffName } from './proxies';
import type { BenchResults, ProxyScenarioResult, ScenarioResult } from './results';

/** Throughput ratio against `ref`: > 1 is faster. Latency ratio: > 1 is slower. */
function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !(b > 0) || !Number.isFinite(a)) return '–';
  return (a / b).toFixed(2);
}

function int(n: number): string {
  return Math.round(n).toLocaleString('en');
}

function ms(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function pad(s: string, w: number, left = false): string {
  return left ? s.padEnd(w) : s.padStart(w);
}

/** Index of the 50 % rate (the gate's figure), or the middle rate. */
export function gateRateIndex(sc: ScenarioResult): number {
  const i = sc.rates.findIndex((r) => r.pct === 50);
  return i >= 0 ? i : sc.rates.length >> 1;
}

/**
 * Which generator timed a scenario's latency, for the table's and the HTML's headers: "paced generator" or
 * "autocannon overallRate, paced every 5 ms/connection"; both, joined, if runs differ. Runs written before the
 * choice existed were paced; autocannon runs written before the pacing override read "CO-corrected at …".
 */
export function latencyGeneratorLabel(sc: ScenarioResult): string {
  const labels = new Set<string>();
  for (const p of Object.values(sc.proxies)) {
    for (const l of p.latency) {
      for (const r of l.runs) {
        if (r.generator !== 'autocannon') labels.add('paced generator');
        else if (r.connectionIntervalUs !== undefined) labels.add(`autocannon overallRate, paced every ${ms3(r.connectionIntervalUs)} ms/connection`);
        else {
          const at = r.expectedIntervalUs !== undefined ? ` at ${ms3(r.expectedIntervalUs)} ms/connection` : '';
          labels.add(`autocannon overallRate, CO-corrected${at}`);
        }
      }
    }
  }
  return labels.size ? [...labels].join(' + ') : 'paced generator';
}

/** µs → ms, three significant digits. */
function ms3(us: number): number {
  return +(us / 1000).toPrecision(3);
}

/** Failures by kind over every run of one figure; runs from before the breakdown count as "failed (no detail)". */
function figureFailures(runs: readonly { errors: number; non2xx: number; failures?: Failures }[]): Failures {
  const f = mergeFailures(runs.map((r) => r.failures));
  const missing = runs.reduce((n, r) => n + (r.failures ? 0 : r.errors + r.non2xx), 0);
  if (missing > 0) f['failed (no detail)'] = missing;
  return f;
}

/**
 * What the `!` after a proxy's name stands for, one clause per figure that had failures, e.g.
 * "throughput (wrk, 3 runs): 67,785 read errors (wrk), 67,785 status ≥ 400 (wrk)"; [] when every run was clean.
 */
export function troubleDetails(sc: ScenarioResult, p: ProxyScenarioResult): string[] {
  const out: string[] = [];
  const runs = (n: number): string => `${n} run${n === 1 ? '' : 's'}`;
  const tp = figureFailures(p.throughput.runs);
  if (failureTotal(tp) > 0) out.push(`throughput (${sc.throughputTool}, ${runs(p.throughput.runs.length)}): ${describeFailures(tp)}`);
  p.latency.forEach((l, i) => {
    const f = figureFailures(l.runs);
    // Requests neither answered nor failed (older results counted unanswered ones nowhere else).
    const lost = l.runs.reduce((n, r) => n + Math.max(0, r.sent - r.completed - r.errors), 0);
    if (lost > 0 && l.runs.some((r) => r.completed < r.sent * 0.99)) f['unanswered'] = (f['unanswered'] ?? 0) + lost;
    if (failureTotal(f) > 0) out.push(`latency @${sc.rates[i]?.pct ?? '?'}% (${runs(l.runs.length)}): ${describeFailures(f)}`);
  });
  return out;
}

export function scenarioTable(sc: ScenarioResult): string {
  const names = Object.keys(sc.proxies);
  const gi = gateRateIndex(sc);
  const others = sc.rates.map((r, i) => ({ ...r, i })).filter((r) => r.i !== gi);
  const nginx = sc.proxies['nginx'];
  const direct = sc.proxies['direct'];
  const out: string[] = [];
  out.push(`${sc.id} — ${sc.title}`);
  out.push(`  throughput: closed loop, ${sc.throughputTool}${sc.toolNote ? ` (${sc.toolNote})` : ''}`);
  out.push(
    `  latency: open loop (${latencyGeneratorLabel(sc)}) at ${sc.rates.map((r) => `${r.pct}% = ${int(r.rps)}`).join(', ')} req/s of the slowest proxy's throughput; ms, median of rounds`,
  );
  if (sc.generatorNote) out.push(`  generator: ${sc.generatorNote}`);
  // The name column fits the longest name (gatemesh-native-free-nopolicy is 29 characters), room for " !".
  const nameW = Math.max(22, ...names.map((nm) => nm.length + 2));
  const head =
    pad('proxy', nameW, true) +
    pad('req/s', 10) +
    pad('×nginx', 8) +
    pad('×direct', 8) +
    ' │' +
    pad(`p50`, 8) +
    pad('p90', 8) +
    pad('p99', 8) +
    pad('p99.9', 8) +
    pad('max', 8) +
    pad('p99×ngx', 9) +
    others.map((r) => pad(`p99@${r.pct}%`, 10)).join('');
  out.push(`  ${' '.repeat(nameW + 26)} │ latency @${sc.rates[gi]?.pct ?? '?'}% (the gate's figure)`);
  out.push('  ' + head);
  out.push('  ' + '─'.repeat(head.length));
  let anyTrouble = false;
  for (const nm of names) {
    const p = sc.proxies[nm];
    const l = p.latency[gi]?.median;
    const bad = troubleDetails(sc, p).length > 0;
    anyTrouble ||= bad;
    out.push(
      '  ' +
        pad(nm + (bad ? ' !' : ''), nameW, true) +
        pad(int(p.throughput.median), 10) +
        pad(ratio(p.throughput.median, nginx?.throughput.median), 8) +
        pad(ratio(p.throughput.median, direct?.throughput.median), 8) +
        ' │' +
        (l
          ? pad(ms(l.p50), 8) + pad(ms(l.p90), 8) + pad(ms(l.p99), 8) + pad(ms(l.p999), 8) + pad(ms(l.max), 8) + pad(ratio(l.p99, nginx?.latency[gi]?.median.p99), 9)
          : '') +
        others.map((r) => pad(p.latency[r.i] ? ms(p.latency[r.i].median.p99) : '–', 10)).join(''),
    );
  }
  if (anyTrouble) {
    out.push('  ! failed requests, non-2xx answers or requests unanswered at the end of a run, by kind, summed over the runs:');
    for (const nm of names) for (const d of troubleDetails(sc, sc.proxies[nm])) out.push(`    ${nm}: ${d}`);
  }
  for (const nm of names) if (sc.proxies[nm].note) out.push(`  ${nm}: ${sc.proxies[nm].note}`);
  for (const [nm, why] of Object.entries(sc.failed)) out.push(`  ${nm}: did not run: ${why}`);
  return out.join('\n');
}

/** Issue 5: policies on keep at least this share of the policies-off req/s. */
export const POLICIES_ON_OFF_TARGET = 0.9;

export interface PoliciesOnOff {
  /** The gatemesh proxy, e.g. gatemesh-uws. */
  name: string;
  /** Its req/s in the `policies` scenario (median of rounds). */
  on: number;
  /** Its policies-off req/s: the `-nopolicy` row of the same scenario, else its `small-get` figure. */
  off: number;
  offName: string;
  ratio: number;
  source: 'same-scenario' | 'small-get';
  /**
   * same-scenario only: on ÷ off per round (round r's two runs were measured in the same rotation), to show the
   * ratio's own spread; [] when the round counts differ.
   */
  rounds: number[];
}

/**
 * Issue 5's policies on ÷ off figure, per gatemesh proxy of the `policies` scenario. The denominator is its
 * `-nopolicy` row from the same scenario when there is one (measured in the same interleaved rounds, so machine
 * drift hits both alike); else, for runs without it, its `small-get` req/s from the same run (measured minutes
 * apart: drift between the scenarios lands in the ratio). Proxies with neither are left out.
 */
export function policiesOnOff(r: Pick<BenchResults, 'proxies' | 'scenarios'>): PoliciesOnOff[] {
  const on = r.scenarios.find((s) => s.id === 'policies');
  if (on === undefined) return [];
  const small = r.scenarios.find((s) => s.id === 'small-get');
  const kind = new Map(r.proxies.map((p) => [p.name, p.kind]));
  const out: PoliciesOnOff[] = [];
  for (const [name, res] of Object.entries(on.proxies)) {
    if (isPoliciesOff(name) || (kind.get(name) ?? (name.startsWith('gatemesh') ? 'gatemesh' : 'peer')) !== 'gatemesh') continue;
    const offName = policiesOffName(name);
    const row = on.proxies[offName];
    const same = row !== undefined && row.throughput.median > 0 ? row : undefined;
    const base = same ?? small?.proxies[name];
    if (base === undefined || !(base.throughput.median > 0)) continue;
    out.push({
      name,
      on: res.throughput.median,
      off: base.throughput.median,
      offName: same ? offName : name,
      ratio: res.throughput.median / base.throughput.median,
      source: same ? 'same-scenario' : 'small-get',
      rounds:
        same && same.throughput.runs.length === res.throughput.runs.length
          ? res.throughput.runs.map((x, i) => x.rps / same.throughput.runs[i].rps)
          : [],
    });
  }
  return out;
}

export function renderTable(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`gatemesh bench (${r.mode}) · ${m.cores} cores, ${m.cpuModel} · Node ${m.node} · ${m.kernel}`);
  out.push(
    `${m.pinning} · upstream: ${r.upstream} · ${r.settings.threads} thread(s) per proxy · ${r.settings.connections} connections · ${r.settings.rounds} interleaved rounds · open-loop generator: ${r.settings.openLoopGenerator ?? 'paced'}`,
  );
  const skipped = r.proxies.filter((p) => p.skipped);
  for (const p of skipped) out.push(`skipped ${p.name}: ${p.skipped}`);
  out.push(
    'peers: ' +
      r.proxies
        .filter((p) => !p.skipped)
        .map((p) => `${p.name} (${p.version})`)
        .join(', '),
  );
  out.push('ratios: req/s ÷ the same figure of nginx / direct (higher is faster); p99×ngx = p99 ÷ nginx p99 (higher is slower)');
  for (const sc of r.scenarios) out.push('', scenarioTable(sc));
  const onOff = policiesOnOff(r);
  if (onOff.length) {
    // Issue 5: with policies on the gateway keeps >= 0.9x the req/s it reaches with them off.
    out.push('', `policies on ÷ off (req/s, median of rounds; target ≥ ${POLICIES_ON_OFF_TARGET.toFixed(2)}):`);
    for (const x of onOff) {
      const how =
        x.source === 'same-scenario'
          ? `policies ${int(x.on)} ÷ ${x.offName} ${int(x.off)}, same scenario, interleaved rounds` +
            (x.rounds.length > 1 ? `; per round ${x.rounds.map((v) => v.toFixed(3)).join(' ')}` : '')
          : `policies ${int(x.on)} ÷ small-get ${int(x.off)}, separate scenarios: drift between them is in the ratio`;
      const below = x.ratio < POLICIES_ON_OFF_TARGET;
      // Three decimals, or four when three would round a ratio just under the target up to it (0.8998 → "0.900").
      let shown = x.ratio.toFixed(3);
      if (Number(shown) >= POLICIES_ON_OFF_TARGET && below) shown = x.ratio.toFixed(4);
      out.push(`  ${x.name}: ${shown} (${how})${below ? ' below target' : ''}`);
    }
  }
  for (const mb of r.micro) {
    out.push('', `micro: ${mb.name} (${(mb.ms / 1000).toFixed(1)} s${mb.exitCode === 0 ? '' : `, exit ${mb.exitCode}`})`);
    out.push(
      mb.stdout
        .trimEnd()
        .split('\n')
        .map((l) => '  ' + l)
        .join('\n'),
    );
    if (mb.exitCode !== 0 && mb.stderr.trim()) out.push('  stderr: ' + mb.stderr.trim().split('\n').slice(-3).join(' | '));
  }
  return out.join('\n');
}
