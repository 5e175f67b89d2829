// The main thread: loads the config, picks the front end, starts the worker threads that serve
// the listeners, runs the admin listener, and turns SIGTERM into a drain and SIGHUP into a reload.
// It serves no proxy traffic itself.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadConfig } from './config/load';
import type { GatewayConfig } from './config/model';
import { startDemoUpstream, type DemoUpstream } from './demo-upstream';
import type { Settings } from './env';
import { uwsUnavailableReason } from './frontend/uws';
import { createLogger, type Logger } from './log';
import { groupListeners } from './proxy';
import { createStatsBuffer, readStats } from './stats';
import type { FromWorker, ToWorker, WorkerInit } from './worker';

export interface Gateway {
  /** Bound port per listener group, in config order of first appearance. */
  ports: number[];
  adminPort: number;
  stop(): Promise<void>;
}

/** Chooses the front end: `auto` prefers uws, and says once why when it cannot. */
export function chooseFrontend(settings: Settings, log: Logger): 'uws' | 'native-free' {
  if (settings.frontend === 'native-free') return 'native-free';
  const why = uwsUnavailableReason();
  if (why === null) return 'uws';
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
  const loaded = loadConfig(configPath);
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
  const groups = groupListeners(config);
  const workers: Worker[] = [];
  let ports = groups.map((g) => g.port);
  let ready = false;
  let draining = false;
  let configVersion = 1;
  let current = config;

  const spawn = (thread: number): Promise<number[]> =>
    new Promise((resolve, reject) => {
      const init: WorkerInit = { settings, config: current, frontend, thread, ports, stats };
      const w = new Worker(path.join(__dirname, 'worker.js'), { workerData: init });
      workers.push(w);
      w.on('message', (m: FromWorker) => {
        if (m.type === 'listening') resolve(m.ports);
        else if (m.type === 'error') reject(new Error(`thread ${m.thread}: ${m.message}`));
      });
      w.on('error', (err) => {
        log.error({ err, thread }, 'worker thread failed');
        reject(err);
      });
      w.on('exit', (code) => {
        const i = workers.indexOf(w);
        if (i >= 0) workers.splice(i, 1);
        if (draining || !ready) return;
        // A thread that died is replaced, so one bad request cannot shrink the gateway.
        log.error({ thread, code }, 'worker thread exited; starting a replacement');
        spawn(thread).catch((err: Error) => log.error(`replacement thread ${thread} failed: ${err.message}`));
      });
    });

  const broadcast = (msg: ToWorker): void => {
    for (const w of workers) w.postMessage(msg);
  };

  try {
    // uSockets sets SO_REUSEPORT only for an explicit port, so with several threads a port 0
    // (tests) is resolved here first; thread 0 then binds, and the others join its ports.
    if (threads > 1) ports = await Promise.all(groups.map((g) => (g.port === 0 ? freePort(g.address) : g.port)));
    ports = await spawn(0);
    await Promise.all(Array.from({ length: threads - 1 }, (_, i) => spawn(i + 1)));
  } catch (err) {
    log.error(`start-up failed: ${(err as Error).message}`);
    broadcast({ type: 'close' });
    await Promise.all(workers.map((w) => new Promise<void>((r) => (w.once('exit', () => r()), setTimeout(r, 2000).unref()))));
    await Promise.all(demos.map((d) => d.close()));
    throw err;
  }
  ready = true;

  const admin = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown): void => {
      const text = typeof body === 'string' ? body : JSON.stringify(body, null, 2) + '\n';
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json' });
      res.end(text);
    };
    switch (url) {
      case '/ready':
        return ready && !draining ? send(200, 'ready\n') : send(503, draining ? 'draining\n' : 'starting\n');
      case '/live':
        return send(200, 'live\n');
      case '/config':
        return send(200, {
          version: configVersion,
          frontend,
          threads,
          listeners: groups.map((g, i) => ({ address: g.address, port: ports[i], names: g.listeners.map((l) => current.listeners[l].name) })),
          config: current,
        });
      case '/stats':
        return send(200, readStats(stats));
      default:
        return send(404, 'not found: try /ready, /live, /config, /stats\n');
    }
  });
  const [adminHost, adminPortText] = splitHostPort(settings.adminAddr);
  await new Promise<void>((resolve, reject) => {
    admin.once('error', reject);
    admin.listen(Number(adminPortText), adminHost, () => resolve());
  });
  const adminPort = (admin.address() as AddressInfo).port;
  log.info(
    { frontend, threads, listeners: groups.map((g, i) => ({ address: g.address, port: ports[i] })), admin: `${adminHost}:${adminPort}` },
    'gatemesh listening',
  );

  const reload = (): void => {
    try {
      const next = loadConfig(configPath);
      for (const w of next.config.warnings) log.warn(w);
      // Demo backends keep the upstream already running.
      for (const name of next.demoBackends) {
        const old = current.backends[name];
        if (old) next.config.backends[name] = old;
      }
      const changed = groupListeners(next.config).map((g) => `${g.address}:${g.port}`).join(',') !== groups.map((g) => `${g.address}:${g.port}`).join(',');
      if (changed) log.warn('reload: listener changes need a restart in this version; routes and backends applied');
      current = next.config;
      configVersion++;
      broadcast({ type: 'reload', config: current });
      log.info({ version: configVersion }, 'config reloaded');
    } catch (err) {
      log.error(`config reload rejected, the previous config keeps serving: ${(err as Error).message}`);
    }
  };

  const stop = async (): Promise<void> => {
    if (draining) return;
    draining = true;
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
    broadcast({ type: 'close' });
    await Promise.all(
      workers.map((w) => new Promise<void>((r) => (w.threadId === -1 ? r() : (w.once('exit', () => r()), setTimeout(() => void w.terminate().then(() => r()), 2000).unref())))),
    );
    admin.closeAllConnections();
    admin.close();
    await Promise.all(demos.map((d) => d.close()));
    log.info('stopped');
  };

  process.on('SIGHUP', reload);
  return { ports, adminPort, stop };
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
