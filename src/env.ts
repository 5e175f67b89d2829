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
  logLevel: string;
  /** Artificial delay added before forwarding, ms; default 0. Only for proving the bench gate works. */
  debugDelayMs: number;
}

function int(env: NodeJS.ProcessEnv, name: string, def: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw new Error(`${name}=${raw}: expected a whole number`);
  const n = Number(raw.trim());
  if (n < min) throw new Error(`${name}=${raw}: must be at least ${min}`);
  return n;
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const frontend = (env.GATEMESH_FRONTEND || 'auto').trim();
  if (frontend !== 'auto' && frontend !== 'uws' && frontend !== 'native-free') {
    throw new Error(`GATEMESH_FRONTEND=${frontend}: expected auto, uws or native-free`);
  }
  return {
    frontend,
    threads: int(env, 'GATEMESH_THREADS', Math.max(1, os.availableParallelism()), 1),
    config: env.GATEMESH_CONFIG || undefined,
    adminAddr: env.GATEMESH_ADMIN_ADDR || '127.0.0.1:9901',
    drainTimeoutMs: int(env, 'GATEMESH_DRAIN_TIMEOUT_MS', 30000),
    maxHeaderBytes: int(env, 'GATEMESH_MAX_HEADER_BYTES', 16384, 256),
    maxUriBytes: int(env, 'GATEMESH_MAX_URI_BYTES', 8192, 16),
    maxBodyBytes: int(env, 'GATEMESH_MAX_BODY_BYTES', 0),
    headersTimeoutMs: int(env, 'GATEMESH_HEADERS_TIMEOUT_MS', 10000, 1),
    idleTimeoutMs: int(env, 'GATEMESH_IDLE_TIMEOUT_MS', 60000, 1),
    maxConnections: int(env, 'GATEMESH_MAX_CONNECTIONS', 0),
    upstreamConnectTimeoutMs: int(env, 'GATEMESH_UPSTREAM_CONNECT_TIMEOUT_MS', 5000, 1),
    upstreamTimeoutMs: int(env, 'GATEMESH_UPSTREAM_TIMEOUT_MS', 30000, 1),
    upstreamMaxConnections: int(env, 'GATEMESH_UPSTREAM_MAX_CONNECTIONS', 1024, 1),
    upstreamIdleTimeoutMs: int(env, 'GATEMESH_UPSTREAM_IDLE_TIMEOUT_MS', 60000, 1),
    trustedProxies: (env.GATEMESH_TRUSTED_PROXIES || '').split(',').map((s) => s.trim()).filter(Boolean),
    accessLog: env.GATEMESH_ACCESS_LOG || 'on',
    logLevel: env.GATEMESH_LOG_LEVEL || 'info',
    debugDelayMs: int(env, 'GATEMESH_DEBUG_DELAY_MS', 0),
  };
}
