// Logging: one pino logger for operational lines (GATEMESH_LOG_LEVEL) and one access logger
// (GATEMESH_ACCESS_LOG=on|off|<path>) writing one JSON line per request. Each worker thread owns
// its own SonicBoom on the file descriptor, so log lines never cross the thread boundary.
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import type { Settings } from './env';
import { flat } from './shared/flat-string';

export type Logger = pino.Logger;

export function createLogger(settings: Settings, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    { level: settings.logLevel, base: { ...bindings }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 2, sync: true }),
  );
}

/** One access-log record; fields named as in Envoy's default JSON access log where one exists. */
export interface AccessRecord {
  method: string;
  path: string;
  /** Matched route label `route/rule`, or '-' when none matched. */
  route: string;
  /** `address:port` of the endpoint used, or '-'. */
  endpoint: string;
  status: number;
  /** Response body bytes sent to the client. */
  bytes: number;
  /** Request body bytes received from the client. */
  bytes_in: number;
  /** Total time, ms (from request head to last byte written); the line prints it to the µs (3 decimals). */
  duration_ms: number;
  /** Time to the upstream response head, ms (printed to the µs), or -1 when no upstream answered. */
  upstream_ms: number;
  /** Upstream attempts made: 0 when none was (no route, no endpoint), above 1 after retries (rules[].retry). */
  attempts?: number;
  /** Error catalogue code (GATEMESH_ERR_*), or undefined. */
  error?: string;
  /** Short human reason for the error. */
  reason?: string;
  /** Policy response flags, Envoy-style: RL rate limited, QE quota exhausted, UO overflow (circuit breaker,
   *  concurrency limit), UH no healthy endpoint, RB retry refused by the budget or breaker, DG limit store down (failureMode open). */
  flags?: string;
  client: string;
}

export interface AccessLog {
  readonly enabled: boolean;
  /** `nowMs`: the line's time, epoch ms, when the caller already read the clock; default Date.now(). */
  write(rec: AccessRecord, nowMs?: number): void;
  flush(): void;
}

/**
 * Lines are batched here, not in SonicBoom: SonicBoom's write() appends each line to a string and
 * calls Buffer.byteLength on the whole pending string, which flattens it, so a 4 KiB batch of ~240 B
 * lines copies ~35 KiB. Each line is encoded into one 64 KiB buffer at once, while it is still in
 * the cache (a batch kept as a string rope and flattened when written cost ~1.7 µs per line in the
 * gateway's CPU profile: 270 lines of scattered cons-string nodes), and a full buffer is one write.
 * bench/micro/access-log.ts, line + write to a file, median per line: 1539 ns with SonicBoom (sync,
 * 4 KiB minLength), ~390 ns this way; pino to a file is 2566 ns.
 */
const BATCH_BYTES = 65536;

export function createAccessLog(settings: Settings): AccessLog {
  const mode = settings.accessLog;
  if (mode === 'off') return { enabled: false, write() {}, flush() {} };
  // To a file a batch is written synchronously: an async fs.write hands every batch to the libuv
  // threadpool, which on a busy core cost more than the write itself. Stdout stays async
  // (SonicBoom), so a slow reader of a pipe cannot stall requests.
  const sink = mode === 'on' ? stdoutSink() : fileSink(mode);
  let buf = Buffer.allocUnsafe(BATCH_BYTES);
  let used = 0;
  const flushBatch = (): void => {
    if (used === 0) return;
    const chunk = buf.subarray(0, used);
    // SonicBoom keeps the chunk until its write completes: it gets the buffer, we take a new one.
    if (sink.keepsChunk) buf = Buffer.allocUnsafe(BATCH_BYTES);
    used = 0;
    sink.write(chunk);
  };
  // A quiet gateway still gets its lines out within a second.
  setInterval(flushBatch, 1000).unref();
  return {
    enabled: true,
    write(rec, nowMs) {
      const line = accessLine(rec, nowMs);
      // The line is ASCII (jsonString escapes the rest): one byte per character.
      if (used + line.length > BATCH_BYTES) {
        flushBatch();
        if (line.length > BATCH_BYTES) return sink.write(Buffer.from(line, 'latin1'));
      }
      used += buf.write(line, used, 'latin1');
    },
    flush() {
      flushBatch();
      sink.flushSync();
    },
  };
}

interface LineSink {
  /** True when write() keeps a reference to the chunk after it returns. */
  readonly keepsChunk: boolean;
  write(chunk: Buffer): void;
  flushSync(): void;
}

/** Stdout: SonicBoom in buffer mode, asynchronous, one write per batch. */
function stdoutSink(): LineSink {
  const dest = pino.destination({ dest: 1, sync: false, minLength: 0, contentMode: 'buffer' });
  return {
    keepsChunk: true,
    write(chunk) {
      dest.write(chunk as unknown as string);
    },
    flushSync() {
      try {
        dest.flushSync();
      } catch {
        // A write is still in flight (SonicBoom refuses to flush then); it completes on its own.
      }
    },
  };
}

/**
 * A file, opened for append (its directory created), written synchronously one batch at a time.
 * A failed write (disk full, I/O error) drops that batch and says so once on stderr; requests are
 * never failed or delayed by the access log.
 */
function fileSink(file: string): LineSink {
  let fd = -1;
  let warned = false;
  const fail = (err: unknown): void => {
    if (warned) return;
    warned = true;
    process.stderr.write(`gatemesh: access log ${file}: ${(err as Error).message} (lines dropped until it recovers)\n`);
  };
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fd = fs.openSync(file, 'a');
  } catch (err) {
    fail(err);
  }
  return {
    keepsChunk: false,
    write(chunk) {
      if (fd < 0) return;
      try {
        // A short write is rare on a regular file; the loop finishes it.
        for (let o = 0; o < chunk.length; ) o += fs.writeSync(fd, chunk, o, chunk.length - o);
        warned = false;
      } catch (err) {
        fail(err);
      }
    },
    flushSync() {
      // Every batch is written when handed over.
    },
  };
}

/** The millisecond of the last line; its `{"level":30,"time":"<ISO>` prefix is reused while it is the same. */
let lastMs = -1;
let lastSecond = -1;
/** `{"level":30,"time":"YYYY-MM-DDTHH:MM:SS.` of lastSecond. */
let secondPrefix = '';
/** "000" to "999". */
const MILLIS: string[] = [];
for (let i = 0; i < 1000; i++) MILLIS.push(String(i).padStart(3, '0'));

/** Printable ASCII other than `"` and `\`: such a string is its own JSON body (RFC 8259 §7). */
const JSON_PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

const NON_ASCII = /[\u0080-\uffff]/g;

function jsonString(s: string): string {
  if (JSON_PLAIN.test(s)) return '"' + s + '"';
  // Non-ASCII as \uXXXX too, so every line is ASCII and is copied into the batch byte for byte.
  return JSON.stringify(s).replace(NON_ASCII, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** ".000" to ".999": milliseconds with three decimals from integer microseconds, no float printing. */
const FRACTION: string[] = [];
for (let i = 0; i < 1000; i++) FRACTION.push('.' + String(i).padStart(3, '0'));

/**
 * A duration in ms as a JSON number with three decimals (microseconds), e.g. 1.250; -1 stays -1.
 * Printing a non-integer double costs ~130 ns; this costs ~20 ns (node fmt micro-test).
 */
function millis(ms: number): string {
  if (ms < 0) return '-1';
  const us = Math.round(ms * 1000);
  return Math.floor(us / 1000) + FRACTION[us % 1000];
}

/**
 * The runs of fields that repeat from line to line, each kept as one flat JSON fragment and
 * rebuilt only when one of its fields changes: a line is then ~8 concatenations instead of ~24,
 * and its string tree, which the batch write walks, ~8 nodes. Instructions per request that the
 * access log adds (callgrind, uws, small GET, log to a file vs off, 20,000 requests): 7,960 before,
 * 5,690 with these memos, 3,750 with the per-second ISO prefix below (callgrind's slow pace made
 * toISOString run on most requests; at full speed it runs once per millisecond either way).
 */
let timePrefix = '';
let fMethod = '';
let fPath = '';
let fRoute = '';
let fEndpoint = '';
/** `","method":…,"path":…,"route":…,"endpoint":…` (closes the time string). */
let fRequest = '';
let fStatus = -1;
let fBytes = -1;
let fBytesIn = -1;
/** `,"status":…,"bytes":…,"bytes_in":…,"duration_ms":` */
let fCounts = '';
let fAttempts = -2;
let fClient = '';
/** `,"attempts":…,"client":…` (attempts left out when the record has none). */
let fTail = '';

/**
 * One access-log line, the JSON pino would write for `logger.info(rec)` with an ISO `time`
 * (same keys, same order: level, time, then the record's fields). Hand-written because it runs on
 * every request: bench/micro/access-log.ts measures it against pino's logger.info on the same
 * record. Strings are escaped as JSON.stringify would (RFC 8259 §7), and non-ASCII characters as
 * \uXXXX as well, so the line is ASCII; durations carry three decimals.
 */
export function accessLine(rec: AccessRecord, nowMs?: number): string {
  const now = nowMs === undefined ? Date.now() : Math.floor(nowMs);
  if (now !== lastMs) {
    lastMs = now;
    // toISOString() formats through snprintf (~1,500 instructions): once a second; within the
    // second only the milliseconds change (`…T12:34:56.` + `789` + `Z`).
    const second = Math.floor(now / 1000);
    if (second !== lastSecond) {
      lastSecond = second;
      secondPrefix = '{"level":30,"time":"' + new Date(second * 1000).toISOString().slice(0, 20);
    }
    timePrefix = flat(secondPrefix + MILLIS[now - second * 1000] + 'Z');
  }
  if (rec.path !== fPath || rec.method !== fMethod || rec.route !== fRoute || rec.endpoint !== fEndpoint) {
    fMethod = rec.method;
    fPath = rec.path;
    fRoute = rec.route;
    fEndpoint = rec.endpoint;
    fRequest = flat('","method":' + jsonString(fMethod) + ',"path":' + jsonString(fPath) + ',"route":' + jsonString(fRoute) + ',"endpoint":' + jsonString(fEndpoint));
  }
  if (rec.status !== fStatus || rec.bytes !== fBytes || rec.bytes_in !== fBytesIn) {
    fStatus = rec.status;
    fBytes = rec.bytes;
    fBytesIn = rec.bytes_in;
    fCounts = flat(',"status":' + fStatus + ',"bytes":' + fBytes + ',"bytes_in":' + fBytesIn + ',"duration_ms":');
  }
  const attempts = rec.attempts === undefined ? -1 : rec.attempts;
  if (attempts !== fAttempts || rec.client !== fClient) {
    fAttempts = attempts;
    fClient = rec.client;
    fTail = flat((attempts < 0 ? '' : ',"attempts":' + attempts) + ',"client":' + jsonString(fClient));
  }
  let line = timePrefix + fRequest + fCounts + millis(rec.duration_ms) + ',"upstream_ms":' + millis(rec.upstream_ms) + fTail;
  if (rec.error !== undefined) line += ',"error":' + jsonString(rec.error);
  if (rec.reason !== undefined) line += ',"reason":' + jsonString(rec.reason);
  if (rec.flags !== undefined) line += ',"flags":' + jsonString(rec.flags);
  return line + '}\n';
}
