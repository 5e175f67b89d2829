// Concurrency limit (ConcurrencyPolicy) for a route rule or a backend: at most `limit` requests in
// flight across every worker thread, then a bounded queue (global bound) with a timeout; past
// either the caller answers 503 (CONCURRENCY_LIMITED / QUEUE_TIMEOUT) at once.
//
// Cross-thread wake-up. Each thread keeps its own FIFO of waiters (objects the request path
// already owns, so queueing allocates nothing per request) and, while that FIFO is non-empty,
// one Atomics.waitAsync on a generation word in the SharedArrayBuffer. A release that sees
// waiters anywhere (the global `queued` counter) bumps the generation and notifies: every
// thread with waiters wakes (one promise per thread per wake, not per request) and races for
// the freed slots with the same compare-and-swap new arrivals use. Notifying all rather than one
// is deliberate: a single woken thread whose waiters just left (timeout, abort) would swallow
// the wake and strand the others; N is the thread count, so the herd is small. A waiter
// re-reads the generation before it tries, so a release between its try and its wait is never
// lost (waitAsync returns "not-equal" at once). No thread polls.
//
// Fairness. Within a thread, admission is FIFO. Across threads, a new arrival never takes a
// slot while anyone is queued anywhere (`queued` > 0): it queues behind, so fresh requests do
// not starve queued ones. Among queued waiters on different threads, a freed slot goes to the
// thread that wakes first (typically within a millisecond); there is no global order.
import type { AdaptiveConcurrency, ConcurrencyPolicy } from '../../config/model';
import { ERR, type ErrorSpec } from '../../errors';
import { nowMs } from '../../shared/clock';
import { performance } from 'node:perf_hooks';
import { G_ESTIMATE, GRADIENT_SLOTS, initGradient, MIN_WINDOW_SAMPLES, updateGradient } from './gradient';

export interface ConcurrencyWaiter {
  onAdmitted(): void;
  onRejected(err: ErrorSpec): void;
}

export interface ConcurrencyLimiter {
  /**
   * Admitted now (true): call release() when the request ends. Or false: the waiter was queued
   * (it will get exactly one of onAdmitted / onRejected, later), or was rejected synchronously
   * through waiter.onRejected (CONCURRENCY_LIMITED: limit reached and the queue is full or off).
   */
  acquire(waiter: ConcurrencyWaiter): boolean;
  /** A queued waiter that went away (client abort) leaves the queue; no callback follows. No-op otherwise. */
  cancel(waiter: ConcurrencyWaiter): void;
  /** An admitted request finished; latencyMs feeds the adaptive limit (< 0 = no sample). */
  release(latencyMs: number): void;
  /** Requests in flight, all threads. */
  readonly inFlight: number;
  /** The limit now (maxInFlight, or the adaptive limit shared by all threads). */
  readonly limit: number;
  /** Requests waiting, all threads. */
  readonly queued: number;
  /** This thread's synchronous rejections (CONCURRENCY_LIMITED), for /stats. */
  readonly limited: number;
  /** This thread's queue timeouts (QUEUE_TIMEOUT), for /stats. */
  readonly timedOut: number;
}

// --- SharedArrayBuffer layout (Int32 word indices unless noted; 64-byte lines) ---
// line 0 (bytes 0..63):   IN_FLIGHT, QUEUED, LIMIT, INIT (0 new, 1 being set up, 2 ready)
// line 1 (bytes 64..127): GEN, the wake generation (its own line: waiters watch it)
// adaptive only:
// line 2 (bytes 128..191): LOCK (window update), PEAK (most in flight this window);
//                          f64 at byte 144 WINDOW_END (epoch ms, nowMs()), 152.. gradient state
// bytes 192 + 64 × t: thread t's samples: COUNT, SUM (10 µs ticks; both wrap, deltas read
//                          unsigned), LAST_COUNT, LAST_SUM (what the last update consumed)
const IN_FLIGHT = 0;
const QUEUED = 1;
const LIMIT = 2;
const INIT = 3;
const GEN = 16;
const LOCK = 32;
const PEAK = 33;
const WINDOW_END_F64 = 144 / 8;
const GRADIENT_BYTE = 152;
const FIXED_BYTES = 128;
const ADAPTIVE_HEADER_BYTES = 192;
const THREAD_LINE = 64;
const S_COUNT = 0;
const S_SUM = 1;
const S_LAST_COUNT = 2;
const S_LAST_SUM = 3;
/** Latency samples are summed in 10 µs ticks. Per thread and window the unsigned delta is exact up
 *  to 2^32 ticks = 42 949 s of summed latency, i.e. (Little's law) an average of 42 949 requests in
 *  flight on one thread during a 1 s window. */
const TICKS_PER_MS = 100;
/** One sample is capped at 1 h so a stuck request cannot wrap a thread's window sum on its own. */
const MAX_SAMPLE_MS = 3_600_000;

/** Bytes of the SharedArrayBuffer the main thread allocates for `policy` with `threads` workers. */
export function concurrencySharedBytes(policy: ConcurrencyPolicy, threads: number): number {
  return policy.adaptive === undefined ? FIXED_BYTES : ADAPTIVE_HEADER_BYTES + THREAD_LINE * threads;
}

// Atomics.waitAsync is ES2024 (Node ≥ 16); the project's lib is ES2022.
type WaitAsyncResult =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t?: number): WaitAsyncResult })
  .waitAsync;

function onQueueTimer(l: Limiter): void {
  l.expire();
}

function fail(policy: ConcurrencyPolicy, msg: string): never {
  throw new TypeError(`concurrency policy ${policy.policy}: ${msg}`);
}

function check(policy: ConcurrencyPolicy, threads: number, thread: number): void {
  if (!Number.isInteger(policy.maxInFlight) || policy.maxInFlight < 1) fail(policy, 'maxInFlight must be an integer ≥ 1');
  if (!Number.isInteger(policy.maxQueue) || policy.maxQueue < 0) fail(policy, 'maxQueue must be an integer ≥ 0 (0 = no queue)');
  if (policy.maxQueue > 0 && !(policy.queueTimeoutMs > 0)) fail(policy, 'queueTimeoutMs must be > 0 when maxQueue > 0 (default 1000)');
  if (!Number.isInteger(threads) || threads < 1 || !Number.isInteger(thread) || thread < 0 || thread >= threads) {
    fail(policy, `thread ${thread} is not in 0..${threads - 1}`);
  }
  const a = policy.adaptive;
  if (a === undefined) return;
  if (!(a.minLimit >= 1 && a.minLimit <= policy.maxInFlight)) fail(policy, 'adaptive.minLimit must be in 1..maxInFlight (default 4)');
  if (!(a.tolerance >= 1)) fail(policy, 'adaptive.tolerance must be ≥ 1 (default 2)');
  if (!(a.smoothing > 0 && a.smoothing <= 1)) fail(policy, 'adaptive.smoothing must be in (0, 1] (default 0.2)');
  if (!(a.windowMs > 0)) fail(policy, 'adaptive.windowMs must be > 0 (default 1000)');
}

/**
 * Each worker calls this with the SharedArrayBuffer from the main thread (sized by
 * concurrencySharedBytes with the same `threads`), its own `thread` index and `threads`.
 * `shared` undefined: a private buffer (one thread). `clock` (epoch ms, nowMs) is for tests.
 * A buffer reused across a reload keeps its counts: requests admitted under the old config
 * release into the same counters. Reuse it only for an unchanged policy.
 */
export function createConcurrencyLimiter(
  policy: ConcurrencyPolicy,
  shared: SharedArrayBuffer | undefined,
  thread: number,
  threads: number,
  clock: () => number = nowMs,
): ConcurrencyLimiter {
  check(policy, threads, thread);
  const bytes = concurrencySharedBytes(policy, threads);
  const sab = shared ?? new SharedArrayBuffer(bytes);
  if (sab.byteLength < bytes) {
    fail(policy, `shared buffer has ${sab.byteLength} bytes, needs ${bytes} (concurrencySharedBytes(policy, ${threads}))`);
  }
  return new Limiter(policy, sab, thread, threads, clock);
}

class Limiter implements ConcurrencyLimiter {
  limited = 0;
  timedOut = 0;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly gradient: Float64Array | null;
  private readonly adaptive: AdaptiveConcurrency | null;
  private readonly maxInFlight: number;
  private readonly maxQueue: number;
  private readonly timeoutMs: number;
  private readonly threads: number;
  /** Int32 index of this thread's sample line. */
  private readonly slot: number;
  /** The window update's scratch: per thread, the COUNT and SUM it read. */
  private readonly scratch: Int32Array;
  private readonly clock: () => number;
  // This thread's FIFO: a ring of waiters with their deadlines (performance.now() ms).
  private readonly ring: (ConcurrencyWaiter | null)[];
  private readonly deadlines: Float64Array;
  private head = 0;
  private len = 0;
  private timer: NodeJS.Timeout | null = null;
  /** A waitAsync on GEN is pending. */
  private waiting = false;
  private readonly onWake: () => void;

  constructor(policy: ConcurrencyPolicy, sab: SharedArrayBuffer, thread: number, threads: number, clock: () => number) {
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab, 0, policy.adaptive ? ADAPTIVE_HEADER_BYTES / 8 : 0);
    this.adaptive = policy.adaptive ?? null;
    this.gradient = this.adaptive ? new Float64Array(sab, GRADIENT_BYTE, GRADIENT_SLOTS) : null;
    this.maxInFlight = policy.maxInFlight;
    this.maxQueue = policy.maxQueue;
    this.timeoutMs = policy.queueTimeoutMs;
    this.threads = threads;
    this.slot = (ADAPTIVE_HEADER_BYTES + THREAD_LINE * thread) / 4;
    this.scratch = new Int32Array(this.adaptive ? threads * 2 : 0);
    this.clock = clock;
    // The global bound caps this thread's share too (at most 64 Ki waiters per thread).
    const cap = Math.max(1, Math.min(policy.maxQueue, 65536));
    this.ring = new Array<ConcurrencyWaiter | null>(cap).fill(null);
    this.deadlines = new Float64Array(cap);
    this.onWake = () => this.wake();
    this.init();
  }

  /** First limiter on a fresh buffer writes the starting limit; the others wait the few stores out. */
  private init(): void {
    const i32 = this.i32;
    if (Atomics.compareExchange(i32, INIT, 0, 1) === 0) {
      let limit = this.maxInFlight;
      if (this.adaptive !== null) {
        initGradient(this.gradient!, this.adaptive, this.maxInFlight);
        limit = Math.floor(this.gradient![G_ESTIMATE]);
        this.f64[WINDOW_END_F64] = this.clock() + this.adaptive.windowMs;
      }
      Atomics.store(i32, LIMIT, limit);
      Atomics.store(i32, INIT, 2);
      return;
    }
    // Bounded: the winner is between two plain stores (factory time, never per request).
    for (let i = 0; i < 1e7 && Atomics.load(i32, INIT) !== 2; i++);
  }

  get inFlight(): number {
    return Atomics.load(this.i32, IN_FLIGHT);
  }
  get limit(): number {
    return Atomics.load(this.i32, LIMIT);
  }
  get queued(): number {
    return Atomics.load(this.i32, QUEUED);
  }

  acquire(waiter: ConcurrencyWaiter): boolean {
    const i32 = this.i32;
    // Nobody waiting anywhere: take a slot if one is free.
    if (Atomics.load(i32, QUEUED) === 0 && this.tryAdmit()) return true;
    // Queue (global bound, exact: compare-and-swap, no transient overshoot).
    const max = this.maxQueue;
    for (;;) {
      const q = Atomics.load(i32, QUEUED);
      if (q >= max || this.len >= this.ring.length) {
        this.limited++;
        waiter.onRejected(ERR.CONCURRENCY_LIMITED);
        return false;
      }
      if (Atomics.compareExchange(i32, QUEUED, q, q + 1) === q) break;
    }
    const cap = this.ring.length;
    const at = (this.head + this.len) % cap;
    this.ring[at] = waiter;
    this.deadlines[at] = performance.now() + this.timeoutMs;
    this.len++;
    if (this.timer === null) this.timer = setTimeout(onQueueTimer, this.timeoutMs, this);
    if (!this.waiting) this.armWait(Atomics.load(i32, GEN));
    // A slot may be free right now (its release saw no waiters, or waiters elsewhere have not
    // woken yet): wake every thread with waiters, this one included, to race for it.
    if (Atomics.load(i32, IN_FLIGHT) < this.currentLimit()) this.kick();
    return false;
  }

  cancel(waiter: ConcurrencyWaiter): void {
    const cap = this.ring.length;
    const ring = this.ring;
    const deadlines = this.deadlines;
    for (let k = 0; k < this.len; k++) {
      let at = (this.head + k) % cap;
      if (ring[at] !== waiter) continue;
      // Close the gap: later waiters move up one place, keeping FIFO order.
      for (let j = k + 1; j < this.len; j++) {
        const next = (this.head + j) % cap;
        ring[at] = ring[next];
        deadlines[at] = deadlines[next];
        at = next;
      }
      ring[at] = null;
      this.len--;
      Atomics.sub(this.i32, QUEUED, 1);
      if (this.len === 0) this.stopTimer();
      return;
    }
  }

  release(latencyMs: number): void {
    const i32 = this.i32;
    Atomics.sub(i32, IN_FLIGHT, 1);
    if (Atomics.load(i32, QUEUED) !== 0) this.kick();
    if (this.adaptive !== null && latencyMs >= 0) this.sample(latencyMs);
  }

  /** @internal the queue timer: admit what can be, then reject the waiters past their deadline. */
  expire(): void {
    this.timer = null;
    this.drain();
    const now = performance.now();
    const cap = this.ring.length;
    // 1 ms slack: timers round to whole ms and may fire a fraction early relative to now().
    while (this.len > 0 && this.deadlines[this.head] <= now + 1) {
      const w = this.shift(cap);
      Atomics.sub(this.i32, QUEUED, 1);
      this.timedOut++;
      w.onRejected(ERR.QUEUE_TIMEOUT);
    }
    if (this.len > 0 && this.timer === null) {
      const wait = this.deadlines[this.head] - now;
      this.timer = setTimeout(onQueueTimer, wait > 1 ? wait : 1, this);
    }
  }

  private currentLimit(): number {
    return this.adaptive === null ? this.maxInFlight : Atomics.load(this.i32, LIMIT);
  }

  /** Takes a slot if in-flight < limit (compare-and-swap: exact across threads). */
  private tryAdmit(): boolean {
    const i32 = this.i32;
    const limit = this.currentLimit();
    for (;;) {
      const n = Atomics.load(i32, IN_FLIGHT);
      if (n >= limit) return false;
      if (Atomics.compareExchange(i32, IN_FLIGHT, n, n + 1) === n) {
        if (this.adaptive !== null && n + 1 > Atomics.load(i32, PEAK)) this.raisePeak(n + 1);
        return true;
      }
    }
  }

  private raisePeak(n: number): void {
    const i32 = this.i32;
    for (;;) {
      const p = Atomics.load(i32, PEAK);
      if (p >= n || Atomics.compareExchange(i32, PEAK, p, n) === p) return;
    }
  }

  private kick(): void {
    Atomics.add(this.i32, GEN, 1);
    Atomics.notify(this.i32, GEN);
  }

  private armWait(gen: number): void {
    const r = waitAsync(this.i32, GEN, gen, this.timeoutMs);
    this.waiting = true;
    if (r.async) r.value.then(this.onWake);
    else setImmediate(this.onWake); // the generation moved already: try again on the next turn
  }

  /** The generation moved (or the wait timed out): admit from this thread's FIFO, wait again if any are left. */
  private wake(): void {
    this.waiting = false;
    const gen = Atomics.load(this.i32, GEN);
    this.drain();
    if (this.len > 0) this.armWait(gen);
  }

  private drain(): void {
    const cap = this.ring.length;
    while (this.len > 0 && this.tryAdmit()) {
      const w = this.shift(cap);
      Atomics.sub(this.i32, QUEUED, 1);
      w.onAdmitted();
    }
    if (this.len === 0) this.stopTimer();
  }

  private shift(cap: number): ConcurrencyWaiter {
    const w = this.ring[this.head]!;
    this.ring[this.head] = null;
    this.head = (this.head + 1) % cap;
    this.len--;
    return w;
  }

  private stopTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private sample(latencyMs: number): void {
    const i32 = this.i32;
    const ms = latencyMs < MAX_SAMPLE_MS ? latencyMs : MAX_SAMPLE_MS;
    Atomics.add(i32, this.slot + S_COUNT, 1);
    Atomics.add(i32, this.slot + S_SUM, Math.round(ms * TICKS_PER_MS));
    const now = this.clock();
    // A plain read of a float another thread may be writing: a torn value only makes this thread
    // try the lock, where the end is read again.
    if (now >= this.f64[WINDOW_END_F64]) this.update(now);
  }

  /** The window is over: one thread (the lock's winner) folds every thread's samples into the limit. */
  private update(now: number): void {
    const i32 = this.i32;
    if (Atomics.compareExchange(i32, LOCK, 0, 1) !== 0) return;
    const a = this.adaptive!;
    if (now >= this.f64[WINDOW_END_F64]) {
      const scratch = this.scratch;
      let count = 0;
      let sum = 0;
      for (let t = 0; t < this.threads; t++) {
        const s = (ADAPTIVE_HEADER_BYTES + THREAD_LINE * t) / 4;
        const c = Atomics.load(i32, s + S_COUNT);
        const u = Atomics.load(i32, s + S_SUM);
        scratch[2 * t] = c;
        scratch[2 * t + 1] = u;
        count += (c - Atomics.load(i32, s + S_LAST_COUNT)) >>> 0;
        sum += (u - Atomics.load(i32, s + S_LAST_SUM)) >>> 0;
      }
      // Too few samples: keep the window open (WindowedLimit waits for windowSize samples).
      if (count >= MIN_WINDOW_SAMPLES) {
        for (let t = 0; t < this.threads; t++) {
          const s = (ADAPTIVE_HEADER_BYTES + THREAD_LINE * t) / 4;
          Atomics.store(i32, s + S_LAST_COUNT, scratch[2 * t]);
          Atomics.store(i32, s + S_LAST_SUM, scratch[2 * t + 1]);
        }
        const peak = Atomics.exchange(i32, PEAK, Atomics.load(i32, IN_FLIGHT));
        const est = updateGradient(this.gradient!, a, this.maxInFlight, sum / count / TICKS_PER_MS, peak);
        const next = Math.floor(est);
        const prev = Atomics.exchange(i32, LIMIT, next);
        this.f64[WINDOW_END_F64] = now + a.windowMs;
        if (next > prev && Atomics.load(i32, QUEUED) !== 0) this.kick();
      }
    }
    Atomics.store(i32, LOCK, 0);
  }
}

/** A concurrency buffer as the admin sees it (/stats, /metrics); limit 0 until a worker has set it up. */
export interface ConcurrencySnapshot {
  inFlight: number;
  queued: number;
  /** The limit now: maxInFlight, or the adaptive limit. */
  limit: number;
}

/** Reads a concurrency buffer from any thread (the main thread's admin), without a limiter. */
export function readConcurrencyShared(sab: SharedArrayBuffer): ConcurrencySnapshot {
  const i32 = new Int32Array(sab, 0, 4);
  const ready = Atomics.load(i32, INIT) === 2;
  return { inFlight: Atomics.load(i32, IN_FLIGHT), queued: Atomics.load(i32, QUEUED), limit: ready ? Atomics.load(i32, LIMIT) : 0 };
}
