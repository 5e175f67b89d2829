// Access-log cost per request line (src/log.ts) against its peer, pino. Two pairs, median of
// alternating rounds:
//  - line only: accessLine() against pino's logger.info on the same record, both into a sink that
//    only counts bytes (the formatting alone); and encodeAccessLine(), the same line as bytes into
//    a reused buffer, which is what createAccessLog does;
//  - line + file: createAccessLog() to a file against pino's logger.info to a pino.destination on a
//    file (sync, 4 KiB minLength, what a pino user would configure), the whole per-request cost.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { accessLine, createAccessLog, encodeAccessLine, type AccessRecord } from '../../src/log';
import type { Settings } from '../../src/env';
import { calibrateOps, median, ROUND_MS, ROUNDS } from '../harness/micro-timing';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatemesh-access-log-'));

let bytes = 0;
const sink = { write: (s: string): void => void (bytes += s.length) };
const logger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, sink);
const pinoFile = pino.destination({ dest: path.join(dir, 'pino.log'), sync: true, minLength: 4096 });
const fileLogger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pinoFile);
const ours = createAccessLog({ accessLog: path.join(dir, 'gatemesh.log') } as Settings);

const durations = Array.from({ length: 1024 }, (_, i) => (i * 7.31) % 3);

function record(i: number): AccessRecord {
  return {
    method: 'GET',
    path: '/small',
    route: 'default/r0/rule0',
    endpoint: '127.0.0.1:8080',
    status: 200,
    bytes: 100,
    bytes_in: 0,
    duration_ms: durations[i & 1023],
    upstream_ms: durations[(i + 1) & 1023],
    attempts: 1,
    client: '127.0.0.1',
  };
}

function timed(ops: number, one: (i: number) => void): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) one(i);
  return Number(process.hrtime.bigint() - t) / ops;
}

const batch = new Uint8Array(65536);
let at = 0;
/** A line into `batch`, from its start again when full (createAccessLog hands the batch over then). */
function encode(i: number): void {
  let end = encodeAccessLine(record(i), undefined, batch, at);
  if (end < 0) end = encodeAccessLine(record(i), undefined, batch, (at = 0));
  bytes += end - at;
  at = end;
}

/** `peer`: the index of the row this one is compared with (itself for a peer). */
const runs: { name: string; peer: number; run: (ops: number) => number }[] = [
  { name: 'line: pino logger.info (peer)', peer: 0, run: (ops) => timed(ops, (i) => logger.info(record(i))) },
  { name: 'line: gatemesh accessLine', peer: 0, run: (ops) => timed(ops, (i) => sink.write(accessLine(record(i)))) },
  { name: 'line: gatemesh encodeAccessLine', peer: 0, run: (ops) => timed(ops, encode) },
  { name: 'file: pino to a file (peer)', peer: 3, run: (ops) => timed(ops, (i) => fileLogger.info(record(i))) },
  { name: 'file: gatemesh access log', peer: 3, run: (ops) => timed(ops, (i) => ours.write(record(i))) },
];
const FILE_RUNS = 3;

const ops = runs.map((r) => calibrateOps(r.run, ROUND_MS, 1000));
const ns: number[][] = runs.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (let j = 0; j < runs.length; j++) {
    ns[j].push(runs[j].run(ops[j]));
    // Start each file round from an empty file, so a growing file is no one's handicap.
    if (j >= FILE_RUNS) {
      ours.flush();
      pinoFile.flushSync();
      fs.truncateSync(path.join(dir, j === FILE_RUNS ? 'pino.log' : 'gatemesh.log'));
    }
  }
}
const med = ns.map(median);
console.log(`access-log: node ${process.version}, ${ROUNDS} alternating rounds of ~${ROUND_MS} ms, median ns per line`);
console.log('| writer                          | ns/line | vs peer |');
console.log('|---------------------------------|---------|---------|');
for (let j = 0; j < runs.length; j++) {
  const peer = med[runs[j].peer];
  console.log(`| ${runs[j].name.padEnd(31)} | ${med[j].toFixed(0).padStart(7)} | ${(peer / med[j]).toFixed(2)}x   |`);
}
if (bytes === 0) console.log('(nothing written)');
fs.rmSync(dir, { recursive: true, force: true });
