// Command-line options shared by `npm run bench` and `npm run bench:gate`. Unknown options are usage errors (exit 2).

/**
 * Who sends the open-loop (fixed-rate) load: `autocannon` (issue 3's `overallRate`, each connection paced evenly and
 * latency from the due time; harness/open-loop-autocannon.ts, autocannon-pacing.ts), `paced` (harness/open-loop.ts:
 * our own 1 ms release ticks, latency from the due time), or `auto` (the default): autocannon wherever it can send
 * the scenario's rates on this machine, else paced, decided per scenario by a probe against `direct` (suite.ts
 * chooseOpenLoopGenerator: the issue's own rule for throughput, where autocannon gives way to wrk when it cannot
 * keep up). `new-conn` is always paced (suite.ts openLoopGeneratorFor). Why a fallback is needed at all
 * (autocannon's client costs twice the CPU per request and its open loop collapses near 30k req/s on the generator's
 * core here): bench/README.md "The figures".
 */
export const OPEN_LOOP_GENERATORS = ['auto', 'autocannon', 'paced'] as const;
/** What `--open-loop-generator` asks for. */
export type OpenLoopChoice = (typeof OPEN_LOOP_GENERATORS)[number];
/** What sends and times a run's load (an `auto` choice resolved per scenario). */
export type OpenLoopGenerator = Exclude<OpenLoopChoice, 'auto'>;
export const DEFAULT_OPEN_LOOP_GENERATOR: OpenLoopChoice = 'auto';

export interface BenchArgs {
  quick: boolean;
  scenarios?: string[];
  proxies?: string[];
  rounds?: number;
  warmupS?: number;
  throughputS?: number;
  latencyS?: number;
  connections?: number;
  threads?: number;
  rates?: number[];
  wrk: 'auto' | 'always' | 'never';
  pin: boolean;
  micro: boolean;
  /** As given; absent: DEFAULT_OPEN_LOOP_GENERATOR for the bench, and for the gate each scenario's baseline
   * generator (gate.ts plannedGenerators: it never compares p99s taken by different generators). */
  openLoopGenerator?: OpenLoopChoice;
  out?: string;
  quiet: boolean;
  help: boolean;
  // gate only
  update: boolean;
  baseline?: string;
  baselineDir?: string;
  confirm: boolean;
  input?: string;
}

export class UsageError extends Error {}

export const COMMON_HELP = `  --quick                 the quick subset (small GET, 50 % rate only, short runs)
  --scenarios a,b         scenarios to run (small-get, get-16k, get-1m, post-4k, new-conn, routes-10k, policies)
  --proxies a,b           proxies besides direct (nginx, haproxy, fastify-proxy, http-proxy, gatemesh-uws, gatemesh-native-free);
                          a gatemesh proxy brings its policies-off row <name>-nopolicy into the policies scenario
  --rounds N              interleaved rounds per figure; medians are reported (default 3)
  --warmup S              warm-up per proxy per scenario, seconds (default 2; quick 1)
  --duration S            closed-loop run length, seconds (default 4; quick 2)
  --latency-duration S    open-loop run length, seconds (default 4; quick 3)
  --rates 25,50,75        open-loop rates, % of the slowest proxy's throughput (quick: 50)
  --connections N         connections for both figures (default 50)
  --threads N             threads for every proxy (default 1)
  --wrk | --no-wrk        force wrk / never use wrk for throughput (default: when autocannon's ceiling < 1.5×)
  --open-loop-generator G who sends the fixed-rate load: auto (default: autocannon where a probe against direct shows
                          it holds 1.25× the scenario's top rate, else paced), autocannon (its overallRate, each
                          connection paced evenly, latency from the due time) or paced (our own 1 ms ticks); new-conn
                          is always paced; the gate's default is the generator of each scenario's baseline; see
                          bench/README.md
  --no-pin                do not pin with taskset
  --out DIR               where the JSON and HTML go (default bench/results)
  --quiet                 no progress line`;

/** Options of `npm run bench` only (the gate compares with a baseline taken with the defaults). */
export const BENCH_HELP = `  --no-micro              skip the micro-benchmarks`;

export function parseArgs(argv: string[], gate: boolean): BenchArgs {
  const a: BenchArgs = { quick: false, wrk: 'auto', pin: true, micro: !gate, quiet: false, help: false, update: false, confirm: true };
  const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);
  const pos = (name: string, v: string): number => {
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`${name} ${v}: expected a positive number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--quick': a.quick = true; break;
      case '--scenarios': a.scenarios = list(value()); break;
      case '--proxies': a.proxies = list(value()); break;
      case '--rounds': a.rounds = Math.round(pos(flag, value())); break;
      case '--warmup': a.warmupS = pos(flag, value()); break;
      case '--duration': a.throughputS = pos(flag, value()); break;
      case '--latency-duration': a.latencyS = pos(flag, value()); break;
      case '--connections': a.connections = Math.round(pos(flag, value())); break;
      case '--threads': a.threads = Math.round(pos(flag, value())); break;
      case '--rates': a.rates = list(value()).map((v) => pos(flag, v)); break;
      case '--wrk': a.wrk = 'always'; break;
      case '--no-wrk': a.wrk = 'never'; break;
      case '--no-pin': a.pin = false; break;
      case '--no-micro': a.micro = false; break;
      case '--micro': a.micro = true; break;
      case '--out': a.out = value(); break;
      case '--quiet': a.quiet = true; break;
      case '--help': case '-h': a.help = true; break;
      case '--open-loop-generator': {
        const g = value();
        if (!(OPEN_LOOP_GENERATORS as readonly string[]).includes(g)) {
          throw new UsageError(`${flag} ${g}: expected one of ${OPEN_LOOP_GENERATORS.join(', ')}`);
        }
        a.openLoopGenerator = g as OpenLoopChoice;
        break;
      }
      default:
        if (gate && flag === '--update') { a.update = true; break; }
        if (gate && flag === '--baseline') { a.baseline = value(); break; }
        if (gate && flag === '--baseline-dir') { a.baselineDir = value(); break; }
        if (gate && flag === '--no-confirm') { a.confirm = false; break; }
        if (gate && flag === '--input') { a.input = value(); break; }
        throw new UsageError(`unknown option ${arg}`);
    }
  }
  return a;
}
