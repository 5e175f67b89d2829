// Micro-benchmark of the rate-limit decision: the SharedArrayBuffer GCRA limiter
// (src/policy/rate-limit/) against a plain Map-based token bucket, the peer, measured in the same
// run on one thread. Both read the key the same way (compileKey, a Header key) and fill the same
// reused LimitResult. Scenarios: one hot key (allowed, and limited) and 10,000 rotating keys.
// "decision": check(input, results, now) with the request's timestamp from the caller (refreshed
// from src/shared/clock.ts nowMs every 1024 requests, so the clock's own garbage (a HeapNumber per
// performance.now()) does not hide the limiter's); "+ clock": check() reading nowMs itself (a clock
// read alone costs 60-90 ns on a small VM). Also the table's take() alone (key string in
// hand). Reports the median ns per decision over several rounds, and heap growth / GC count during
// the SAB limiter's rounds (0 B/op and no GC means check() allocated nothing).
//
//   npx tsc -p . && node dist/bench/micro/rate-limit.js [--quick] [--rounds 9] [--round-ms 150]

import { calibrateOps, gcCount, median, settle, stopGcCount, ROUND_MS, ROUNDS } from '../harness/micro-timing';
import v8 from 'node:v8';
import vm from 'node:vm';

import type { RateLimitPolicy } from '../../src/config/model';
import { TrustedProxies } from '../../src/http/forwarding';
import { compileKey, type KeyInput, type KeyReader } from '../../src/policy/key';
import { LimitResult } from '../../src/policy/limit-result';
import { createRateLimitTable, RateLimitTable, tableLimit, type TableLimit } from '../../src/policy/rate-limit/key-table';
import { createLimitResults, createRateLimiter } from '../../src/policy/rate-limit/rate-limit';
import { nowMs } from '../../src/shared/clock';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;


/** Anything with the limiter's per-request call. */
interface Decider {
  check(input: KeyInput, results: LimitResult[], now?: number): number;
}

/**
 * The peer: a token bucket per key in a Map (refill = elapsed × rate, capped at the burst), the
 * shape of most in-process limiters (express-rate-limit's memory store, limiter.js). One thread only.
 */
class MapTokenBucket implements Decider {
  private readonly buckets = new Map<string, { tokens: number; last: number }>();
  private readonly read: KeyReader;
  private readonly perMs: number;
  constructor(
    private readonly requests: number,
    periodMs: number,
  ) {
    this.read = compileKey([{ type: 'Header', name: 'x-client' }]);
    this.perMs = requests / periodMs;
  }
  check(input: KeyInput, results: LimitResult[], at?: number): number {
    const key = this.read(input);
    if (key === null) return -1;
    const now = at === undefined ? nowMs() : at;
    const r = results[0];
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.requests, last: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.requests, b.tokens + (now - b.last) * this.perMs);
      b.last = now;
    }
    r.limit = this.requests;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      r.allowed = true;
      r.remaining = Math.floor(b.tokens);
      r.resetMs = (this.requests - b.tokens) / this.perMs;
      r.retryAfterMs = 0;
      return -1;
    }
    r.allowed = false;
    r.remaining = 0;
    r.retryAfterMs = (1 - b.tokens) / this.perMs;
    r.resetMs = (this.requests - b.tokens) / this.perMs;
    return 0;
  }
}

/** The table alone: take() with the key string already read. */
class TableOnly implements Decider {
  private readonly table: RateLimitTable;
  private readonly lim: TableLimit;
  constructor(sab: SharedArrayBuffer, requests: number, periodMs: number) {
    this.table = new RateLimitTable(sab);
    this.lim = tableLimit(12345, requests, periodMs);
  }
  check(input: KeyInput, results: LimitResult[], now?: number): number {
    return this.table.take(this.lim, input.head.headers[1], now === undefined ? nowMs() : now, results[0]) >= 0 ? -1 : 0;
  }
}

const trusted = new TrustedProxies([]);
function inputFor(client: string): KeyInput {
  return {
    head: {
      method: 'GET',
      path: '/api/items',
      query: '',
      httpMinor: 1,
      headers: ['x-client', client, 'host', 'api.example.com', 'accept', '*/*'],
      remoteAddress: '192.0.2.10',
      scheme: 'http',
      headBytes: -1,
    },
    trusted,
    route: 'default/api/0',
    consumer: null,
  };
}

interface Scenario {
  name: string;
  requests: number;
  periodMs: number;
  inputs: KeyInput[];
  /** Run this many decisions on a fresh limiter first (fills the buckets of the limited case). */
  prime: number;
}

const rotating = Array.from({ length: 10_000 }, (_, i) => inputFor(`203.0.113.${i % 250}-client-${i}`));
const scenarios: Scenario[] = [
  // 2^27 back to back (the most a limit can have): does not run out during the run.
  { name: 'hot key, allowed', requests: 1 << 27, periodMs: 3_600_000, inputs: [inputFor('198.51.100.7')], prime: 0 },
  { name: 'hot key, limited', requests: 100, periodMs: 3_600_000, inputs: [inputFor('198.51.100.7')], prime: 200 },
  { name: '10k rotating keys', requests: 100, periodMs: 1000, inputs: rotating, prime: 10_000 },
];

let sink = 0;

type Loop = (d: Decider, inputs: KeyInput[], results: LimitResult[], ops: number, clock: () => number) => number;

/**
 * A fresh copy of the timing loop per measurement: one shared loop would see several receiver
 * types, go megamorphic and deoptimise, and measure the call site instead of the decision.
 * `passNow`: hand check() the timestamp (refreshed every 1024 requests), else let it read the clock.
 */
function newLoop(passNow: boolean): Loop {
  const call = passNow ? 'd.check(inputs[k], results, now)' : 'd.check(inputs[k], results)';
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function(
    'd',
    'inputs',
    'results',
    'ops',
    'clock',
    `const n = inputs.length;
     let k = 0;
     let s = 0;
     let now = clock();
     const start = process.hrtime.bigint();
     for (let i = 0; i < ops; i++) {
       if ((i & 1023) === 0) now = clock();
       s = (s + ${call}) | 0;
       if (++k === n) k = 0;
     }
     const ns = Number(process.hrtime.bigint() - start) / ops;
     return s === 0.5 ? -1 : ns;`,
  ) as Loop;
}

function calibrate(loop: Loop, d: Decider, inputs: KeyInput[], results: LimitResult[]): number {
  return calibrateOps((ops) => loop(d, inputs, results, ops, nowMs), ROUND_MS, 1000);
}


gcCount();

interface Measured {
  nsPerOp: number;
  bytesPerOp: number;
  gcs: number;
  allowedShare: number;
}

async function measure(d: Decider, s: Scenario, passNow: boolean): Promise<Measured> {
  const results = [new LimitResult()];
  for (let i = 0; i < s.prime; i++) d.check(s.inputs[i % s.inputs.length], results);
  const loop = newLoop(passNow);
  const ops = calibrate(loop, d, s.inputs, results);
  gc();
  await settle();
  const gcsBefore = gcCount();
  const heapBefore = process.memoryUsage().heapUsed;
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) samples.push(loop(d, s.inputs, results, ops, nowMs));
  const heapAfter = process.memoryUsage().heapUsed;
  await settle();
  let allowed = 0;
  for (let i = 0; i < 1000; i++) if (d.check(s.inputs[i % s.inputs.length], results) === -1) allowed++;
  sink += allowed;
  return { nsPerOp: median(samples), bytesPerOp: (heapAfter - heapBefore) / (ops * ROUNDS), gcs: gcCount() - gcsBefore, allowedShare: allowed / 1000 };
}

function sabLimiter(s: Scenario): Decider {
  const policy: RateLimitPolicy = {
    policy: 'bench/rl',
    mode: 'Local',
    rules: [{ name: 'per-client', key: [{ type: 'Header', name: 'x-client' }], onMissingKey: 'Skip', requests: s.requests, periodMs: s.periodMs }],
    failureMode: 'open',
    headers: true,
    legacyHeaders: false,
  };
  const limiter = createRateLimiter(policy, createRateLimitTable(65536));
  const results = createLimitResults(policy);
  return { check: (input, _r, now) => limiter.check(input, results, now) };
}

async function main(): Promise<void> {
  console.log(`rate-limit: node ${process.version}, ${ROUNDS} rounds of ~${ROUND_MS} ms, median ns per decision, one thread`);
  const rows: string[][] = [];
  for (const s of scenarios) {
    const sab = await measure(sabLimiter(s), s, true);
    const peer = await measure(new MapTokenBucket(s.requests, s.periodMs), s, true);
    const table = await measure(new TableOnly(createRateLimitTable(65536), s.requests, s.periodMs), s, true);
    const sabClock = await measure(sabLimiter(s), s, false);
    const peerClock = await measure(new MapTokenBucket(s.requests, s.periodMs), s, false);
    rows.push([
      s.name,
      sab.nsPerOp.toFixed(1),
      peer.nsPerOp.toFixed(1),
      (peer.nsPerOp / sab.nsPerOp).toFixed(2) + 'x',
      table.nsPerOp.toFixed(1),
      sabClock.nsPerOp.toFixed(1),
      peerClock.nsPerOp.toFixed(1),
      `${(sab.allowedShare * 100).toFixed(0)}% / ${(peer.allowedShare * 100).toFixed(0)}%`,
      sab.bytesPerOp.toFixed(3),
      String(sab.gcs),
    ]);
  }
  const head = [
    'scenario',
    'SAB decision ns',
    'Map decision ns',
    'Map/SAB',
    'SAB take() ns',
    'SAB + clock ns',
    'Map + clock ns',
    'allowed SAB / Map',
    'SAB B/op',
    'SAB GCs',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
  stopGcCount();
  if (sink === 0.5) console.log(sink); // never true; keeps `sink` observable
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
