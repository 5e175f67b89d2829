// `npm run bench:gate`: the release gate. Measures gatemesh (both front ends) and a reference peer in the same run,
// turns the figures into ratios (p99 at the 50 % rate, closed-loop req/s) and compares them with bench/baseline.json.
// Exit 0: pass. Exit 1: regression (p99 ratio +10 % or throughput ratio −5 %, confirmed by a second run).
// Exit 2: usage or setup error (no baseline, no peer, gatemesh not built or not starting).
// Exit 3: the machine was too noisy to tell a regression from noise (no verdict; .ci/run reports it and goes on).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { COMMON_HELP, parseArgs, UsageError, type BenchArgs, type OpenLoopChoice, type OpenLoopGenerator } from './harness/args';
import { AutocannonVersionError } from './harness/autocannon-pacing';
import {
  compareRatios,
  NOISE_FACTOR,
  poolRuns,
  DEFAULT_THRESHOLDS,
  formatChecks,
  openLoopMismatches,
  PEER_PREFERENCE,
  ratiosOf,
  scenarioGenerators,
  type Baseline,
  type Comparison,
  type RatioTable,
} from './harness/compare';
import { BASELINE_FILE, RESULTS_DIR } from './harness/paths';
import { planPinning } from './harness/processes';
import { allProxies, gatemeshSpec, isPoliciesOff, runsIn, type ProxySpec } from './harness/proxies';
import { renderTable } from './harness/report-table';
import type { BenchResults } from './harness/results';
import { median } from './harness/stats';
import { openLoopGeneratorFor, runSuite } from './harness/suite';
import { pickScenarios, settingsFor, writeResults } from './run';

const GATE_QUICK_SCENARIOS = ['small-get'];
const GATE_FULL_SCENARIOS = ['small-get', 'post-4k', 'new-conn', 'routes-10k', 'policies'];
/** More rounds than the bench: p99 on a shared machine is spiky, and the median of 5 paired rounds holds better. */
const GATE_ROUNDS = 5;
/** Whole runs behind a baseline (`--update`). */
const UPDATE_RUNS = 3;

class SetupError extends Error {}

const HELP = `usage: npm run bench:gate -- [--quick] [--update] [options]
  --update                rewrite bench/baseline.json from the median of 3 runs (exit 0)
  --baseline FILE         baseline file (default bench/baseline.json)
  --baseline-dir DIR      a built checkout of the baseline gatemesh: measured in the same run, interleaved, and
                          used as the reference instead of a peer (for machines with no peer installed)
  --no-confirm            decide on the first run (default: on a regression, run again and decide on both runs' rounds)
  --input FILE            compare an existing results JSON instead of running (no confirmation)
${COMMON_HELP}`;

/**
 * The gate's proxies: direct, the reference (a peer, or the baseline build) and both gatemesh front ends. The
 * `-nopolicy` variants are left out: they are the bench's on ÷ off denominator, not a build under test, and the
 * baseline has no ratios for them.
 */
export function gateProxies(a: Pick<BenchArgs, 'baselineDir' | 'proxies'>): { proxies: ProxySpec[]; reference: string[] } {
  const all = allProxies().filter((p) => !isPoliciesOff(p.name));
  const subjects = all.filter((p) => p.kind === 'gatemesh');
  const broken = subjects.filter((p) => p.unavailable());
  if (broken.length) throw new SetupError(broken.map((p) => `${p.name}: ${p.unavailable()}`).join('; '));
  if (a.baselineDir) {
    const dir = path.resolve(a.baselineDir);
    const base = [gatemeshSpec('baseline-uws', 'uws', dir), gatemeshSpec('baseline-native-free', 'native-free', dir)];
    const bad = base.filter((p) => p.unavailable());
    if (bad.length) throw new SetupError(bad.map((p) => `${p.name}: ${p.unavailable()}`).join('; '));
    return { proxies: [all.find((p) => p.kind === 'ceiling')!, ...base, ...subjects], reference: base.map((p) => p.name) };
  }
  const wanted = a.proxies ?? PEER_PREFERENCE;
  const peer = wanted.map((n) => all.find((p) => p.name === n && p.kind === 'peer')).find((p) => p && !p.unavailable());
  if (!peer) {
    const why = all
      .filter((p) => p.kind === 'peer')
      .map((p) => `${p.name}: ${p.unavailable() ?? 'not selected'}`)
      .join('; ');
    throw new SetupError(`no reference peer available (${why}); install nginx (apt-get install nginx-light) or pass --baseline-dir`);
  }
  return { proxies: [all.find((p) => p.kind === 'ceiling')!, peer, ...subjects], reference: [peer.name] };
}

async function measure(a: BenchArgs, proxies: ProxySpec[], argv: string[], generators: Record<string, OpenLoopChoice>, why: string): Promise<BenchResults> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'gatemesh-gate-'));
  try {
    const settings = settingsFor({ ...a, quick: true });
    settings.rounds = a.rounds ?? GATE_ROUNDS;
    if (!a.quick) {
      settings.throughputMs = (a.throughputS ?? 3) * 1000;
      settings.latencyMs = (a.latencyS ?? 4) * 1000;
    }
    settings.ratePcts = [50];
    const r = await runSuite({
      mode: a.quick ? 'gate-quick' : 'gate',
      argv,
      scenarios: pickScenarios(a.scenarios, a.quick ? GATE_QUICK_SCENARIOS : GATE_FULL_SCENARIOS),
      proxies,
      settings,
      openLoopGenerators: generators,
      openLoopWhy: why,
      pin: planPinning(!a.pin),
      tmp,
      // One throughput tool for the baseline and every candidate, or their ratios would not compare: wrk whenever it is
      // installed (autocannon cannot saturate nginx on one core), rather than the bench's per-run ceiling decision.
      wrk: a.wrk === 'auto' ? 'always' : a.wrk,
      quiet: a.quiet,
    });
    for (const sc of r.scenarios) {
      const table = pickScenarios([sc.id], null)[0].table;
      const missing = proxies.filter((p) => runsIn(p, table) && !sc.proxies[p.name]).map((p) => p.name);
      if (missing.length) {
        throw new SetupError(`${sc.id}: ${missing.map((n) => `${n} did not run (${sc.failed[n] ?? 'unknown'})`).join('; ')}`);
      }
    }
    return r;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** With --baseline-dir the reference is the baseline build itself: its ratio is 1 by definition. */
function candidateTable(r: BenchResults, a: BenchArgs): { candidate: RatioTable; baseline: RatioTable | null } {
  if (!a.baselineDir) return { candidate: ratiosOf(r), baseline: null };
  const raw = ratiosOf(
    r,
    (n) => n.startsWith('gatemesh-') && !isPoliciesOff(n),
    (n) => n.startsWith('baseline-') && !isPoliciesOff(n),
  );
  const candidate: RatioTable = {};
  const baseline: RatioTable = {};
  for (const [sc, byProxy] of Object.entries(raw)) {
    for (const [proxy, byPeer] of Object.entries(byProxy)) {
      const ref = `baseline-${proxy.slice('gatemesh-'.length)}`;
      if (!byPeer[ref]) continue;
      ((candidate[sc] ??= {})[proxy] ??= {})[ref] = byPeer[ref];
      ((baseline[sc] ??= {})[proxy] ??= {})[ref] = { p99: 1, throughput: 1 };
    }
  }
  return { candidate, baseline };
}

/** Per-entry median of several runs' ratio tables (entries missing from a run are left out of its median). */
function medianTable(tables: RatioTable[]): RatioTable {
  const out: RatioTable = {};
  for (const [sc, byProxy] of Object.entries(tables[0])) {
    for (const [proxy, byPeer] of Object.entries(byProxy)) {
      for (const peer of Object.keys(byPeer)) {
        const seen = tables.map((t) => t[sc]?.[proxy]?.[peer]).filter((x) => x !== undefined);
        ((out[sc] ??= {})[proxy] ??= {})[peer] = {
          p99: median(seen.map((x) => x.p99)),
          throughput: median(seen.map((x) => x.throughput)),
        };
      }
    }
  }
  return out;
}

function readBaseline(file: string): Baseline {
  if (!existsSync(file)) throw new SetupError(`no baseline at ${file}: run npm run bench:gate -- --update (or --quick --update)`);
  const b = JSON.parse(readFileSync(file, 'utf8')) as Baseline;
  if (b.schema !== 1 || !b.ratios) throw new SetupError(`${file}: not a gate baseline (schema 1)`);
  return b;
}

/**
 * Refuses (exit 2) to compare p99 ratios taken by different open-loop generators: autocannon and the paced generator
 * put different p99s on the same proxies (bench/README.md), so the ratio would move with the tool, not the build.
 */
export function checkGenerators(b: Pick<Baseline, 'ratios' | 'openLoopGenerators'>, candidate: Record<string, string>, file: string, measuring = true): void {
  const bad = openLoopMismatches(b, candidate);
  if (!bad.length) return;
  const theirs = [...new Set(Object.keys(candidate).filter((sc) => b.ratios[sc]).map((sc) => b.openLoopGenerators?.[sc] ?? 'paced'))];
  const hint = measuring && theirs.length === 1 ? `, or gate with --open-loop-generator ${theirs[0]}` : '';
  throw new SetupError(
    `${path.relative(process.cwd(), file) || file} took its p99 ratios with another open-loop generator than this run (${bad.join('; ')}): ` +
      `they do not compare. Re-baseline with npm run bench:gate -- --update (--quick --update writes small-get only)${hint}`,
  );
}

/**
 * The generator each gated scenario's latency will be measured with: the one asked for by name; else the one the
 * baseline took that scenario's p99 with (so that p99s are always compared like with like: a baseline taken with
 * `paced` keeps being compared with paced runs until it is re-baselined); else `auto`, resolved by the run's probe
 * (suite.ts chooseOpenLoopGenerator). `new-conn` is always paced (suite.ts openLoopGeneratorFor).
 */
export function plannedGenerators(a: Pick<BenchArgs, 'scenarios' | 'quick' | 'openLoopGenerator'>, b: Pick<Baseline, 'ratios' | 'openLoopGenerators'> | null): Record<string, OpenLoopChoice> {
  const scenarios = pickScenarios(a.scenarios, a.quick ? GATE_QUICK_SCENARIOS : GATE_FULL_SCENARIOS);
  const pick = (id: string): OpenLoopChoice => {
    if (a.openLoopGenerator && a.openLoopGenerator !== 'auto') return a.openLoopGenerator;
    if (b?.ratios[id]) return b.openLoopGenerators?.[id] ?? 'paced';
    return 'auto';
  };
  return Object.fromEntries(scenarios.map((sc) => [sc.id, openLoopGeneratorFor(pick(sc.id), sc)]));
}

async function main(argv: string[]): Promise<number> {
  const a = parseArgs(argv, true);
  if (a.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const baselineFile = path.resolve(a.baseline ?? BASELINE_FILE);
  const thresholds = DEFAULT_THRESHOLDS;

  if (a.input) {
    const r = JSON.parse(readFileSync(a.input, 'utf8')) as BenchResults;
    const b = readBaseline(baselineFile);
    checkGenerators(b, scenarioGenerators(r), baselineFile, false);
    const cmp = compareRatios(b.ratios, ratiosOf(r), b.thresholds ?? thresholds);
    process.stdout.write(formatChecks(cmp.checks) + '\n');
    return verdict(cmp.checks, cmp.unmatched);
  }

  const baseline = a.update || a.baselineDir ? null : readBaseline(baselineFile);
  let generators = plannedGenerators(a, baseline);
  let generatorsWhy = a.openLoopGenerator && a.openLoopGenerator !== 'auto' ? 'asked for' : "the baseline's p99 was taken with it";
  if (baseline) checkGenerators(baseline, generators, baselineFile);
  for (const [sc, g] of Object.entries(generators)) {
    if ((!a.openLoopGenerator || a.openLoopGenerator === 'auto') && g !== 'auto' && !pickScenarios([sc], null)[0].newConnection) {
      process.stdout.write(`${sc}: latency by the ${g} generator, as its baseline's p99 (--update re-baselines it, choosing by the probe)\n`);
    }
  }
  const { proxies } = gateProxies(a);
  const run = async (): Promise<{ r: BenchResults; cmp: Comparison | null; table: RatioTable }> => {
    const r = await measure(a, proxies, argv, generators, generatorsWhy);
    // What `auto` chose must match the baseline too (checked before measuring for everything else).
    if (baseline) checkGenerators(baseline, scenarioGenerators(r), baselineFile, false);
    process.stdout.write(renderTable(r) + '\n');
    const files = writeResults(r, a.out ?? RESULTS_DIR);
    process.stdout.write(`results: ${path.relative(process.cwd(), files.json)}\nreport:  ${path.relative(process.cwd(), files.html)}\n\n`);
    const { candidate, baseline: sameRun } = candidateTable(r, a);
    const base = sameRun ?? baseline?.ratios;
    return { r, table: candidate, cmp: base ? compareRatios(base, candidate, baseline?.thresholds ?? thresholds) : null };
  };

  const first = await run();
  if (a.update) {
    // The committed ratios are the median of UPDATE_RUNS whole runs: one noisy run must not become the bar.
    const tables = [first.table];
    // Every run of the update with the generators the first one chose, so that the median is of like with like.
    generators = { ...generators, ...(scenarioGenerators(first.r) as Record<string, OpenLoopGenerator>) };
    generatorsWhy = "this update's first run chose it";
    for (let i = 1; i < UPDATE_RUNS; i++) {
      process.stdout.write(`baseline: run ${i + 1} of ${UPDATE_RUNS}\n`);
      tables.push((await run()).table);
    }
    const out: Baseline = {
      schema: 1,
      createdAt: first.r.startedAt,
      machine: `${first.r.machine.cores} cores, ${first.r.machine.cpuModel}, Node ${first.r.machine.node}, upstream ${first.r.upstream}`,
      mode: first.r.mode,
      thresholds,
      ratios: medianTable(tables),
      openLoopGenerators: scenarioGenerators(first.r) as Record<string, OpenLoopGenerator>,
    };
    writeFileSync(baselineFile, JSON.stringify(out, null, 2) + '\n');
    process.stdout.write(`baseline written: ${path.relative(process.cwd(), baselineFile)}\n`);
    for (const [sc, byProxy] of Object.entries(out.ratios)) {
      for (const [proxy, byPeer] of Object.entries(byProxy)) {
        for (const [peer, v] of Object.entries(byPeer)) {
          process.stdout.write(`  ${sc} ${proxy} vs ${peer}: p99 ${v.p99.toFixed(3)}, req/s ${v.throughput.toFixed(3)}\n`);
        }
      }
    }
    return 0;
  }
  process.stdout.write(formatChecks(first.cmp!.checks) + '\n');
  if (!a.confirm || first.cmp!.checks.every((c) => c.ok)) return verdict(first.cmp!.checks, first.cmp!.unmatched);
  process.stdout.write('\nregression or noise seen: measuring once more; the verdict uses the rounds of both runs together\n\n');
  const second = await run();
  const pooled = poolRuns([first.r, second.r]);
  const { candidate, baseline: sameRun } = candidateTable(pooled, a);
  const final = compareRatios(sameRun ?? baseline!.ratios, candidate, baseline?.thresholds ?? thresholds);
  process.stdout.write(`second run alone:\n${formatChecks(second.cmp!.checks)}\n\nboth runs' ${2 * pooled.settings.rounds} rounds together:\n${formatChecks(final.checks)}\n`);
  return verdict(final.checks, final.unmatched);
}

function verdict(checks: { ok: boolean; noisy: boolean }[], unmatched: string[]): number {
  for (const u of unmatched) process.stdout.write(`no baseline for ${u} (new): not gated\n`);
  if (checks.length === 0) {
    process.stdout.write('gate: nothing to compare (baseline and run share no scenario/proxy/peer)\n');
    return 2;
  }
  const bad = checks.filter((c) => !c.ok && !c.noisy);
  const noisy = checks.filter((c) => c.noisy);
  if (bad.length) {
    process.stdout.write(`\ngate: FAIL (${bad.length} regression${bad.length > 1 ? 's' : ''})\n`);
    return 1;
  }
  if (noisy.length) {
    // Exit 3, not 0: a gate that passes whatever it measures is worse than none; the caller sees "no verdict".
    process.stdout.write(`\ngate: cannot decide: ${noisy.length} figure(s) too noisy (the rounds spread over more than ${NOISE_FACTOR}× the threshold); rerun on an idle machine\n`);
    return 3;
  }
  process.stdout.write('\ngate: pass\n');
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      if (e instanceof UsageError) process.stderr.write(`bench:gate: ${e.message}\n${HELP}\n`);
      else if (e instanceof SetupError || e instanceof AutocannonVersionError) process.stderr.write(`bench:gate: setup error: ${e.message}\n`);
      else process.stderr.write(`bench:gate: setup error: ${e.stack ?? e.message}\n`);
      process.exit(2);
    },
  );
}
