// Access-log line cost (src/log.ts accessLine) against its peer, pino's logger.info with the same
// record and timestamp format, both writing to a sink that only counts bytes. Median of rounds.
import pino from 'pino';
import { accessLine, type AccessRecord } from '../../src/log';
import { calibrateOps, median, ROUND_MS, ROUNDS } from '../harness/micro-timing';


let bytes = 0;
const sink = { write: (s: string): void => void (bytes += s.length) };
const logger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, sink);

function record(i: number): AccessRecord {
  return {
    method: 'GET',
    path: '/small',
    route: 'default/r0/rule0',
    endpoint: '127.0.0.1:8080',
    status: 200,
    bytes: 100,
    bytes_in: 0,
    duration_ms: (i % 997) / 1000,
    upstream_ms: 0.123,
    attempts: 1,
    client: '127.0.0.1',
  };
}

function runPino(ops: number): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) logger.info(record(i));
  return Number(process.hrtime.bigint() - t) / ops;
}

function runLine(ops: number): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) sink.write(accessLine(record(i)));
  return Number(process.hrtime.bigint() - t) / ops;
}

const opsPino = calibrateOps(runPino, ROUND_MS, 1000);
const opsLine = calibrateOps(runLine, ROUND_MS, 1000);
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  a.push(runPino(opsPino));
  b.push(runLine(opsLine));
}
const p = median(a);
const l = median(b);
console.log(`access-log: node ${process.version}, ${ROUNDS} alternating rounds of ~${ROUND_MS} ms, median ns per line`);
console.log('| writer                         | ns/line | vs pino |');
console.log('|--------------------------------|---------|---------|');
console.log(`| pino logger.info (peer)        | ${p.toFixed(0).padStart(7)} | 1.00x   |`);
console.log(`| gatemesh accessLine            | ${l.toFixed(0).padStart(7)} | ${(p / l).toFixed(2)}x   |`);
if (bytes === 0) console.log('(nothing written)');
