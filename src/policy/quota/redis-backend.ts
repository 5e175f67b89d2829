// Quota counts in Redis (GATEMESH_REDIS_URL), shared by every gatemesh instance: one hash per
// (rule, key), `gatemesh:quota:<hash>`, field = window / sub-bucket id → count, plus `k` = kind.
// Each sync is one pipeline of one script call per active key: HINCRBY the local delta, drop
// fields that left the window, set the expiry, return the cluster's counts. No per-request
// round-trip: the workers decide on the table, the main thread syncs every GATEMESH_QUOTA_SYNC_MS.
import Redis from 'ioredis';
import { EXPIRY_GRACE_MS, type FieldCounts, type QuotaBackend, type StoredKey } from './backend';

export const QUOTA_REDIS_PREFIX = 'gatemesh:quota:';

// KEYS[1] key; ARGV kind, field, delta, min, expireAt (epoch ms).
const SYNC_SCRIPT = `
local key = KEYS[1]
local delta = tonumber(ARGV[3])
local minf = tonumber(ARGV[4])
if delta ~= 0 then redis.call('HINCRBY', key, ARGV[2], delta) end
redis.call('HSETNX', key, 'k', ARGV[1])
local all = redis.call('HGETALL', key)
local out = {}
for i = 1, #all, 2 do
  local f = all[i]
  if f ~= 'k' then
    local n = tonumber(f)
    if n == nil or n < minf then
      redis.call('HDEL', key, f)
    else
      out[#out + 1] = n
      out[#out + 1] = tonumber(all[i + 1])
    end
  end
end
redis.call('PEXPIREAT', key, ARGV[5])
return out
`;

interface ScriptPipeline {
  gatemeshQuotaSync(key: string, kind: number, field: number, delta: number, min: number, expireAt: number): unknown;
}

/** Connects (waiting up to `connectTimeoutMs`; past it the client keeps reconnecting by itself). */
export async function createRedisBackend(url: string, connectTimeoutMs = 2000): Promise<QuotaBackend> {
  const client = new Redis(url, {
    lazyConnect: true,
    // Fail fast while disconnected: the store keeps the deltas and retries at the next sync.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: connectTimeoutMs,
    retryStrategy: (n: number) => Math.min(n * 100, 2000),
  });
  // The store logs sync failures once per outage; ioredis would log every reconnect attempt.
  client.on('error', () => {});
  client.defineCommand('gatemeshQuotaSync', { numberOfKeys: 1, lua: SYNC_SCRIPT });
  await Promise.race([client.connect().catch(() => {}), new Promise((r) => setTimeout(r, connectTimeoutMs).unref())]);

  return {
    name: 'redis',
    async load() {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await client.scan(cursor, 'MATCH', `${QUOTA_REDIS_PREFIX}*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      if (keys.length === 0) return [];
      const p = client.pipeline();
      for (const k of keys) p.hgetall(k);
      const replies = (await p.exec()) ?? [];
      const out: StoredKey[] = [];
      for (let i = 0; i < keys.length; i++) {
        const [err, h] = replies[i] ?? [null, null];
        if (err !== null || h === null || typeof h !== 'object') continue;
        const hash = h as Record<string, string>;
        const counts: FieldCounts = [];
        for (const f of Object.keys(hash)) if (f !== 'k') counts.push(Number(f), Number(hash[f]));
        out.push({ key: keys[i].slice(QUOTA_REDIS_PREFIX.length), kind: Number(hash.k), counts });
      }
      return out;
    },
    async sync(items) {
      if (items.length === 0) return [];
      const p = client.pipeline();
      const sp = p as unknown as ScriptPipeline;
      for (const it of items) sp.gatemeshQuotaSync(QUOTA_REDIS_PREFIX + it.key, it.kind, it.field, it.delta, it.min, Math.ceil(it.expireAt + EXPIRY_GRACE_MS));
      const replies = await p.exec();
      if (replies === null) throw new Error('redis pipeline discarded');
      return replies.map(([err, v]) => (err === null && Array.isArray(v) ? (v as unknown[]).map(Number) : null));
    },
    async close() {
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
  };
}
