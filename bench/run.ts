// `npm run bench`: the end-to-end suite (gatemesh against nginx, HAProxy, the Node proxies and direct), the
// micro-benchmarks, then the terminal table, bench/results/<timestamp>.json and .html. See bench/README.md.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_HELP, COMMON_HELP, DEFAULT_OPEN_LOOP_GENERATOR, parseArgs, UsageError, type BenchArgs } from './harness/args';
import { AutocannonVersionError } from './harness/autocannon-pacing';
import { listMicro, runMicro } from './harness/micro';
import { RESULTS_DIR } from './harness/paths';
import { planPinning } from './harness/processes';
import { allProxies } from './harness/proxies';
import { renderHtml } from './harness/report-html';
import { renderTable } from './harness/report-table';
import type { BenchResults, RunSettings } from './harness/results';
import { QUICK_SCENARIOS, SCENARIOS, type Scenario } from './harness/scenarios';
import { runSuite } from './harness/suite';

export function settingsFor(a: BenchArgs): RunSettings {
  return {
    connections: a.connections ?? 50,
    rounds: a.rounds ?? 3,
    warmupMs: (a.warmupS ?? (a.quick ? 1 : 2)) * 1000,
    throughputMs: (a.throughputS ?? (a.quick ? 2 : 4)) * 1000,
    latencyMs: (a.latencyS ?? (a.quick ? 3 : 4)) * 1000,
    threads: a.threads ?? 1,
    ratePcts: a.rates ?? (a.quick ? [50] : [25, 50, 75]),
    openLoopGenerator: a.openLoopGenerator ?? DEFAULT_OPEN_LOOP_GENERATOR,
  };
}

export function pickScenarios(names: string[] | undefined, fallback: readonly string[] | null): Scenario[] {
  const wanted = names ?? fallback;
  if (!wanted) return [...SCENARIOS];
  return wanted.map((n) => {
    const s = SCENARIOS.find((x) => x.id === n);
    if (!s) throw new UsageError(`unknown scenario ${n}; known: ${SCENARIOS.map((x) => x.id).join(', ')}`);
    return s;
  });
}

/** Writes <out>/<timestamp>.json and .html; returns their paths. */
export function writeResults(r: BenchResults, outDir: string): { json: string; html: string } {
  mkdirSync(outDir, { recursive: true });
  const stamp = r.startedAt.replace(/[:.]/g, '-');
  const json = path.join(outDir, `${stamp}-${r.mode}.json`);
  const html = path.join(outDir, `${stamp}-${r.mode}.html`);
  writeFileSync(json, JSON.stringify(r, null, 1) + '\n');
  writeFileSync(html, renderHtml(r));
  return { json, html };
}

async function main(argv: string[]): Promise<number> {
  let a: BenchArgs;
  try {
    a = parseArgs(argv, false);
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\nusage: npm run bench -- [options]\n${COMMON_HELP}\n${BENCH_HELP}\n`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(`usage: npm run bench -- [options]\n${COMMON_HELP}\n${BENCH_HELP}\n`);
    return 0;
  }
  const scenarios = pickScenarios(a.scenarios, a.quick ? QUICK_SCENARIOS : null);
  const proxies = allProxies({ only: a.proxies });
  const pin = planPinning(!a.pin);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'gatemesh-bench-'));
  try {
    const results = await runSuite({
      mode: a.quick ? 'quick' : 'full',
      argv,
      scenarios,
      proxies,
      settings: settingsFor(a),
      pin,
      tmp,
      wrk: a.wrk,
      quiet: a.quiet,
    });
    if (a.micro) {
      for (const name of listMicro()) {
        if (!a.quiet) process.stderr.write(`micro-benchmark ${name}…\n`);
        results.micro.push(await runMicro(name, pin, a.quick, a.quick ? 60_000 : 180_000));
      }
    }
    results.finishedAt = new Date().toISOString();
    process.stdout.write(renderTable(results) + '\n');
    const files = writeResults(results, a.out ?? RESULTS_DIR);
    process.stdout.write(`\nresults: ${path.relative(process.cwd(), files.json)}\nreport:  ${path.relative(process.cwd(), files.html)}\n`);
    return 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      if (e instanceof UsageError) process.stderr.write(`bench: ${e.message}\n`);
      else if (e instanceof AutocannonVersionError) process.stderr.write(`bench: setup error: ${e.message}\n`);
      else process.stderr.write(`bench: setup error: ${e.stack ?? e.message}\n`);
      process.exit(2);
    },
  );
}
