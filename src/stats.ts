// Counters shared by all threads through one SharedArrayBuffer created by the main thread.
// Each thread owns a 64-byte slot (one cache line) so threads never write the same line;
// the admin endpoint sums the slots. Later policies (rate limits, balancers) use the same idea.
export const STAT_FIELDS = Object.freeze({
  /** Requests finished (any status). */
  requests: 0,
  /** Requests answered with a gateway-generated error (GATEMESH_ERR_*). */
  errors: 1,
  /** Requests in flight (refreshed when a request finishes). */
  inflight: 2,
  /** Client connections the worker could not serve because the client left first. */
  clientAborts: 3,
});

/** Int32 words per thread slot: 16 × 4 B = 64 B, a cache line on x86-64 and arm64. */
const SLOT_WORDS = 16;

export function createStatsBuffer(threads: number): SharedArrayBuffer {
  return new SharedArrayBuffer(threads * SLOT_WORDS * 4);
}

export class StatSlot {
  private readonly words: Int32Array;
  private readonly base: number;
  constructor(sab: SharedArrayBuffer, thread: number) {
    this.words = new Int32Array(sab);
    this.base = thread * SLOT_WORDS;
  }
  add(field: number, n: number): void {
    Atomics.add(this.words, this.base + field, n);
  }
  set(field: number, n: number): void {
    Atomics.store(this.words, this.base + field, n);
  }
}

/** Sums every thread's slot (admin /stats). */
export function readStats(sab: SharedArrayBuffer): Record<keyof typeof STAT_FIELDS, number> {
  const words = new Int32Array(sab);
  const threads = words.length / SLOT_WORDS;
  const out = { requests: 0, errors: 0, inflight: 0, clientAborts: 0 };
  for (const [name, field] of Object.entries(STAT_FIELDS) as [keyof typeof out, number][]) {
    for (let t = 0; t < threads; t++) out[name] += Atomics.load(words, t * SLOT_WORDS + field);
  }
  return out;
}
