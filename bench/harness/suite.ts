// One end-to-end run: start the upstream, then per scenario start every proxy, check it answers correctly, warm it
// up, measure closed-loop throughput and open-loop latency in interleaved rounds (round r runs the proxies in an
// order rotated by r, so a drift in machine speed hits everyone alike), and keep the median of each figure.
import http from 'node:http';
import net from 'node:net';
import { runAutocannon, runWrk, type ClosedLoopResult, type LoadRequest } from './closed-loop';
import { describeMachine } from './machine';
import { DEFAULT_OPEN_LOOP_GENERATOR, type OpenLoopChoice, type OpenLoopGenerator } from './args';
import { runOpenLoop, type OpenLoopResult } from './open-loop';
import { AutocannonVersionError, installAutocannonPacing } from './autocannon-pacing';
import { runAutocannonOpenLoop } from './open-loop-autocannon';
import { hasCommand, pinPrefix, pinSelf, type Pinning } from './processes';
import { createProgress, type Progress } from './progress';
import { createResponseReader } from './response-reader';
import { isPoliciesOff, runsIn, startUpstream, type ProxySpec, type RunningProxy } from './proxies';
import type { BenchResults, LatencyRun, ProxyInfo, RunSettings, ScenarioResult, ThroughputRun } from './results';
import { rawRequest, requestHeaders, type Scenario } from './scenarios';
import { encodeHistogram, median, medianPercentiles, percentilesOf } from './stats';

export interface SuiteOptions {
  mode: BenchResults['mode'];
  argv: string[];
  scenarios: readonly Scenario[];
  proxies: readonly ProxySpec[];
  settings: RunSettings;
  pin: Pinning;
  tmp: string;
  /** Per scenario id, the open-loop generator to ask for instead of `settings.openLoopGenerator` (the gate: the one
   * its baseline took that scenario's p99 with). */
  openLoopGenerators?: Record<string, OpenLoopChoice>;
  /** Why those, for each scenario's note when it is not `auto` (default "asked for"). */
  openLoopWhy?: string;
  /** auto: wrk when autocannon's ceiling < 1.5 × the fastest proxy (the rule). */
  wrk: 'auto' | 'always' | 'never';
  quiet: boolean;
}

/** autocannon must reach this multiple of the fastest proxy, or its own limit would cap the proxies' figures. */
export const CEILING_FACTOR = 1.5;
/** Per proxy per scenario: start-up and the correctness probe, for the time estimate only. */
const START_S = 2;

export async function runSuite(o: SuiteOptions): Promise<BenchResults> {
  const startedAt = new Date().toISOString();
  const machine = describeMachine(o.pin.note);
  pinSelf(o.pin);
  // Recorded, so that the JSON never leaves it to the "absent means paced" of older results.
  const asked = o.settings.openLoopGenerator ?? DEFAULT_OPEN_LOOP_GENERATOR;
  const s: RunSettings = { ...o.settings, openLoopGenerator: asked };
  // Before anything starts: the pacing override refuses an autocannon it was not written for. Asked for by name, that
  // ends the run (exit 2); under `auto` it only takes autocannon out of the choice, and each scenario's note says so.
  const choices = o.scenarios.map((sc) => openLoopGeneratorFor(o.openLoopGenerators?.[sc.id] ?? asked, sc));
  if (choices.includes('autocannon')) installAutocannonPacing();
  let autocannonUnusable: string | null = null;
  if (choices.includes('auto')) {
    try {
      installAutocannonPacing();
    } catch (e) {
      if (!(e instanceof AutocannonVersionError)) throw e;
      autocannonUnusable = e.message;
    }
  }
  // A proxy that runs in none of the chosen scenarios (e.g. a `-nopolicy` variant without `policies`) is left out.
  const used = o.proxies.filter((p) => o.scenarios.some((sc) => runsIn(p, sc.table)));
  const infos: ProxyInfo[] = used.map((p) => {
    const why = p.unavailable();
    return { name: p.name, kind: p.kind, version: why ? '' : p.version(), ...(why ? { skipped: why } : {}) };
  });
  const runnable = used.filter((p) => !infos.find((i) => i.name === p.name)!.skipped);

  const plan = planSuite(o.scenarios, runnable, s);
  const progress = createProgress(plan.seconds, plan.steps, o.quiet);
  for (const i of infos) if (i.skipped) progress.note(`skipped ${i.name}: ${i.skipped}`);
  progress.note(o.pin.note);

  const upstream = await startUpstream(o.tmp, o.pin);
  progress.note(`upstream: ${upstream.engine} on 127.0.0.1:${upstream.port}`);
  const scenarios: ScenarioResult[] = [];
  try {
    for (const sc of o.scenarios) {
      scenarios.push(await runScenario({ ...o, settings: s }, sc, proxiesFor(runnable, sc), upstream.port, progress, autocannonUnusable));
    }
  } finally {
    await upstream.stop();
    progress.done();
  }
  return {
    schema: 1,
    mode: o.mode,
    startedAt,
    finishedAt: new Date().toISOString(),
    argv: o.argv,
    machine,
    upstream: upstream.engine,
    settings: s,
    proxies: infos,
    scenarios,
    micro: [],
  };
}

/** The proxies that run in one scenario, in the suite's order: those whose `tables` include its route table. */
export function proxiesFor<T extends Pick<ProxySpec, 'tables'>>(specs: readonly T[], sc: Pick<Scenario, 'table'>): T[] {
  return specs.filter((p) => runsIn(p, sc.table));
}

/** Planned seconds and progress steps of a whole run, scenario by scenario (each with its own proxy count). */
export function planSuite(
  scenarios: readonly Scenario[],
  specs: readonly Pick<ProxySpec, 'tables'>[],
  s: Pick<RunSettings, 'warmupMs' | 'rounds' | 'throughputMs' | 'ratePcts' | 'latencyMs'>,
): { seconds: number; steps: number } {
  let seconds = 0;
  let steps = 0;
  for (const sc of scenarios) {
    const n = proxiesFor(specs, sc).length;
    seconds += n * START_S + (n * s.warmupMs) / 1000 + (s.rounds * n * s.throughputMs) / 1000 + (s.ratePcts.length * s.rounds * n * (s.latencyMs + 500)) / 1000;
    // One "starting" step, one warm-up per proxy, then per round one throughput and one latency run per rate each.
    steps += 1 + n + s.rounds * n * (1 + s.ratePcts.length);
  }
  return { seconds, steps };
}

/**
 * The closed-loop req/s that sets the open-loop rates: the slowest proxy's, ceiling excluded, and policies-off
 * variants excluded too (they are gatemesh without the work under test; they must not move the rate every other
 * proxy is measured at). Falls back to whatever ran when nothing else did.
 */
export function slowestForRates(medians: ReadonlyMap<string, number>, kindOf: (name: string) => ProxySpec['kind']): number {
  const names = [...medians.keys()];
  const proxies = names.filter((nm) => kindOf(nm) !== 'ceiling');
  const counted = proxies.filter((nm) => !isPoliciesOff(nm));
  const pick = counted.length ? counted : proxies.length ? proxies : names;
  return Math.min(...pick.map((nm) => medians.get(nm)!));
}

/** One request through the proxy, checked for status 200 and the exact body size before any load. */
function probe(port: number, sc: Scenario): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: sc.method, path: sc.path, headers: requestHeaders(sc), agent: false, timeout: 5000 },
      (res) => {
        let bytes = 0;
        res.on('data', (d: Buffer) => (bytes += d.length));
        res.on('end', () => {
          if (res.statusCode !== 200) resolve(`answered ${res.statusCode} to ${sc.method} ${sc.path}`);
          else if (bytes !== sc.responseBytes) resolve(`answered ${bytes} B, expected ${sc.responseBytes} B`);
          else resolve(null);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', (e) => resolve(e.message));
    req.end(sc.body);
  });
}

/** How long after its answer to a `Connection: close` request a proxy gets to close the connection. */
const CLOSE_GRACE_MS = 1000;

/**
 * For `new-conn`: does the proxy close the connection after answering a `Connection: close` request, as RFC 9112
 * §9.6 requires? wrk and autocannon keep using a connection the response leaves open, so a proxy that does not close
 * gets its next requests on the same connection: not the scenario's one connection per request (fastify-proxy
 * before its hop-by-hop fix: every other request a 400 plus a read error). null when it closes, else what it did.
 */
export function closesAfterClose(port: number, sc: Scenario): Promise<string | null> {
  return new Promise((resolve) => {
    let answered = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const socket = net.connect({ port, host: '127.0.0.1' });
    const settle = (why: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const reader = createResponseReader(() => {
      answered = true;
      clearTimeout(timer);
      timer = setTimeout(
        () => settle(`kept the connection open ${CLOSE_GRACE_MS} ms after answering a \`Connection: close\` request (RFC 9112 §9.6); the closed-loop generators reuse it`),
        CLOSE_GRACE_MS,
      );
    });
    socket.on('data', (d: Buffer) => {
      try {
        reader.push(d);
      } catch (e) {
        settle(`unreadable answer: ${(e as Error).message}`);
      }
    });
    socket.on('end', () => settle(answered ? null : 'closed without answering'));
    socket.on('error', (e) => settle(answered ? null : e.message));
    socket.write(rawRequest(sc, port));
    timer = setTimeout(() => settle('no answer within 5 s'), 5000);
  });
}

function rotate<T>(list: readonly T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

async function runScenario(
  o: SuiteOptions,
  sc: Scenario,
  specs: readonly ProxySpec[],
  upstreamPort: number,
  progress: Progress,
  autocannonUnusable: string | null,
): Promise<ScenarioResult> {
  const s = o.settings;
  const failed: Record<string, string> = {};
  const running = new Map<string, RunningProxy>();
  const ctx = { tmp: o.tmp, upstreamPort, pin: o.pin, threads: s.threads };
  progress.step(`${sc.id} · starting ${specs.length} proxies`, START_S * specs.length);
  const started = await Promise.allSettled(specs.map((p) => p.start(ctx, sc.table)));
  started.forEach((r, i) => {
    if (r.status === 'fulfilled') running.set(specs[i].name, r.value);
    else failed[specs[i].name] = String((r.reason as Error).message ?? r.reason).split('\n').slice(0, 3).join(' ').slice(0, 300);
  });
  try {
    for (const [name, rp] of running) {
      const bad = await probe(rp.port, sc);
      if (bad) {
        failed[name] = bad;
        running.delete(name);
        await rp.stop();
        continue;
      }
      // Not a reason to skip it: it is measured as it behaves, and the note says why its figures may not be
      // one connection per request. The direct upstream (nginx) closes as it should.
      const open = sc.newConnection ? await closesAfterClose(rp.port, sc) : null;
      if (open) {
        rp.note = rp.note ? `${rp.note}; ${open}` : open;
        progress.note(`${sc.id}: ${name} ${open}`);
      }
    }
    for (const [name, why] of Object.entries(failed)) progress.note(`${sc.id}: ${name} did not run: ${why}`);
    const names = [...running.keys()];
    const req = (port: number): LoadRequest => ({ port, method: sc.method, path: sc.path, headers: requestHeaders(sc), body: sc.body });
    const isPeerOrUs = (nm: string): boolean => specs.find((p) => p.name === nm)!.kind !== 'ceiling';

    for (const nm of names) {
      progress.step(`${sc.id} · warm-up · ${nm}`, s.warmupMs / 1000);
      await runAutocannon({ request: req(running.get(nm)!.port), connections: s.connections, durationMs: s.warmupMs });
    }

    // Closed loop. Round 1 with autocannon doubles as the ceiling probe.
    const tp = new Map<string, ThroughputRun[]>(names.map((nm) => [nm, []]));
    let tool: 'autocannon' | 'wrk' = o.wrk === 'always' && hasCommand('wrk') ? 'wrk' : 'autocannon';
    let toolNote = tool === 'wrk' ? 'wrk requested (--wrk)' : '';
    let autocannonCeiling = NaN;
    const measure = async (nm: string, t: 'autocannon' | 'wrk', round: number): Promise<ThroughputRun> => {
      progress.step(`${sc.id} · throughput (${t}, ${s.connections} conns) · round ${round}/${s.rounds} · ${nm}`, s.throughputMs / 1000);
      running.get(nm)!.beforeRun?.();
      const opts = { request: req(running.get(nm)!.port), connections: s.connections, durationMs: s.throughputMs };
      const r: ClosedLoopResult =
        t === 'wrk' ? await runWrk(opts, o.tmp, pinPrefix(o.pin.generatorCpus, o.pin), o.pin.generatorCoreCount) : await runAutocannon(opts);
      return {
        rps: r.rps,
        non2xx: r.non2xx,
        errors: r.errors,
        ...(Object.keys(r.failures).length ? { failures: r.failures } : {}),
        ...(r.histogram ? { percentiles: percentilesOf(r.histogram) } : {}),
        ...(r.raw ? { wrkLatency: r.raw } : {}),
      };
    };
    for (let round = 1; round <= s.rounds; round++) {
      for (const nm of rotate(names, round - 1)) tp.get(nm)!.push(await measure(nm, tool, round));
      if (round === 1 && tool === 'autocannon' && o.wrk !== 'never' && names.includes('direct')) {
        autocannonCeiling = tp.get('direct')![0].rps;
        const fastest = Math.max(0, ...names.filter(isPeerOrUs).map((nm) => tp.get(nm)![0].rps));
        const ratio = autocannonCeiling / fastest;
        if (fastest > 0 && ratio < CEILING_FACTOR) {
          if (hasCommand('wrk')) {
            tool = 'wrk';
            toolNote = `wrk: autocannon's ceiling ${fmtK(autocannonCeiling)} req/s is only ${ratio.toFixed(2)}× the fastest proxy (< ${CEILING_FACTOR}×)`;
            for (const nm of names) tp.set(nm, []);
            // wrk's first run after autocannon's connections close has read far below the rest (seen: direct 7.5k
            // against 85k): one short discarded wrk run per proxy first.
            for (const nm of names) {
              progress.step(`${sc.id} · wrk warm-up · ${nm}`, 1);
              await runWrk({ request: req(running.get(nm)!.port), connections: s.connections, durationMs: 1000 }, o.tmp, pinPrefix(o.pin.generatorCpus, o.pin), o.pin.generatorCoreCount);
            }
            // Extra work: a wrk warm-up per proxy, and round 1 again.
            progress.plan((names.length * (s.throughputMs + 1000)) / 1000, 2 * names.length);
            round = 0; // restart the rounds with wrk
            progress.note(`${sc.id}: ${toolNote}`);
          } else {
            toolNote = `autocannon (wrk not installed): its ceiling ${fmtK(autocannonCeiling)} req/s is only ${ratio.toFixed(2)}× the fastest proxy, figures may be generator-bound`;
            progress.note(`${sc.id}: ${toolNote}`);
          }
        } else if (fastest > 0) {
          toolNote = `autocannon: its ceiling ${fmtK(autocannonCeiling)} req/s is ${ratio.toFixed(2)}× the fastest proxy (≥ ${CEILING_FACTOR}×)`;
        }
      }
    }
    if (tool === 'autocannon' && names.includes('direct')) autocannonCeiling = median(tp.get('direct')!.map((r) => r.rps));

    const tpMedian = new Map(names.map((nm) => [nm, median(tp.get(nm)!.map((r) => r.rps))]));
    const slowest = slowestForRates(tpMedian, (nm) => specs.find((p) => p.name === nm)!.kind);
    const rates = s.ratePcts.map((pct) => ({ pct, rps: Math.max(1, Math.round((slowest * pct) / 100)) }));

    // Open loop, one rate at a time, interleaved rounds within each rate.
    const asked = o.openLoopGenerators?.[sc.id] ?? s.openLoopGenerator ?? DEFAULT_OPEN_LOOP_GENERATOR; // set by runSuite
    let generator: OpenLoopGenerator;
    let generatorNote: string;
    const choice = openLoopGeneratorFor(asked, sc);
    if (choice !== 'auto') {
      generator = choice;
      generatorNote = sc.newConnection
        ? 'paced: autocannon cannot open a connection per request'
        : `${choice}: ${(o.openLoopGenerators?.[sc.id] && o.openLoopWhy) || 'asked for'}`;
    } else if (autocannonUnusable) {
      generator = 'paced';
      generatorNote = `paced: autocannon unusable here (${autocannonUnusable})`;
    } else if (!running.has('direct')) {
      generator = 'paced';
      generatorNote = 'paced: no direct-to-upstream run to probe autocannon against';
    } else {
      const top = Math.max(...rates.map((r) => r.rps));
      const probeRate = Math.round(top * AUTOCANNON_HEADROOM);
      progress.plan(GENERATOR_PROBE_MS / 1000 + 0.5, 1);
      progress.step(`${sc.id} · can autocannon send ${probeRate} req/s? (${AUTOCANNON_HEADROOM}× the top rate, against direct)`, GENERATOR_PROBE_MS / 1000 + 0.5);
      const r = await runAutocannonOpenLoop({ request: req(running.get('direct')!.port), rate: probeRate, durationMs: GENERATOR_PROBE_MS, warmupMs: OPEN_LOOP_WARMUP_MS, connections: s.connections });
      ({ generator, note: generatorNote } = chooseOpenLoopGenerator(r, probeRate));
    }
    if (generator !== asked) progress.note(`${sc.id}: open-loop generator ${generatorNote}`);
    const lat = new Map<string, LatencyRun[][]>(names.map((nm) => [nm, rates.map(() => [])]));
    for (let ri = 0; ri < rates.length; ri++) {
      const rate = rates[ri];
      for (let round = 1; round <= s.rounds; round++) {
        for (const nm of rotate(names, round - 1)) {
          progress.step(`${sc.id} · latency (${generator}) @${rate.pct}% = ${rate.rps} req/s · round ${round}/${s.rounds} · ${nm}`, s.latencyMs / 1000 + 0.5);
          running.get(nm)!.beforeRun?.();
          const port = running.get(nm)!.port;
          const common = { rate: rate.rps, durationMs: s.latencyMs, warmupMs: OPEN_LOOP_WARMUP_MS, connections: s.connections };
          let connectionIntervalUs: number | undefined;
          let r: OpenLoopResult;
          if (generator === 'autocannon') {
            const ac = await runAutocannonOpenLoop({ ...common, request: req(port) });
            connectionIntervalUs = Math.round(ac.connectionIntervalUs);
            r = ac;
          } else {
            r = await runOpenLoop({ ...common, port, request: rawRequest(sc, port), newConnectionPerRequest: sc.newConnection });
          }
          lat.get(nm)![ri].push({
            generator,
            ...(connectionIntervalUs !== undefined ? { connectionIntervalUs } : {}),
            percentiles: percentilesOf(r.histogram),
            sent: r.sent,
            completed: r.completed,
            errors: r.errors,
            non2xx: r.non2xx,
            ...(Object.keys(r.failures).length ? { failures: r.failures } : {}),
            achievedRate: Math.round(r.achievedRate),
            histogram: encodeHistogram(r.histogram),
          });
        }
      }
    }

    const proxies: ScenarioResult['proxies'] = {};
    for (const nm of names) {
      proxies[nm] = {
        note: running.get(nm)!.note,
        throughput: { median: tpMedian.get(nm)!, runs: tp.get(nm)! },
        latency: lat.get(nm)!.map((runs) => ({ median: medianPercentiles(runs.map((r) => r.percentiles)), runs })),
      };
    }
    return { id: sc.id, title: sc.title, throughputTool: tool, toolNote, autocannonCeiling, openLoopGenerator: generator, generatorNote, rates, proxies, failed };
  } finally {
    await Promise.all([...running.values()].map((rp) => rp.stop()));
  }
}

/** Sent but not recorded at the start of every open-loop run, by either generator. */
const OPEN_LOOP_WARMUP_MS = 500;

/**
 * The generator asked for a scenario's latency, before `auto` is resolved: as asked, except that `new-conn` stays with
 * the paced generator, since autocannon has no connection-per-request mode: its `reconnectRate` resets the connection
 * before emitting the response (lib/httpClient.js kOnMessageComplete, line 92), so with `reconnectRate: 1` no response
 * is ever reported, and it opens the next connection right after a response instead of when the request is due.
 */
export function openLoopGeneratorFor(asked: OpenLoopChoice, sc: Pick<Scenario, 'newConnection'>): OpenLoopChoice {
  return sc.newConnection ? 'paced' : asked;
}

/**
 * `auto` gives a scenario's latency to autocannon only when, in this run, it sent this multiple of the scenario's top
 * open-loop rate to the direct upstream and kept up (chooseOpenLoopGenerator). The margin is for the proxies' runs:
 * the top rate against a proxy costs the generator as much as against direct, and a run is 2–4× the probe's length.
 */
export const AUTOCANNON_HEADROOM = 1.25;
/** The probe's measured window, ms (after OPEN_LOOP_WARMUP_MS). */
const GENERATOR_PROBE_MS = 1500;
/**
 * Kept up: the median request to direct within this, ms. Direct answers a small GET in 0.1–0.6 ms at these rates
 * when the generator has CPU to spare; a generator that has fallen behind times its requests from when they were due,
 * so its median climbs to tens or hundreds of ms (seen: 161 ms at 22k req/s, 573 ms at 30k, 2-core dev VM) while
 * paced's stays under 1 ms at the same rates.
 */
export const PROBE_MAX_P50_MS = 2;
/** Kept up: completed at least this share of the probe rate, every answer a 2xx and no socket error. */
export const PROBE_MIN_RATE_SHARE = 0.98;

/**
 * Resolves `auto` from autocannon's probe against direct at `probeRate` req/s: autocannon when it kept up, else the
 * paced generator (our own, about half autocannon's CPU per request, so it keeps up where autocannon does not). The
 * note says which and why with the probe's figures, for the table, the HTML and the JSON.
 */
export function chooseOpenLoopGenerator(
  r: Pick<OpenLoopResult, 'histogram' | 'achievedRate' | 'errors' | 'non2xx'>,
  probeRate: number,
): { generator: OpenLoopGenerator; note: string } {
  const p50 = r.histogram.getValueAtPercentile(50) / 1000;
  const figures = `${fmtK(Math.round(r.achievedRate))} req/s completed, p50 ${p50.toFixed(2)} ms, ${r.errors + r.non2xx} failed`;
  const held = p50 <= PROBE_MAX_P50_MS && r.achievedRate >= PROBE_MIN_RATE_SHARE * probeRate && r.errors + r.non2xx === 0;
  return held
    ? { generator: 'autocannon', note: `autocannon: it kept up with ${fmtK(probeRate)} req/s against direct (${figures})` }
    : {
        generator: 'paced',
        note:
          `paced: autocannon could not keep up with ${fmtK(probeRate)} req/s against direct (${figures}; ` +
          `needs p50 ≤ ${PROBE_MAX_P50_MS} ms, ≥ ${PROBE_MIN_RATE_SHARE * 100} % of the rate, no failures)`,
      };
}

export function fmtK(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n));
}
