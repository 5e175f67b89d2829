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
  const sink = mode === 'on' ? stdoutSink(settings.accessLogBufferBytes) : fileSink(mode);
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
      let end = encodeAccessLine(rec, nowMs, buf, used);
      if (end < 0) {
        flushBatch();
        end = encodeAccessLine(rec, nowMs, buf, 0);
        // Longer than a batch: on its own. The line is ASCII (jsonString escapes the rest).
        if (end < 0) return sink.write(Buffer.from(accessLine(rec, nowMs), 'latin1'));
      }
      used = end;
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

/**
 * Stdout: SonicBoom in buffer mode, asynchronous, one write per batch. What the reader of stdout
 * has not taken waits in memory up to `maxBytes` (GATEMESH_ACCESS_LOG_BUFFER_BYTES); past it whole
 * batches are dropped, so a pipe nobody reads costs bounded memory instead of all of it, and
 * requests are never held up by logging. The drop is said once on stderr per stall, with the
 * bytes lost when it ends.
 */
function stdoutSink(maxBytes: number): LineSink {
  const dest = pino.destination({ dest: 1, sync: false, minLength: 0, contentMode: 'buffer', maxLength: maxBytes });
  let dropped = 0;
  dest.on('drop', (chunk: Buffer) => {
    if (dropped === 0) {
      process.stderr.write(`gatemesh: access log: stdout is not being read; ${maxBytes} bytes are waiting, newer lines are dropped until it is\n`);
    }
    dropped += chunk.length;
  });
  dest.on('write', () => {
    if (dropped === 0) return;
    process.stderr.write(`gatemesh: access log: stdout is read again; ${dropped} bytes of lines were dropped\n`);
    dropped = 0;
  });
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
 * One access-log line, the JSON pino would write for `logger.info(rec)` with an ISO `time`
 * (same keys, same order: level, time, then the record's fields). Strings are escaped as
 * JSON.stringify would (RFC 8259 §7), and non-ASCII characters as \uXXXX as well, so the line is
 * ASCII; durations carry three decimals. This is the reference format: the batch writer encodes
 * the same bytes itself (encodeAccessLine, memoised, no string per line) and uses this only for a
 * line longer than a batch; a property test holds the two together. bench/micro/access-log.ts
 * measures both against pino's logger.info.
 */
export function accessLine(rec: AccessRecord, nowMs?: number): string {
  const now = nowMs === undefined ? Date.now() : Math.floor(nowMs);
  const second = Math.floor(now / 1000);
  const attempts = rec.attempts === undefined ? -1 : rec.attempts;
  let line =
    '{"level":30,"time":"' + new Date(second * 1000).toISOString().slice(0, 20) + MILLIS[now - second * 1000] + 'Z' +
    '","method":' + jsonString(rec.method) + ',"path":' + jsonString(rec.path) + ',"route":' + jsonString(rec.route) +
    ',"endpoint":' + jsonString(rec.endpoint) + ',"status":' + rec.status + ',"bytes":' + rec.bytes + ',"bytes_in":' + rec.bytes_in +
    ',"duration_ms":' + millis(rec.duration_ms) + ',"upstream_ms":' + millis(rec.upstream_ms) +
    (attempts < 0 ? '' : ',"attempts":' + attempts) + ',"client":' + jsonString(rec.client);
  if (rec.error !== undefined) line += ',"error":' + jsonString(rec.error);
  if (rec.reason !== undefined) line += ',"reason":' + jsonString(rec.reason);
  if (rec.flags !== undefined) line += ',"flags":' + jsonString(rec.flags);
  return line + '}\n';
}

// --- The same line, encoded into the batch ------------------------------------------------------

/**
 * accessLine's memos again, as bytes. createAccessLog copies a line's runs into the batch with
 * Uint8Array#set (a builtin: no call into C++) and writes its numbers as digits, so no string is
 * built per line and none is walked by Buffer#write (a C++ call that flattens the line's rope
 * first, then copies it). The access log's share of the policies scenario (callgrind, uws,
 * `policies` minus `policies-nolog`), instructions per request: 3,690 with accessLine and
 * buf.write; 2,448 with byte memos copied by four set() calls; 2,116 with the `lead` array
 * below (three calls); 1,924 with setBytes; 1,575 with a fresh record per request (src/proxy.ts).
 */
let bLastMs = -1;
let bLastSecond = -1;
let bMethod = '';
let bPath = '';
let bRoute = '';
let bEndpoint = '';
let bStatus = -1;
let bBytes = -1;
let bBytesIn = -1;
/** `{"level":30,"time":"YYYY-MM-DDTHH:MM:SS.`: always 40 characters (toISOString().slice(0, 20)). */
const SECOND_LENGTH = 40;
/**
 * The line up to its first number, as one array: `{"level":30,"time":"YYYY-MM-DDTHH:MM:SS.mmm`
 * then `Z","method":…,"path":…,"route":…,"endpoint":…,"status":…,"bytes":…,"bytes_in":…,"duration_ms":`.
 * The second is rewritten once a second, the milliseconds' 3 digits in place, the rest when one
 * of its fields changes; a line copies it with one set() instead of two.
 */
let lead: Uint8Array = new Uint8Array(SECOND_LENGTH + 3);
let bAttempts = -2;
let bClient = '';
/** `,"attempts":…,"client":…` (attempts left out when the record has none). */
let bTail: Uint8Array = new Uint8Array(0);
/** `,"upstream_ms":` */
const UPSTREAM_KEY = asciiBytes(',"upstream_ms":');
/**
 * Room kept for one duration: 13 digits, '.', 3 decimals below 1e12 ms; anything else (NaN,
 * Infinity, 1.2345678901234567e+21) prints through millis() in at most 26 characters.
 */
const DURATION_ROOM = 32;
/**
 * Uint8Array#set, called through this reference: in the gateway `dst.set` stayed a LoadIC call
 * (~77 instructions a use, 3 a line, in callgrind's profile of the policies scenario, on a Buffer
 * or a plain Uint8Array alike), though V8 inlines it in a bare script. Policies scenario: 39,936
 * → 39,744 instructions per request.
 */
const setBytes = Uint8Array.prototype.set;

/**
 * accessLine(rec, nowMs), byte for byte, written into `dst` from `at`: returns the end of the
 * line, or -1 when it might not fit before dst.length (nothing written then). Reads and updates
 * its own memos (the ones above), never accessLine's.
 */
export function encodeAccessLine(rec: AccessRecord, nowMs: number | undefined, dst: Uint8Array, at: number): number {
  if (
    rec.path !== bPath ||
    rec.method !== bMethod ||
    rec.route !== bRoute ||
    rec.endpoint !== bEndpoint ||
    rec.status !== bStatus ||
    rec.bytes !== bBytes ||
    rec.bytes_in !== bBytesIn
  ) {
    bMethod = rec.method;
    bPath = rec.path;
    bRoute = rec.route;
    bEndpoint = rec.endpoint;
    bStatus = rec.status;
    bBytes = rec.bytes;
    bBytesIn = rec.bytes_in;
    const fields = flat(
      'Z","method":' + jsonString(bMethod) + ',"path":' + jsonString(bPath) + ',"route":' + jsonString(bRoute) + ',"endpoint":' + jsonString(bEndpoint) +
        ',"status":' + bStatus + ',"bytes":' + bBytes + ',"bytes_in":' + bBytesIn + ',"duration_ms":',
    );
    const next = new Uint8Array(SECOND_LENGTH + 3 + fields.length);
    next.set(lead.subarray(0, SECOND_LENGTH + 3));
    writeAscii(next, SECOND_LENGTH + 3, fields);
    lead = next;
  }
  const now = nowMs === undefined ? Date.now() : Math.floor(nowMs);
  if (now !== bLastMs) {
    bLastMs = now;
    const second = Math.floor(now / 1000);
    if (second !== bLastSecond) {
      bLastSecond = second;
      writeAscii(lead, 0, '{"level":30,"time":"' + new Date(second * 1000).toISOString().slice(0, 20));
    }
    const ms = now - second * 1000;
    lead[SECOND_LENGTH] = 0x30 + ((ms / 100) | 0);
    lead[SECOND_LENGTH + 1] = 0x30 + (((ms / 10) | 0) % 10);
    lead[SECOND_LENGTH + 2] = 0x30 + (ms % 10);
  }
  const attempts = rec.attempts === undefined ? -1 : rec.attempts;
  if (attempts !== bAttempts || rec.client !== bClient) {
    bAttempts = attempts;
    bClient = rec.client;
    bTail = asciiBytes((attempts < 0 ? '' : ',"attempts":' + attempts) + ',"client":' + jsonString(bClient));
  }
  // Error lines only (429s, 502s): their fields as one string.
  let extra = '';
  if (rec.error !== undefined) extra += ',"error":' + jsonString(rec.error);
  if (rec.reason !== undefined) extra += ',"reason":' + jsonString(rec.reason);
  if (rec.flags !== undefined) extra += ',"flags":' + jsonString(rec.flags);
  const room = lead.length + DURATION_ROOM + UPSTREAM_KEY.length + DURATION_ROOM + bTail.length + extra.length + 2;
  if (at + room > dst.length) return -1;
  // set() costs ~160 instructions a call; a JS loop over even 15 bytes costs more (~28 a byte:
  // callgrind as above, the two short runs by a loop: +670).
  setBytes.call(dst, lead, at);
  let p = writeMillis(dst, at + lead.length, rec.duration_ms);
  setBytes.call(dst, UPSTREAM_KEY, p);
  p = writeMillis(dst, p + UPSTREAM_KEY.length, rec.upstream_ms);
  setBytes.call(dst, bTail, p);
  p += bTail.length;
  if (extra.length !== 0) p = writeAscii(dst, p, extra);
  dst[p] = 0x7d; // }
  dst[p + 1] = 0x0a;
  return p + 2;
}

/** millis(ms) as bytes at `p`; returns the end. */
function writeMillis(dst: Uint8Array, p: number, ms: number): number {
  if (ms < 0) {
    dst[p] = 0x2d; // -
    dst[p + 1] = 0x31;
    return p + 2;
  }
  const us = Math.round(ms * 1000);
  // As accessLine prints them (NaN and Infinity come out of millis() as the number NaN).
  if (!(us < 1e15)) return writeAscii(dst, p, String(millis(ms)));
  const frac = us % 1000;
  p = writeDigits(dst, p, (us - frac) / 1000);
  dst[p] = 0x2e; // .
  dst[p + 1] = 0x30 + ((frac / 100) | 0);
  dst[p + 2] = 0x30 + (((frac / 10) | 0) % 10);
  dst[p + 3] = 0x30 + (frac % 10);
  return p + 4;
}

/** A whole number below 1e12 in decimal at `p` (as String(n) prints it); returns the end. */
function writeDigits(dst: Uint8Array, p: number, n: number): number {
  if (n < 10) {
    dst[p] = 0x30 + n;
    return p + 1;
  }
  let len = 2;
  for (let x = 100; x <= n; x *= 10) len++;
  const end = p + len;
  for (let i = end - 1; i >= p; i--) {
    const d = n % 10;
    dst[i] = 0x30 + d;
    n = (n - d) / 10;
  }
  return end;
}

/** An ASCII string's characters at `p`; returns the end. */
function writeAscii(dst: Uint8Array, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) dst[p + i] = s.charCodeAt(i);
  return p + s.length;
}

function asciiBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  writeAscii(b, 0, flat(s));
  return b;
}
