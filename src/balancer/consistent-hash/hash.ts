// The string hash of consistent hashing: FNV-1a over UTF-16 code units (a charCodeAt loop: no
// Buffer, no allocation), finished with murmur3's fmix32 so that keys differing in their last
// character still spread over every bit (plain FNV-1a's low bits are weak, and Maglev takes
// hash mod table size). Envoy uses xxHash64; a 64-bit hash would need BigInt here.
//
// Hashes are the top 30 bits: a 30-bit integer is a Smi on every V8 build, so passing one to a
// call V8 did not inline never allocates (an unsigned 32-bit value above 2^31 would be boxed).

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Seeds: request keys, Maglev offset, Maglev skip, ring points (independent hashes of one name). */
export const SEED_KEY = 0;
export const SEED_OFFSET = 0x6d61676c; // "magl"
export const SEED_SKIP = 0x736b6970; // "skip"
export const SEED_RING = 0x72696e67; // "ring"

/** murmur3's 32-bit finaliser: a bijection with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Exclusive bound of hashString / mix30 values. */
export const HASH_SPACE = 0x40000000;

/** 30-bit hash of `s` under `seed`. */
export function hashString(s: string, seed: number): number {
  let h = (FNV_OFFSET ^ seed) | 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return fmix32(h) >>> 2;
}

/** A 30-bit hash of an integer: the next rehash of a key, a ring point of an endpoint. */
export function mix30(x: number): number {
  return fmix32(x) >>> 2;
}
