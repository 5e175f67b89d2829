// The main thread's QuotaStore: makes the shared quota table durable. At start-up it loads the
// stored counts into the table (a restart resumes where it was); every `syncMs`
// (GATEMESH_QUOTA_SYNC_MS, default 1000 ms) it hands each active key's new charges to the backend
// — SQLite (GATEMESH_QUOTA_DB) or, when GATEMESH_REDIS_URL is set, Redis — and reads the stored
// totals back; close() syncs one last time, so a graceful stop loses nothing.
//
// Largest loss on a crash (SIGKILL, OOM, power loss): the charges made since the last completed
// sync, i.e. at most `syncMs` of traffic (plus the duration of a sync in flight); while the
// backend is unreachable the charges wait in the table and are retried, so an outage followed by
// a crash loses the whole outage's charges. A restart then admits those requests again.
//
// Several instances sharing Redis: each decides on its own table and learns the others' charges
// at the sync after it last saw the key (only keys seen since the last sync are read back: one
// script call per active key per sync), so for one key and window the cluster can pass up to
//   limit + (instances - 1) × min(limit, what one instance passes in one syncMs)
// An instance passes over the limit only on a stale view, and once a sync shows it the limit
// reached it refuses for the rest of the window: each goes over at most once, for one interval.
// Worst at the start of a window or on a fresh key (every instance sees the whole quota free, so
// N bursts can each take it all); with steady traffic of r requests/s per instance ≈ (N-1)·r·syncMs.
import fs from 'node:fs';
import path from 'node:path';

import type { Logger } from '../../log';
import type { FieldCounts, QuotaBackend, SyncItem } from './backend';
import { createRedisBackend } from './redis-backend';
import { createSqliteBackend } from './sqlite-backend';
import {
  DEAD,
  FIND_FULL,
  H_CLEANED,
  hashHex,
  hashOut,
  parseHashHex,
  QuotaTableView,
  S_HEAD,
  S_HI,
  S_INFL,
  S_KIND,
  S_LO,
  S_PEND,
  S_PENDB,
  S_RING,
  S_STATE,
  S_TOTAL,
  S_TOUCH,
  USED,
} from './table';
import { fieldExpiry, isRolling, isValidKind, ROLLING_BUCKETS } from './window';

/** Default SQLite file (GATEMESH_QUOTA_DB). */
export const DEFAULT_QUOTA_DB = 'gatemesh-quotas.db';

export interface QuotaStoreOptions {
  /** createQuotaTable()'s buffer, the one the workers decide on. */
  table: SharedArrayBuffer;
  /** SQLite file, used when `redisUrl` is absent; default ./gatemesh-quotas.db (GATEMESH_QUOTA_DB). */
  sqlitePath?: string;
  /** Redis (GATEMESH_REDIS_URL): counts shared by every instance. */
  redisUrl?: string;
  /** Sync period, ms (GATEMESH_QUOTA_SYNC_MS, default 1000): the most a crash can lose. */
  syncMs: number;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Clock, epoch ms; default Date.now (tests move it). */
  now?: () => number;
}

export interface QuotaStoreStats {
  backend: 'sqlite' | 'redis';
  /** Keys loaded at start-up. */
  loaded: number;
  /** Stored keys not loaded because the table was full. */
  loadDropped: number;
  syncs: number;
  failedSyncs: number;
  /** Keys in the last sync; its duration, ms. */
  lastSyncKeys: number;
  lastSyncMs: number;
  /** Epoch ms of the last completed sync (0 before the first). */
  lastSyncAt: number;
}

export interface QuotaStore {
  readonly backend: 'sqlite' | 'redis';
  /** Syncs now (waits for a sync already running first). Never rejects: a failure is logged and retried. */
  flush(): Promise<void>;
  /** Stops the timer, syncs everything, closes the backend. Call after the workers stopped charging. */
  close(): Promise<void>;
  stats(): QuotaStoreStats;
}

export async function createQuotaStore(opts: QuotaStoreOptions): Promise<QuotaStore> {
  if (!Number.isFinite(opts.syncMs) || opts.syncMs < 10) throw new RangeError(`quota store: syncMs must be ≥ 10 ms, got ${opts.syncMs}`);
  const view = new QuotaTableView(opts.table);
  const now = opts.now ?? Date.now;
  const log = opts.logger;
  let backend: QuotaBackend;
  if (opts.redisUrl !== undefined) {
    backend = await createRedisBackend(opts.redisUrl);
  } else {
    const file = opts.sqlitePath ?? DEFAULT_QUOTA_DB;
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    backend = createSqliteBackend(file);
  }
  const stats: QuotaStoreStats = {
    backend: backend.name,
    loaded: 0,
    loadDropped: 0,
    syncs: 0,
    failedSyncs: 0,
    lastSyncKeys: 0,
    lastSyncMs: 0,
    lastSyncAt: 0,
  };
  let failing = false;

  try {
    load(view, await backend.load(now()), now(), stats);
    if (stats.loadDropped > 0) log.warn({ dropped: stats.loadDropped }, 'quota table full: some stored quota counts were not loaded');
    log.info({ backend: backend.name, keys: stats.loaded }, 'quota counts loaded');
  } catch (err) {
    // Redis down at start-up: the first sync that reaches it reads the cluster totals back.
    failing = true;
    log.warn({ backend: backend.name, err: String(err) }, 'quota store unreachable at start-up; counts start from the table');
  }

  async function sync(): Promise<void> {
    const started = Date.now();
    const items = snapshot(view, now());
    // Even with nothing to send: SQLite deletes the rows of ended windows in the same call.
    if (items.length > 0 || backend.name === 'sqlite') {
      let replies: (FieldCounts | null)[];
      try {
        replies = await backend.sync(items, now());
      } catch (err) {
        replies = items.map(() => null);
        if (!failing) log.warn({ backend: backend.name, err: String(err) }, 'quota sync failed; charges kept and retried every sync');
        failing = true;
      }
      let failed = 0;
      for (let i = 0; i < items.length; i++) {
        const r = replies[i];
        if (r === null) failed++;
        settle(view, items[i], r);
      }
      if (failed === 0 && failing) {
        failing = false;
        log.info({ backend: backend.name }, 'quota sync recovered');
      }
      if (failed > 0) stats.failedSyncs++;
    }
    // Retired slots (counted in H_CLEANED when retired) become free where no probe chain needs them.
    view.sweepTombstones();
    stats.syncs++;
    stats.lastSyncKeys = items.length;
    stats.lastSyncMs = Date.now() - started;
    stats.lastSyncAt = Date.now();
  }

  let chain: Promise<void> = Promise.resolve();
  let closed = false;
  const flush = (): Promise<void> => {
    chain = chain.then(sync).catch((err) => log.error({ err: String(err) }, 'quota sync error'));
    return chain;
  };
  const timer = setInterval(() => void flush(), opts.syncMs);
  timer.unref();

  return {
    backend: backend.name,
    flush: () => (closed ? chain : flush()),
    async close() {
      if (closed) return chain;
      closed = true;
      clearInterval(timer);
      await flush();
      await backend.close();
    },
    stats: () => ({ ...stats }),
  };
}

/** Puts stored counts into the table (adding to charges the workers made before the store opened). */
function load(view: QuotaTableView, keys: { key: string; kind: number; counts: FieldCounts }[], t: number, stats: QuotaStoreStats): void {
  for (const k of keys) {
    if (!isValidKind(k.kind) || !parseHashHex(k.key)) continue;
    const hi = hashOut[0];
    const lo = hashOut[1];
    let s: number;
    for (;;) {
      s = view.find(hi, lo, k.kind, true, false);
      if (s < 0) break;
      view.lock(s);
      if (view.owns(s, hi, lo)) break;
      view.unlock(s);
    }
    if (s === FIND_FULL || s < 0) {
      stats.loadDropped++;
      continue;
    }
    view.advance(s, k.kind, t);
    applyCounts(view, s, k.kind, view.i32[s + S_HEAD], k.counts);
    view.unlock(s);
    stats.loaded++;
  }
}

/**
 * Under the slot's lock: the stored counts become the slot's counts, plus the local charges not
 * yet synced (PEND). Calendar: only for window `field` (a reply for an ended window is dropped).
 */
function applyCounts(view: QuotaTableView, s: number, kind: number, field: number, counts: FieldCounts): void {
  const i32 = view.i32;
  const head = i32[s + S_HEAD];
  const pend = i32[s + S_PEND];
  if (!isRolling(kind)) {
    if (head !== field) return;
    let c = 0;
    for (let j = 0; j < counts.length; j += 2) if (counts[j] === head) c = counts[j + 1];
    i32[s + S_TOTAL] = clampCount(c + pend);
    return;
  }
  const ring = s + S_RING;
  i32.fill(0, ring, ring + ROLLING_BUCKETS);
  const oldest = head - ROLLING_BUCKETS + 1;
  for (let j = 0; j < counts.length; j += 2) {
    const f = counts[j];
    if (f >= oldest && f <= head) i32[ring + (f % ROLLING_BUCKETS)] = clampCount(counts[j + 1]);
  }
  const pendB = i32[s + S_PENDB];
  if (pend !== 0 && pendB >= oldest && pendB <= head) i32[ring + (pendB % ROLLING_BUCKETS)] += pend;
  let total = 0;
  for (let b = 0; b < ROLLING_BUCKETS; b++) {
    if (i32[ring + b] < 0) i32[ring + b] = 0;
    total += i32[ring + b];
  }
  i32[s + S_TOTAL] = clampCount(total);
}

/** Counts live in Int32 words: a cluster total past 2³¹ - 1 (far over any quota) saturates. */
function clampCount(n: number): number {
  return n < 0 ? 0 : n > 0x7fffffff ? 0x7fffffff : n;
}

/**
 * Walks the table: each key charged or checked since the last sync becomes a SyncItem (its
 * pending charges move to INFL), and keys whose windows ended with nothing to persist are retired.
 */
function snapshot(view: QuotaTableView, t: number): SyncItem[] {
  const i32 = view.i32;
  const items: SyncItem[] = [];
  for (const rolling of [false, true]) {
    const { base, cap, words } = view.region(rolling);
    for (let i = 0; i < cap; i++) {
      const s = base + i * words;
      if (Atomics.load(i32, s + S_STATE) !== USED) continue;
      view.lock(s);
      if (i32[s + S_STATE] !== USED || i32[s + S_INFL] !== 0) {
        view.unlock(s);
        continue;
      }
      const kind = i32[s + S_KIND];
      view.advance(s, kind, t);
      const pend = i32[s + S_PEND];
      const touched = i32[s + S_TOUCH];
      if (pend === 0 && touched === 0) {
        // Nothing new. A key with nothing left in its window is retired (its stored row expires
        // by itself); one still counting stays until its window ends.
        if (i32[s + S_TOTAL] === 0) {
          Atomics.store(i32, s + S_STATE, DEAD);
          Atomics.add(i32, H_CLEANED, 1);
        }
        view.unlock(s);
        continue;
      }
      const head = i32[s + S_HEAD];
      const field = pend !== 0 ? i32[s + S_PENDB] : head;
      i32[s + S_INFL] = pend;
      i32[s + S_PEND] = 0;
      i32[s + S_TOUCH] = 0;
      const hi = i32[s + S_HI];
      const lo = i32[s + S_LO];
      view.unlock(s);
      items.push({
        s,
        hi,
        lo,
        key: hashHex(hi, lo),
        kind,
        field,
        delta: pend,
        min: rolling ? head - ROLLING_BUCKETS + 1 : head,
        expireAt: fieldExpiry(kind, head),
      });
    }
  }
  return items;
}

/** A sync's reply for one item: apply the stored totals, or (null: it failed) put its charges back. */
function settle(view: QuotaTableView, it: SyncItem, counts: FieldCounts | null): void {
  const i32 = view.i32;
  const s = it.s;
  view.lock(s);
  if (view.owns(s, it.hi, it.lo)) {
    const infl = i32[s + S_INFL];
    i32[s + S_INFL] = 0;
    if (counts !== null) {
      applyCounts(view, s, it.kind, it.field, counts);
    } else {
      // Back to pending, unless its calendar window ended meanwhile (those charges limit nothing).
      // Rolling: PENDB only moves forward, so the charges count from a sub-bucket no older than theirs.
      if (isRolling(it.kind) || i32[s + S_HEAD] === it.field) {
        if (i32[s + S_PEND] === 0) i32[s + S_PENDB] = it.field > i32[s + S_PENDB] ? it.field : i32[s + S_PENDB];
        i32[s + S_PEND] += infl;
      }
      i32[s + S_TOUCH] = 1;
    }
  }
  view.unlock(s);
}
