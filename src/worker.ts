// A worker thread: binds every listener (SO_REUSEPORT: the kernel spreads connections over the
// threads) and serves requests through src/proxy.ts. The main thread tells it to reload, drain
// and close; counters it shares with the main thread live in a SharedArrayBuffer.
import { parentPort, workerData } from 'node:worker_threads';
import type { GatewayConfig } from './config/model';
import type { Settings } from './env';
import { TrustedProxies } from './http/forwarding';
import { createAccessLog, createLogger } from './log';
import { compileRuntime, createRequestHandlers, groupListeners, type ProxyContext } from './proxy';
import { createPools } from './upstream/pool';
import type { BoundListener, Frontend } from './frontend/types';
import { STAT_FIELDS, StatSlot } from './stats';

export interface WorkerInit {
  settings: Settings;
  config: GatewayConfig;
  frontend: 'uws' | 'native-free';
  thread: number;
  /** Ports to bind per listener group (thread 0 may get 0 → OS-assigned; later threads reuse its ports). */
  ports: number[];
  stats: SharedArrayBuffer;
}

export type ToWorker = { type: 'reload'; config: GatewayConfig } | { type: 'drain' } | { type: 'close' };
export type FromWorker =
  | { type: 'listening'; thread: number; ports: number[] }
  | { type: 'error'; thread: number; message: string; code?: string }
  | { type: 'reloaded'; thread: number; ms: number }
  | { type: 'drained'; thread: number };

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
  const groups = groupListeners(init.config);
  const stats = new StatSlot(init.stats, init.thread);
  const ctx: ProxyContext = {
    settings,
    trusted: new TrustedProxies(settings.trustedProxies),
    accessLog: createAccessLog(settings),
    runtime: compileRuntime(init.config, groups, pools),
    checkSyntax: frontend.name === 'uws',
    inflight: 0,
    debugDelayMs: settings.debugDelayMs,
    stats,
  };
  const { onRequest, onUpgrade } = createRequestHandlers(ctx);
  // A bug on one request must not take the thread's other connections down with it.
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception in worker (request dropped, thread keeps serving)'));
  const bound: BoundListener[] = [];
  try {
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      bound.push(await frontend.listen({ address: g.address, port: init.ports[i] ?? g.port }, i, settings, onRequest, onUpgrade));
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    port.postMessage({ type: 'error', thread: init.thread, message: e.message, code: e.code } satisfies FromWorker);
    for (const b of bound) b.closeAll();
    pools.closeAll();
    port.close();
    return;
  }
  port.postMessage({ type: 'listening', thread: init.thread, ports: bound.map((b) => b.port) } satisfies FromWorker);

  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'reload': {
        const t0 = performance.now();
        // Requests in flight keep the runtime they captured; new ones see the new one.
        ctx.runtime = compileRuntime(msg.config, groupListeners(msg.config), pools);
        port.postMessage({ type: 'reloaded', thread: init.thread, ms: performance.now() - t0 } satisfies FromWorker);
        break;
      }
      case 'drain': {
        for (const b of bound) b.stopAccepting();
        const check = (): void => {
          stats.set(STAT_FIELDS.inflight, ctx.inflight);
          if (ctx.inflight <= 0) {
            ctx.accessLog.flush();
            port.postMessage({ type: 'drained', thread: init.thread } satisfies FromWorker);
          } else setTimeout(check, 20);
        };
        check();
        break;
      }
      case 'close':
        for (const b of bound) b.closeAll();
        pools.closeAll();
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
