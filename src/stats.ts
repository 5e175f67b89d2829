// Counters shared by all threads through one SharedArrayBuffer created by the main thread.
// Each thread owns a 64-byte slot (one cache line) so threads never write the same line;
// the admin endpoints sum the slots. The main thread has the slot after the workers' (index
// `threads`) for what only it does: config reloads. Later policies (rate limits, balancers)
// use the same idea.
export const STAT_FIELDS = Object.freeze({
  /** Requests finished (any status). */
  requests: 0,
  /** Requests answered with a gateway-generated error (GATEMESH_ERR_*). */
  errors: 1,
  /** Requests in flight (refreshed when a request finishes). */
  inflight: 2,
  /** Client connections the worker could not serve because the client left first. */
  clientAborts: 3,
  /** Config reloads applied on every thread (main thread's slot). */
  reloadsApplied: 4,
  /** Config reloads rejected: invalid config, unbindable listener (main thread's slot). */
  reloadsRejected: 5,
  /** Duration of the last applied reload, µs, from the change being noticed to every thread serving it. */
  lastApplyUs: 6,
  /** Version of the applied config (1 = the one loaded at start-up). */
  configVersion: 7,
});

/** Int32 words per thread slot: 16 × 4 B = 64 B, a cache line on x86-64 and arm64. */
const SLOT_WORDS = 16;

/** `threads` worker slots plus one for the main thread. */
export function createStatsBuffer(threads: number): SharedArrayBuffer {
  return new SharedArrayBuffer((threads + 1) * SLOT_WORDS * 4);
}

/** The main thread's slot index for a buffer made by createStatsBuffer(threads). */
export function mainSlot(sab: SharedArrayBuffer): number {
  return sab.byteLength / (SLOT_WORDS * 4) - 1;
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

export interface Stats {
  requests: number;
  errors: number;
  inflight: number;
  clientAborts: number;
  reloadsApplied: number;
  reloadsRejected: number;
  /** Last applied reload's duration, ms (0 before the first reload). */
  lastApplyMs: number;
  configVersion: number;
}

/** Sums every thread's slot (admin /stats, /metrics). Counters read as unsigned: they wrap at 2^32. */
export function readStats(sab: SharedArrayBuffer): Stats {
  const words = new Uint32Array(sab);
  const slots = words.length / SLOT_WORDS;
  const sum = (field: number): number => {
    let n = 0;
    for (let t = 0; t < slots; t++) n += Atomics.load(words, t * SLOT_WORDS + field);
    return n;
  };
  return {
    requests: sum(STAT_FIELDS.requests),
    errors: sum(STAT_FIELDS.errors),
    inflight: sum(STAT_FIELDS.inflight),
    clientAborts: sum(STAT_FIELDS.clientAborts),
    reloadsApplied: sum(STAT_FIELDS.reloadsApplied),
    reloadsRejected: sum(STAT_FIELDS.reloadsRejected),
    lastApplyMs: sum(STAT_FIELDS.lastApplyUs) / 1000,
    configVersion: sum(STAT_FIELDS.configVersion),
  };
}
