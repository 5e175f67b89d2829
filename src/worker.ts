// A worker thread: binds every listener (SO_REUSEPORT: the kernel spreads connections over the
// threads) and serves requests through src/proxy.ts. The main thread sends it config deltas to
// apply (src/reload/), and tells it to drain and close; counters it shares with the main thread
// live in a SharedArrayBuffer.
import v8 from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import type { Settings } from './env';
import { TrustedProxies } from './http/forwarding';
import { createAccessLog, createLogger } from './log';
import { compileRuntime, createRequestHandlers, shutdownRequests, type ListenerGroup, type ProxyContext } from './proxy';
import { createDeltaDecoder, type ConfigDelta } from './reload/config-delta';
import { createPools } from './upstream/pool';
import type { BoundListener, Frontend } from './frontend/types';
import { STAT_FIELDS, StatSlot } from './stats';
import type { PolicyShared } from './shared/registry';
import { setPolicyEnv, type PolicyEnv } from './policy/environment';
import { createGlobalBackend } from './policy/global-limit';

/** A listener group as the main thread sends it: with its slot and the port to bind. */
export interface WorkerGroup extends ListenerGroup {
  slot: number;
}

export interface WorkerInit {
  settings: Settings;
  /** Everything applied so far, as one delta from nothing. */
  delta: ConfigDelta;
  /** Groups to bind; `port` 0 (thread 0 alone) → OS-assigned, reported back in `listening`. */
  groups: WorkerGroup[];
  frontend: 'uws' | 'native-free';
  thread: number;
  stats: SharedArrayBuffer;
  /** Worker threads in all (shared policy state has a slot per thread). */
  threads: number;
  rateLimitTable: SharedArrayBuffer;
  quotaTable: SharedArrayBuffer;
  /** Request-level concurrency buffers of the current config. */
  policyShared: PolicyShared;
}

export type ToWorker =
  | {
      type: 'apply';
      version: number;
      delta: ConfigDelta;
      /** Every group of the new config (ports resolved). */
      groups: WorkerGroup[];
      /** Slots to open (in `groups`). */
      bind: number[];
      /** Slots to drain gently and then close. */
      unbind: number[];
      policyShared: PolicyShared;
    }
  | { type: 'drain' }
  | { type: 'close' };

export type FromWorker =
  | { type: 'listening'; thread: number; ports: number[] }
  | { type: 'error'; thread: number; message: string; code?: string }
  | {
      type: 'applied';
      thread: number;
      version: number;
      /** Time to build the new runtime and swap it in, ms. */
      ms: number;
      /** Set when the runtime could not be built: this thread kept the previous config. */
      error?: string;
      /** Listeners this thread could not bind. */
      bindErrors: { slot: number; message: string }[];
      /** This thread's V8 heap in use, bytes. When node runs with --expose-gc (bench/reload.ts
       *  does, to check memory stays flat) it is measured after a full GC that runs once the
       *  previous apply was answered, so it is what that config keeps alive; else as it happens to be. */
      heapUsed: number;
    }
  | { type: 'unbound'; thread: number; slot: number; forced: boolean }
  | { type: 'drained'; thread: number };

/** How often a closing listener's in-flight count is checked, ms. */
const DRAIN_POLL_MS = 20;

const exposedGc = (globalThis as { gc?: () => void }).gc;
/** Heap after the last full GC (--expose-gc only), measured off the apply path. */
let heapAfterGc = -1;
function heapUsed(): number {
  if (typeof exposedGc === 'function') {
    const last = heapAfterGc;
    setImmediate(() => {
      exposedGc();
      heapAfterGc = v8.getHeapStatistics().used_heap_size;
    });
    if (last >= 0) return last;
  }
  return v8.getHeapStatistics().used_heap_size;
}

async function run(): Promise<void> {
  const init = workerData as WorkerInit;
  const port = parentPort!;
  const { settings } = init;
  const log = createLogger(settings, { thread: init.thread });
  const frontend: Frontend =
    init.frontend === 'uws' ? (await import('./frontend/uws')).uwsFrontend : (await import('../native-free/frontend')).nativeFreeFrontend;
  const pools = createPools({
    maxConnections: settings.upstreamMaxConnections,
    connectTimeoutMs: settings.upstreamConnectTimeoutMs,
    idleTimeoutMs: settings.upstreamIdleTimeoutMs,
  });
  const decoder = createDeltaDecoder();
  const stats = new StatSlot(init.stats, init.thread);
  const global = settings.redisUrl === undefined ? null : createGlobalBackend({
          url: settings.redisUrl,
          logger: log,
          threads: init.threads,
          instances: settings.redisInstances,
          leaseMax: settings.redisLeaseMax,
          leaseTtlMs: settings.redisLeaseTtlMs,
          commandTimeoutMs: settings.redisTimeoutMs,
        });
  const env: PolicyEnv = {
    thread: init.thread,
    threads: init.threads,
    rateLimitTable: init.rateLimitTable,
    quotaTable: init.quotaTable,
    global,
    shared: init.policyShared,
  };
  setPolicyEnv(env);
  const ctx: ProxyContext = {
    settings,
    trusted: new TrustedProxies(settings.trustedProxies),
    accessLog: createAccessLog(settings),
    runtime: compileRuntime(decoder.apply(init.delta), init.groups, pools),
    checkSyntax: frontend.name === 'uws',
    inflight: 0,
    firstLive: null,
    debugDelayMs: settings.debugDelayMs,
    stats,
  };
  const { onRequest, onUpgrade } = createRequestHandlers(ctx);
  // A bug on one request must not take the thread's other connections down with it.
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception in worker (request dropped, thread keeps serving)'));
  /** Open listeners by slot; `closing` ones are draining after a reload removed them. */
  const bound = new Map<number, BoundListener>();
  const closing = new Set<number>();
  const bind = (g: WorkerGroup): Promise<BoundListener> =>
    frontend.listen({ address: g.address, port: g.port }, g.slot, settings, onRequest, onUpgrade).then((b) => {
      bound.set(g.slot, b);
      return b;
    });
  const ports: number[] = [];
  // Global rate limits: wait (1 s at most) for the Redis connection before serving, or the first
  // requests would be decided as if Redis were down (failureMode: uncounted or 503).
  if (global !== null) await global.whenAvailable(1000);
  try {
    for (const g of init.groups) ports.push((await bind(g)).port);
  } catch (err) {
    const e = err as Error & { code?: string };
    port.postMessage({ type: 'error', thread: init.thread, message: e.message, code: e.code } satisfies FromWorker);
    for (const b of bound.values()) b.closeAll();
    pools.closeAll();
    port.close();
    return;
  }
  port.postMessage({ type: 'listening', thread: init.thread, ports } satisfies FromWorker);

  /**
   * A listener the new config no longer has: stop accepting (idle keep-alive connections close,
   * busy ones get `Connection: close`), let its requests in flight finish, then close whatever is
   * left once none are, or after GATEMESH_DRAIN_TIMEOUT_MS. Its route table stays in the runtime
   * until then, so a request already on one of its connections is still routed.
   */
  const closeListener = (slot: number): void => {
    const b = bound.get(slot);
    if (b === undefined || closing.has(slot)) return;
    closing.add(slot);
    b.stopAccepting();
    const deadline = performance.now() + settings.drainTimeoutMs;
    const check = (): void => {
      const forced = b.inflight > 0;
      if (forced && performance.now() < deadline) {
        setTimeout(check, DRAIN_POLL_MS);
        return;
      }
      // As at shutdown: 503 GATEMESH_ERR_DRAINING to its requests still waiting for a response head.
      if (forced) shutdownRequests(ctx, slot);
      b.closeAll();
      bound.delete(slot);
      closing.delete(slot);
      ctx.runtime.tables[slot] = undefined;
      port.postMessage({ type: 'unbound', thread: init.thread, slot, forced } satisfies FromWorker);
    };
    check();
  };

  const apply = async (msg: Extract<ToWorker, { type: 'apply' }>): Promise<void> => {
    const t0 = performance.now();
    const previous = ctx.runtime;
    let next;
    env.shared = msg.policyShared;
    try {
      next = compileRuntime(decoder.apply(msg.delta), msg.groups, pools, previous);
    } catch (err) {
      log.error({ err, version: msg.version }, 'config apply failed on this thread; it keeps the previous config');
      port.postMessage({ type: 'applied', thread: init.thread, version: msg.version, ms: performance.now() - t0, error: String((err as Error).message), bindErrors: [], heapUsed: heapUsed() } satisfies FromWorker);
      return;
    }
    // Listeners being closed keep their table until they are.
    for (const slot of [...closing, ...msg.unbind]) next.tables[slot] = previous.tables[slot];
    // The swap: one assignment. Requests in flight captured `previous` and finish on it.
    ctx.runtime = next;
    const ms = performance.now() - t0;
    const bindErrors: { slot: number; message: string }[] = [];
    for (const slot of msg.bind) {
      const g = msg.groups.find((x) => x.slot === slot);
      if (g === undefined || bound.has(slot)) continue;
      try {
        await bind(g);
      } catch (err) {
        bindErrors.push({ slot, message: (err as Error).message });
      }
    }
    for (const slot of msg.unbind) closeListener(slot);
    port.postMessage({ type: 'applied', thread: init.thread, version: msg.version, ms, bindErrors, heapUsed: heapUsed() } satisfies FromWorker);
  };

  // Applies run one at a time, in the order sent (a bind is asynchronous).
  let applying: Promise<void> = Promise.resolve();
  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'apply':
        applying = applying.then(() => apply(msg));
        break;
      case 'drain': {
        for (const b of bound.values()) b.stopAccepting();
        const check = (): void => {
          stats.set(STAT_FIELDS.inflight, ctx.inflight);
          if (ctx.inflight <= 0) {
            ctx.accessLog.flush();
            port.postMessage({ type: 'drained', thread: init.thread } satisfies FromWorker);
          } else setTimeout(check, DRAIN_POLL_MS);
        };
        check();
        break;
      }
      case 'close':
        // Answered before their connections go: 503 to those still waiting for a response head.
        shutdownRequests(ctx);
        for (const b of bound.values()) b.closeAll();
        pools.closeAll();
        if (global !== null) void global.close();
        ctx.accessLog.flush();
        log.flush();
        port.close();
        process.exit(0);
    }
  });
}

run().catch((err) => {
  parentPort?.postMessage({ type: 'error', thread: (workerData as WorkerInit).thread, message: String((err as Error)?.stack ?? err) } satisfies FromWorker);
});
