// Quota counts in one SQLite file (better-sqlite3, WAL) when no Redis is configured
// (GATEMESH_QUOTA_DB, default ./gatemesh-quotas.db). Rows are (key, field) → count, updated by
// adding deltas, so several gatemesh processes on one host may share the file like Redis.
// synchronous=FULL: a committed sync survives a process crash and an OS crash or power loss
// (WAL makes that one fsync per sync, i.e. per GATEMESH_QUOTA_SYNC_MS).
import Database from 'better-sqlite3';
import { EXPIRY_GRACE_MS, type FieldCounts, type QuotaBackend, type StoredKey, type SyncItem } from './backend';

export function createSqliteBackend(path: string): QuotaBackend {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.exec(`
    CREATE TABLE IF NOT EXISTS quota_counts (
      key TEXT NOT NULL,
      field INTEGER NOT NULL,
      kind INTEGER NOT NULL,
      count INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      PRIMARY KEY (key, field)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS quota_counts_expires ON quota_counts (expires_at);
  `);
  const upsert = db.prepare(
    `INSERT INTO quota_counts (key, field, kind, count, expires_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (key, field) DO UPDATE SET count = count + excluded.count, expires_at = max(expires_at, excluded.expires_at)`,
  );
  const select = db.prepare('SELECT field, count FROM quota_counts WHERE key = ? AND field >= ?').raw(true);
  const expire = db.prepare('DELETE FROM quota_counts WHERE expires_at <= ?');
  const loadAll = db.prepare('SELECT key, kind, field, count FROM quota_counts WHERE expires_at > ? ORDER BY key').raw(true);

  const syncTx = db.transaction((items: SyncItem[], now: number): FieldCounts[] => {
    const out: FieldCounts[] = [];
    for (const it of items) {
      if (it.delta !== 0) upsert.run(it.key, it.field, it.kind, it.delta, it.expireAt + EXPIRY_GRACE_MS);
      const rows = select.all(it.key, it.min) as [number, number][];
      const counts: FieldCounts = [];
      for (const [f, c] of rows) counts.push(f, c);
      out.push(counts);
    }
    // Windows that ended (and Rolling sub-buckets that left their ring) are cleaned up here.
    expire.run(now);
    return out;
  });

  let open = true;
  return {
    name: 'sqlite',
    async load(now) {
      const byKey = new Map<string, StoredKey>();
      for (const [key, kind, field, count] of loadAll.all(now) as [string, number, number, number][]) {
        let k = byKey.get(key);
        if (k === undefined) {
          k = { key, kind, counts: [] };
          byKey.set(key, k);
        }
        k.counts.push(field, count);
      }
      return [...byKey.values()];
    },
    async sync(items, now) {
      return syncTx(items, now);
    },
    async close() {
      if (!open) return;
      open = false;
      db.close();
    },
  };
}
