// Worker-side view of a backend's endpoint health: what the balancer asks ("may endpoint i be
// picked now?") and what the upstream path reports back (each attempt's outcome, Retry-After).
// State lives in the backend's SharedArrayBuffer (./shared.ts), so every thread sees one verdict.
//
// Decisions (Envoy outlier detection unless said otherwise):
// - An endpoint is healthy when its active check says so (or there is none) and it is not ejected.
// - Ejection n lasts n × baseEjectionTimeMs, capped at max(maxEjectionTimeMs, base) (Envoy).
//   The multiplier decays by one per baseEjectionTimeMs the endpoint stays un-ejected after its
//   last ejection ended (Envoy decrements once per `interval`, 10 s by default; gatemesh has no
//   interval setting, and the base time scales with the config).
// - At most maxEjectionPercent of the endpoints are ejected at once, but one always may be (Envoy:
//   eject when (ejected + 1) / total <= max%, or when none is ejected). The decision runs under a
//   lock in the buffer, so threads ejecting at the same moment cannot overshoot the percentage and
//   an endpoint is ejected exactly once.
// - A counter that reaches its threshold resets to 0 whether the ejection happened or not (as
//   Envoy), so a refused endpoint needs another full run of errors to be tried again.
// - Active checks and ejections are independent: a passing active check does not end an ejection
//   (Envoy's successful_active_health_check_uneject_host would let /healthz override real traffic).
// - Panic (Envoy's panic threshold): when fewer than panicThresholdPercent of the endpoints are
//   healthy, health and ejections are ignored and every endpoint is usable. Retry-After holds do
//   not count as unhealthy and still apply in panic: a hold is the upstream's own request to
//   pause, and ignoring it exactly when most endpoints are failing would pile load on the few
//   still answering. When every endpoint is held, none is usable (the proxy answers 503).
import type { HealthPolicy } from '../config/model';
import { nowMs } from '../shared/clock';
import { parseRetryAfter } from './retry-after';
import {
  ACTIVE_HEALTHY,
  ACTIVE_MASK,
  F_EJECTED,
  F_HELD,
  H_GEN,
  MAX_EJECTION_MS,
  MAX_HOLD_MS,
  S_STATE,
  S_C5XX,
  S_CGW,
  S_EJECTED_UNTIL,
  S_EJECTIONS,
  S_EJECT_END,
  S_HELD_UNTIL,
  SLOT_WORDS,
  HEADER_WORDS,
  checkShared,
  clearExpired,
  decayedEjections,
  decodeTime,
  encodeTime,
  healthNeeded,
  healthSharedBytes,
  initHealthShared,
  lockShared,
  passiveOn,
  sharedBase,
  unlockShared,
} from './shared';

export interface EndpointAvailability {
  /** True when endpoint i may be picked now (health, outlier ejection, Retry-After hold and panic mode already applied). */
  usable(i: number): boolean;
}

/** One endpoint for admin /stats. Times are epoch ms, 0 when none. */
export interface EndpointHealthState {
  /** The active check's verdict (true when there is no active check; false while a new endpoint awaits its first pass). */
  healthy: boolean;
  ejectedUntil: number;
  heldUntil: number;
  /** The ejection multiplier (after decay): the next ejection lasts (ejections + 1) × base. */
  ejections: number;
}

export interface EndpointHealth extends EndpointAvailability {
  /**
   * One completed upstream attempt to endpoint i: its response status, or status 0 with
   * gatewayError for a connect failure, reset or timeout (gatewayError also marks a 502/503/504
   * that gatemesh itself raised). Feeds passive outlier detection.
   */
  onResult(i: number, status: number, gatewayError: boolean): void;
  /** An upstream 429/503 carrying Retry-After (RFC 9110 §10.2.3): hold endpoint i back until then (≤ 300 s). */
  onRetryAfter(i: number, status: number, retryAfterHeader: string): void;
  /** Endpoints ejected right now. */
  ejectedCount(): number;
  /** True while the panic threshold is crossed (every endpoint usable but held ones). */
  panicking(): boolean;
  snapshot(): EndpointHealthState[];
}

/** Nothing can make an endpoint unusable (no checks, no outlier detection, holds off). */
class AlwaysUsable implements EndpointHealth {
  constructor(private readonly n: number) {}
  usable(_i: number): boolean {
    return true;
  }
  onResult(_i: number, _status: number, _gatewayError: boolean): void {}
  onRetryAfter(_i: number, _status: number, _retryAfterHeader: string): void {}
  ejectedCount(): number {
    return 0;
  }
  panicking(): boolean {
    return false;
  }
  snapshot(): EndpointHealthState[] {
    const out: EndpointHealthState[] = [];
    for (let i = 0; i < this.n; i++) out.push({ healthy: true, ejectedUntil: 0, heldUntil: 0, ejections: 0 });
    return out;
  }
}

class SharedEndpointHealth implements EndpointHealth {
  private readonly s: Int32Array;
  private readonly base: number;
  private readonly n: number;
  private readonly holds: boolean;
  private readonly panicOn: boolean;
  private readonly panicPct: number;
  private readonly c5xx: number;
  private readonly cgw: number;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly maxPct: number;
  /** Panic verdict cache: recomputed when GEN moves or, in panic, when the first ejection ends. */
  private gen = -1;
  private panic = false;
  private recheckAt = 0;

  constructor(policy: HealthPolicy | undefined, n: number, sab: SharedArrayBuffer, private readonly clock: () => number) {
    this.s = checkShared(sab, n);
    this.base = sharedBase(sab);
    this.n = n;
    this.holds = policy?.honorRetryAfter ?? true;
    const passive = passiveOn(policy?.passive) ? policy!.passive! : undefined;
    this.c5xx = passive?.consecutive5xx ?? 0;
    this.cgw = passive?.consecutiveGatewayErrors ?? 0;
    this.baseMs = Math.max(1, Math.min(passive?.baseEjectionTimeMs ?? 30_000, MAX_EJECTION_MS));
    this.capMs = Math.min(Math.max(passive?.maxEjectionTimeMs ?? 300_000, this.baseMs), MAX_EJECTION_MS);
    this.maxPct = passive?.maxEjectionPercent ?? 10;
    this.panicPct = policy?.panicThresholdPercent ?? 50;
    // Only checks and ejections make endpoints unhealthy; without either there is nothing to panic about.
    this.panicOn = this.panicPct > 0 && (policy?.active !== undefined || passive !== undefined);
  }

  private nowRel(): number {
    return (this.clock() - this.base) | 0;
  }

  usable(i: number): boolean {
    // Healthy, not ejected, not held: one load, no clock (panic can only add endpoints, never remove).
    const st = Atomics.load(this.s, HEADER_WORDS + i * SLOT_WORDS + S_STATE);
    return st === 0 || this.usableSlow(HEADER_WORDS + i * SLOT_WORDS, st);
  }

  private usableSlow(o: number, st: number): boolean {
    const s = this.s;
    if (this.panicOn && Atomics.load(s, H_GEN) !== this.gen) this.refresh();
    if ((st & (F_EJECTED | F_HELD)) === 0 && this.recheckAt === 0) return this.panic;
    const t = this.nowRel();
    if (this.recheckAt !== 0 && ((t - this.recheckAt) | 0) >= 0) this.refresh();
    if ((st & F_HELD) !== 0) {
      const held = Atomics.load(s, o + S_HELD_UNTIL);
      if (held !== 0 && ((held - t) | 0) > 0) return false;
    }
    if (this.panic) return true;
    if ((st & F_EJECTED) !== 0) {
      const until = Atomics.load(s, o + S_EJECTED_UNTIL);
      if (until !== 0 && ((until - t) | 0) > 0) return false;
    }
    return (st & ACTIVE_MASK) === ACTIVE_HEALTHY;
  }

  /** Recounts healthy endpoints (O(endpoints); only after a change, or in panic when an ejection ends). */
  private refresh(): void {
    const s = this.s;
    this.gen = Atomics.load(s, H_GEN);
    const t = this.nowRel();
    let healthy = 0;
    let earliest = 0;
    for (let i = 0, o = HEADER_WORDS; i < this.n; i++, o += SLOT_WORDS) {
      const st = Atomics.load(s, o + S_STATE);
      const until = (st & F_EJECTED) === 0 ? 0 : Atomics.load(s, o + S_EJECTED_UNTIL);
      if (until !== 0 && ((until - t) | 0) > 0) {
        if (earliest === 0 || ((until - earliest) | 0) < 0) earliest = until;
      } else if ((st & ACTIVE_MASK) === ACTIVE_HEALTHY) {
        healthy++;
      }
    }
    this.panic = healthy * 100 < this.panicPct * this.n;
    // In panic, an ending ejection may end the panic; outside it, nothing time-based can start one.
    this.recheckAt = this.panic ? earliest : 0;
  }

  onResult(i: number, status: number, gatewayError: boolean): void {
    if (this.c5xx === 0 && this.cgw === 0) return;
    const s = this.s;
    const o = HEADER_WORDS + i * SLOT_WORDS;
    if (!gatewayError && status < 500) {
      // Load before store: the success path writes nothing, so threads do not fight over the line.
      if (Atomics.load(s, o + S_C5XX) !== 0) Atomics.store(s, o + S_C5XX, 0);
      if (Atomics.load(s, o + S_CGW) !== 0) Atomics.store(s, o + S_CGW, 0);
      return;
    }
    // Envoy: 502/503/504 and local-origin failures are gateway errors; any other 5xx breaks that run.
    if (gatewayError || status === 502 || status === 503 || status === 504) {
      if (this.cgw > 0 && Atomics.add(s, o + S_CGW, 1) + 1 === this.cgw) {
        this.eject(i);
        Atomics.store(s, o + S_CGW, 0);
      }
    } else if (Atomics.load(s, o + S_CGW) !== 0) {
      Atomics.store(s, o + S_CGW, 0);
    }
    if (this.c5xx > 0 && Atomics.add(s, o + S_C5XX, 1) + 1 === this.c5xx) {
      this.eject(i);
      Atomics.store(s, o + S_C5XX, 0);
    }
  }

  /** Ejects endpoint i unless it already is or max% forbids; true when this call ejected it. */
  private eject(i: number): boolean {
    const s = this.s;
    const t = this.nowRel();
    if (!lockShared(s, t)) return false;
    try {
      const o = HEADER_WORDS + i * SLOT_WORDS;
      // The scan also drops expired ejections and holds, so their endpoints are back on the fast path.
      let ejected = 0;
      let self = false;
      for (let j = 0, p = HEADER_WORDS; j < this.n; j++, p += SLOT_WORDS) {
        if (clearExpired(s, p, t) !== 0) {
          ejected++;
          if (p === o) self = true;
        }
      }
      if (self || (ejected > 0 && (ejected + 1) * 100 > this.maxPct * this.n)) return false;
      const k = Math.min(decayedEjections(Atomics.load(s, o + S_EJECTIONS), Atomics.load(s, o + S_EJECT_END), t, this.baseMs) + 1, Math.ceil(this.capMs / this.baseMs));
      const until = (t + Math.min(this.baseMs * k, this.capMs)) | 0 || 1;
      Atomics.store(s, o + S_EJECTIONS, k);
      Atomics.store(s, o + S_EJECT_END, until);
      Atomics.store(s, o + S_C5XX, 0);
      Atomics.store(s, o + S_CGW, 0);
      // The time, then the bit that sends usable() to look at it.
      Atomics.store(s, o + S_EJECTED_UNTIL, until);
      Atomics.or(s, o + S_STATE, F_EJECTED);
      Atomics.add(s, H_GEN, 1);
      return true;
    } finally {
      unlockShared(s);
    }
  }

  onRetryAfter(i: number, status: number, retryAfterHeader: string): void {
    if (!this.holds || (status !== 429 && status !== 503)) return;
    const now = this.clock();
    const wait = parseRetryAfter(retryAfterHeader, now);
    if (wait <= 0) return;
    const until = encodeTime(this.base, now + Math.min(wait, MAX_HOLD_MS));
    const t = (now - this.base) | 0;
    const s = this.s;
    const o = HEADER_WORDS + i * SLOT_WORDS;
    // Under the lock, as only lock holders clear the HELD bit; holds are rare (429/503 + Retry-After).
    if (!lockShared(s, t)) return;
    try {
      const cur = Atomics.load(s, o + S_HELD_UNTIL);
      // Keep the later of two holds (threads may report out of order).
      if (cur !== 0 && ((cur - t) | 0) > 0 && ((cur - until) | 0) >= 0) return;
      Atomics.store(s, o + S_HELD_UNTIL, until);
      Atomics.or(s, o + S_STATE, F_HELD);
    } finally {
      unlockShared(s);
    }
  }

  ejectedCount(): number {
    const s = this.s;
    const t = this.nowRel();
    let c = 0;
    for (let i = 0, o = HEADER_WORDS; i < this.n; i++, o += SLOT_WORDS) {
      const u = Atomics.load(s, o + S_EJECTED_UNTIL);
      if (u !== 0 && ((u - t) | 0) > 0) c++;
    }
    return c;
  }

  panicking(): boolean {
    if (!this.panicOn) return false;
    this.refresh();
    return this.panic;
  }

  snapshot(): EndpointHealthState[] {
    const s = this.s;
    const now = this.clock();
    const t = (now - this.base) | 0;
    const out: EndpointHealthState[] = [];
    for (let i = 0, o = HEADER_WORDS; i < this.n; i++, o += SLOT_WORDS) {
      const u = Atomics.load(s, o + S_EJECTED_UNTIL);
      const h = Atomics.load(s, o + S_HELD_UNTIL);
      out.push({
        healthy: (Atomics.load(s, o + S_STATE) & ACTIVE_MASK) === ACTIVE_HEALTHY,
        ejectedUntil: u !== 0 && ((u - t) | 0) > 0 ? decodeTime(this.base, u, now) : 0,
        heldUntil: h !== 0 && ((h - t) | 0) > 0 ? decodeTime(this.base, h, now) : 0,
        ejections: decayedEjections(Atomics.load(s, o + S_EJECTIONS), Atomics.load(s, o + S_EJECT_END), t, this.baseMs),
      });
    }
    return out;
  }
}

/**
 * The health of one backend's endpoints as seen by one thread. `shared` is the backend's health
 * buffer (Backend.shared.health); undefined allocates a private one (single-threaded use, tests).
 * `clock` is epoch ms (src/shared/clock.ts), injectable for tests.
 */
export function createEndpointHealth(
  policy: HealthPolicy | undefined,
  endpoints: number,
  shared: SharedArrayBuffer | undefined,
  clock: () => number = nowMs,
): EndpointHealth {
  if (endpoints <= 0 || !healthNeeded(policy)) return new AlwaysUsable(Math.max(0, endpoints));
  let sab = shared;
  if (sab === undefined) {
    sab = new SharedArrayBuffer(healthSharedBytes(policy, endpoints));
    initHealthShared(sab, endpoints, clock);
  }
  return new SharedEndpointHealth(policy, endpoints, sab, clock);
}
