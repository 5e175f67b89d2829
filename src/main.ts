// The main thread: loads the config, picks the front end, starts the worker threads that serve
// the listeners, runs the admin listener, and turns SIGTERM into a drain and a config change
// (file watch, SIGHUP) into a hot reload (src/reload/).
// It serves no proxy traffic itself.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadConfig, type LoadResult } from './config/load';
import type { GatewayConfig } from './config/model';
import { createConfigCache } from './config/manifest-memo';
import { METRICS_CONTENT_TYPE, renderMetrics } from './admin/metrics';
import { startDemoUpstream, type DemoUpstream } from './demo-upstream';
import type { Settings } from './env';
import { uwsUnavailableReason } from './frontend/uws';
import { createLogger, type Logger } from './log';
import { groupListeners } from './proxy';
import { createDeltaEncoder } from './reload/config-delta';
import { createConfigWatcher, type ConfigWatcher } from './reload/config-watcher';
import { createListenerSlots } from './reload/listener-slots';
import { createReloader, type AppliedReply, type ReloadResult } from './reload/reloader';
import { adminRoutes } from './routes-command';
import { createStatsBuffer, mainSlot, readStats, StatSlot } from './stats';
import { createPolicyHost } from './shared/policy-host';
import { rateLimitTableStats } from './policy/rate-limit/key-table';
import { clearThreadInFlight } from './balancer';
import type { FromWorker, ToWorker, WorkerInit } from './worker';

export interface Gateway {
  /** Bound port per listener group at start-up, in config order of first appearance. */
  ports: number[];
  adminPort: number;
  /** Reloads the config now (what a file change or SIGHUP does). */
  reload(trigger?: string): Promise<ReloadResult>;
  stop(): Promise<void>;
}

/**
 * Chooses the front end: `auto` prefers uws, and says once why when it does not. A timeout or
 * connection limit set explicitly that uws cannot carry out (Settings.uwsUnsupported) selects
 * native-free under `auto`: the setting the user wrote is honoured before the faster front end.
 * `GATEMESH_FRONTEND=uws` keeps uws and warns once that those settings do not apply.
 */
export function chooseFrontend(settings: Settings, log: Logger, uwsMissing: () => string | null = uwsUnavailableReason): 'uws' | 'native-free' {
  if (settings.frontend === 'native-free') return 'native-free';
  const why = uwsMissing();
  const unsupported = settings.uwsUnsupported.join(', ');
  if (why === null) {
    if (unsupported.length === 0) return 'uws';
    if (settings.frontend === 'uws') {
      log.warn(`GATEMESH_FRONTEND=uws does not apply ${unsupported}: uWS.js closes idle and slow-head connections after its fixed ~10 s and cannot count connections (GATEMESH_MAX_CONNECTIONS then limits requests in flight)`);
      return 'uws';
    }
    log.info(`front end native-free: ${unsupported} needs it (uws has a fixed ~10 s idle and headers timeout and no connection count)`);
    return 'native-free';
  }
  if (settings.frontend === 'uws') throw new Error(`GATEMESH_FRONTEND=uws but ${why}`);
  log.warn(`front end native-free: ${why}; the package's JS fallback is never used`);
  return 'native-free';
}

/** Node ≥ 22.12 / 23.1 can bind one port from several threads (net `reusePort`). */
function nodeHasReusePort(): boolean {
  const [maj, min] = process.versions.node.split('.').map(Number);
  return maj > 23 || (maj === 23 && min >= 1) || (maj === 22 && min >= 12);
}

async function withDemoUpstreams(config: GatewayConfig, demo: string[], demos: DemoUpstream[]): Promise<void> {
  for (const name of demo) {
    const d = await startDemoUpstream();
    demos.push(d);
    config.backends[name] = { name, endpoints: [{ address: '127.0.0.1', port: d.port }] };
  }
}

export async function startGateway(configPath: string, settings: Settings): Promise<Gateway> {
  const log = createLogger(settings, { component: 'main' });
  const cache = createConfigCache();
  let loaded: LoadResult;
  try {
    loaded = loadConfig(configPath, cache);
  } finally {
    cache.files.endLoad();
  }
  const config = loaded.config;
  for (const w of config.warnings) log.warn(w);
  const demos: DemoUpstream[] = [];
  await withDemoUpstreams(config, loaded.demoBackends, demos);
  const frontend = chooseFrontend(settings, log);
  let threads = settings.threads;
  if (frontend === 'native-free' && threads > 1 && !nodeHasReusePort()) {
    log.warn(`front end native-free on Node ${process.version} cannot share a port between threads (no reusePort before Node 22.12); serving from 1 thread instead of ${threads}`);
    threads = 1;
  }
  const stats = createStatsBuffer(threads);
  const mainStats = new StatSlot(stats, mainSlot(stats));
  // Shared policy state (rate-limit and quota tables, per-backend buffers) exists before any
  // worker does: the workers get it in workerData and with every config.
  const policies = createPolicyHost(settings, threads, log);
  let policyShared = policies.prepare(config);
  // What the workers have: routes by content id (only changes are sent on reload) and the
  // listener groups with their stable slots.
  const encoder = createDeltaEncoder();
  encoder.commit(encoder.diff(config));
  const slots = createListenerSlots();
  const plan = slots.plan(groupListeners(config), config);
  slots.commit(plan);
  const workers: Worker[] = [];
  let ready = false;
  let draining = false;

  const spawn = (thread: number): Promise<number[]> =>
    new Promise((resolve, reject) => {
      const init: WorkerInit = {
        settings,
        delta: encoder.snapshot(),
        groups: slots.active.map((g) => ({ address: g.address, port: g.port, listeners: g.listeners, slot: g.slot })),
        frontend,
        thread,
        stats,
        threads,
        rateLimitTable: policies.rateLimitTable,
        quotaTable: policies.quotaTable,
        policyShared,
      };
      const w = new Worker(path.join(__dirname, 'worker.js'), { workerData: init });
      workers.push(w);
      w.on('message', (m: FromWorker) => {
        if (m.type === 'listening') resolve(m.ports);
        else if (m.type === 'error') reject(new Error(`thread ${m.thread}: ${m.message}`));
        else if (m.type === 'unbound') log.info({ thread: m.thread, slot: m.slot, forced: m.forced }, 'removed listener closed');
      });
      w.on('error', (err) => {
        log.error({ err, thread }, 'worker thread failed');
        reject(err);
      });
      w.on('exit', (code) => {
        const i = workers.indexOf(w);
        if (i >= 0) workers.splice(i, 1);
        if (draining || !ready) return;
        // A thread that died is replaced, so one bad request cannot shrink the gateway. Its rows of
        // the balancers' in-flight counts are zeroed first (its requests died with it).
        for (const b of Object.values(reloader.applied.config.backends)) {
          if (b.shared?.balancer !== undefined) clearThreadInFlight(b.shared.balancer, b.endpoints.length, threads, thread);
        }
        log.error({ thread, code }, 'worker thread exited; starting a replacement');
        spawn(thread).catch((err: Error) => log.error(`replacement thread ${thread} failed: ${err.message}`));
      });
    });

  const broadcast = (msg: ToWorker): void => {
    for (const w of workers) w.postMessage(msg);
  };

  /** Closes every thread's listeners and waits for the threads to exit (terminated after 2 s).
   *  A thread must close its uWS sockets itself: one torn down with them open aborts the process
   *  (libuv: uv_loop_close() while having open handles). */
  const closeWorkers = async (): Promise<void> => {
    broadcast({ type: 'close' });
    await Promise.all(
      workers.map((w) => new Promise<void>((r) => (w.threadId === -1 ? r() : (w.once('exit', () => r()), setTimeout(() => void w.terminate().then(() => r()), 2000).unref())))),
    );
  };

  /** Start-up failed after threads were spawned: undo it, so the caller gets the error and a clean exit. */
  const abortStart = async (err: unknown): Promise<void> => {
    draining = true;
    log.error(`start-up failed: ${(err as Error).message}`);
    await closeWorkers();
    await policies.close().catch(() => undefined);
    await Promise.all(demos.map((d) => d.close()));
  };

  /** Sends an apply to every thread and waits for each one's reply (or its exit). */
  const sendApply = (msg: Extract<ToWorker, { type: 'apply' }>): Promise<AppliedReply[]> =>
    Promise.all(
      workers.map(
        (w) =>
          new Promise<AppliedReply | null>((resolve) => {
            const onMessage = (m: FromWorker): void => {
              if (m.type === 'applied' && m.version === msg.version) done(m);
            };
            const onExit = (): void => done(null);
            const done = (r: AppliedReply | null): void => {
              w.off('message', onMessage);
              w.off('exit', onExit);
              resolve(r);
            };
            w.on('message', onMessage);
            w.on('exit', onExit);
            w.postMessage(msg);
          }),
      ),
    ).then((rs) => rs.filter((r): r is AppliedReply => r !== null));

  let ports: number[];
  try {
    // uSockets sets SO_REUSEPORT only for an explicit port, so with several threads a port 0
    // (tests) is resolved here first; thread 0 then binds, and the others join its ports.
    if (threads > 1) for (const g of slots.active) if (g.port === 0) g.port = await freePort(g.address);
    ports = await spawn(0);
    slots.active.forEach((g, i) => (g.port = ports[i]));
    await Promise.all(Array.from({ length: threads - 1 }, (_, i) => spawn(i + 1)));
  } catch (err) {
    await abortStart(err);
    throw err;
  }
  await policies.applied(config);
  ready = true;

  const reloader = createReloader({
    configPath,
    log,
    cache,
    encoder,
    slots,
    stats: mainStats,
    initial: config,
    send: sendApply,
    prepare(next) {
      policyShared = policies.prepare(next);
      return policyShared;
    },
    applied: (next) => policies.applied(next),
    async resolveDemos(next, current) {
      // A demo backend keeps the upstream already running; a new one gets its own.
      const fresh: string[] = [];
      for (const name of next.demoBackends) {
        const old = current.backends[name];
        if (old !== undefined && old.endpoints.length > 0) next.config.backends[name] = old;
        else fresh.push(name);
      }
      await withDemoUpstreams(next.config, fresh, demos);
    },
  });

  const serveAdmin = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown, type?: string): void => {
      const text = typeof body === 'string' ? body : JSON.stringify(body, null, 2) + '\n';
      res.writeHead(status, { 'content-type': type ?? (typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json') });
      res.end(text);
    };
    switch (url) {
      case '/ready':
        return ready && !draining ? send(200, 'ready\n') : send(503, draining ? 'draining\n' : 'starting\n');
      case '/live':
        return send(200, 'live\n');
      case '/config': {
        const a = reloader.applied;
        return send(200, {
          version: a.version,
          hash: a.hash,
          appliedAt: new Date(a.appliedAt).toISOString(),
          frontend,
          threads,
          listeners: a.groups.map((g) => ({ address: g.address, port: g.port, names: g.listeners.map((l) => a.config.listeners[l].name) })),
          config: a.config,
        });
      }
      case '/stats':
        return send(200, { ...readStats(stats), policies: policies.stats(reloader.applied.config) });
      case '/metrics':
        return send(200, renderMetrics(readStats(stats), rateLimitTableStats(policies.rateLimitTable), policies.concurrency(reloader.applied.config)), METRICS_CONTENT_TYPE);
      case '/routes': {
        // The compiled table per bound port; ?test=GET%20http://host/path&header=x:%20y explains one request.
        // Config and groups from one applied version (a reload in progress has newer slots).
        const r = adminRoutes(reloader.applied.config, reloader.applied.groups, req.url ?? '/routes');
        return send(r.status, r.body);
      }
      default:
        return send(404, 'not found: try /ready, /live, /config, /routes, /stats, /metrics\n');
    }
  };
  const admin = http.createServer((req, res) => {
    try {
      serveAdmin(req, res);
    } catch (err) {
      // The admin endpoint must never take the gateway's main thread down.
      log.error({ err, url: req.url }, 'admin request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    }
  });
  const [adminHost, adminPortText] = splitHostPort(settings.adminAddr);
  try {
    await new Promise<void>((resolve, reject) => {
      admin.once('error', reject);
      admin.listen(Number(adminPortText), adminHost, () => resolve());
    });
  } catch (err) {
    // GATEMESH_ADMIN_ADDR taken: the listeners are already bound and must close cleanly.
    reloader.stop();
    await abortStart(err);
    throw err;
  }
  // Hot reload: a change to the config file(s), after a 100 ms quiet period, or SIGHUP.
  const reload = (trigger: string, changed: Set<string> | null = null): void => {
    if (!draining) void reloader.reload(trigger, changed);
  };
  const onSighup = (): void => reload('SIGHUP');
  process.on('SIGHUP', onSighup);
  let watcher: ConfigWatcher | null = null;
  try {
    watcher = createConfigWatcher(configPath, {
      onChange: (changed) => reload('watch', changed),
      onError: (err) => log.warn(`config watch stopped (${err.message}); SIGHUP still reloads`),
    });
  } catch (err) {
    log.warn(`cannot watch ${configPath} (${(err as Error).message}); SIGHUP still reloads`);
  }
  // A change saved between the first load and the watch starting would otherwise wait for the
  // next one; with nothing changed this costs one stat per file.
  reload('watch');

  const adminPort = (admin.address() as AddressInfo).port;
  log.info(
    { frontend, threads, listeners: slots.active.map((g) => ({ address: g.address, port: g.port })), admin: `${adminHost}:${adminPort}`, version: 1, hash: reloader.applied.hash },
    'gatemesh listening',
  );

  const stop = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    reloader.stop();
    watcher?.close();
    process.off('SIGHUP', onSighup);
    log.info({ timeoutMs: settings.drainTimeoutMs }, 'draining');
    const drained = Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.on('message', (m: FromWorker) => {
              if (m.type === 'drained') resolve();
            });
            w.on('exit', () => resolve());
          }),
      ),
    );
    broadcast({ type: 'drain' });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((r) => (timer = setTimeout(r, settings.drainTimeoutMs)))]);
    clearTimeout(timer);
    await closeWorkers();
    admin.closeAllConnections();
    admin.close();
    await policies.close().catch((err: Error) => log.error({ err }, 'policy state not closed cleanly'));
    await Promise.all(demos.map((d) => d.close()));
    log.info('stopped');
  };

  return { ports, adminPort, reload: (trigger = 'api') => reloader.reload(trigger), stop };
}

function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, address, () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function splitHostPort(addr: string): [string, string] {
  const i = addr.lastIndexOf(':');
  if (i < 0) return ['127.0.0.1', addr];
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  return [host || '127.0.0.1', addr.slice(i + 1)];
}
