// Micro-benchmark: src/upstream/response-parser.ts against node's llhttp binding
// (node:_http_common HTTPParser, the parser behind http.request) on the same bytes, in one run.
// Run: npx tsc -p . && node dist/bench/micro/response-parser.js [rounds=15] [msPerRound=200]
import { ResponseParser, type ResponseFraming } from '../../src/upstream/response-parser';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { HTTPParser } = require('node:_http_common') as {
  HTTPParser: {
    new (): { initialize(t: number, r: object, max: number, lenient: number): void; execute(b: Buffer): number | Error; [k: number]: unknown };
    RESPONSE: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kLenientNone: number;
  };
};

const small = Buffer.from(
  // 6 headers, a 100-byte body.
  'HTTP/1.1 200 OK\r\n' +
    'Content-Type: application/json; charset=utf-8\r\n' +
    'Content-Length: 100\r\n' +
    'Date: Tue, 11 Jun 2024 10:00:00 GMT\r\n' +
    'Server: upstream/1.0\r\n' +
    'Cache-Control: no-cache\r\n' +
    'X-Request-Id: 4f9c2e1a-7b3d-4c55-9a0e-1d2f3a4b5c6d\r\n' +
    '\r\n' +
    '{"id":12345,"name":"gatemesh","tags":["proxy","gateway","mesh"],"ok":true,"n":[1,2,3,4,5,6,7,8,9]} \n',
  'latin1',
);
const piece = 'x'.repeat(1000);
const chunked = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nDate: Tue, 11 Jun 2024 10:00:00 GMT\r\n\r\n' +
    `3e8\r\n${piece}\r\n`.repeat(4) +
    '0\r\n\r\n',
  'latin1',
);
const big = Buffer.concat([
  Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 16384\r\nDate: Tue, 11 Jun 2024 10:00:00 GMT\r\n\r\n', 'latin1'),
  Buffer.alloc(16384, 0x61),
]);

let sink = 0;

function oursOp(): (b: Buffer) => void {
  let ended = false;
  const p = new ResponseParser({
    onInterim() {},
    onHead(status: number, _r: string, headers: string[], _f: ResponseFraming) {
      sink += status + headers.length;
    },
    onBody(chunk: Buffer) {
      sink += chunk.length;
    },
    onEnd() {
      ended = true;
      sink++;
    },
  });
  return (b) => {
    ended = false;
    p.reset(false);
    if (p.execute(b) !== b.length || !ended) throw new Error('ours: ' + p.error);
  };
}

function llhttpOp(): (b: Buffer) => void {
  let complete = false;
  const p = new HTTPParser();
  p.initialize(HTTPParser.RESPONSE, {}, 0, HTTPParser.kLenientNone);
  // The same minimal work node's http client does per callback.
  p[HTTPParser.kOnHeaders] = (h: string[]) => {
    sink += h.length;
  };
  p[HTTPParser.kOnHeadersComplete] = (_a: number, _b: number, headers: string[], _m: unknown, _u: unknown, status: number) => {
    sink += status + headers.length;
    return 0;
  };
  p[HTTPParser.kOnBody] = (chunk: Buffer) => {
    sink += chunk.length;
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    complete = true;
    sink++;
  };
  return (b) => {
    complete = false;
    const r = p.execute(b);
    if (r !== b.length || !complete) throw new Error('llhttp: ' + String(r) + ' ' + ((r as { code?: string }).code ?? '') + ' ' + ((r as { reason?: string }).reason ?? ''));
  };
}

/** Batch size that takes about `ms`. */
/**
 * `input` with one byte of its Date field changed: fed alternately with `input`, every head differs
 * from the one before, as on a connection whose upstream sends a new head each time, so the
 * parser's per-connection head memo (src/upstream/response-parser.ts parseHead) never hits.
 */
function twinOf(input: Buffer): Buffer {
  const twin = Buffer.from(input);
  const at = twin.indexOf('10:00:00 GMT') + 7;
  twin[at] = twin[at] === 0x30 ? 0x31 : 0x30;
  return twin;
}

function calibrate(op: (b: Buffer) => void, input: Buffer, twin: Buffer, ms: number): number {
  let n = 1000;
  for (;;) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) op((i & 1) === 0 ? input : twin);
    const took = Number(process.hrtime.bigint() - t) / 1e6;
    if (took > ms / 4) return Math.max(1, Math.round((n * ms) / took));
    n *= 4;
  }
}

function batch(op: (b: Buffer) => void, input: Buffer, twin: Buffer, n: number): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) op((i & 1) === 0 ? input : twin);
  return Number(process.hrtime.bigint() - t) / n;
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

/** Median ns/op of both, rounds alternating between them so machine noise hits both alike. */
function measurePair(a: (b: Buffer) => void, b: (b: Buffer) => void, input: Buffer, twin: Buffer, rounds: number, ms: number): [number, number] {
  const na = calibrate(a, input, twin, ms);
  const nb = calibrate(b, input, twin, ms);
  const sa: number[] = [];
  const sb: number[] = [];
  for (let r = 0; r < rounds; r++) {
    sa.push(batch(a, input, twin, na));
    sb.push(batch(b, input, twin, nb));
  }
  return [median(sa), median(sb)];
}

function main(): void {
  // `--quick` (as the bench suite passes it): fewer, shorter rounds; else [rounds] [ms per round].
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const nums = args.filter((a) => /^\d+$/.test(a)).map(Number);
  const rounds = nums[0] ?? (quick ? 5 : 15);
  const msPerRound = nums[1] ?? (quick ? 100 : 200);
  // Each case alternates two heads one byte apart (a full parse every time), except the last:
  // the same head again, what the per-connection memo saves when an upstream repeats itself.
  const cases: [string, Buffer, Buffer][] = [
    [`small 200 (${small.length} B, 6 headers, 100 B body)`, small, twinOf(small)],
    [`chunked (${chunked.length} B, 4 x 1000 B chunks)`, chunked, twinOf(chunked)],
    [`16 KiB body (${big.length} B)`, big, twinOf(big)],
    ['small 200, the same head again (memo)', small, small],
  ];
  const rows: string[][] = [['case', 'gatemesh ns/op', 'llhttp ns/op', 'llhttp / gatemesh']];
  for (const [name, input, twin] of cases) {
    const ours = oursOp();
    const theirs = llhttpOp();
    const [a, b] = measurePair(ours, theirs, input, twin, rounds, msPerRound);
    rows.push([name, a.toFixed(0), b.toFixed(0), (b / a).toFixed(2) + 'x']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`node ${process.version}, llhttp ${process.versions.llhttp}, median of ${rounds} alternating rounds x ~${msPerRound} ms`);
  console.log(line(rows[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
  if (sink === 42) console.log(''); // keep `sink` observable
}

main();
