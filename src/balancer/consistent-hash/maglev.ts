// The Maglev lookup table (Eisenbud et al., NSDI 2016, §3.4; Envoy's MaglevTable with weights):
// each endpoint walks its own permutation of the table slots (offset + j·skip mod M, M prime, so
// every skip visits every slot) and the endpoints take turns claiming their next free slot until
// the table is full. Every endpoint ends with ≈ M·w/W slots, and removing one endpoint mostly
// hands its slots to the others while theirs stay put: ≈ 1/N of the keys move, plus some
// reshuffle that grows with N/M. Measured at M = 65537 (slots moved, worst removal of any one
// endpoint): N = 5: 1.01/N, 10: 1.03/N, 50: 1.25/N, 100: 1.64/N; at M = 655373, N = 50: 1.08/N.
// So keep M ≳ 1000·N when endpoints churn and the 1.3/N bound matters (the paper's M ≫ 100·N).
// Built once per balancer (O(M log M) at worst); a lookup is table[hash mod M].

import { hashString, SEED_OFFSET, SEED_SKIP } from './hash';

/** Envoy's default table size, a prime. */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
/** Envoy's largest table size (a prime). */
export const MAX_MAGLEV_TABLE_SIZE = 5000011;
/** Empty slot marker while building (endpoint indexes are < 0xffff). */
const EMPTY = 0xffff;

export function isPrime(m: number): boolean {
  if (!Number.isInteger(m) || m < 2) return false;
  if (m % 2 === 0) return m === 2;
  for (let d = 3; d * d <= m; d += 2) if (m % d === 0) return false;
  return true;
}

/**
 * Slot → endpoint index, over the endpoints with weight > 0. Endpoints are processed in order of
 * their names, not their config order, so the same set of endpoints always gives the same table.
 */
export function buildMaglevTable(names: string[], weights: Float64Array, size: number): Uint16Array {
  const order: number[] = [];
  for (let i = 0; i < names.length; i++) if (weights[i] > 0) order.push(i);
  order.sort((a, b) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : a - b));
  const k = order.length;
  const table = new Uint16Array(size).fill(EMPTY);
  if (k === 0) return table;
  const pos = new Float64Array(k);
  const skip = new Float64Array(k);
  const weight = new Float64Array(k);
  const target = new Float64Array(k);
  let maxWeight = 0;
  for (let e = 0; e < k; e++) {
    const name = names[order[e]];
    pos[e] = hashString(name, SEED_OFFSET) % size;
    skip[e] = (hashString(name, SEED_SKIP) % (size - 1)) + 1;
    weight[e] = weights[order[e]];
    if (weight[e] > maxWeight) maxWeight = weight[e];
  }
  let filled = 0;
  for (let iteration = 1; filled < size; iteration++) {
    for (let e = 0; e < k && filled < size; e++) {
      // Envoy: an endpoint of the largest weight claims a slot every turn, one of a third of it
      // every third turn.
      if (iteration * weight[e] < target[e]) continue;
      target[e] += maxWeight;
      let c = pos[e];
      while (table[c] !== EMPTY) {
        c += skip[e];
        if (c >= size) c -= size;
      }
      table[c] = order[e];
      c += skip[e];
      pos[e] = c >= size ? c - size : c;
      filled++;
    }
  }
  return table;
}
