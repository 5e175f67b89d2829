// The shape of bench/results/<timestamp>.json: every raw number of a run, plus the machine it ran on.
import type { OpenLoopChoice, OpenLoopGenerator } from './args';
import type { Failures } from './failures';
import type { Percentiles } from './stats';

export interface Machine {
  cores: number;
  cpuModel: string;
  node: string;
  platform: string;
  kernel: string;
  memoryGiB: number;
  pinning: string;
}

export interface ProxyInfo {
  name: string;
  kind: 'ceiling' | 'peer' | 'gatemesh';
  version: string;
  /** Set when the proxy did not run at all. */
  skipped?: string;
}

export interface ThroughputRun {
  rps: number;
  non2xx: number;
  errors: number;
  /** non2xx and errors by kind → count (absent in results written before it existed, and when nothing failed). */
  failures?: Failures;
  /** Closed-loop latency, when autocannon measured it. */
  percentiles?: Percentiles;
  wrkLatency?: string;
}

export interface LatencyRun {
  percentiles: Percentiles;
  sent: number;
  completed: number;
  errors: number;
  non2xx: number;
  /** errors and non2xx by kind → count (absent in older results, and when nothing failed). */
  failures?: Failures;
  achievedRate: number;
  /** hdr-histogram-js compressed base64, µs. */
  histogram: string;
  /** Which generator sent the load and timed it (absent in results written before the choice existed: paced). */
  generator?: OpenLoopGenerator;
  /** autocannon runs: each connection's send interval on its paced schedule, µs (autocannon-pacing.ts). */
  connectionIntervalUs?: number;
  /** autocannon runs saved before the pacing override (bursts per second, corrected afterwards): the
   * coordinated-omission correction's expected interval per connection, µs. Not written any more. */
  expectedIntervalUs?: number;
}

export interface ProxyScenarioResult {
  /** Set-up facts and correctness warnings for this proxy in this scenario, '; '-separated. */
  note: string;
  throughput: { median: number; runs: ThroughputRun[] };
  /** One entry per rate, in the order of `ScenarioResult.rates`. */
  latency: { median: Percentiles; runs: LatencyRun[] }[];
}

export interface ScenarioResult {
  id: string;
  title: string;
  /** Tool whose figures are in `throughput`. */
  throughputTool: 'autocannon' | 'wrk';
  /** Why that tool (ceiling check), in one sentence. */
  toolNote: string;
  /** autocannon against the upstream itself, req/s (median of the probe runs). */
  autocannonCeiling: number;
  /** The generator that sent and timed this scenario's open-loop load (absent in older results: see
   * `LatencyRun.generator`), and why that one (`auto`'s probe against direct, or what was asked). */
  openLoopGenerator?: OpenLoopGenerator;
  generatorNote?: string;
  /** Open-loop rates: percentage of the slowest proxy's throughput, and the req/s that gives. */
  rates: { pct: number; rps: number }[];
  /** Proxy name → result; only proxies that ran in this scenario. */
  proxies: Record<string, ProxyScenarioResult>;
  /** Proxies that failed to start or answer correctly in this scenario. */
  failed: Record<string, string>;
}

export interface MicroResult {
  name: string;
  exitCode: number | null;
  ms: number;
  stdout: string;
  stderr: string;
}

export interface RunSettings {
  connections: number;
  rounds: number;
  warmupMs: number;
  throughputMs: number;
  latencyMs: number;
  threads: number;
  ratePcts: number[];
  /** `--open-loop-generator` as asked (absent in older results: paced). What each scenario used is
   * `ScenarioResult.openLoopGenerator` (`auto` resolved; `new-conn` is paced whatever this says). */
  openLoopGenerator?: OpenLoopChoice;
}

export interface BenchResults {
  schema: 1;
  mode: 'full' | 'quick' | 'gate' | 'gate-quick';
  startedAt: string;
  finishedAt: string;
  argv: string[];
  machine: Machine;
  upstream: string;
  settings: RunSettings;
  proxies: ProxyInfo[];
  scenarios: ScenarioResult[];
  micro: MicroResult[];
}
