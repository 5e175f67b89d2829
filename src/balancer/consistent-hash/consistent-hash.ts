// ConsistentHash: the same key (ClientIP, Header, Cookie or QueryParam, read by the policy's
// compiled key reader) goes to the same endpoint, and adding or removing one of N endpoints moves
// ≈ 1/N of the keys. Maglev (default, Envoy's table of 65537) or RingHash (Ketama ring).
//
// Both structures are built once over every endpoint. An endpoint that is unusable right now
// (ejected, failing checks, held back) is not rebuilt away: its keys are rehashed until they land
// on a usable endpoint, so they spread over the others and every other key stays where it was
// (Envoy rebuilds per healthy set instead, which moves some of the others' keys as well).
// A request without the key gets a random endpoint.
import type { LoadBalancerPolicy } from '../../config/model';
import { compileKey, type KeyInput, type KeyReader } from '../../policy/key';
import { WeightedDraw } from '../draw';
import type { Balancer, BalancerSetup, EndpointAvailability } from '../types';
import { hashString, mix30, SEED_KEY } from './hash';
import { buildMaglevTable, DEFAULT_MAGLEV_TABLE_SIZE, isPrime, MAX_MAGLEV_TABLE_SIZE } from './maglev';
import { buildRing, DEFAULT_RING_POINTS_PER_ENDPOINT, MAX_RING_SIZE, ringSearch, type Ring } from './ring-hash';

type ConsistentHashPolicy = Extract<LoadBalancerPolicy, { type: 'ConsistentHash' }>;

/** Endpoint indexes are stored as Uint16 (0xffff marks an empty Maglev slot while building). */
export const MAX_HASH_ENDPOINTS = 0xffff;

class ConsistentHashBalancer implements Balancer {
  private readonly n: number;
  private readonly reader: KeyReader;
  private readonly draw: WeightedDraw;
  private readonly availability: EndpointAvailability | null;
  private readonly weights: Float64Array;
  /** Maglev: slot → endpoint. Ring: point → endpoint. */
  private readonly owners: Uint16Array;
  /** The ring; null for Maglev. */
  private readonly ring: Ring | null;
  private readonly size: number;
  /** Rehashes past unusable endpoints before the exact fallback (see lookup). */
  private readonly rehashLimit: number;

  constructor(s: BalancerSetup, policy: ConsistentHashPolicy) {
    if (s.n > MAX_HASH_ENDPOINTS) throw new Error(`ConsistentHash supports at most ${MAX_HASH_ENDPOINTS} endpoints per backend (got ${s.n})`);
    this.n = s.n;
    this.reader = compileKey([policy.hashOn]);
    this.draw = new WeightedDraw(s);
    this.availability = s.availability;
    this.weights = s.weights;
    const given = policy.tableSize > 0 ? policy.tableSize : 0;
    if (policy.algorithm === 'RingHash') {
      const size = given > 0 ? given : DEFAULT_RING_POINTS_PER_ENDPOINT * s.n;
      if (!Number.isInteger(size) || size > MAX_RING_SIZE) {
        throw new Error(`ConsistentHash RingHash tableSize must be an integer up to ${MAX_RING_SIZE} (got ${policy.tableSize}); default 1024 × endpoints`);
      }
      const ring = buildRing(s.names, s.weights, Math.max(size, s.n));
      this.owners = ring.owners;
      this.ring = ring;
    } else {
      const size = given > 0 ? given : DEFAULT_MAGLEV_TABLE_SIZE;
      if (!isPrime(size) || size > MAX_MAGLEV_TABLE_SIZE || size < s.n) {
        throw new Error(
          `ConsistentHash Maglev tableSize must be a prime between the endpoint count (${s.n}) and ${MAX_MAGLEV_TABLE_SIZE} (got ${policy.tableSize}); ` +
            `use 65537 (Envoy's default), or for many endpoints a prime near 1000 × endpoints such as 131071 or 655373`,
        );
      }
      this.owners = buildMaglevTable(s.names, s.weights, size);
      this.ring = null;
    }
    this.size = this.owners.length;
    this.rehashLimit = 4 * s.n + 32;
  }

  pick(input: KeyInput | null, avoid: number): number {
    if (this.n === 0) return -1;
    const key = input === null ? null : this.reader(input);
    if (key === null) {
      const i = this.draw.draw(avoid, -1);
      return i >= 0 || avoid < 0 ? i : this.draw.draw(-1, -1);
    }
    return this.lookup(hashString(key, SEED_KEY), avoid);
  }

  /**
   * The owner of the key's slot, or else of the slot a rehash of the key lands on, until one is
   * usable and not `avoid`: the same key takes the same path, so it sticks to its fallback too.
   * Rehashing, not the next slot, because adjacent Maglev slots are correlated (each endpoint
   * fills offset + j·skip), which would pile a lost endpoint's keys on a few others; a fresh
   * uniform slot shares them out in proportion to the table. Past `rehashLimit` an O(n) pass picks
   * the (h mod k)-th eligible endpoint instead (still deterministic per key).
   */
  private lookup(h: number, avoid: number): number {
    const av = this.availability;
    let x = h;
    for (let attempt = 0; attempt < this.rehashLimit; attempt++) {
      const i = this.owners[this.ring === null ? x % this.size : ringSearch(this.ring, x)];
      if (i !== avoid && (av === null || av.usable(i))) return i;
      x = mix30((x + 0x9e3779b9) | 0);
    }
    let k = 0;
    for (let i = 0; i < this.n; i++) if (this.eligible(i, avoid)) k++;
    if (k === 0) return avoid >= 0 && avoid < this.n && this.eligible(avoid, -1) ? avoid : -1;
    let want = h % k;
    for (let i = 0; i < this.n; i++) {
      if (!this.eligible(i, avoid)) continue;
      if (want === 0) return i;
      want--;
    }
    return -1; // unreachable: k eligible endpoints were counted
  }

  /** Usable, not `avoid`, and in the table (weight > 0). */
  private eligible(i: number, avoid: number): boolean {
    return i !== avoid && this.weights[i] > 0 && (this.availability === null || this.availability.usable(i));
  }

  onStart(_i: number): void {}

  onEnd(_i: number, _latencyMs: number): void {}
}

export function createConsistentHashBalancer(s: BalancerSetup, policy: ConsistentHashPolicy): Balancer {
  return new ConsistentHashBalancer(s, policy);
}
