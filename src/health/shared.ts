// The memory layout of a backend's endpoint health, one SharedArrayBuffer per backend: allocated
// and initialised by the main thread (src/shared/registry.ts), written by the active checker (main
// thread) and by every worker (outlier ejections, Retry-After holds), read by every balancer.
//
// Int32 words; header (8 words, 32 bytes), then one 8-word (32-byte) slot per endpoint:
//
//   header  0 MAGIC       'gmh1', set by initHealthShared (a worker refuses an uninitialised buffer)
//           1 ENDPOINTS   endpoint count the buffer was sized for
//           2 GEN         bumped whenever who is healthy changes (active transition, ejection); a
//                         worker recomputes its panic verdict only when this moves
//           3 LOCK        the ejection decision lock: 0 free, else the holder's time; a lock older
//                         than LOCK_STALE_MS (a thread terminated inside it) is taken over
//           4-5 BASE      Float64, epoch ms (src/shared/clock.ts) that every time below counts from;
//                         written once, before the buffer is shared (postMessage orders it)
//           6-7           reserved
//   slot    0 STATE          bits 0-1 the active verdict: 0 healthy, 1 unhealthy, 2 pending (a new
//                            endpoint of a checked backend, unhealthy until its first check passes);
//                            bit 2 EJECTED and bit 3 HELD: the time word below is set. STATE 0 means
//                            usable, so the balancer's common case is one Atomics.load, no clock read.
//                            The bits are set after their time and cleared only under LOCK, with
//                            the time, once it has expired (so a set time never hides behind a clear bit)
//           1 C5XX           consecutive 5xx (and local-origin errors), Atomics.add by every thread
//           2 CGW            consecutive gateway errors (502/503/504, connect failure, reset, timeout)
//           3 EJECTED_UNTIL  time, 0 = not ejected
//           4 EJECTIONS      ejection multiplier n (ejection n lasts n × base), decays while healthy
//           5 EJECT_END      time the last ejection ended (or ends), where the decay counts from
//           6 HELD_UNTIL     time, 0 = no Retry-After hold
//           7 ACTIVE_RUN     the active checker's current run: +n passes or -n failures (for /stats)
//
// Times are Int32 ms since BASE, compared with serial-number arithmetic (RFC 1982: `(a - b) | 0`),
// so they keep working past 2^31 ms (24.8 days) of uptime: every hold is capped far below 2^30 ms,
// and the main thread's sweep (sweepHealthShared, once a second) clears expired times before a
// stale one could alias into the future. 0 means "no time"; a time that encodes to 0 becomes 1.
import type { HealthPolicy, OutlierDetection } from '../config/model';
import { nowMs } from '../shared/clock';

export const MAGIC = 0x676d6831;
export const H_MAGIC = 0;
export const H_ENDPOINTS = 1;
export const H_GEN = 2;
export const H_LOCK = 3;
/** Float64 index of BASE (byte 16). */
const H_BASE_F64 = 2;
export const HEADER_WORDS = 8;

export const S_STATE = 0;
export const S_C5XX = 1;
export const S_CGW = 2;
export const S_EJECTED_UNTIL = 3;
export const S_EJECTIONS = 4;
export const S_EJECT_END = 5;
export const S_HELD_UNTIL = 6;
export const S_ACTIVE_RUN = 7;
export const SLOT_WORDS = 8;

export const ACTIVE_HEALTHY = 0;
export const ACTIVE_UNHEALTHY = 1;
export const ACTIVE_PENDING = 2;
export const ACTIVE_MASK = 3;
export const F_EJECTED = 4;
export const F_HELD = 8;

/** RFC 9110 §10.2.3 gives no bound; an upstream asking for more than 300 s is held 300 s (issue 5). */
export const MAX_HOLD_MS = 300_000;
/** Longest ejection whatever the config says: serial time comparison needs every time < 2^30 ms ahead. */
export const MAX_EJECTION_MS = 86_400_000;
/** A lock held this long belongs to a thread that died inside it (the critical section takes µs). */
const LOCK_STALE_MS = 1000;
/** Spins before giving up on the lock (the decision is then skipped: an ejection is best effort). */
const LOCK_SPINS = 100_000;

/** True when `p` ejects anything (both thresholds 0 = off). */
export function passiveOn(p: OutlierDetection | undefined): p is OutlierDetection {
  return p !== undefined && (p.consecutive5xx > 0 || p.consecutiveGatewayErrors > 0);
}

/** True when endpoints of a backend with this policy can ever be unusable. */
export function healthNeeded(policy: HealthPolicy | undefined): boolean {
  return policy?.active !== undefined || passiveOn(policy?.passive) || (policy?.honorRetryAfter ?? true);
}

/**
 * Bytes of the health buffer for a backend: 0 when nothing can make an endpoint unusable (no
 * endpoints, or no active check, no outlier detection and Retry-After holds turned off).
 * Retry-After holds default to on, so a backend without a health policy still gets a buffer.
 */
export function healthSharedBytes(policy: HealthPolicy | undefined, endpoints: number): number {
  if (endpoints <= 0 || !healthNeeded(policy)) return 0;
  return (HEADER_WORDS + endpoints * SLOT_WORDS) * 4;
}

/**
 * Writes the header of a fresh buffer (main thread, before the buffer is shared). Every endpoint
 * starts healthy, not ejected, not held (all-zero slots); the checker marks pending ones.
 */
export function initHealthShared(sab: SharedArrayBuffer, endpoints: number, clock: () => number = nowMs): void {
  const need = (HEADER_WORDS + endpoints * SLOT_WORDS) * 4;
  if (sab.byteLength < need) throw new Error(`health buffer of ${sab.byteLength} bytes is too small for ${endpoints} endpoints (${need} bytes; size it with healthSharedBytes)`);
  const s = new Int32Array(sab);
  // A little before now, so a time never encodes to 0 or below in the first millisecond.
  new Float64Array(sab, 0, HEADER_WORDS / 2)[H_BASE_F64] = Math.floor(clock()) - 1000;
  Atomics.store(s, H_ENDPOINTS, endpoints);
  Atomics.store(s, H_MAGIC, MAGIC);
}

/** BASE of an initialised buffer, epoch ms. */
export function sharedBase(sab: SharedArrayBuffer): number {
  return new Float64Array(sab, 0, HEADER_WORDS / 2)[H_BASE_F64];
}

/** Checks that `sab` was sized and initialised for `endpoints`; throws with the fix otherwise. */
export function checkShared(sab: SharedArrayBuffer, endpoints: number): Int32Array {
  const s = new Int32Array(sab);
  if (sab.byteLength < (HEADER_WORDS + endpoints * SLOT_WORDS) * 4 || Atomics.load(s, H_MAGIC) !== MAGIC || Atomics.load(s, H_ENDPOINTS) !== endpoints) {
    throw new Error(`health buffer does not fit ${endpoints} endpoints: allocate it with healthSharedBytes() and initHealthShared() on the main thread`);
  }
  return s;
}

/** The Int32 encoding of epoch ms `abs` (rounded up: a hold never ends early); never 0. */
export function encodeTime(base: number, abs: number): number {
  return Math.ceil(abs - base) | 0 || 1;
}

/** Epoch ms of encoded time `t`, read at epoch ms `now` (wrap-safe within ±2^31 ms of now). */
export function decodeTime(base: number, t: number, now: number): number {
  return now + ((t - ((now - base) | 0)) | 0);
}

/** The slot's first word. */
export function slot(i: number): number {
  return HEADER_WORDS + i * SLOT_WORDS;
}

/** The active verdict of endpoint i (ACTIVE_*). */
export function activeState(s: Int32Array, i: number): number {
  return Atomics.load(s, slot(i) + S_STATE) & ACTIVE_MASK;
}

/** Sets the active verdict of endpoint i, keeping the EJECTED/HELD bits; true when it changed (GEN bumped). */
export function setActiveState(s: Int32Array, i: number, state: number): boolean {
  const w = slot(i) + S_STATE;
  for (;;) {
    const cur = Atomics.load(s, w);
    if ((cur & ACTIVE_MASK) === state) return false;
    if (Atomics.compareExchange(s, w, cur, (cur & ~ACTIVE_MASK) | state) === cur) break;
  }
  Atomics.add(s, H_GEN, 1);
  return true;
}

/**
 * Under LOCK: clears endpoint slot `o`'s ejection and hold if they have expired at `nowRel`
 * (time to 0, then its STATE bit). Returns the ejection time still running, or 0.
 */
export function clearExpired(s: Int32Array, o: number, nowRel: number): number {
  const held = Atomics.load(s, o + S_HELD_UNTIL);
  if (held !== 0 && ((held - nowRel) | 0) <= 0) {
    Atomics.store(s, o + S_HELD_UNTIL, 0);
    Atomics.and(s, o + S_STATE, ~F_HELD);
  }
  const until = Atomics.load(s, o + S_EJECTED_UNTIL);
  if (until === 0) return 0;
  if (((until - nowRel) | 0) > 0) return until;
  Atomics.store(s, o + S_EJECTED_UNTIL, 0);
  Atomics.and(s, o + S_STATE, ~F_EJECTED);
  return 0;
}

/** Takes the buffer lock (Atomics spin; holders run short loops). False: gave up after `spins` tries. */
export function lockShared(s: Int32Array, nowRel: number, spins = LOCK_SPINS): boolean {
  const stamp = nowRel | 0 || 1;
  for (let spin = 0; spin < spins; spin++) {
    const held = Atomics.compareExchange(s, H_LOCK, 0, stamp);
    if (held === 0) return true;
    if (((nowRel - held) | 0) > LOCK_STALE_MS && Atomics.compareExchange(s, H_LOCK, held, stamp) === held) return true;
  }
  return false;
}

export function unlockShared(s: Int32Array): void {
  Atomics.store(s, H_LOCK, 0);
}

/**
 * Ejection multiplier after decay: one ejection is forgiven per `decayMs` the endpoint has stayed
 * un-ejected since its last ejection ended (still ejected: no decay). The sweep moves `end` along
 * as it decays, so `end` never falls 2^31 ms behind while the checker runs.
 */
export function decayedEjections(k: number, end: number, nowRel: number, decayMs: number): number {
  if (k <= 0) return 0;
  const since = (nowRel - end) | 0;
  if (since <= 0 || decayMs <= 0) return k;
  return Math.max(0, k - Math.floor(since / decayMs));
}

/**
 * Main-thread housekeeping, once a second: clears expired ejections and holds (so their STATE bits
 * drop and an old time never aliases after the Int32 clock wraps) and applies the ejection
 * multiplier's decay. `decayMs` is the backend's baseEjectionTimeMs (0 when outlier detection is off).
 */
export function sweepHealthShared(sab: SharedArrayBuffer, decayMs: number, now: number = nowMs()): void {
  const s = new Int32Array(sab);
  if (Atomics.load(s, H_MAGIC) !== MAGIC) return;
  const n = Atomics.load(s, H_ENDPOINTS);
  const t = (now - sharedBase(sab)) | 0;
  if (!lockShared(s, t)) return;
  try {
    for (let i = 0; i < n; i++) {
      const o = slot(i);
      if (clearExpired(s, o, t) !== 0 || decayMs <= 0) continue;
      const k = Atomics.load(s, o + S_EJECTIONS);
      if (k === 0) continue;
      const end = Atomics.load(s, o + S_EJECT_END);
      const left = decayedEjections(k, end, t, decayMs);
      if (left === k) continue;
      // Move the decay origin forward by the steps taken, so the lazy formula agrees later on.
      Atomics.store(s, o + S_EJECTIONS, left);
      Atomics.store(s, o + S_EJECT_END, left === 0 ? t | 0 || 1 : (end + (k - left) * decayMs) | 0);
    }
  } finally {
    unlockShared(s);
  }
}

/**
 * Copies endpoint `from` of buffer `src` into endpoint `to` of buffer `dst` (main thread, on a
 * reload that rebuilt the backend's buffer, before any worker sees `dst`): active verdict, ejection
 * and hold carry over, times re-encoded against the new BASE. Consecutive-error counters start at 0.
 */
export function copyEndpointState(src: SharedArrayBuffer, from: number, dst: SharedArrayBuffer, to: number, now: number = nowMs()): void {
  const a = new Int32Array(src);
  const b = new Int32Array(dst);
  const aBase = sharedBase(src);
  const bBase = sharedBase(dst);
  const tA = (now - aBase) | 0;
  const oa = slot(from);
  const ob = slot(to);
  const move = (w: number): void => {
    const v = Atomics.load(a, oa + w);
    Atomics.store(b, ob + w, v === 0 ? 0 : encodeTime(bBase, decodeTime(aBase, v, now)));
  };
  let state = Atomics.load(a, oa + S_STATE) & ACTIVE_MASK;
  Atomics.store(b, ob + S_ACTIVE_RUN, Atomics.load(a, oa + S_ACTIVE_RUN));
  const until = Atomics.load(a, oa + S_EJECTED_UNTIL);
  if (until !== 0 && ((until - tA) | 0) > 0) {
    move(S_EJECTED_UNTIL);
    state |= F_EJECTED;
  }
  const held = Atomics.load(a, oa + S_HELD_UNTIL);
  if (held !== 0 && ((held - tA) | 0) > 0) {
    move(S_HELD_UNTIL);
    state |= F_HELD;
  }
  const k = Atomics.load(a, oa + S_EJECTIONS);
  if (k > 0) {
    Atomics.store(b, ob + S_EJECTIONS, k);
    move(S_EJECT_END);
  }
  // Times first, then the bits that announce them.
  Atomics.store(b, ob + S_STATE, state);
  Atomics.add(b, H_GEN, 1);
}
