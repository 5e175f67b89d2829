// Main-thread owner of the SharedArrayBuffers that policies share between worker threads: per
// backend (balancer, health, circuit breaker, concurrency, retry budget) and per request-level
// concurrency policy. They are created at config load and attached to the model (Backend.shared)
// or listed by id (policy concurrency), so structured clone hands every worker the same memory.
// A backend whose endpoints and policy did not change across a reload keeps its buffers, so its
// in-flight counts, EWMAs, ejections and health survive the reload.
import type { Backend, ConcurrencyPolicy, GatewayConfig, RequestPolicy, RetryBudget } from '../config/model';
import { balancerSharedBytes } from '../balancer';
import { healthSharedBytes, initHealthShared } from '../health';
import { breakerSharedBytes } from '../policy/circuit-breaker';
import { concurrencySharedBytes } from '../policy/concurrency';
import { retryBudgetSharedBytes } from '../retry/budget';
import type { BackendShared } from '../config/model';

/** Request-level buffers by id (policyConcurrencyId, ruleBudgetId), sent to workers with each config. */
export type PolicyShared = Record<string, SharedArrayBuffer>;

export interface SharedRegistry {
  /**
   * Sets `shared` on every backend of `config` (reusing the buffers of an unchanged backend) and
   * returns the request-level buffers that config needs. Throws on a policy the process cannot
   * serve (a Global rate limit without GATEMESH_REDIS_URL).
   */
  attach(config: GatewayConfig): PolicyShared;
  /** Forget what the last committed config no longer uses (call after a successful apply). */
  commit(config: GatewayConfig): void;
  /** A request-level buffer by id (policyConcurrencyId, ruleBudgetId), for the admin. */
  requestBuffer(id: string): SharedArrayBuffer | undefined;
}

/** The id of a request-level concurrency limit: one limit per policy and its settings. */
export function policyConcurrencyId(c: ConcurrencyPolicy): string {
  return `${c.policy}|${c.maxInFlight}|${c.maxQueue}|${c.queueTimeoutMs}|${c.adaptive === undefined ? '' : JSON.stringify(c.adaptive)}`;
}

/** The id of a rule's retry budget (a route policy's retry.budget): one budget per rule. */
export function ruleBudgetId(routeName: string, ruleIndex: number, b: RetryBudget): string {
  return `budget|${routeName}|${ruleIndex}|${b.ratio}|${b.minPerSecond}|${b.windowMs}`;
}

/** What a backend's shared state depends on: it is rebuilt when this changes. */
function backendKey(b: Backend): string {
  return JSON.stringify([b.endpoints, b.policy ?? null]);
}

function sab(bytes: number): SharedArrayBuffer | undefined {
  return bytes > 0 ? new SharedArrayBuffer(bytes) : undefined;
}

export function createSharedRegistry(threads: number, hasRedis: boolean): SharedRegistry {
  let backends = new Map<string, { key: string; shared: BackendShared }>();
  /** Request-level buffers by id: concurrency limits and rule retry budgets. */
  let byId = new Map<string, SharedArrayBuffer>();

  const forBackend = (b: Backend): BackendShared => {
    const key = backendKey(b);
    const old = backends.get(b.name);
    if (old !== undefined && old.key === key) return old.shared;
    const p = b.policy;
    const n = b.endpoints.length;
    const shared: BackendShared = {
      balancer: sab(balancerSharedBytes(p?.loadBalancer, n, threads)),
      health: sab(healthSharedBytes(p?.health, n)),
      breaker: p?.circuitBreaker === undefined ? undefined : sab(breakerSharedBytes()),
      concurrency: p?.concurrency === undefined ? undefined : sab(concurrencySharedBytes(p.concurrency, threads)),
      retryBudget: p?.retryBudget === undefined ? undefined : sab(retryBudgetSharedBytes()),
    };
    if (shared.health !== undefined) initHealthShared(shared.health, n);
    return shared;
  };

  const checkRequestPolicy = (p: RequestPolicy | undefined, where: string): void => {
    if (p?.rateLimit?.mode === 'Global' && !hasRedis) {
      throw new Error(`${where}: rate limit policy ${p.rateLimit.policy} is Global but GATEMESH_REDIS_URL is not set`);
    }
  };

  return {
    attach(config) {
      const out: PolicyShared = {};
      const pending = new Map<string, { key: string; shared: BackendShared }>();
      for (const b of Object.values(config.backends)) {
        const shared = forBackend(b);
        b.shared = shared;
        pending.set(b.name, { key: backendKey(b), shared });
        if (b.policy?.rateLimit !== undefined) checkRequestPolicy({ rateLimit: b.policy.rateLimit }, `backend ${b.name}`);
      }
      for (const l of config.listeners) {
        for (const r of l.routes) {
          for (let ri = 0; ri < r.rules.length; ri++) {
            const rule = r.rules[ri];
            const budget = rule.retry?.budget;
            if (budget !== undefined) {
              const id = ruleBudgetId(r.name, ri, budget);
              out[id] ??= byId.get(id) ?? new SharedArrayBuffer(retryBudgetSharedBytes());
            }
            const p = rule.policy;
            if (p === undefined) continue;
            checkRequestPolicy(p, `route ${r.name}`);
            if (p.concurrency !== undefined) {
              const id = policyConcurrencyId(p.concurrency);
              out[id] ??= byId.get(id) ?? new SharedArrayBuffer(concurrencySharedBytes(p.concurrency, threads));
            }
          }
        }
      }
      // Kept until commit so a rejected reload does not lose the applied config's buffers.
      for (const [name, v] of pending) if (!backends.has(name)) backends.set(name, v);
      for (const [id, buf] of Object.entries(out)) if (!byId.has(id)) byId.set(id, buf);
      return out;
    },
    commit(config) {
      const keepB = new Map<string, { key: string; shared: BackendShared }>();
      for (const b of Object.values(config.backends)) if (b.shared !== undefined) keepB.set(b.name, { key: backendKey(b), shared: b.shared });
      backends = keepB;
      const keepC = new Map<string, SharedArrayBuffer>();
      for (const l of config.listeners) for (const r of l.routes) r.rules.forEach((rule, ri) => {
        const ids: string[] = [];
        if (rule.policy?.concurrency !== undefined) ids.push(policyConcurrencyId(rule.policy.concurrency));
        if (rule.retry?.budget !== undefined) ids.push(ruleBudgetId(r.name, ri, rule.retry.budget));
        for (const id of ids) {
          const buf = byId.get(id);
          if (buf !== undefined) keepC.set(id, buf);
        }
      });
      byId = keepC;
    },
    requestBuffer(id) {
      return byId.get(id);
    },
  };
}
