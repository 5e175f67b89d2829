// PeakEWMA (Finagle's PeakEwma, Linkerd's / tower's peak_ewma): cost = EWMA of latency ×
// (requests in flight + 1), compared over two random usable endpoints (P2C), lower cost wins.
//
// The EWMA is peak-sensitive: a sample slower than the estimate replaces it at once, so one slow
// response moves traffic away immediately; faster samples pull it down with the weight
// 1 − e^(−Δt/decay), Δt the time since the endpoint's previous sample (a continuous-time EWMA,
// Finagle's `observe`). Reads decay the estimate towards 0 by e^(−Δt/decay) (as tower's `load()`
// does), so an endpoint avoided for being slow is tried again after a while instead of never.
// Before its first sample an endpoint counts `defaultRttMs` from the balancer's creation.
//
// State: the in-flight rows and one EWMA record per endpoint in the backend's shared buffer
// (shared-layout.ts), so every thread's samples feed one estimate; reads do not write. A pick
// reads no clock (the decay is common to both candidates and cancels out, see `cheaper`); onEnd
// reads src/shared/clock.ts nowMs() once to stamp its sample, as Linkerd reads Instant::now.
import type { LoadBalancerPolicy } from '../../config/model';
import type { KeyInput } from '../../policy/key';
import { nowMs } from '../../shared/clock';
import { WeightedDraw } from '../draw';
import { EwmaRecords, InFlight } from '../shared-layout';
import type { Balancer, BalancerSetup } from '../types';

type PeakEwmaPolicy = Extract<LoadBalancerPolicy, { type: 'PeakEWMA' }>;

/** ms; Linkerd's default decay (10 s). */
export const DEFAULT_DECAY_MS = 10_000;
/** ms; Linkerd's default_rtt (30 ms), assumed before an endpoint's first sample. */
export const DEFAULT_RTT_MS = 30;
/** A reading above this (1 h) is not a latency: a torn or corrupt record counts as "no sample". */
const MAX_RTT_MS = 3_600_000;

class PeakEwmaBalancer implements Balancer {
  private readonly draw: WeightedDraw;
  private readonly inflight: InFlight;
  private readonly ewma: Float64Array;
  private readonly decayMs: number;
  private readonly defaultRttMs: number;
  private readonly now: () => number;
  /** When this balancer was built: the stamp of `defaultRttMs` before a first sample. */
  private readonly bornAt: number;

  constructor(s: BalancerSetup, policy: PeakEwmaPolicy | null, shared: SharedArrayBuffer, now: () => number) {
    this.draw = new WeightedDraw(s);
    this.inflight = new InFlight(shared, s.n, s.thread, s.threads);
    this.ewma = new EwmaRecords(shared, s.n, s.threads).data;
    this.decayMs = policy?.decayMs ?? DEFAULT_DECAY_MS;
    this.defaultRttMs = policy?.defaultRttMs ?? DEFAULT_RTT_MS;
    if (!(this.decayMs > 0) || !Number.isFinite(this.decayMs)) {
      throw new Error(`PeakEWMA decay must be a positive duration (got ${policy?.decayMs} ms); Linkerd's default is 10s`);
    }
    if (!(this.defaultRttMs >= 0) || this.defaultRttMs > MAX_RTT_MS) {
      throw new Error(`PeakEWMA defaultRtt must be between 0 and 1h (got ${policy?.defaultRttMs} ms); Linkerd's default is 30ms`);
    }
    this.now = now;
    this.bornAt = now();
  }

  pick(_input: KeyInput | null, avoid: number): number {
    const a = this.draw.draw(avoid, -1);
    if (a < 0) return avoid < 0 ? -1 : this.draw.draw(-1, -1); // only `avoid` may be usable
    const b = this.draw.draw(avoid, a);
    if (b < 0) return a;
    return this.cheaper(b, a) ? b : a;
  }

  /**
   * cost(b) < cost(a) at any common `now`: rtt·e^(−(now − stamp)/decay)·(inflight + 1) on both
   * sides, divided by e^(−now/decay), leaves rtt_b·(L_b + 1) < rtt_a·(L_a + 1)·e^((stamp_a − stamp_b)/decay).
   * No clock read per pick (a clock read is ~25 ns on a vDSO host, ~100 ns on some VMs, and
   * allocates its result).
   */
  private cheaper(b: number, a: number): boolean {
    const d = this.ewma;
    const oa = EwmaRecords.at(a);
    const ob = EwmaRecords.at(b);
    let rttA = d[oa];
    let stampA = d[oa + 1];
    if (!(stampA > 0 && rttA >= 0 && rttA <= MAX_RTT_MS)) {
      rttA = this.defaultRttMs;
      stampA = this.bornAt;
    }
    let rttB = d[ob];
    let stampB = d[ob + 1];
    if (!(stampB > 0 && rttB >= 0 && rttB <= MAX_RTT_MS)) {
      rttB = this.defaultRttMs;
      stampB = this.bornAt;
    }
    return rttB * (this.inflight.load(b) + 1) < rttA * (this.inflight.load(a) + 1) * Math.exp((stampA - stampB) / this.decayMs);
  }

  onStart(i: number): void {
    this.inflight.add(i);
  }

  onEnd(i: number, latencyMs: number): void {
    this.inflight.sub(i);
    if (latencyMs >= 0) this.observe(i, latencyMs < MAX_RTT_MS ? latencyMs : MAX_RTT_MS);
  }

  /** Latency estimate × (in flight + 1) at `now`: Linkerd's load (pick compares it without the clock). */
  cost(i: number, now: number): number {
    return this.estimate(i, now) * (this.inflight.load(i) + 1);
  }

  /** The EWMA decayed to `now` (ms). */
  estimate(i: number, now: number): number {
    const d = this.ewma;
    const o = EwmaRecords.at(i);
    let rtt = d[o];
    let stamp = d[o + 1];
    if (!(stamp > 0 && rtt >= 0 && rtt <= MAX_RTT_MS)) {
      rtt = this.defaultRttMs;
      stamp = this.bornAt;
    }
    const dt = now - stamp;
    return dt > 0 ? rtt * Math.exp(-dt / this.decayMs) : rtt;
  }

  /** Folds one latency sample into endpoint i's record (Finagle's PeakEwma.observe). */
  private observe(i: number, rttMs: number): void {
    const d = this.ewma;
    const o = EwmaRecords.at(i);
    const now = this.now();
    let prev = d[o];
    let stamp = d[o + 1];
    if (!(stamp > 0 && prev >= 0 && prev <= MAX_RTT_MS)) {
      prev = this.defaultRttMs;
      stamp = this.bornAt;
    }
    let next = rttMs;
    if (rttMs <= prev) {
      const dt = now - stamp;
      const w = dt > 0 ? Math.exp(-dt / this.decayMs) : 1;
      next = prev * w + rttMs * (1 - w);
    }
    d[o] = next;
    d[o + 1] = now;
  }
}

/** `now` is for tests (a fake clock); the gateway uses the cross-thread clock. */
export function createPeakEwmaBalancer(s: BalancerSetup, policy: PeakEwmaPolicy | null, shared: SharedArrayBuffer, now: () => number = nowMs): Balancer & {
  estimate(i: number, now: number): number;
  cost(i: number, now: number): number;
} {
  return new PeakEwmaBalancer(s, policy, shared, now);
}
