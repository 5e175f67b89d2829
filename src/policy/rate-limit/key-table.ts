// The local rate-limit key table: GCRA state of every (limit, key) pair in ONE SharedArrayBuffer
// that the main thread allocates and every worker thread maps, so N threads enforce one limit,
// not N. Open addressing over a fixed number of slots: memory never grows, idle keys are evicted,
// and a key whose probe window is full of active keys is refused (never let through).
//
// GCRA (the Generic Cell Rate Algorithm, ITU-T I.371; as in Brandur's "throttled"/redis-cell):
// one number per key, the theoretical arrival time TAT. A limit of L per period P has emission
// interval I = P/L and allows a request at `now` when max(TAT, now) + I - now <= L·I, then sets
// TAT = max(TAT, now) + I: L back to back, then one every I. A key with TAT <= now is at full
// burst, exactly like a key never seen, so its slot can be reused without losing information.
//
// Header (256 bytes): Int32 words 0 magic, 1 layout version, 2 capacity (slots); Float64 at bytes
// 16-23 the base epoch (whole epoch ms, written by createRateLimitTable); counters (Atomics.add),
// each on its own 64-byte line: word 16 keys, word 32 evictions, word 48 overflows.
//
// Slot layout (8 × Int32 = 32 bytes, two per cache line), slots from byte 256:
//   0 TAG    first 32-bit key hash; 0 = FREE (never used), 1 = BUSY (being (re)claimed)
//   1 CHECK  second, independent 32-bit key hash (a hit needs both: ~2^-48 false sharing per pair)
//   2 TAT    bit 31 clear; bits 29-30 generation (bumped at each re-key/rebase, so a CAS prepared
//            against the previous owner fails: ABA guard); bits 0-28 TAT in the limit's time units
//            relative to BASE. LOCKED (-1) while the slot is being re-keyed or rebased.
//   3 BASE   seconds since the table's base epoch at which this slot's unit 0 lies
//   4 UPMS   Float32: the owning limit's time units per ms, so any thread can tell whether the slot
//            is idle (the owner itself computes with the exact float64 value)
//   5 LOCK   insert lock of the probe window whose home is this slot (0 free, else the second it
//            was taken + 1, so a lock left by a killed thread can be stolen after STEAL_S)
//   6,7      reserved
//
// Time units: each limit gets its own unit u = I/k with k an integer (k = I in µs, capped so that
// L·k <= 2^27), so I and the burst L·I are exact integers: no rounding drift of the rate, L back to
// back exactly. TAT is an Int32 relative to the slot's own BASE rather than to the table epoch, so
// it cannot wrap however long the process runs: a slot whose `now` reaches 2^28 units past BASE is
// rebased (under LOCKED, TAT rounded up: at most one unit stricter per rebase). Idle slots that
// are never touched again keep a finite TAT and are compared in float64, so they never wrap either.
//
// Concurrency: a hit is lock-free: Atomics.load TAT, then TAG/CHECK (is it still our key?) and
// BASE, then Atomics.compareExchange the new TAT. TAG/CHECK/BASE are plain loads: they come after
// the seq-cst load of TAT, which observes the seq-cst store that published them (so they are at
// least that fresh), and anything that changes them changes TAT first (LOCKED, new generation), so
// the CAS fails if they changed since. Atomics.load is a call of ~10 ns in Node 20's V8, a plain
// load ~1 ns: this keeps the hit at one atomic load and one CAS (bench/micro/rate-limit.ts).
// A miss takes the insert lock of the key's home slot, so two threads inserting the same key
// serialise and the second finds the first's slot (no key ever has two slots). Claiming a FREE
// slot is a CAS on TAG; re-keying an idle slot is a CAS of its TAT to LOCKED, which also makes any
// in-flight charge of the old key fail and retry.
//
// Overflow: when the 16 slots of a key's probe window all hold active keys (TAT still in the
// future) of any limit, the request is refused (Limited, Retry-After = when the first of those
// slots goes idle) and counted in `overflows`. A refused request charges nothing, so no key can get
// past its limit; the cost of a table too small for the active key set is refusals of new keys,
// visible in rateLimitTableStats(). Size GATEMESH_RATELIMIT_MAX_KEYS for the peak number of keys
// active at once (a key stays active for (requests it made) × I after its last request).

import type { LimitResult } from '../limit-result';

/** GATEMESH_RATELIMIT_MAX_KEYS default: 65,536 keys (rounded up to a power of two), 2 MiB. */
export const DEFAULT_RATELIMIT_MAX_KEYS = 65536;
/** Largest accepted GATEMESH_RATELIMIT_MAX_KEYS (2^24 slots = 512 MiB). */
export const MAX_RATELIMIT_MAX_KEYS = 1 << 24;
/** Slots a key may live in, starting at its home slot (16 × 32 B = 512 B, 8 cache lines). */
export const PROBE = 16;

const MAGIC = 0x676d726c; // 'gmrl'
const VERSION = 1;
// Header: Int32 word indices. Each counter sits on its own 64-byte line (no false sharing).
const H_MAGIC = 0;
const H_VERSION = 1;
const H_CAPACITY = 2;
const H_BASE_F64 = 2; // Float64 index 2 = bytes 16..23 (Int32 words 4, 5)
const H_KEYS = 16;
const H_EVICTIONS = 32;
const H_OVERFLOWS = 48;
const HEADER_BYTES = 256;

const SLOT_SHIFT = 3; // 8 words
const TAG = 0;
const CHECK = 1;
const TAT = 2;
const BASE = 3;
const UPMS = 4;
const LOCK = 5;

const FREE = 0;
const BUSY = 1;
const LOCKED = -1;
const GEN_SHIFT = 29;
const GEN_MASK = 3 << GEN_SHIFT;
const VALUE_MASK = (1 << GEN_SHIFT) - 1;

/** Burst L·I must fit in this many units; `now` is rebased at REBASE_AT, so TAT < 2^29. */
const MAX_WINDOW_UNITS = 1 << 27;
const REBASE_AT = 1 << 28;
/** Units per ms ceiling: after a rebase `now` is < 1 s of units, which must stay < REBASE_AT. */
const MAX_UNITS_PER_MS = 1 << 18;
/**
 * A slot is evictable once its TAT is this far in the past: 1 ms for clock skew between threads,
 * plus 2^-22 of the time since the slot's BASE for the Float32 rounding of UPMS (relative 2^-24).
 */
const EVICT_MARGIN_MS = 1;
const EVICT_MARGIN_REL = 2 ** -22;
/** Units: `now` a millionth of a unit early is `now` (1.0000000001 → 1, 0.99999999 → 1). */
const NOW_EPS = 1e-6;
/** Restarts of one decision (slot changed under us) before refusing it as an overflow. */
const MAX_ATTEMPTS = 8;
/** Failed CAS / LOCKED reads before a restart; each is a few ns. */
const MAX_SPINS = 1 << 16;
/** A held insert lock older than this (its thread died inside the critical section) is stolen. */
const STEAL_S = 2;

/** Results of the internal steps (slot indices are >= 0). */
const REFUSED = -1;
const OVERFLOW = -2;
const RETRY = -3;

/**
 * Allocates the table on the main thread. `maxKeys` (GATEMESH_RATELIMIT_MAX_KEYS) is rounded up
 * to a power of two (at least PROBE); the base epoch is written into the header here.
 */
export function createRateLimitTable(maxKeys: number = DEFAULT_RATELIMIT_MAX_KEYS, nowMs: number = Date.now()): SharedArrayBuffer {
  if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > MAX_RATELIMIT_MAX_KEYS) {
    throw new Error(`GATEMESH_RATELIMIT_MAX_KEYS: ${maxKeys}: must be an integer from 1 to ${MAX_RATELIMIT_MAX_KEYS}`);
  }
  let capacity = PROBE;
  while (capacity < maxKeys) capacity *= 2;
  const sab = new SharedArrayBuffer(HEADER_BYTES + capacity * (1 << SLOT_SHIFT) * 4);
  const i32 = new Int32Array(sab);
  i32[H_MAGIC] = MAGIC;
  i32[H_VERSION] = VERSION;
  i32[H_CAPACITY] = capacity;
  // Whole ms: the epoch of every slot BASE (seconds after it).
  new Float64Array(sab, 0, 4)[H_BASE_F64] = Math.floor(nowMs);
  return sab;
}

export interface RateLimitTableStats {
  /** Slots holding a key (an idle key keeps its slot until another key reuses it). */
  keys: number;
  /** Idle keys whose slot was given to another key. */
  evictions: number;
  /** Requests refused because their key's probe window was full of active keys. */
  overflows: number;
  /** Slots in the table. */
  capacity: number;
}

export function rateLimitTableStats(sab: SharedArrayBuffer): RateLimitTableStats {
  const i32 = checkedView(sab);
  return {
    keys: Atomics.load(i32, H_KEYS),
    evictions: Atomics.load(i32, H_EVICTIONS),
    overflows: Atomics.load(i32, H_OVERFLOWS),
    capacity: i32[H_CAPACITY],
  };
}

function checkedView(sab: SharedArrayBuffer): Int32Array {
  const i32 = new Int32Array(sab);
  if (sab.byteLength < HEADER_BYTES || i32[H_MAGIC] !== MAGIC || i32[H_VERSION] !== VERSION) {
    throw new Error('rate-limit table: not a buffer made by createRateLimitTable');
  }
  return i32;
}

/** One limit's constants for the table, computed once at config load by tableLimit(). */
export interface TableLimit {
  /** Hash seeds derived from the 32-bit limit id: limits never share a slot. */
  readonly seedA: number;
  readonly seedB: number;
  readonly requests: number;
  readonly periodMs: number;
  /** Emission interval I and burst L·I in this limit's units. */
  readonly iu: number;
  readonly wu: number;
  /** Units per ms, and its inverse. */
  readonly upms: number;
  readonly msPerUnit: number;
}

/** Compiles `requests` per `periodMs` (integer >= 1, ms > 0) for limit `limitId` (int32). */
export function tableLimit(limitId: number, requests: number, periodMs: number): TableLimit {
  if (!Number.isInteger(requests) || requests < 1 || requests > MAX_WINDOW_UNITS) {
    throw new Error(`requests ${requests}: must be an integer from 1 to ${MAX_WINDOW_UNITS}`);
  }
  if (!(periodMs > 0) || !Number.isFinite(periodMs)) throw new Error(`period ${periodMs} ms: must be > 0`);
  const intervalMs = periodMs / requests;
  // k units per emission interval: 1 µs resolution where the burst fits in 2^27 units.
  const k = Math.max(1, Math.min(Math.floor(intervalMs * 1000), Math.floor(MAX_WINDOW_UNITS / requests)));
  const upms = k / intervalMs;
  if (upms > MAX_UNITS_PER_MS) {
    throw new Error(`${requests} per ${periodMs} ms is faster than one request per ${(1e6 / MAX_UNITS_PER_MS).toFixed(1)} ns`);
  }
  return {
    seedA: limitId | 0,
    seedB: fmix(limitId ^ 0x9e3779b9),
    requests,
    periodMs,
    iu: k,
    wu: k * requests,
    upms,
    msPerUnit: 1 / upms,
  };
}

/** murmur3's 32-bit finaliser: every input bit affects every output bit. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** A thread's view of the table. take()/refund() allocate nothing. */
export class RateLimitTable {
  readonly capacity: number;
  /** Header words (counters). */
  private readonly head: Int32Array;
  /** The slots: slot s is words (s << 3) .. (s << 3) + 7. */
  private readonly i32: Int32Array;
  private readonly f32: Float32Array;
  private readonly mask: number;
  private readonly baseMs: number;
  /**
   * Key hashes [a, b] of the last take() (for refund()). An Int32Array: an int32 outside the
   * 31-bit Smi range stored in an object field would allocate a HeapNumber per request.
   */
  readonly last = new Int32Array(2);
  /**
   * [0]: this decision's time, ms after the table's base epoch. Passed to charge()/insert()
   * through here, not as an argument: a double argument of a call V8 does not inline is boxed.
   */
  private readonly rel = new Float64Array(1);
  /** ms until a slot of the last overflowing window goes idle. */
  private overflowWaitMs = 0;

  constructor(readonly sab: SharedArrayBuffer) {
    this.head = checkedView(sab);
    this.i32 = new Int32Array(sab, HEADER_BYTES);
    this.f32 = new Float32Array(sab, HEADER_BYTES);
    this.capacity = this.head[H_CAPACITY];
    this.mask = this.capacity - 1;
    this.baseMs = new Float64Array(sab, 0, 4)[H_BASE_F64];
  }

  /**
   * Decides one request of `key` under `lim` at epoch ms `now` and, when allowed, charges it.
   * Fills `out` (allowed, limit, remaining, resetMs, retryAfterMs). Returns the slot index when
   * allowed (for refund()), else a negative number.
   */
  take(lim: TableLimit, key: string, now: number, out: LimitResult): number {
    // Two independent 32-bit hashes in one pass: FNV-1a and murmur3's block mixing, per UTF-16
    // code unit, seeded with the limit id.
    let a = lim.seedA ^ 0x811c9dc5;
    let b = lim.seedB;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      let k = Math.imul(c, 0xcc9e2d51);
      k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
      b ^= k;
      b = (Math.imul((b << 13) | (b >>> 19), 5) + 0xe6546b64) | 0;
    }
    a = fmix(a ^ key.length);
    b = fmix(b ^ key.length);
    if (a >>> 1 === 0) a |= 2; // 0 and 1 are FREE and BUSY
    this.last[0] = a;
    this.last[1] = b;
    this.rel[0] = now - this.baseMs;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let s = this.find(a, b);
      if (s < 0) {
        s = this.insert(a, b, lim);
        if (s === OVERFLOW) return this.overflow(lim, out);
        if (s === RETRY) continue;
      }
      const r = this.charge(s, a, b, lim, out);
      if (r !== RETRY) return r;
    }
    this.overflowWaitMs = 0;
    return this.overflow(lim, out);
  }

  /** Gives back the request charged by take() in `slot` (another rule refused it). */
  refund(lim: TableLimit, slot: number, a: number, b: number): void {
    const i32 = this.i32;
    const o = slot << SLOT_SHIFT;
    for (let spin = 0; spin < MAX_SPINS; spin++) {
      const t = Atomics.load(i32, o + TAT);
      if (t === LOCKED) continue;
      // Re-keyed since: the bucket had gone idle (full), there is nothing to give back.
      if (i32[o + TAG] !== a || i32[o + CHECK] !== b) return;
      let v = (t & VALUE_MASK) - lim.iu;
      if (v < 0) v = 0;
      if (Atomics.compareExchange(i32, o + TAT, t, (t & GEN_MASK) | v) === t) return;
    }
  }

  /**
   * The key's slot, or -1. Lock-free, plain loads: charge() re-checks the owner after its atomic
   * load of TAT, and a stale miss only sends us to insert(), which rescans under the lock. Stops
   * at the first FREE slot (slots never become FREE again).
   */
  private find(a: number, b: number): number {
    const i32 = this.i32;
    const mask = this.mask;
    const home = b & mask;
    for (let i = 0; i < PROBE; i++) {
      const o = ((home + i) & mask) << SLOT_SHIFT;
      const tag = i32[o + TAG];
      if (tag === a && i32[o + CHECK] === b) return o >> SLOT_SHIFT;
      if (tag === FREE) return -1;
    }
    return -1;
  }

  /** GCRA on slot `s`: the slot index when allowed, REFUSED, or RETRY (slot changed hands). */
  private charge(s: number, a: number, b: number, lim: TableLimit, out: LimitResult): number {
    const i32 = this.i32;
    const o = s << SLOT_SHIFT;
    const rel = this.rel[0];
    for (let spin = 0; spin < MAX_SPINS; spin++) {
      // TAT first: a re-key or rebase changes it (LOCKED, then a new generation) before TAG,
      // CHECK or BASE, so a TAG/CHECK/BASE read after it and a CAS on it see one owner.
      const t = Atomics.load(i32, o + TAT);
      if (t === LOCKED) continue;
      if (i32[o + TAG] !== a || i32[o + CHECK] !== b) return RETRY;
      const base = i32[o + BASE];
      // floor: time counts in whole units; NOW_EPS absorbs float error at exact boundaries.
      let nowU = Math.floor((rel - base * 1000) * lim.upms + NOW_EPS);
      if (nowU < 0) nowU = 0;
      if (nowU >= REBASE_AT) {
        this.rebase(o, t, base, lim.upms);
        continue;
      }
      const v = t & VALUE_MASK;
      const nv = (v > nowU ? v : nowU) + lim.iu;
      if (nv - nowU > lim.wu) {
        out.allowed = false;
        out.limit = lim.requests;
        out.remaining = 0;
        out.resetMs = (v - nowU) * lim.msPerUnit;
        out.retryAfterMs = (nv - lim.wu - nowU) * lim.msPerUnit;
        return REFUSED;
      }
      if (Atomics.compareExchange(i32, o + TAT, t, (t & GEN_MASK) | nv) === t) {
        out.allowed = true;
        out.limit = lim.requests;
        out.remaining = Math.floor((lim.wu - (nv - nowU)) / lim.iu);
        out.resetMs = (nv - nowU) * lim.msPerUnit;
        out.retryAfterMs = 0;
        return s;
      }
    }
    return RETRY;
  }

  /** Moves slot `o`'s BASE to the current second, keeping its TAT (rounded up to a whole unit). */
  private rebase(o: number, t: number, base: number, upms: number): void {
    const i32 = this.i32;
    const rel = this.rel[0];
    if (Atomics.compareExchange(i32, o + TAT, t, LOCKED) !== t) return;
    const nb = rel > 0 ? Math.floor(rel / 1000) : 0;
    let v = Math.ceil((t & VALUE_MASK) - (nb - base) * 1000 * upms);
    if (v < 0) v = 0;
    Atomics.store(i32, o + BASE, nb);
    Atomics.store(i32, o + TAT, nextGen(t) | v);
  }

  /**
   * Miss: under the home slot's insert lock, finds the key (another thread may have inserted it)
   * or claims the first FREE or idle slot of its window. Returns the slot, OVERFLOW or RETRY.
   */
  private insert(a: number, b: number, lim: TableLimit): number {
    const i32 = this.i32;
    const rel = this.rel[0];
    const mask = this.mask;
    const home = b & mask;
    const lock = (home << SLOT_SHIFT) + LOCK;
    const stamp = (rel > 0 ? Math.floor(rel / 1000) : 0) + 1;
    if (!this.lock(lock, stamp)) {
      this.overflowWaitMs = 0;
      return OVERFLOW;
    }
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        let cand = -1;
        let candTat = 0;
        let waitMs = Infinity;
        for (let i = 0; i < PROBE; i++) {
          const s = (home + i) & mask;
          const o = s << SLOT_SHIFT;
          const tag = Atomics.load(i32, o + TAG);
          if (tag === FREE) {
            if (cand < 0) {
              cand = s;
              candTat = LOCKED; // marks "claim from FREE"
            }
            break;
          }
          if (tag === a && Atomics.load(i32, o + CHECK) === b) return s;
          if (tag === BUSY || cand >= 0) continue;
          const t = Atomics.load(i32, o + TAT);
          if (t === LOCKED) continue;
          // Idle in the owner's own units (UPMS is written before the owner's TAG is published
          // and only changes under LOCKED, which the CAS below would notice).
          const sinceBase = rel - Atomics.load(i32, o + BASE) * 1000;
          const idleInMs = (t & VALUE_MASK) / this.f32[o + UPMS] - sinceBase + EVICT_MARGIN_MS + Math.abs(sinceBase) * EVICT_MARGIN_REL;
          if (idleInMs <= 0) {
            cand = s;
            candTat = t;
          } else if (idleInMs < waitMs) {
            waitMs = idleInMs;
          }
        }
        if (cand < 0) {
          this.overflowWaitMs = waitMs;
          return OVERFLOW;
        }
        const o = cand << SLOT_SHIFT;
        const nb = rel > 0 ? Math.floor(rel / 1000) : 0;
        if (candTat === LOCKED) {
          // Claim a FREE slot (an insert of another home may race us for it).
          if (Atomics.compareExchange(i32, o + TAG, FREE, BUSY) !== FREE) continue;
          Atomics.store(i32, o + CHECK, b);
          Atomics.store(i32, o + BASE, nb);
          this.f32[o + UPMS] = lim.upms;
          Atomics.store(i32, o + TAT, 0);
          Atomics.store(i32, o + TAG, a);
          Atomics.add(this.head, H_KEYS, 1);
        } else {
          // Evict an idle key: LOCKED makes its in-flight charges fail, then re-key.
          if (Atomics.compareExchange(i32, o + TAT, candTat, LOCKED) !== candTat) continue;
          Atomics.store(i32, o + TAG, BUSY);
          Atomics.store(i32, o + CHECK, b);
          Atomics.store(i32, o + BASE, nb);
          this.f32[o + UPMS] = lim.upms;
          Atomics.store(i32, o + TAT, nextGen(candTat));
          Atomics.store(i32, o + TAG, a);
          Atomics.add(this.head, H_EVICTIONS, 1);
        }
        return cand;
      }
      return RETRY;
    } finally {
      Atomics.store(i32, lock, 0);
    }
  }

  private lock(index: number, stamp: number): boolean {
    const i32 = this.i32;
    for (let spin = 0; spin < MAX_SPINS; spin++) {
      const held = Atomics.compareExchange(i32, index, 0, stamp);
      if (held === 0) return true;
      if (stamp - held > STEAL_S && Atomics.compareExchange(i32, index, held, stamp) === held) return true;
    }
    return false;
  }

  private overflow(lim: TableLimit, out: LimitResult): number {
    Atomics.add(this.head, H_OVERFLOWS, 1);
    const wait = this.overflowWaitMs;
    out.allowed = false;
    out.limit = lim.requests;
    out.remaining = 0;
    // Unknown (lock or restarts exhausted): suggest one emission interval.
    out.retryAfterMs = wait > 0 && wait !== Infinity ? wait : lim.periodMs / lim.requests;
    out.resetMs = out.retryAfterMs;
    return OVERFLOW;
  }
}

function nextGen(t: number): number {
  return (t + (1 << GEN_SHIFT)) & GEN_MASK;
}
