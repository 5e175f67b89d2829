// LeastRequest: power of two random choices (Envoy LEAST_REQUEST with choice_count 2; Mitzenmacher
// 2001): draw two distinct usable endpoints (in proportion to weight) and take the one with fewer
// requests in flight across every thread. Close to the true least-loaded endpoint at O(1) cost,
// and without the herd a global "least" causes when every thread sees the same minimum.
import type { KeyInput } from '../../policy/key';
import { WeightedDraw } from '../draw';
import { InFlight } from '../shared-layout';
import type { Balancer, BalancerSetup } from '../types';

class LeastRequestBalancer implements Balancer {
  private readonly draw: WeightedDraw;
  private readonly inflight: InFlight;

  constructor(s: BalancerSetup, shared: SharedArrayBuffer) {
    this.draw = new WeightedDraw(s);
    this.inflight = new InFlight(shared, s.n, s.thread, s.threads);
  }

  pick(_input: KeyInput | null, avoid: number): number {
    const a = this.draw.draw(avoid, -1);
    if (a < 0) return avoid < 0 ? -1 : this.draw.draw(-1, -1); // only `avoid` may be usable
    const b = this.draw.draw(avoid, a);
    if (b < 0) return a;
    // Ties go to `a`, itself a random draw.
    return this.inflight.load(b) < this.inflight.load(a) ? b : a;
  }

  onStart(i: number): void {
    this.inflight.add(i);
  }

  onEnd(i: number, _latencyMs: number): void {
    this.inflight.sub(i);
  }
}

export function createLeastRequestBalancer(s: BalancerSetup, shared: SharedArrayBuffer): Balancer {
  return new LeastRequestBalancer(s, shared);
}
