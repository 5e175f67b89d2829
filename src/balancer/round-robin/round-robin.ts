// RoundRobin: smooth weighted round robin over Endpoint.weight (nginx's
// ngx_http_upstream_get_peer, 2012), plain round robin when every weight is equal.
//
// Smooth WRR: each pick adds every usable endpoint's weight to its `current`, picks the largest
// and subtracts the total from it. Weights 5,1,1 give a a b a c a a, never a a a a a b c: an
// endpoint's picks are spread through the cycle (no bursts); after p picks endpoint i has been
// picked (p·wᵢ − currentᵢ)/W times, within one pick of its exact share for every weight set
// tested (test/balancer/round-robin). With all weights equal it is plain round robin.
//
// The sequence is periodic (period W = Σ weights once divided by their gcd), so for integer
// weights it is computed once at factory time and a pick is schedule[cursor++]: O(1), like the
// array round robin it replaces. Only when the scheduled endpoint is unusable (or the one a retry
// avoids) does a pick run nginx's O(n) pass over the usable endpoints, which spreads that turn
// over them by weight instead of handing it to one neighbour. Fractional weights, or a period
// above MAX_SCHEDULE, always take the O(n) pass.
//
// State is per thread (no shared memory): each thread's sequence is smooth on its own, and T
// threads together deviate from the weights by at most T picks per endpoint (each within one):
// with 8 threads that is 8 of 10,000 requests, far inside 1 %. Thread t starts t/T of a period
// in, so the threads' first picks do not all land on the same endpoint.
import type { KeyInput } from '../../policy/key';
import type { Balancer, BalancerSetup, EndpointAvailability } from '../types';

/** Longest precomputed period (picks): 32 KiB of Uint16 per backend and thread. */
export const MAX_SCHEDULE = 16_384;
/** Bound on the O(n) pass's start offset when there is no schedule: n × steps of work at factory time. */
const MAX_STAGGER_WORK = 1 << 20;

class RoundRobinBalancer implements Balancer {
  private readonly n: number;
  private readonly weights: Float64Array;
  /** nginx's `current_weight` per endpoint (the O(n) pass). */
  private readonly current: Float64Array;
  private readonly availability: EndpointAvailability | null;
  /** One period of the smooth sequence, or null (fractional weights, period too long, no endpoints). */
  private readonly schedule: Uint16Array | null;
  private cursor: number;

  constructor(s: BalancerSetup) {
    this.n = s.n;
    this.weights = s.weights;
    this.current = new Float64Array(s.n);
    this.availability = s.availability;
    this.schedule = buildSchedule(s.weights);
    this.cursor = 0;
    if (this.schedule !== null) {
      this.cursor = Math.floor((s.thread * this.schedule.length) / s.threads);
      return;
    }
    let total = 0;
    for (let i = 0; i < s.n; i++) total += s.weights[i];
    const steps = Math.floor((s.thread * total) / s.threads);
    if (steps * s.n <= MAX_STAGGER_WORK) for (let k = 0; k < steps; k++) this.smooth(-1);
  }

  pick(_input: KeyInput | null, avoid: number): number {
    const sch = this.schedule;
    if (sch !== null) {
      const c = this.cursor;
      this.cursor = c + 1 === sch.length ? 0 : c + 1;
      const i = sch[c];
      if (i !== avoid && (this.availability === null || this.availability.usable(i))) return i;
    }
    return this.smooth(avoid);
  }

  /** One step of nginx's smooth WRR over the usable endpoints other than `avoid`. */
  private smooth(avoid: number): number {
    const w = this.weights;
    const cur = this.current;
    const av = this.availability;
    let best = -1;
    let total = 0;
    for (let i = 0; i < this.n; i++) {
      if (w[i] === 0 || i === avoid || (av !== null && !av.usable(i))) continue;
      cur[i] += w[i];
      total += w[i];
      if (best < 0 || cur[i] > cur[best]) best = i;
    }
    if (best < 0) return avoid >= 0 && avoid < this.n && w[avoid] > 0 && (av === null || av.usable(avoid)) ? avoid : -1;
    cur[best] -= total;
    return best;
  }

  onStart(_i: number): void {}

  onEnd(_i: number, _latencyMs: number): void {}
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** One period of nginx's smooth sequence for integer weights (divided by their gcd). */
function buildSchedule(weights: Float64Array): Uint16Array | null {
  const n = weights.length;
  if (n === 0 || n > 0xffff) return null;
  let g = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isInteger(weights[i])) return null;
    g = gcd(g, weights[i]);
  }
  const w = weights.map((x) => x / g);
  let period = 0;
  for (let i = 0; i < n; i++) period += w[i];
  if (period > MAX_SCHEDULE) return null;
  const schedule = new Uint16Array(period);
  const cur = new Float64Array(n);
  for (let k = 0; k < period; k++) {
    let best = -1;
    for (let i = 0; i < n; i++) {
      if (w[i] === 0) continue;
      cur[i] += w[i];
      if (best < 0 || cur[i] > cur[best]) best = i;
    }
    cur[best] -= period;
    schedule[k] = best;
  }
  return schedule;
}

export function createRoundRobinBalancer(s: BalancerSetup): Balancer {
  return new RoundRobinBalancer(s);
}
