// Lease maths of the Global rate-limit backend: how many tokens one leaser takes from Redis at a
// time, when it asks for more, how many it may hand out before its first lease arrives, and the
// resulting error bound. Pure functions, computed once per limit (not per request).

export interface LeaseTuning {
  /** Leasers sharing the store: gatemesh instances × worker threads (each thread leases for itself). */
  leasers: number;
  /** A lease is at most L / (divisor × leasers) tokens; default 10. */
  divisor: number;
  /** Largest lease, tokens; default 1000. */
  max: number;
  /** ms a leased token may be spent after its lease was asked for; default 1000, at most the period. */
  ttlMs: number;
}

export interface LeasePlan {
  /** Tokens asked for per Redis call: max(1, min(max, ⌊L / (divisor × leasers)⌋)). */
  lease: number;
  /** Ask for the next lease (in the background) when the tokens held fall to this: ⌊lease / 2⌋. */
  lowWater: number;
  /**
   * Tokens a leaser may hand out on credit while a lease is in flight (a fresh key, or a drained
   * one): max(1, lowWater). Once the key has had a reply, also at most its share of what the
   * bucket had left then (⌊remaining / leasers⌋), so a bucket known to be empty gives no credit
   * and a single leaser stays exact. Charged against the next grant.
   */
  borrow: number;
  /** Lease lifetime, ms: min(ttlMs, periodMs). */
  ttlMs: number;
  /** GCRA emission interval T = periodMs / L, ms (fractional). */
  emissionMs: number;
}

export function leasePlan(requests: number, periodMs: number, t: LeaseTuning): LeasePlan {
  const lease = Math.max(1, Math.min(t.max, Math.floor(requests / (t.divisor * t.leasers))));
  const lowWater = Math.floor(lease / 2);
  return {
    lease,
    lowWater,
    borrow: Math.max(1, lowWater),
    ttlMs: Math.min(t.ttlMs, periodMs),
    emissionMs: periodMs / requests,
  };
}

/**
 * The most the cluster admits beyond an exact GCRA limiter (L back to back, then one every
 * periodMs / L) over any interval, for one key:
 *
 *   E = leasers × borrow  +  min(⌈L × ttl / period⌉, leasers × (lease + lowWater))
 *
 * - leasers × borrow: requests let through on credit that Redis could not cover (the bucket was
 *   already drained by other leasers when this one gave credit). Carried as debt, repaid from
 *   later grants, so the long-run rate stays exact; at any moment at most `borrow` per leaser.
 * - min(...): tokens granted before the interval began and spent inside it. Every granted token
 *   is spent within `ttl` of its grant or dropped, so they are at most what Redis grants in `ttl`
 *   (⌈L × ttl / period⌉), and at most what the leasers hold (lease + lowWater each).
 * From a fresh key (nothing granted before the interval) only the first term applies, and with
 * one leaser neither does: its credit never exceeds what the bucket had left.
 */
export function errorBound(requests: number, periodMs: number, t: LeaseTuning): number {
  const p = leasePlan(requests, periodMs, t);
  return t.leasers * p.borrow + Math.min(Math.ceil((requests * p.ttlMs) / periodMs), t.leasers * (p.lease + p.lowWater));
}
