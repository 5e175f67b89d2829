// Hot-reload benchmark (issue 4, "Hot reload without dropped requests"): how long a reload takes
// at 10,000 HTTPRoute rules, what one changed route costs, whether memory stays flat over 1,000
// reloads, and whether any request fails while the config is reloaded 100 times under load.
//
//   npx tsc -p . && node dist/bench/reload.js            # full: 10,000 routes, 2 min under load
//   node dist/bench/reload.js --quick                    # same sizes, 25 s under load
//   options: --routes 10000 --per-file 10 --reloads 1000 --load-seconds 120 --load-reloads 100 --gateway-reloads 1000
//            --threads 2 --connections 50 --frontend uws|native-free
//   node dist/bench/reload.js --listener-churn 1000      # part 3 only: memory over listener add/remove reloads
//
// Part 1 runs the reload pipeline in this process, step by step, with the functions the gateway
// uses (main thread: loadConfig with its cache, the delta encoder; worker: the decoder and
// compileRuntime), against the peer this replaces: a full reload (load without cache,
// structured-clone the whole config to the worker, compile everything). Part 2 runs the real
// gateway (bin/gatemesh.js, worker threads, file watch) with autocannon driving traffic while the
// config files are rewritten, and reads each reload's timings from its "config applied" log line.
// Route matching cost at 10,000 routes is bench/micro/route-match.ts (run at the end).
// Part 3 (--listener-churn N, on its own) reloads a real gateway N times, each reload adding or
// removing a listener on a new port, and samples its threads' heap after a full GC and its RSS
// every 100 reloads, on each front end, against N route-only reloads of a fresh gateway (the peer:
// known flat). `--frontend` limits it to one front end. `--routes` defaults to 100 here.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

import { loadConfig, type LoadResult } from '../src/config/load';
import { createConfigCache } from '../src/config/manifest-memo';
import type { GatewayConfig } from '../src/config/model';
import { compileRuntime, groupListeners, type ProxyRuntime } from '../src/proxy';
import { createDeltaDecoder, createDeltaEncoder } from '../src/reload/config-delta';
import { configHash } from '../src/reload/config-hash';
import { createPools } from '../src/upstream/pool';
import { freePort, sleep } from './harness/processes';
import { BENCH_DIST, ROOT } from './harness/paths';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
function sarg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const QUICK = process.argv.includes('--quick');
/** Part 3: listener add/remove reloads per front end (0 = parts 1 and 2 instead). */
const CHURN = arg('--listener-churn', 0);
const ROUTES = arg('--routes', CHURN > 0 ? 100 : 10_000);
const PER_FILE = arg('--per-file', 10);
const RELOADS = arg('--reloads', 1000);
const LOAD_SECONDS = arg('--load-seconds', QUICK ? 25 : 120);
const LOAD_RELOADS = arg('--load-reloads', 100);
/** One-route reloads through the idle gateway (timing median, thread heap trend). */
const GATEWAY_RELOADS = arg('--gateway-reloads', QUICK ? 200 : 1000);
const THREADS = arg('--threads', 2);
const CONNECTIONS = arg('--connections', 50);
const FRONTEND = sarg('--frontend', 'uws');
/** Distinct hostnames the routes spread over (several routes per host, as real clusters have). */
const HOSTS = 100;

// --- the generated config ------------------------------------------------------------------------

const GATEWAY = (upstreamPort: number, extraListener: boolean) => `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: gm }
spec: { controllerName: gatemesh.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  gatewayClassName: gm
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners:
    - { name: web, port: 0, protocol: HTTP }
${extraListener ? '    - { name: extra, port: 0, protocol: HTTP }\n' : ''}---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: default }
spec: { ports: [{ port: 80, targetPort: ${upstreamPort} }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-1, namespace: default, labels: { kubernetes.io/service-name: echo } }
addressType: IPv4
ports: [{ port: ${upstreamPort} }]
endpoints: [{ addresses: ["127.0.0.1"] }]
`;

/** One HTTPRoute with one rule (so 10,000 routes = 10,000 rules); `rev` changes its path. */
function routeDoc(i: number, rev: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r${i}, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z" }
spec:
  parentRefs: [{ name: gw, sectionName: web }]
  hostnames: ["h${i % HOSTS}.example.com"]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /svc-${i}${rev === 0 ? '' : `-v${rev}`}/ } }]
      backendRefs: [{ name: echo, port: 80 }]
`;
}

class ConfigDir {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatemesh-reload-bench-'));
  readonly rev: number[] = new Array<number>(ROUTES).fill(0);
  constructor(readonly upstreamPort: number) {
    this.writeGateway(false);
    for (let f = 0; f * PER_FILE < ROUTES; f++) this.writeFile(f);
  }
  fileOf(route: number): string {
    return path.join(this.dir, `routes-${String(Math.floor(route / PER_FILE)).padStart(5, '0')}.yaml`);
  }
  writeFile(f: number): void {
    const docs: string[] = [];
    for (let i = f * PER_FILE; i < Math.min(ROUTES, (f + 1) * PER_FILE); i++) docs.push(routeDoc(i, this.rev[i]));
    atomicWrite(this.fileOf(f * PER_FILE), docs.join('---\n'));
  }
  writeGateway(extra: boolean): void {
    atomicWrite(path.join(this.dir, '00-gateway.yaml'), GATEWAY(this.upstreamPort, extra));
  }
  /** Changes one route (its path), rewriting its file; returns the file's path. */
  change(route: number): string {
    this.rev[route]++;
    this.writeFile(Math.floor(route / PER_FILE));
    return this.fileOf(route);
  }
  changeAll(): void {
    for (let i = 0; i < ROUTES; i++) this.rev[i]++;
    for (let f = 0; f * PER_FILE < ROUTES; f++) this.writeFile(f);
  }
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function atomicWrite(file: string, text: string): void {
  fs.writeFileSync(file + '.tmp', text);
  fs.renameSync(file + '.tmp', file);
}

// --- small statistics ------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const ms = (x: number): string => x.toFixed(x < 10 ? 2 : 1);
const mb = (b: number): string => (b / 1048576).toFixed(1) + ' MiB';
function time<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, performance.now() - t0];
}

const rows: string[][] = [];
function row(section: string, what: string, value: string, peer = '', note = ''): void {
  rows.push([section, what, value, peer, note]);
  process.stderr.write(`  ${section}: ${what}: ${value}${peer ? ` (peer ${peer})` : ''}\n`);
}
function printTable(): void {
  const head = ['part', 'measure', 'gatemesh', CHURN > 0 ? 'peer: route-only reloads' : 'peer: full reload', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

// --- part 1: the pipeline in-process ----------------------------------------------------------------

/** One thread's view: what src/worker.ts keeps between applies. */
function workerSide() {
  const pools = createPools({ maxConnections: 16, connectTimeoutMs: 1000, idleTimeoutMs: 1000 });
  const decoder = createDeltaDecoder();
  let runtime: ProxyRuntime | undefined;
  return {
    apply(delta: ReturnType<ReturnType<typeof createDeltaEncoder>['diff']>['delta']): number {
      const t0 = performance.now();
      const config = decoder.apply(structuredClone(delta)); // what postMessage costs, both ends
      runtime = compileRuntime(config, groupListeners(config), pools, runtime);
      return performance.now() - t0;
    },
    get runtime() {
      return runtime!;
    },
    close: () => pools.closeAll(),
  };
}

/** The peer's apply: the whole config cloned to the thread (postMessage), compiled from scratch. */
function peerApply(config: GatewayConfig): number {
  const pools = createPools({ maxConnections: 16, connectTimeoutMs: 1000, idleTimeoutMs: 1000 });
  const [, apply] = time(() => {
    const copy = structuredClone(config) as GatewayConfig;
    compileRuntime(copy, groupListeners(copy), pools);
  });
  pools.closeAll();
  return apply;
}

/** The peer: a full reload (every file parsed again, everything cloned and compiled). */
function peerFullReload(dir: string): { load: number; apply: number } {
  const [loaded, load] = time(() => loadConfig(dir));
  return { load, apply: peerApply(loaded.config) };
}

function matchNs(runtime: ProxyRuntime, route: number, rev: number): number {
  const table = runtime.tables[0]!;
  const host = `h${route % HOSTS}.example.com`;
  const p = `/svc-${route}${rev === 0 ? '' : `-v${rev}`}/items/42`;
  const headers = ['host', host, 'accept', '*/*'];
  if (table.match(host, 'GET', p, '', headers) === null) throw new Error(`reload bench: ${host}${p} did not match`);
  const samples: number[] = [];
  for (let round = 0; round < 7; round++) {
    const n = 200_000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) table.match(host, 'GET', p, '', headers);
    samples.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return median(samples);
}

/**
 * All rules, three rounds, each from scratch. Its own function so that nothing it touches stays
 * reachable from partInProcess's closures (which would pin the first config's file texts).
 */
function measureAll(config: GatewayConfig, dir: string, cache: ReturnType<typeof createConfigCache>) {
  let encoder = createDeltaEncoder();
  let worker = workerSide();
  const all = { validate: [] as number[], diff: [] as number[], apply: [] as number[], peer: [] as number[] };
  for (let round = 0; round < 3; round++) {
    all.validate.push(time(() => loadConfig(dir, { files: cache.files, manifests: { base: null, files: new Map() } }))[1]);
    cache.files.endLoad();
    worker.close();
    encoder = createDeltaEncoder();
    worker = workerSide();
    const [pending, d] = time(() => encoder.diff(config));
    encoder.commit(pending);
    all.diff.push(d);
    all.apply.push(worker.apply(pending.delta));
    all.peer.push(peerApply(config));
  }
  return { encoder, worker, all };
}

async function partInProcess(): Promise<void> {
  const cfg = new ConfigDir(1);
  const section = `in-process, ${ROUTES} routes`;
  try {
    // Cold: every file parsed (YAML dominates), the model compiled once per route file.
    // Nothing loaded here is kept past its step: strings parsed from YAML are slices of their
    // file's text, so a kept config would pin old file versions and fake a leak in the heap figure.
    const cache = createConfigCache();
    let [first, cold] = time((): LoadResult | null => loadConfig(cfg.dir, cache));
    cache.files.endLoad();
    const rules = first!.config.listeners.reduce((n, l) => n + l.routes.reduce((m, r) => m + r.rules.length, 0), 0);
    const peer0 = peerFullReload(cfg.dir);
    row(section, 'cold load: read + parse YAML + validate', ms(cold) + ' ms', ms(peer0.load) + ' ms', `${rules} rules in ${Math.ceil(ROUTES / PER_FILE)} files; the yaml package parses ~2 MB/s`);
    // All rules, three rounds (median; the first also pays for JIT warm-up), each from scratch:
    // validate + compile the model from the parsed files (a throwaway manifest memo, not kept: it
    // would pin the files' old documents for the rest of the run), then diff, post to a thread,
    // build its runtime, swap. Peer: structured-clone the whole config to the thread and compile.
    const { encoder, worker, all } = measureAll(first!.config, cfg.dir, cache);
    first = null;
    const allMs = median(all.diff.map((d, i) => d + all.apply[i]));
    row(section, 'all rules: compile + apply (from the validated model), median of 3', ms(allMs) + ' ms', ms(median(all.peer)) + ' ms',
      `target < 200 ms; diff ${ms(median(all.diff))} + thread ${ms(median(all.apply))}`);
    row(section, 'all rules: validate + compile + apply (YAML already parsed), median of 3', ms(median(all.validate) + allMs) + ' ms', ms(median(all.validate) + median(all.peer)) + ' ms',
      `validate ${ms(median(all.validate))}`);

    // One changed route, 30 times (a different route each time).
    const steps = { load: [] as number[], diff: [] as number[], apply: [] as number[], total: [] as number[], peer: [] as number[] };
    for (let k = 0; k < 30; k++) {
      const route = (k * 337) % ROUTES;
      // What the gateway's file watch passes on: the file its events named.
      cache.files.expectChanges(new Set([cfg.change(route)]));
      const [loaded, load] = time(() => loadConfig(cfg.dir, cache));
      cache.files.endLoad();
      const [p, diff] = time(() => encoder.diff(loaded.config));
      encoder.commit(p);
      if (p.changedRoutes !== 1) throw new Error(`reload bench: expected 1 changed route, got ${p.changedRoutes}`);
      const apply = worker.apply(p.delta);
      steps.load.push(load);
      steps.diff.push(diff);
      steps.apply.push(apply);
      steps.total.push(load + diff + apply);
      if (k < 5) {
        const pf = peerFullReload(cfg.dir);
        steps.peer.push(pf.load + pf.apply);
      }
    }
    row(section, 'one changed route: load + diff + apply, median', ms(median(steps.total)) + ' ms', ms(median(steps.peer)) + ' ms',
      `target < 20 ms; load ${ms(median(steps.load))} (parse 1 file of ${PER_FILE}) + diff ${ms(median(steps.diff))} + thread ${ms(median(steps.apply))}; p90 ${ms(pct(steps.total, 90))}`);

    // Matching on the table built incrementally (30 reloads in) vs a fresh one.
    const incremental = matchNs(worker.runtime, 7, cfg.rev[7]);
    const pools = createPools({ maxConnections: 16, connectTimeoutMs: 1000, idleTimeoutMs: 1000 });
    const freshNs = ((): number => {
      const last = loadConfig(cfg.dir, cache);
      cache.files.endLoad();
      return matchNs(compileRuntime(last.config, groupListeners(last.config), pools), 7, cfg.rev[7]);
    })();
    row(section, 'route match after 30 incremental reloads, median', incremental.toFixed(0) + ' ns', freshNs.toFixed(0) + ' ns', 'target < 1 µs; peer = a freshly compiled table');
    pools.closeAll();

    // Memory over RELOADS reloads: heap after a full GC, after a warm-up vs at the end.
    const reloadOnce = (k: number): void => {
      cache.files.expectChanges(new Set([cfg.change((k * 7919) % ROUTES)]));
      const loaded = loadConfig(cfg.dir, cache);
      cache.files.endLoad();
      const p = encoder.diff(loaded.config);
      encoder.commit(p);
      worker.apply(p.delta);
    };
    for (let k = 0; k < 50; k++) reloadOnce(k);
    gc();
    gc();
    const before = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const heaps: number[] = [];
    for (let k = 50; k < 50 + RELOADS; k++) {
      reloadOnce(k);
      if ((k - 50) % Math.max(1, Math.floor(RELOADS / 10)) === 0) {
        gc();
        heaps.push(process.memoryUsage().heapUsed);
      }
    }
    gc();
    gc();
    const afterHeap = process.memoryUsage().heapUsed;
    const perReload = (performance.now() - t0) / RELOADS;
    row(section, `heap after ${RELOADS} reloads (after GC)`, `${mb(before)} → ${mb(afterHeap)} (${afterHeap >= before ? '+' : ''}${((afterHeap - before) / 1024).toFixed(0)} KiB)`, '',
      `samples every ${Math.floor(RELOADS / 10)}: ${heaps.map((h) => (h / 1048576).toFixed(1)).join(' ')} MiB; ${ms(perReload)} ms per reload`);
    const hashOf = (): number => {
      const current = loadConfig(cfg.dir, cache);
      cache.files.endLoad();
      return time(() => configHash(current.config))[1];
    };
    const hashCold = hashOf();
    cfg.change(4242);
    const hashOne = hashOf();
    row(section, 'config hash (sha256 over canonical JSON) after one changed route', ms(hashOne) + ' ms', ms(hashCold) + ' ms',
      'peer = hashing every route (start-up); computed once the threads serve the new config, off the apply path');
    worker.close();
  } finally {
    cfg.remove();
  }
}

// --- part 2: the real gateway under load -----------------------------------------------------------

interface Applied {
  version: number;
  applyMs: number;
  loadMs: number;
  workerMs: number;
  threadHeapMb: number;
}

class GatewayProcess {
  readonly applied: Applied[] = [];
  private err = '';
  ports: number[] = [];
  adminPort = 0;
  constructor(readonly child: ChildProcess) {}
  /** `exposeGc`: each thread reports its heap after a full GC (src/worker.ts); the GCs cost time, so not for timings. */
  static async start(configDir: string, exposeGc = false, frontend = FRONTEND): Promise<GatewayProcess> {
    const child = spawn(process.execPath, [...(exposeGc ? ['--expose-gc'] : []), path.join(ROOT, 'bin/gatemesh.js'), '--config', configDir], {
      env: { ...process.env, GATEMESH_FRONTEND: frontend, GATEMESH_THREADS: String(THREADS), GATEMESH_ADMIN_ADDR: '127.0.0.1:0', GATEMESH_ACCESS_LOG: 'off', GATEMESH_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const g = new GatewayProcess(child);
    let buf = '';
    const listening = new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`gateway exited (${code}):\n${g.err.slice(-2000)}`)));
      child.stderr!.on('data', (d: Buffer) => {
        g.err = (g.err + d.toString()).slice(-20000);
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.startsWith('{')) continue;
          const rec = JSON.parse(line) as Record<string, unknown>;
          if (rec.msg === 'gatemesh listening') {
            g.ports = (rec.listeners as { port: number }[]).map((l) => l.port);
            g.adminPort = Number(String(rec.admin).split(':').pop());
            resolve();
          } else if (rec.msg === 'config applied') {
            g.applied.push({ version: rec.version as number, applyMs: rec.applyMs as number, loadMs: rec.loadMs as number, workerMs: rec.workerMs as number, threadHeapMb: rec.threadHeapMb as number });
          } else if (typeof rec.msg === 'string' && rec.msg.startsWith('config reload rejected')) {
            process.stderr.write(`  gateway: ${rec.msg}\n`);
          }
        }
      });
    });
    await listening;
    return g;
  }
  async waitVersion(v: number, timeoutMs = 60_000): Promise<Applied> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const a = this.applied.find((x) => x.version === v);
      if (a) return a;
      if (Date.now() > until) throw new Error(`reload bench: version ${v} not applied in ${timeoutMs} ms:\n${this.err.slice(-2000)}`);
      await sleep(2);
    }
  }
  rssKb(): number {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${this.child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  }
  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
      setTimeout(() => this.child.kill('SIGKILL'), 10_000).unref();
    });
  }
}

interface AutocannonResult {
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  resets?: number;
  requests: { average: number; total: number };
  latency: { p99: number; max: number };
}
// autocannon ships no types; this is the slice we use.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (opts: Record<string, unknown>, cb: (err: Error | null, res: AutocannonResult) => void) => { stop(): void };

async function partUnderLoad(): Promise<void> {
  const upstreamPort = await freePort();
  const upstream = spawn(process.execPath, [path.join(BENCH_DIST, 'upstream.js'), String(upstreamPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    upstream.stdout!.on('data', (d: Buffer) => (d.toString().startsWith('ready') ? resolve() : undefined));
    upstream.once('exit', () => reject(new Error('reload bench: upstream exited')));
  });
  const cfg = new ConfigDir(upstreamPort);
  const section = `gateway, ${THREADS} threads, ${FRONTEND}`;
  let gw: GatewayProcess | null = null;
  try {
    const t0 = performance.now();
    gw = await GatewayProcess.start(cfg.dir);
    row(section, 'start-up with all routes (parse + compile + bind)', ms(performance.now() - t0) + ' ms');
    let version = 1;

    // Quiet reloads first: one changed route, then every route changed.
    const one: Applied[] = [];
    for (let k = 0; k < 30; k++) {
      cfg.change((k * 541) % ROUTES);
      one.push(await gw.waitVersion(++version));
    }
    row(section, 'one changed route, end to end (idle), median', ms(median(one.map((a) => a.applyMs))) + ' ms', '',
      `target < 20 ms; from the debounced change to every thread serving it: load ${ms(median(one.map((a) => a.loadMs)))}, slowest thread ${ms(median(one.map((a) => a.workerMs)))}`);
    cfg.changeAll();
    const all = await gw.waitVersion(++version);
    row(section, 'every route changed, end to end (idle)', ms(all.applyMs) + ' ms', '', `load (YAML parse + validate) ${ms(all.loadMs)}, slowest thread ${ms(all.workerMs)}`);

    // Under load: autocannon on a hot route while the files are rewritten LOAD_RELOADS times.
    const hot = 0;
    const hotPath = () => `/svc-${hot}${cfg.rev[hot] === 0 ? '' : `-v${cfg.rev[hot]}`}/x`;
    const rssBefore = gw.rssKb();
    const firstUnderLoad = version + 1;
    const result = new Promise<AutocannonResult>((resolve, reject) => {
      autocannon(
        { url: `http://127.0.0.1:${gw!.ports[0]}${hotPath()}`, headers: { host: `h${hot % HOSTS}.example.com` }, connections: CONNECTIONS, duration: LOAD_SECONDS, timeout: 10 },
        (err, res) => (err ? reject(err) : resolve(res)),
      );
    });
    const spacing = (LOAD_SECONDS * 1000 * 0.9) / LOAD_RELOADS;
    await sleep(spacing / 2);
    let listenerChanges = 0;
    for (let k = 0; k < LOAD_RELOADS; k++) {
      const t = performance.now();
      if (k % 10 === 9) {
        // Every tenth reload adds or removes a second listener (its own socket, opened or drained).
        cfg.writeGateway(listenerChanges++ % 2 === 0);
      } else {
        // Any route but the hot one (autocannon keeps one URL): 1 + k so consecutive reloads touch different files.
        cfg.change(1 + ((k * 7919) % (ROUTES - 1)));
      }
      await gw.waitVersion(++version);
      const left = spacing - (performance.now() - t);
      if (left > 0) await sleep(left);
    }
    const r = await result;
    const underLoad = gw.applied.filter((a) => a.version >= firstUnderLoad);
    const failed = r.non2xx + r.errors + r.timeouts + (r.resets ?? 0);
    row(section, `requests failed while reloading ${LOAD_RELOADS} times in ${LOAD_SECONDS} s`, String(failed), '',
      `${r['2xx']} × 2xx, non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}; ${Math.round(r.requests.average)} req/s, p99 ${r.latency.p99} ms, max ${r.latency.max} ms; ${CONNECTIONS} connections`);
    row(section, 'reload under load, end to end, median / p99', `${ms(median(underLoad.map((a) => a.applyMs)))} / ${ms(pct(underLoad.map((a) => a.applyMs), 99))} ms`, '',
      `${underLoad.length} reloads (${listenerChanges} added or removed a listener)`);
    row(section, 'gateway RSS before → after the load run', `${(rssBefore / 1024).toFixed(0)} → ${(gw.rssKb() / 1024).toFixed(0)} MiB`, '', 'whole process, all threads; informational (heap is measured in part 1)');
    if (failed !== 0) process.exitCode = 1;
    await gw.stop();

    // Memory of the threads over many reloads: a second gateway whose threads GC before reporting.
    gw = await GatewayProcess.start(cfg.dir, true);
    version = 1;
    const reloads: Applied[] = [];
    for (let k = 0; k < GATEWAY_RELOADS; k++) {
      // Every 50th reload also adds or removes a listener (a socket opened, or drained and closed).
      if (k % 50 === 49) cfg.writeGateway(k % 100 === 49);
      else cfg.change((k * 541) % ROUTES);
      reloads.push(await gw.waitVersion(++version));
    }
    const n = Math.max(1, Math.floor(reloads.length / 10));
    const heaps: number[] = [];
    for (let i = 0; i + n <= reloads.length; i += n) heaps.push(Math.min(...reloads.slice(i, i + n).map((a) => a.threadHeapMb)));
    row(section, `worker thread heap after GC over ${GATEWAY_RELOADS} reloads`, `${heaps[0]} → ${heaps[heaps.length - 1]} MiB`, '',
      `min per tenth: ${heaps.join(' ')}; largest thread; node --expose-gc`);
  } finally {
    await gw?.stop();
    upstream.kill('SIGTERM');
    cfg.remove();
  }
}

// --- part 3: memory over listener add/remove reloads -------------------------------------------------

interface ChurnSample {
  reloads: number;
  /** Largest thread's V8 heap after a full GC, MiB (src/worker.ts heapUsed). */
  heapMb: number;
  /** Whole gateway process (all threads), MiB. */
  rssMb: number;
}

/**
 * CHURN reloads through a fresh gateway (threads GC before they report their heap), triggered by
 * SIGHUP right after each write (the file watch's 100 ms debounce would only add waiting; the
 * watch reload that follows finds nothing changed). `listeners`: every reload adds (odd) or removes
 * (even) a second listener on port 0, so each add binds a new port and takes a new slot; else one
 * route changes per reload. Samples after every 100th reload, when the extra listener is removed.
 */
async function churnRun(frontend: string, listeners: boolean): Promise<ChurnSample[]> {
  const cfg = new ConfigDir(1); // nothing is proxied: the endpoint is never dialled
  let gw: GatewayProcess | null = null;
  try {
    gw = await GatewayProcess.start(cfg.dir, true, frontend);
    let version = 1;
    const samples: ChurnSample[] = [];
    // Reload k's reply carries the heap after the GC that followed reload k - 1.
    for (let k = 1; k <= CHURN + 1; k++) {
      if (listeners) cfg.writeGateway(k % 2 === 1);
      else cfg.change((k * 541) % ROUTES);
      gw.child.kill('SIGHUP');
      const a = await gw.waitVersion(++version);
      if ((k - 1) % 100 === 0) {
        samples.push({ reloads: k - 1, heapMb: a.threadHeapMb, rssMb: gw.rssKb() / 1024 });
        process.stderr.write(`    ${frontend} ${listeners ? 'listener add/remove' : 'route-only'}: ${k - 1} reloads: thread heap ${a.threadHeapMb.toFixed(2)} MiB, RSS ${(gw.rssKb() / 1024).toFixed(1)} MiB\n`);
      }
    }
    return samples;
  } finally {
    await gw?.stop();
    cfg.remove();
  }
}

async function partListenerChurn(): Promise<void> {
  const frontends = process.argv.includes('--frontend') ? [FRONTEND] : ['uws', 'native-free'];
  for (const fe of frontends) {
    const section = `gateway, ${THREADS} threads, ${fe}`;
    const peer = await churnRun(fe, false);
    const churn = await churnRun(fe, true);
    // Growth after the first 100 (JIT warm-up, lazily built state), per listener change.
    const grow = (s: ChurnSample[], f: (x: ChurnSample) => number): string => {
      const from = s[Math.min(1, s.length - 1)];
      const to = s[s.length - 1];
      const d = f(to) - f(from);
      const per = to.reloads > from.reloads ? ((d * 1024 * 1024) / (to.reloads - from.reloads)).toFixed(0) : '?';
      return `${d >= 0 ? '+' : ''}${(d * 1024).toFixed(0)} KiB (${per} B per reload)`;
    };
    const heapOf = (x: ChurnSample): number => x.heapMb;
    const rssOf = (x: ChurnSample): number => x.rssMb;
    const list = (s: ChurnSample[], f: (x: ChurnSample) => number, digits: number): string => s.map((x) => f(x).toFixed(digits)).join(' ');
    row(section, `thread heap after GC, ${CHURN} listener add/remove reloads, growth after 100`, grow(churn, heapOf), grow(peer, heapOf),
      `every 100 (MiB): ${list(churn, heapOf, 2)}; peer: ${list(peer, heapOf, 2)}`);
    row(section, `gateway RSS, ${CHURN} listener add/remove reloads, growth after 100`, grow(churn, rssOf), grow(peer, rssOf),
      `every 100 (MiB): ${list(churn, rssOf, 0)}; peer: ${list(peer, rssOf, 0)}; whole process, glibc keeps freed pages`);
  }
}

async function main(): Promise<void> {
  if (CHURN > 0) {
    console.log(`reload bench, listener churn: node ${process.version}, ${os.cpus().length} cores, ${ROUTES} HTTPRoutes, ${THREADS} threads, ${CHURN} reloads per run`);
    process.stderr.write('part 3: memory over listener add/remove reloads\n');
    await partListenerChurn();
    printTable();
    return;
  }
  console.log(`reload bench: node ${process.version}, ${os.cpus().length} cores, ${ROUTES} HTTPRoutes (1 rule each) over ${HOSTS} hostnames, ${PER_FILE} per file${QUICK ? ', quick' : ''}`);
  const skipLoad = process.argv.includes('--no-load');
  process.stderr.write('part 1: the reload pipeline in-process\n');
  await partInProcess();
  if (!skipLoad) {
    process.stderr.write(`part 2: the gateway under load (${LOAD_SECONDS} s)\n`);
    await partUnderLoad();
  }
  printTable();
  // Route matching at 10,000 routes: the micro-benchmark, as is.
  const micro = path.join(BENCH_DIST, 'micro', 'route-match.js');
  if (!process.argv.includes('--no-micro') && fs.existsSync(micro)) {
    console.log('\nroute matching (bench/micro/route-match.ts):');
    await new Promise<void>((resolve) => {
      const c = spawn(process.execPath, [micro, ...(QUICK ? ['--quick'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
      c.on('exit', () => resolve());
    });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
