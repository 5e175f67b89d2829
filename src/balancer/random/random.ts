// Random: each request to an endpoint drawn in proportion to its weight among the usable ones
// (Envoy RANDOM). No state, so nothing shared between threads.
import type { KeyInput } from '../../policy/key';
import { WeightedDraw } from '../draw';
import type { Balancer, BalancerSetup } from '../types';

class RandomBalancer implements Balancer {
  private readonly draw: WeightedDraw;

  constructor(s: BalancerSetup) {
    this.draw = new WeightedDraw(s);
  }

  pick(_input: KeyInput | null, avoid: number): number {
    const i = this.draw.draw(avoid, -1);
    if (i >= 0 || avoid < 0) return i;
    return this.draw.draw(-1, -1); // only `avoid` is usable: a retry may reuse it
  }

  onStart(_i: number): void {}

  onEnd(_i: number, _latencyMs: number): void {}
}

export function createRandomBalancer(s: BalancerSetup): Balancer {
  return new RandomBalancer(s);
}
