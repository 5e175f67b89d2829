// The quota table: one SharedArrayBuffer of counters that every worker thread decides on and the
// main thread's QuotaStore persists. Open addressing (linear probing) keyed by a 64-bit hash of
// (quota rule id, key); each slot is guarded by its own lock word (Atomics.compareExchange), so
// the check-and-charge of one key is exact across threads while different keys never contend.
//
// Layout (Int32 words): a 16-word header, then two regions sized at creation:
//   Calendar slots, 16 words (64 bytes: one cache line, so two hot keys never share a line);
//   Rolling slots, 80 words (320 bytes): the same header plus a ring of 60 sub-bucket counts.
// Capacity per region is the power of two ≥ 2 × its max keys, so the load factor stays ≤ 0.5 and
// an empty slot always ends a probe.
//
// Slot life: EMPTY → INIT (a thread claimed it, writing the hash) → USED → DEAD (the main thread
// found its window over and nothing left to persist) → EMPTY again once the next slot is EMPTY
// (so no probe chain is broken; see sweepTombstones). Only the main thread kills or reclaims.
import {
  bucketWidthMs,
  calendarWindow,
  isRolling,
  rollingBucket,
  ROLLING_BUCKETS,
} from './window';

const MAGIC = 0x51544231; // 'QTB1'

// Header words.
const H_MAGIC = 0;
const H_CAL_CAP = 1;
const H_ROLL_CAP = 2;
const H_CAL_MAX = 3;
const H_ROLL_MAX = 4;
/** Non-EMPTY slots (INIT, USED, DEAD) per region: the bound new keys are checked against. */
const H_CAL_OCC = 5;
const H_ROLL_OCC = 6;
/** Requests whose key found no slot (table full) and used the rule's overflow key instead. */
export const H_FULL = 7;
/** Slots freed by the store's cleanup (window over, persisted). */
export const H_CLEANED = 8;
const HEADER_WORDS = 16;

export const CAL_SLOT_WORDS = 16;
export const ROLL_SLOT_WORDS = 80;

// Slot words.
/** 0 free, 1 held. */
export const S_LOCK = 0;
export const S_STATE = 1;
export const S_HI = 2;
export const S_LO = 3;
/** window.ts kind code. */
export const S_KIND = 4;
/** Calendar: current window id. Rolling: newest sub-bucket id the ring has advanced to. */
export const S_HEAD = 5;
/** Charges counted now: the window's count, or the ring's sum (cluster-wide after a sync). */
export const S_TOTAL = 6;
/** Local charges not yet handed to the store (may go negative after a refund). */
export const S_PEND = 7;
/** Window / sub-bucket the pending charges belong to (Rolling: the newest charged, conservative). */
export const S_PENDB = 8;
/** Charges handed to the store by a sync still in flight (restored to PEND if it fails). */
export const S_INFL = 9;
/** Set by every check (allowed or refused): the store reads the cluster total back for it. */
export const S_TOUCH = 10;
/** Rolling: sub-bucket counts, index = bucket id % 60. */
export const S_RING = 16;

export const EMPTY = 0;
export const USED = 1;
export const INIT = 2;
export const DEAD = 3;
/** The main thread is turning the DEAD slot before this one into EMPTY (workers wait). */
export const HELD_EMPTY = 4;

/** A lock or INIT claim older than this, ms, belongs to a thread that died inside a few-ns section. */
const STUCK_MS = 100;

/** find(): the table is full. */
export const FIND_FULL = -2;
/** find(): not there (and not inserted). */
export const FIND_MISSING = -1;

function pow2AtLeast(n: number): number {
  let c = 16;
  while (c < n) c *= 2;
  return c;
}

/**
 * Allocates the table (main thread, at start-up). `maxKeys` bounds the Calendar keys
 * (GATEMESH_QUOTA_MAX_KEYS, default 65536 → 8 MiB); `maxRollingKeys` the Rolling ones,
 * default maxKeys / 4 (320 bytes each at load factor 0.5: 16384 → 10 MiB).
 */
export function createQuotaTable(maxKeys: number, maxRollingKeys = Math.max(16, Math.ceil(maxKeys / 4))): SharedArrayBuffer {
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`createQuotaTable: maxKeys must be a positive integer, got ${maxKeys}`);
  if (!Number.isInteger(maxRollingKeys) || maxRollingKeys < 1) {
    throw new RangeError(`createQuotaTable: maxRollingKeys must be a positive integer, got ${maxRollingKeys}`);
  }
  const calCap = pow2AtLeast(maxKeys * 2);
  const rollCap = pow2AtLeast(maxRollingKeys * 2);
  const words = HEADER_WORDS + calCap * CAL_SLOT_WORDS + rollCap * ROLL_SLOT_WORDS;
  const sab = new SharedArrayBuffer(words * 4);
  const h = new Int32Array(sab, 0, HEADER_WORDS);
  h[H_MAGIC] = MAGIC;
  h[H_CAL_CAP] = calCap;
  h[H_ROLL_CAP] = rollCap;
  h[H_CAL_MAX] = maxKeys;
  h[H_ROLL_MAX] = maxRollingKeys;
  return sab;
}

export interface QuotaTableStats {
  calendarKeys: number;
  rollingKeys: number;
  maxKeys: number;
  maxRollingKeys: number;
  /** Requests whose key found the table full (they shared the rule's overflow key). */
  full: number;
  /** Slots freed by cleanup. */
  cleaned: number;
  bytes: number;
}

/** Hash output without allocating: [hi, lo], set by hashKey() and parseHashHex(). */
export const hashOut = new Int32Array(2);

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Hash state after a rule id (computed once per rule): [h1, h2]. */
export function hashSeed(ruleId: string): [number, number] {
  let h1 = 0x811c9dc5 | 0;
  let h2 = 0x9747b28c | 0;
  for (let i = 0; i < ruleId.length; i++) {
    const c = ruleId.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  // The NUL separator: a key can never extend the rule id.
  h1 = Math.imul(h1, 0x01000193);
  h2 = Math.imul(h2, 0x5bd1e995);
  return [h1, h2];
}

/**
 * 64-bit hash of (rule, key) into hashOut: FNV-1a and a murmur2-style step over the UTF-16
 * code units, each finished by murmur3's fmix32. Collisions: about n²/2⁶⁵, 3·10⁻⁸ at a million keys.
 */
export function hashKey(seed1: number, seed2: number, key: string): void {
  let h1 = seed1;
  let h2 = seed2;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  hashOut[0] = fmix32(h2 ^ key.length);
  hashOut[1] = fmix32(h1 ^ Math.imul(key.length, 0x9e3779b9));
}

/** A typed view of the table with the probe and per-slot operations (one per thread). */
export class QuotaTableView {
  readonly i32: Int32Array;
  readonly calCap: number;
  readonly rollCap: number;
  readonly calMax: number;
  readonly rollMax: number;
  readonly calBase = HEADER_WORDS;
  readonly rollBase: number;

  constructor(readonly sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab);
    if (this.i32[H_MAGIC] !== MAGIC) throw new TypeError('not a quota table (use createQuotaTable)');
    this.calCap = this.i32[H_CAL_CAP];
    this.rollCap = this.i32[H_ROLL_CAP];
    this.calMax = this.i32[H_CAL_MAX];
    this.rollMax = this.i32[H_ROLL_MAX];
    this.rollBase = HEADER_WORDS + this.calCap * CAL_SLOT_WORDS;
  }

  /**
   * Finds the slot of (hi, lo) in `kind`'s region, inserting it when `insert`. Returns its first
   * word, FIND_MISSING or FIND_FULL. `reserved` inserts may go past the max keys up to 3/4 of the
   * capacity (the overflow keys that full-table requests share). The slot must then be locked
   * and `owns` checked: the main thread may have retired it in between.
   */
  find(hi: number, lo: number, kind: number, insert: boolean, reserved: boolean): number {
    const i32 = this.i32;
    const rolling = isRolling(kind);
    const cap = rolling ? this.rollCap : this.calCap;
    const words = rolling ? ROLL_SLOT_WORDS : CAL_SLOT_WORDS;
    const base = rolling ? this.rollBase : this.calBase;
    const occ = rolling ? H_ROLL_OCC : H_CAL_OCC;
    const max = reserved ? (cap >>> 2) * 3 : rolling ? this.rollMax : this.calMax;
    const mask = cap - 1;
    const home = lo & mask;
    let i = home;
    for (let probes = 0; probes <= cap; ) {
      const s = base + i * words;
      const st = Atomics.load(i32, s + S_STATE);
      if (st === USED) {
        if (Atomics.load(i32, s + S_LO) === lo && Atomics.load(i32, s + S_HI) === hi) return s;
      } else if (st === INIT || st === HELD_EMPTY) {
        this.waitWhile(s + S_STATE, st); // another thread is mid-write (nanoseconds); look again
        continue;
      } else if (st === EMPTY) {
        if (!insert) return FIND_MISSING;
        if (Atomics.add(i32, occ, 1) >= max) {
          Atomics.sub(i32, occ, 1);
          return FIND_FULL;
        }
        if (Atomics.compareExchange(i32, s + S_STATE, EMPTY, INIT) !== EMPTY) {
          Atomics.sub(i32, occ, 1);
          continue; // lost the race for this slot: see what the winner put there
        }
        i32[s + S_HI] = hi;
        i32[s + S_LO] = lo;
        i32[s + S_KIND] = kind;
        i32[s + S_HEAD] = 0;
        i32[s + S_TOTAL] = 0;
        i32[s + S_PEND] = 0;
        i32[s + S_PENDB] = 0;
        i32[s + S_INFL] = 0;
        i32[s + S_TOUCH] = 0;
        if (rolling) i32.fill(0, s + S_RING, s + S_RING + ROLLING_BUCKETS);
        // The chain from home to here must still hold no EMPTY slot: the main thread may have
        // reclaimed a tombstone on it before this claim, and the key must stay reachable.
        if (this.chainBroken(base, words, mask, home, i)) {
          Atomics.store(i32, s + S_STATE, EMPTY);
          Atomics.sub(i32, occ, 1);
          i = home;
          probes = 0;
          continue;
        }
        Atomics.store(i32, s + S_STATE, USED);
        return s;
      }
      // DEAD, or USED by another key: next slot.
      i = (i + 1) & mask;
      probes++;
    }
    return FIND_FULL;
  }

  private chainBroken(base: number, words: number, mask: number, from: number, to: number): boolean {
    for (let j = from; j !== to; j = (j + 1) & mask) {
      const st = Atomics.load(this.i32, base + j * words + S_STATE);
      if (st === EMPTY || st === HELD_EMPTY) return true;
    }
    return false;
  }

  lock(s: number): void {
    // Critical sections are a few dozen instructions with no I/O: spinning beats sleeping.
    if (Atomics.compareExchange(this.i32, s + S_LOCK, 0, 1) !== 0) this.lockSlow(s);
  }

  private lockSlow(s: number): void {
    const i32 = this.i32;
    let spins = 0;
    let since = 0;
    for (;;) {
      if (Atomics.load(i32, s + S_LOCK) === 0 && Atomics.compareExchange(i32, s + S_LOCK, 0, 1) === 0) return;
      if ((++spins & 1023) !== 0) continue;
      const t = Date.now();
      if (since === 0) since = t;
      else if (t - since > STUCK_MS) {
        // Held for 100 ms by a section that takes nanoseconds: its thread was terminated inside
        // it (Worker.terminate() interrupts anywhere). Take it over rather than hang every thread.
        Atomics.store(i32, s + S_LOCK, 1);
        return;
      }
    }
  }

  /** Spins while word `w` is `v` (an insert or a reclaim in progress); a claim left INIT by a terminated thread is retired after STUCK_MS. */
  private waitWhile(w: number, v: number): void {
    const i32 = this.i32;
    let spins = 0;
    let since = 0;
    while (Atomics.load(i32, w) === v) {
      if ((++spins & 1023) !== 0) continue;
      const t = Date.now();
      if (since === 0) since = t;
      else if (t - since > STUCK_MS && v === INIT) {
        Atomics.compareExchange(i32, w, INIT, DEAD);
        return;
      }
    }
  }

  unlock(s: number): void {
    Atomics.store(this.i32, s + S_LOCK, 0);
  }

  /** Under the lock: the slot still holds (hi, lo). */
  owns(s: number, hi: number, lo: number): boolean {
    const i32 = this.i32;
    return i32[s + S_STATE] === USED && i32[s + S_HI] === hi && i32[s + S_LO] === lo;
  }

  /**
   * Under the lock: moves the slot to instant `t` (a new calendar window starts at 0; a ring
   * drops the sub-buckets that left it). Returns the current window or sub-bucket id (≥ `t`'s:
   * a slot another thread already moved a little further is charged there, conservatively).
   */
  advance(s: number, kind: number, t: number): number {
    const i32 = this.i32;
    const head = i32[s + S_HEAD];
    if (!isRolling(kind)) {
      const cur = calendarWindow(kind, t);
      if (cur <= head) return head;
      i32[s + S_HEAD] = cur;
      i32[s + S_TOTAL] = 0;
      // Unsynced charges of an ended window no longer limit anything.
      i32[s + S_PEND] = 0;
      i32[s + S_PENDB] = cur;
      return cur;
    }
    const cur = rollingBucket(kind, t);
    if (cur <= head) return head;
    const ring = s + S_RING;
    if (cur - head >= ROLLING_BUCKETS) {
      i32.fill(0, ring, ring + ROLLING_BUCKETS);
      i32[s + S_TOTAL] = 0;
    } else {
      let total = i32[s + S_TOTAL];
      for (let b = head + 1; b <= cur; b++) {
        const k = ring + (b % ROLLING_BUCKETS);
        total -= i32[k];
        i32[k] = 0;
      }
      i32[s + S_TOTAL] = total;
    }
    i32[s + S_HEAD] = cur;
    if (i32[s + S_PENDB] <= cur - ROLLING_BUCKETS) i32[s + S_PEND] = 0;
    return cur;
  }

  /** Under the lock, after advance(): one charge in the current window / newest sub-bucket. */
  charge(s: number, kind: number): void {
    const i32 = this.i32;
    const head = i32[s + S_HEAD];
    i32[s + S_TOTAL]++;
    i32[s + S_PEND]++;
    i32[s + S_PENDB] = head;
    if (isRolling(kind)) i32[s + S_RING + (head % ROLLING_BUCKETS)]++;
  }

  /** Under the lock: takes back a charge made in window / sub-bucket `at` (a later rule refused). */
  refund(s: number, kind: number, at: number): void {
    const i32 = this.i32;
    const head = i32[s + S_HEAD];
    if (isRolling(kind)) {
      if (at <= head - ROLLING_BUCKETS) return;
      const k = s + S_RING + (at % ROLLING_BUCKETS);
      if (i32[k] > 0) {
        i32[k]--;
        i32[s + S_TOTAL]--;
      }
    } else {
      if (at !== head || i32[s + S_TOTAL] === 0) return;
      i32[s + S_TOTAL]--;
    }
    i32[s + S_PEND]--;
  }

  /**
   * Under the lock, Rolling: ms from `t` until `need` of the counted charges have expired
   * (walking the ring from its oldest sub-bucket). need ≤ 0 → 0.
   */
  rollingWaitMs(s: number, kind: number, need: number, t: number): number {
    if (need <= 0) return 0;
    const i32 = this.i32;
    const head = i32[s + S_HEAD];
    const width = bucketWidthMs(kind);
    let cum = 0;
    for (let b = head - ROLLING_BUCKETS + 1; b <= head; b++) {
      cum += i32[s + S_RING + (b % ROLLING_BUCKETS)];
      if (cum >= need) return Math.max(0, (b + ROLLING_BUCKETS) * width - t);
    }
    // Counted charges this ring does not show (cluster totals ahead of it): the whole window.
    return Math.max(0, (head + ROLLING_BUCKETS) * width - t);
  }

  /** Under the lock, Rolling: ms from `t` until every counted charge has expired. */
  rollingResetMs(s: number, kind: number, t: number): number {
    const i32 = this.i32;
    const head = i32[s + S_HEAD];
    let b = head;
    while (b > head - ROLLING_BUCKETS && i32[s + S_RING + (b % ROLLING_BUCKETS)] === 0) b--;
    if (b === head - ROLLING_BUCKETS) b = head;
    return Math.max(0, (b + ROLLING_BUCKETS) * bucketWidthMs(kind) - t);
  }

  /** Number of slots in `rolling`'s region, and its word layout, for the store's sweep. */
  region(rolling: boolean): { base: number; cap: number; words: number; occ: number } {
    return rolling
      ? { base: this.rollBase, cap: this.rollCap, words: ROLL_SLOT_WORDS, occ: H_ROLL_OCC }
      : { base: this.calBase, cap: this.calCap, words: CAL_SLOT_WORDS, occ: H_CAL_OCC };
  }

  /**
   * Main thread: turns DEAD slots back into EMPTY where that breaks no probe chain. A DEAD slot
   * followed by an EMPTY one is on no chain that reaches further, so it can be emptied; walking
   * backwards from each EMPTY slot does whole runs. The EMPTY successor is held (HELD_EMPTY) while
   * its predecessor changes, so a worker inserting there sees it and re-checks its chain.
   */
  sweepTombstones(): number {
    let freed = 0;
    for (const rolling of [false, true]) {
      const { base, cap, words, occ } = this.region(rolling);
      const i32 = this.i32;
      const mask = cap - 1;
      for (let i = 0; i < cap; i++) {
        if (Atomics.load(i32, base + i * words + S_STATE) !== EMPTY) continue;
        let next = i;
        let j = (i - 1) & mask;
        while (j !== i && Atomics.load(i32, base + j * words + S_STATE) === DEAD) {
          const nextState = base + next * words + S_STATE;
          if (Atomics.compareExchange(i32, nextState, EMPTY, HELD_EMPTY) !== EMPTY) break;
          Atomics.store(i32, base + j * words + S_STATE, EMPTY);
          Atomics.sub(i32, occ, 1);
          Atomics.store(i32, nextState, EMPTY);
          freed++;
          next = j;
          j = (j - 1) & mask;
        }
      }
    }
    return freed;
  }

  stats(): QuotaTableStats {
    const i32 = this.i32;
    let cal = 0;
    let roll = 0;
    for (let i = 0; i < this.calCap; i++) if (Atomics.load(i32, this.calBase + i * CAL_SLOT_WORDS + S_STATE) === USED) cal++;
    for (let i = 0; i < this.rollCap; i++) if (Atomics.load(i32, this.rollBase + i * ROLL_SLOT_WORDS + S_STATE) === USED) roll++;
    return {
      calendarKeys: cal,
      rollingKeys: roll,
      maxKeys: this.calMax,
      maxRollingKeys: this.rollMax,
      full: Atomics.load(i32, H_FULL),
      cleaned: Atomics.load(i32, H_CLEANED),
      bytes: this.sab.byteLength,
    };
  }
}

/** For admin /stats: keys held, overflow and cleanup counters. */
export function quotaTableStats(table: SharedArrayBuffer): QuotaTableStats {
  return new QuotaTableView(table).stats();
}

/** 16 hex digits of a 64-bit slot hash: the persisted key. */
export function hashHex(hi: number, lo: number): string {
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}

/** Inverse of hashHex into hashOut; false when `hex` is not 16 hex digits. */
export function parseHashHex(hex: string): boolean {
  if (!/^[0-9a-f]{16}$/.test(hex)) return false;
  hashOut[0] = parseInt(hex.slice(0, 8), 16) | 0;
  hashOut[1] = parseInt(hex.slice(8), 16) | 0;
  return true;
}
