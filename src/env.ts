// Every GATEMESH_* environment variable is read here and nowhere else, once at start-up.
// README.md's table lists the same names and defaults; keep them in step.
import os from 'node:os';

export interface Settings {
  /** auto | uws | native-free. */
  frontend: 'auto' | 'uws' | 'native-free';
  /** Worker threads serving every listener; default: number of cores. */
  threads: number;
  config: string | undefined;
  /** Admin listener host:port; default 127.0.0.1:9901. */
  adminAddr: string;
  /** SIGTERM drain budget, ms; default 30000. */
  drainTimeoutMs: number;
  /** Request head limit, bytes; default 16384 → 431. */
  maxHeaderBytes: number;
  /** Request-target limit, bytes; default 8192 → 414. */
  maxUriBytes: number;
  /** Request body limit, bytes; 0 = unlimited → 413. */
  maxBodyBytes: number;
  /** Time to receive the whole request head, ms; default 10000 → 408. */
  headersTimeoutMs: number;
  /** Keep-alive idle connection timeout, ms; default 60000. */
  idleTimeoutMs: number;
  /** Downstream connections per thread; 0 = unlimited. */
  maxConnections: number;
  /**
   * A client that takes no response bytes for this long, while some wait to be sent, is
   * disconnected (and its upstream request cancelled), ms; default 60000, as nginx's send_timeout:
   * it runs between two successful writes, not over the whole response.
   */
  sendTimeoutMs: number;
  /**
   * An upgraded connection (WebSocket or other tunnel) with no bytes either way for this long is
   * closed on both sides, ms; default 3600000 (1 h, Envoy's connection idle_timeout).
   */
  tunnelIdleTimeoutMs: number;
  /** Upstream TCP connect timeout, ms; default 5000 → 502/504. */
  upstreamConnectTimeoutMs: number;
  /** Time from request sent to response head, ms; default 30000 → 504. */
  upstreamTimeoutMs: number;
  /** Pooled upstream connections per endpoint per thread (idle + busy); default 1024. */
  upstreamMaxConnections: number;
  /** Idle pooled upstream connection lifetime, ms; default 60000. */
  upstreamIdleTimeoutMs: number;
  /** CIDRs whose X-Forwarded-For is trusted; comma separated; default none. */
  trustedProxies: string[];
  /** on | off | <path>. */
  accessLog: string;
  /** Access-log bytes held per thread for a stdout nobody reads before whole batches are dropped; default 16 MiB. */
  accessLogBufferBytes: number;
  logLevel: string;
  /** Artificial delay added before forwarding, ms; default 0. Only for proving the bench gate works. */
  debugDelayMs: number;
  /** Keys the local rate-limit table holds (all limits, all threads), fixed memory; default 65536. */
  rateLimitMaxKeys: number;
  /** Redis for global rate limits and shared quotas (redis://host:port[/db]); default none. */
  redisUrl: string | undefined;
  /** gatemesh instances sharing GATEMESH_REDIS_URL (sizes the Global rate-limit leases); default 1. */
  redisInstances: number;
  /** Largest token lease one thread takes from Redis per key; default 1000. */
  redisLeaseMax: number;
  /** A lease's unspent tokens go back to Redis after this long, ms; default 1000. */
  redisLeaseTtlMs: number;
  /** Redis command timeout, ms; default 250 (past it the store counts as down: failureMode). */
  redisTimeoutMs: number;
  /** SQLite file for quotas when no Redis is configured; default ./gatemesh-quotas.db. */
  quotaDb: string;
  /** Keys the quota table holds (fixed memory); default 65536. */
  quotaMaxKeys: number;
  /**
   * Settings given explicitly that the uws front end cannot carry out, as `NAME=value`: uWS.js 20.30
   * closes idle and slow-head connections on its own fixed timer (10 s, in 4 s ticks) and gives no
   * per-connection hook to count connections. With GATEMESH_FRONTEND=auto any entry here selects
   * native-free, which honours all three (src/main.ts chooseFrontend); an unset variable keeps uws.
   */
  uwsUnsupported: string[];
  /** How often quota counts are persisted (SQLite or Redis), ms; default 1000 — the most a crash can lose. */
  quotaSyncMs: number;
}

function int(env: NodeJS.ProcessEnv, name: string, def: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw new Error(`${name}=${raw}: expected a whole number`);
  const n = Number(raw.trim());
  if (n < min) throw new Error(`${name}=${raw}: must be at least ${min}`);
  return n;
}

/** GATEMESH_CONFIG, an empty value counting as unset (as every variable here); `gatemesh routes` reads it too. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.GATEMESH_CONFIG || undefined;
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const frontend = (env.GATEMESH_FRONTEND || 'auto').trim();
  if (frontend !== 'auto' && frontend !== 'uws' && frontend !== 'native-free') {
    throw new Error(`GATEMESH_FRONTEND=${frontend}: expected auto, uws or native-free`);
  }
  return {
    frontend,
    threads: int(env, 'GATEMESH_THREADS', Math.max(1, os.availableParallelism()), 1),
    config: configFromEnv(env),
    adminAddr: env.GATEMESH_ADMIN_ADDR || '127.0.0.1:9901',
    drainTimeoutMs: int(env, 'GATEMESH_DRAIN_TIMEOUT_MS', 30000),
    maxHeaderBytes: int(env, 'GATEMESH_MAX_HEADER_BYTES', 16384, 256),
    maxUriBytes: int(env, 'GATEMESH_MAX_URI_BYTES', 8192, 16),
    maxBodyBytes: int(env, 'GATEMESH_MAX_BODY_BYTES', 0),
    headersTimeoutMs: int(env, 'GATEMESH_HEADERS_TIMEOUT_MS', 10000, 1),
    idleTimeoutMs: int(env, 'GATEMESH_IDLE_TIMEOUT_MS', 60000, 1),
    maxConnections: int(env, 'GATEMESH_MAX_CONNECTIONS', 0),
    sendTimeoutMs: int(env, 'GATEMESH_SEND_TIMEOUT_MS', 60000, 1),
    tunnelIdleTimeoutMs: int(env, 'GATEMESH_TUNNEL_IDLE_TIMEOUT_MS', 3600000, 1),
    upstreamConnectTimeoutMs: int(env, 'GATEMESH_UPSTREAM_CONNECT_TIMEOUT_MS', 5000, 1),
    upstreamTimeoutMs: int(env, 'GATEMESH_UPSTREAM_TIMEOUT_MS', 30000, 1),
    upstreamMaxConnections: int(env, 'GATEMESH_UPSTREAM_MAX_CONNECTIONS', 1024, 1),
    upstreamIdleTimeoutMs: int(env, 'GATEMESH_UPSTREAM_IDLE_TIMEOUT_MS', 60000, 1),
    trustedProxies: (env.GATEMESH_TRUSTED_PROXIES || '').split(',').map((s) => s.trim()).filter(Boolean),
    accessLog: env.GATEMESH_ACCESS_LOG || 'on',
    accessLogBufferBytes: int(env, 'GATEMESH_ACCESS_LOG_BUFFER_BYTES', 16 * 1024 * 1024, 65536),
    logLevel: env.GATEMESH_LOG_LEVEL || 'info',
    debugDelayMs: int(env, 'GATEMESH_DEBUG_DELAY_MS', 0),
    rateLimitMaxKeys: int(env, 'GATEMESH_RATELIMIT_MAX_KEYS', 65536, 64),
    redisUrl: env.GATEMESH_REDIS_URL || undefined,
    redisInstances: int(env, 'GATEMESH_REDIS_INSTANCES', 1, 1),
    redisLeaseMax: int(env, 'GATEMESH_REDIS_LEASE_MAX', 1000, 1),
    redisLeaseTtlMs: int(env, 'GATEMESH_REDIS_LEASE_TTL_MS', 1000, 1),
    redisTimeoutMs: int(env, 'GATEMESH_REDIS_TIMEOUT_MS', 250, 1),
    quotaDb: env.GATEMESH_QUOTA_DB || 'gatemesh-quotas.db',
    quotaMaxKeys: int(env, 'GATEMESH_QUOTA_MAX_KEYS', 65536, 64),
    quotaSyncMs: int(env, 'GATEMESH_QUOTA_SYNC_MS', 1000, 10),
    uwsUnsupported: uwsUnsupported(env),
  };
}

/** uWS's own HTTP timeout (HTTP_IDLE_TIMEOUT_S in uWS 20.30's HttpContext.h), ms. */
const UWS_FIXED_TIMEOUT_MS = 10000;

/** See Settings.uwsUnsupported: explicit values uws cannot honour. */
function uwsUnsupported(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const name of ['GATEMESH_HEADERS_TIMEOUT_MS', 'GATEMESH_IDLE_TIMEOUT_MS']) {
    const raw = env[name];
    if (raw !== undefined && raw !== '' && Number(raw.trim()) !== UWS_FIXED_TIMEOUT_MS) out.push(`${name}=${raw.trim()}`);
  }
  const max = env.GATEMESH_MAX_CONNECTIONS;
  if (max !== undefined && max !== '' && Number(max.trim()) > 0) out.push(`GATEMESH_MAX_CONNECTIONS=${max.trim()}`);
  return out;
}
