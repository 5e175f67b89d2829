// The layout of a backend's balancer SharedArrayBuffer (allocated by the main thread, one per
// backend, from balancerSharedBytes) and the per-thread views over it.
//
//   offset 0:      in-flight rows, one per thread: Int32 count per endpoint, then a 64-byte gap
//   threads × row: EWMA records, one per endpoint: Float64 rttMs, Float64 stampMs, then a 64-byte gap
//
// In-flight counts need no exactness at the instant they are read (P2C compares two estimates),
// so each thread owns a row and is its only writer: a plain `++`/`--` on its own slot is exact,
// costs no locked instruction and never bounces a cache line between threads; a reader sums the
// threads' slots of its two candidates. Int32 element accesses never tear (ECMAScript
// "no-tear" for integer typed arrays), so a reader sees either the old or the new count.
//
// Why a 64-byte gap rather than rounding to 64: a SharedArrayBuffer's base is only 16-byte
// aligned (glibc malloc; mmap'd buffers start 16 bytes into a page), so padding to a multiple of
// 64 from offset 0 would still let two rows share a line. A 64-byte gap between any two rows'
// data keeps them on different lines whatever the base alignment.

/** Bytes of one cache line on x86-64 and most arm64 cores. */
export const CACHE_LINE = 64;
/** Bytes per EWMA record: rttMs + stampMs (16) + a line of gap (see above). */
export const EWMA_STRIDE_BYTES = 16 + CACHE_LINE;
const EWMA_STRIDE = EWMA_STRIDE_BYTES / 8;

/** Bytes of one thread's in-flight row: n Int32 counts rounded up to a line, plus a line of gap. */
export function inflightRowBytes(n: number): number {
  return Math.ceil((n * 4) / CACHE_LINE) * CACHE_LINE + CACHE_LINE;
}

export function inflightBytes(n: number, threads: number): number {
  return n === 0 ? 0 : threads * inflightRowBytes(n);
}

export function ewmaBytes(n: number): number {
  return n * EWMA_STRIDE_BYTES;
}

/** In-flight requests per endpoint: this thread's row to write, every row to read. */
export class InFlight {
  private readonly counts: Int32Array;
  /** Int32 index of this thread's row. */
  private readonly row: number;
  /** Int32s between two threads' rows. */
  private readonly stride: number;
  private readonly threads: number;

  constructor(buf: SharedArrayBuffer, n: number, thread: number, threads: number) {
    this.stride = inflightRowBytes(n) / 4;
    this.counts = new Int32Array(buf, 0, inflightBytes(n, threads) / 4);
    this.row = this.stride * thread;
    this.threads = threads;
  }

  /** This thread is the only writer of its slot: a plain increment is exact. */
  add(i: number): void {
    this.counts[this.row + i]++;
  }

  sub(i: number): void {
    this.counts[this.row + i]--;
  }

  /** Requests in flight on endpoint i, summed over every thread's slot (a snapshot, not atomic as a whole). */
  load(i: number): number {
    const c = this.counts;
    const stride = this.stride;
    let sum = 0;
    for (let t = 0, o = i; t < this.threads; t++, o += stride) sum += c[o];
    return sum;
  }
}

/**
 * Peak-EWMA records: rttMs and the epoch ms of the last sample (src/shared/clock.ts nowMs(), the
 * same on every thread), written by whichever thread saw the sample.
 *
 * Float64 writes are plain stores. Two threads updating one endpoint at once may lose one of the
 * two samples (last writer wins): the estimate is a smoothed guess, one lost sample of many does
 * not move it. ECMAScript allows a non-atomic Float64 access to tear; V8 on x86-64 and arm64 emits
 * one aligned 8-byte move, so it does not in practice, and a reader that still saw a torn or mixed
 * pair (new rtt, old stamp) gets a value that readers clamp: NaN, negative or absurd (> 1 h)
 * readings count as "no sample" (peak-ewma.ts), and the next sample rewrites the pair. A mixed
 * pair only mis-decays one estimate until then, which P2C shrugs off like any noisy sample.
 */
export class EwmaRecords {
  readonly data: Float64Array;

  constructor(buf: SharedArrayBuffer, n: number, threads: number) {
    this.data = new Float64Array(buf, inflightBytes(n, threads), n * EWMA_STRIDE);
  }

  /** Float64 index of endpoint i's rttMs; its stampMs is at + 1. */
  static at(i: number): number {
    return i * EWMA_STRIDE;
  }
}

/** Sum of endpoint i's in-flight slots in a balancer buffer (admin / metrics / tests). */
export function readInFlight(buf: SharedArrayBuffer, n: number, threads: number, i: number): number {
  return new InFlight(buf, n, 0, threads).load(i);
}

/**
 * Zeroes one thread's in-flight row: for a worker that is replaced after dying with requests in
 * flight (its successor with the same thread index would otherwise inherit counts nobody ends).
 */
export function clearThreadInFlight(buf: SharedArrayBuffer, n: number, threads: number, thread: number): void {
  if (n === 0) return;
  const stride = inflightRowBytes(n) / 4;
  new Int32Array(buf, 0, inflightBytes(n, threads) / 4).fill(0, stride * thread, stride * thread + n);
}
