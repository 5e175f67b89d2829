// The balancer contract every algorithm folder implements (Traefik's loadbalancer/{wrr,p2c,...}):
// a factory that precomputes everything, then `pick` / `onStart` / `onEnd` per request.
import type { KeyInput } from '../policy/key';

export interface EndpointAvailability {
  /** True when endpoint i may be picked now (health, outlier ejection, Retry-After hold and panic mode already applied). */
  usable(i: number): boolean;
}

export interface Balancer {
  /** Picks an endpoint index, skipping unusable ones; -1 when none is usable. `input` is read only by consistent hashing. `avoid` is an index a retry should not reuse when another is usable (-1 for none). */
  pick(input: KeyInput | null, avoid: number): number;
  /** The request started on endpoint i (in-flight + 1). */
  onStart(i: number): void;
  /** It ended after `latencyMs` (response head received, or failure), in-flight − 1; failures may pass latencyMs < 0 to skip the EWMA sample. */
  onEnd(i: number, latencyMs: number): void;
}

/** What createBalancer hands every algorithm's factory: checked and normalised once. */
export interface BalancerSetup {
  /** Endpoint count (indexes 0..n-1 of Backend.endpoints). */
  n: number;
  /** Endpoint.weight, default 1; 0 = never picked; when every weight is 0 they all count as 1. */
  weights: Float64Array;
  /** True when every weight is the same (the unweighted fast paths). */
  equalWeights: boolean;
  /** `address:port` per endpoint (IPv6 in brackets): the identity consistent hashing hashes. */
  names: string[];
  /** null = every endpoint is usable. */
  availability: EndpointAvailability | null;
  /** [0, 1); Math.random unless a test injects a sequence. */
  random: () => number;
  thread: number;
  threads: number;
}
