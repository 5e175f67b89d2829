// An open-addressing hash table keyed by strings but looked up by a *range* of another string,
// so the router can find "the first 9 characters of this path" or "this Host header without its
// :port" without slicing (a substring is an allocation on every request).
// The caller computes the range's hash incrementally while it scans (see `hashStep`), which is
// why lookups cost one probe per candidate rather than one pass per candidate.

/** FNV-1a 32-bit offset basis and prime (http://www.isthe.com/chongo/tech/comp/fnv/). */
export const HASH_INIT = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** One FNV-1a step. `c` must already be case-folded when the table folds case. */
export function hashStep(h: number, c: number): number {
  return Math.imul(h ^ c, FNV_PRIME);
}

/** ASCII-only case fold: Host names compare case-insensitively (RFC 9110 §4.2.3, Gateway API Hostname). */
export function foldAscii(c: number): number {
  return c >= 65 && c <= 90 ? c | 0x20 : c;
}

/** Hash of `s[start, end)`, left to right. */
export function hashRange(s: string, start: number, end: number, fold: boolean): number {
  let h = HASH_INIT;
  for (let i = start; i < end; i++) h = hashStep(h, fold ? foldAscii(s.charCodeAt(i)) : s.charCodeAt(i));
  return h;
}

/** Hash of `s[start, end)`, right to left (how the wildcard-suffix scan builds it). */
export function hashRangeReverse(s: string, start: number, end: number, fold: boolean): number {
  let h = HASH_INIT;
  for (let i = end - 1; i >= start; i--) h = hashStep(h, fold ? foldAscii(s.charCodeAt(i)) : s.charCodeAt(i));
  return h;
}

/** murmur3 fmix32: spreads FNV's weak low bits before masking to a slot index. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export interface RangeTableOptions {
  /** Fold ASCII case when hashing and comparing; keys are then stored lower-case. */
  fold: boolean;
  /** Keys are hashed right to left (suffix lookups). */
  reverse: boolean;
}

/** Immutable after `build`: set keys at config load, then only `get` on the hot path. */
export class RangeTable<V> {
  readonly size: number;
  /** Longest key length; scans can stop there. */
  readonly maxLength: number;
  /** `hasLength[n] === 1` when some key has length n: skips probes for lengths no key has. */
  readonly hasLength: Uint8Array;
  private readonly fold: boolean;
  private readonly mask: number;
  private readonly hashes: Int32Array;
  private readonly keys: (string | undefined)[];
  private readonly values: (V | undefined)[];

  constructor(entries: ReadonlyMap<string, V>, opts: RangeTableOptions) {
    this.fold = opts.fold;
    this.size = entries.size;
    let cap = 8;
    while (cap < entries.size * 2) cap *= 2; // load factor ≤ 0.5 keeps linear probes short
    this.mask = cap - 1;
    this.hashes = new Int32Array(cap);
    this.keys = new Array<string | undefined>(cap).fill(undefined);
    this.values = new Array<V | undefined>(cap).fill(undefined);
    let maxLength = 0;
    for (const key of entries.keys()) if (key.length > maxLength) maxLength = key.length;
    this.maxLength = maxLength;
    this.hasLength = new Uint8Array(maxLength + 1);
    for (const [rawKey, value] of entries) {
      const key = opts.fold ? rawKey.toLowerCase() : rawKey;
      const h = opts.reverse ? hashRangeReverse(key, 0, key.length, false) : hashRange(key, 0, key.length, false);
      let i = mix(h) & this.mask;
      while (this.keys[i] !== undefined) {
        if (this.keys[i] === key) throw new Error(`router: duplicate range-table key ${JSON.stringify(key)}`);
        i = (i + 1) & this.mask;
      }
      this.hashes[i] = h;
      this.keys[i] = key;
      this.values[i] = value;
      this.hasLength[key.length] = 1;
    }
  }

  /** Value whose key equals `s[start, end)`; `h` is that range's hash (same direction and folding as the table). */
  get(s: string, start: number, end: number, h: number): V | undefined {
    const len = end - start;
    let i = mix(h) & this.mask;
    for (;;) {
      const key = this.keys[i];
      if (key === undefined) return undefined;
      if (this.hashes[i] === h && key.length === len && this.equalRange(key, s, start)) return this.values[i];
      i = (i + 1) & this.mask;
    }
  }

  private equalRange(key: string, s: string, start: number): boolean {
    if (!this.fold) return s.startsWith(key, start);
    for (let j = 0; j < key.length; j++) {
      if (foldAscii(s.charCodeAt(start + j)) !== key.charCodeAt(j)) return false;
    }
    return true;
  }
}
