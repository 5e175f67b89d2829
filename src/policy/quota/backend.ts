// What the QuotaStore needs from a durable backend (SQLite or Redis): add local deltas to the
// stored counts and read back the totals, in one batch per sync; list what is stored at start-up.

/** One key's sync: add `delta` to (key, field), then return every stored field ≥ `min`. */
export interface SyncItem {
  /** First word of the table slot (the store's, not persisted). */
  s: number;
  hi: number;
  lo: number;
  /** 16 hex digits of the 64-bit (rule, key) hash. */
  key: string;
  /** window.ts kind code. */
  kind: number;
  /** Calendar window id or Rolling sub-bucket id the delta belongs to. */
  field: number;
  /** Charges since the last sync (may be 0: read back only, or negative after refunds). */
  delta: number;
  /** Oldest field still counted (Calendar: the window itself; Rolling: head - 59). */
  min: number;
  /** When `field` stops counting, epoch ms (stored rows and Redis keys expire then). */
  expireAt: number;
}

/** Stored counts of one key: flat [field, count, field, count, ...]. */
export type FieldCounts = number[];

export interface StoredKey {
  key: string;
  kind: number;
  counts: FieldCounts;
}

export interface QuotaBackend {
  readonly name: 'sqlite' | 'redis';
  /** Every key whose counts may still matter at `now`. */
  load(now: number): Promise<StoredKey[]>;
  /** Applies the deltas; per item, the stored counts after it, or null when that item failed. Rejects when nothing was applied. */
  sync(items: SyncItem[], now: number): Promise<(FieldCounts | null)[]>;
  close(): Promise<void>;
}

/** Slack added to expiries, ms: instances' clocks differ a little; a row kept 60 s longer costs nothing. */
export const EXPIRY_GRACE_MS = 60_000;
