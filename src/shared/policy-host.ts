// The main thread's side of the traffic policies: the process-wide tables (rate-limit keys,
// quota counters), the per-backend and per-policy shared buffers (registry.ts), the active
// health checker (one per process, not per thread) and the quota store that makes quotas
// durable. src/main.ts calls prepare() before a config is sent to the workers and applied()
// once they serve it.
import type { GatewayConfig } from '../config/model';
import type { Settings } from '../env';
import type { Logger } from '../log';
import { createHealthChecker, type HealthChecker } from '../health';
import { createRateLimitTable, rateLimitTableStats } from '../policy/rate-limit/key-table';
import { createQuotaStore, createQuotaTable, type QuotaStore } from '../policy/quota';
import { readConcurrencyShared, type ConcurrencySnapshot } from '../policy/concurrency';
import { createSharedRegistry, policyConcurrencyId, type PolicyShared, type SharedRegistry } from './registry';

export interface PolicyHost {
  readonly rateLimitTable: SharedArrayBuffer;
  readonly quotaTable: SharedArrayBuffer;
  /** Attaches shared state to `config` (Backend.shared) and returns the request-level buffers. Throws on a policy this process cannot serve. */
  prepare(config: GatewayConfig): PolicyShared;
  /** `config` is served by every thread: start/stop health checks, open the quota store if quotas appeared. */
  applied(config: GatewayConfig): Promise<void>;
  /** For admin /stats. */
  stats(config: GatewayConfig): Record<string, unknown>;
  /** Every concurrency limit of `config` with its state now (admin /stats and /metrics). */
  concurrency(config: GatewayConfig): ConcurrencyStat[];
  /** Graceful stop: quota counts flushed (nothing lost), checks stopped. */
  close(): Promise<void>;
}

/** One concurrency limit: a policy's (shared by the rules it is attached to) or a backend's. */
export interface ConcurrencyStat extends ConcurrencySnapshot {
  scope: 'policy' | 'backend';
  /** The policy's name (`route/<name>`, or the BackendTrafficPolicy's), or the backend's. */
  name: string;
  maxInFlight: number;
  maxQueue: number;
  adaptive: boolean;
}

function concurrencyStats(config: GatewayConfig, registry: SharedRegistry): ConcurrencyStat[] {
  const out: ConcurrencyStat[] = [];
  const seen = new Set<string>();
  for (const l of config.listeners) for (const r of l.routes) for (const rule of r.rules) {
    const c = rule.policy?.concurrency;
    if (c === undefined) continue;
    const id = policyConcurrencyId(c);
    const buf = registry.requestBuffer(id);
    if (seen.has(id) || buf === undefined) continue;
    seen.add(id);
    out.push({ scope: 'policy', name: c.policy, maxInFlight: c.maxInFlight, maxQueue: c.maxQueue, adaptive: c.adaptive !== undefined, ...readConcurrencyShared(buf) });
  }
  for (const b of Object.values(config.backends)) {
    const c = b.policy?.concurrency;
    const buf = b.shared?.concurrency;
    if (c === undefined || buf === undefined) continue;
    out.push({ scope: 'backend', name: b.name, maxInFlight: c.maxInFlight, maxQueue: c.maxQueue, adaptive: c.adaptive !== undefined, ...readConcurrencyShared(buf) });
  }
  return out;
}

function usesQuotas(config: GatewayConfig): boolean {
  for (const l of config.listeners) for (const r of l.routes) for (const rule of r.rules) if (rule.policy?.quota !== undefined) return true;
  return false;
}

export function createPolicyHost(settings: Settings, threads: number, log: Logger): PolicyHost {
  const rateLimitTable = createRateLimitTable(settings.rateLimitMaxKeys);
  const quotaTable = createQuotaTable(settings.quotaMaxKeys);
  const registry = createSharedRegistry(threads, settings.redisUrl !== undefined);
  const checker: HealthChecker = createHealthChecker({ logger: log });
  let quotaStore: Promise<QuotaStore> | null = null;

  return {
    rateLimitTable,
    quotaTable,
    prepare(config) {
      const shared = registry.attach(config);
      // Before the workers see the buffers: a new endpoint of a checked backend is already
      // pending (not usable) until its first check passes, and state moves into rebuilt buffers.
      checker.update(Object.values(config.backends).map((b) => ({ name: b.name, endpoints: b.endpoints, policy: b.policy?.health, shared: b.shared?.health })));
      return shared;
    },
    async applied(config) {
      registry.commit(config);
      if (quotaStore === null && usesQuotas(config)) {
        quotaStore = createQuotaStore({
          table: quotaTable,
          sqlitePath: settings.redisUrl === undefined ? settings.quotaDb : undefined,
          redisUrl: settings.redisUrl,
          syncMs: settings.quotaSyncMs,
          logger: log,
        });
        await quotaStore;
      }
    },
    stats(config) {
      return { rateLimitTable: rateLimitTableStats(rateLimitTable), healthChecks: checker.status(), concurrency: concurrencyStats(config, registry) };
    },
    concurrency(config) {
      return concurrencyStats(config, registry);
    },
    async close() {
      checker.close();
      if (quotaStore !== null) await (await quotaStore).close();
    },
  };
}
