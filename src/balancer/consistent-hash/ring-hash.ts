// The Ketama-style hash ring (Karger et al. 1997; libketama; Envoy RING_HASH): each endpoint puts
// ≈ R·w/W points on a 32-bit circle, and a key belongs to the first point clockwise of its hash.
// Removing an endpoint moves exactly its own keys (to the next points clockwise, spread over the
// others) and nothing else; with 1024 points per endpoint each one's share is within a few % of 1/N.
// Built once per balancer (sort of R points). A lookup goes through a bucket index on the hash's
// top bits (about one point per bucket) and then searches that bucket: O(1) instead of a
// log2(R)-step binary search whose every step is a branch miss.

import { HASH_SPACE, hashString, mix30, SEED_RING } from './hash';

/** Points per endpoint when the ring size is not given (the model's default: 1024 × endpoints). */
export const DEFAULT_RING_POINTS_PER_ENDPOINT = 1024;
/** Envoy's maximum_ring_size default (8M points). */
export const MAX_RING_SIZE = 8 * 1024 * 1024;
/** Endpoint index packed under the hash in one double for a numeric sort: hash·2^20 + index < 2^50. */
const INDEX_SPACE = 1 << 20;

export interface Ring {
  /** Point positions, ascending. */
  points: Uint32Array;
  /** Endpoint index of each point. */
  owners: Uint16Array;
  /** starts[b] = index of the first point ≥ b << shift; starts[buckets] = points.length. */
  starts: Uint32Array;
  /** Bucket of a hash h: h >>> shift. */
  shift: number;
}

/** A ring of about `size` points over the endpoints with weight > 0 (each gets at least one). */
export function buildRing(names: string[], weights: Float64Array, size: number): Ring {
  let total = 0;
  for (let i = 0; i < names.length; i++) total += weights[i];
  const counts: number[] = [];
  let sum = 0;
  for (let i = 0; i < names.length; i++) {
    const c = weights[i] > 0 ? Math.max(1, Math.round((size * weights[i]) / total)) : 0;
    counts.push(c);
    sum += c;
  }
  const packed = new Float64Array(sum);
  let k = 0;
  for (let i = 0; i < names.length; i++) {
    const base = hashString(names[i], SEED_RING);
    // Point r of an endpoint: a mix of its name's hash and r, stable when other endpoints come
    // and go (ketama hashes "name-r"; this is the same without building the strings).
    for (let r = 0; r < counts[i]; r++) packed[k++] = mix30(base ^ Math.imul(r + 1, 0x9e3779b1)) * INDEX_SPACE + i;
  }
  packed.sort();
  const points = new Uint32Array(sum);
  const owners = new Uint16Array(sum);
  for (let j = 0; j < sum; j++) {
    const h = Math.floor(packed[j] / INDEX_SPACE);
    points[j] = h;
    owners[j] = packed[j] - h * INDEX_SPACE;
  }
  // Buckets: the power of two at or above the point count (2^4 .. 2^24).
  let bits = 4;
  while (bits < 24 && 1 << bits < sum) bits++;
  const shift = Math.log2(HASH_SPACE) - bits;
  const buckets = 1 << bits;
  const starts = new Uint32Array(buckets + 1);
  let j = 0;
  for (let b = 0; b < buckets; b++) {
    while (j < sum && points[j] >>> shift < b) j++;
    starts[b] = j;
  }
  starts[buckets] = sum;
  return { points, owners, starts, shift };
}

/** Index of the first point at or after `h` (a 30-bit hash), wrapping to 0 past the last. */
export function ringSearch(ring: Ring, h: number): number {
  const points = ring.points;
  const b = h >>> ring.shift;
  let lo = ring.starts[b];
  let hi = ring.starts[b + 1];
  // Every point before `lo` is below h's bucket, every point from `hi` on above it: the answer
  // is in [lo, hi], and `hi` when the bucket has no point ≥ h.
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid] < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}
