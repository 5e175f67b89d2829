// Hot reload, main-thread side: load and validate the changed config off the hot path, work out
// what changed (routes, backends, listeners), send only that to every worker thread, and count
// the result. A config that does not load is rejected with one log line naming file:line: field,
// and the applied one keeps serving. Reloads run one at a time; changes that arrive meanwhile are
// folded into one more reload.
import net from 'node:net';
import { loadConfig, type LoadResult } from '../config/load';
import type { GatewayConfig } from '../config/model';
import { ConfigError, AggregateConfigError } from '../config/config-error';
import type { ConfigCache } from '../config/manifest-memo';
import type { Logger } from '../log';
import { groupListeners } from '../proxy';
import { compileRouteTable } from '../router/route-table';
import { STAT_FIELDS, type StatSlot } from '../stats';
import type { FromWorker, ToWorker, WorkerGroup } from '../worker';
import { configHash } from './config-hash';
import type { DeltaEncoder } from './config-delta';
import type { ListenerSlots, SlotGroup } from './listener-slots';
import type { PolicyShared } from '../shared/registry';

export type AppliedReply = Extract<FromWorker, { type: 'applied' }>;

export interface AppliedConfig {
  config: GatewayConfig;
  /** 1 at start-up, +1 per applied reload. */
  version: number;
  /** sha256 of the canonical effective config (src/reload/config-hash.ts). */
  hash: string;
  /** Wall-clock time it was applied (ms since the epoch). */
  appliedAt: number;
  /** Its listener groups with slots and bound ports (listener indexes point into `config`). */
  groups: SlotGroup[];
}

export interface ReloaderOptions {
  configPath: string;
  log: Logger;
  cache: ConfigCache;
  encoder: DeltaEncoder;
  slots: ListenerSlots;
  /** The main thread's slot of the shared counters. */
  stats: StatSlot;
  /** Config applied at start-up (version 1). */
  initial: GatewayConfig;
  /** Fills in native `builtin: demo` backends (starting a demo upstream when needed). */
  resolveDemos(loaded: LoadResult, current: GatewayConfig): Promise<void>;
  /** Attaches shared policy state to a config about to be sent; returns the request-level buffers (throws: rejected). */
  prepare(config: GatewayConfig): PolicyShared;
  /** Every thread serves `config` now. */
  applied(config: GatewayConfig): Promise<void>;
  /** Posts an apply message to every worker and resolves with their replies. */
  send(msg: Extract<ToWorker, { type: 'apply' }>): Promise<AppliedReply[]>;
}

export interface ReloadResult {
  result: 'applied' | 'rejected' | 'unchanged';
  version: number;
  /** From the reload starting to every thread serving the new config, ms. */
  ms: number;
  reason?: string;
}

export interface Reloader {
  /**
   * Reloads now (a file change after the debounce, or SIGHUP). `changed`: the files the watch saw
   * change, so the others are not even stat'ed; null or absent checks every file. Resolves when
   * this reload and any it folded in are done.
   */
  reload(trigger: string, changed?: Set<string> | null): Promise<ReloadResult>;
  readonly applied: AppliedConfig;
  /** Stops taking reloads (SIGTERM). */
  stop(): void;
}

export function createReloader(opts: ReloaderOptions): Reloader {
  const { log, cache, encoder, slots, stats } = opts;
  let applied: AppliedConfig = { config: opts.initial, version: 1, hash: configHash(opts.initial), appliedAt: Date.now(), groups: slots.active };
  stats.set(STAT_FIELDS.configVersion, 1);
  let running: Promise<ReloadResult> | null = null;
  let again: string | null = null;
  /** Files changed since the last load started; null = unknown, check them all. */
  let changedFiles: Set<string> | null = null;
  let stopped = false;
  /** A reload was rejected: the files may differ from what is applied even when none changed since. */
  let dirty = false;

  const reject = (t0: number, reason: string, err?: unknown): ReloadResult => {
    dirty = true;
    stats.add(STAT_FIELDS.reloadsRejected, 1);
    log.error(
      err instanceof Error && !(err instanceof ConfigError) ? { err } : {},
      `config reload rejected, version ${applied.version} keeps serving: ${reason}`,
    );
    return { result: 'rejected', version: applied.version, ms: performance.now() - t0, reason };
  };

  const unchanged = (trigger: string, t0: number, files: unknown): ReloadResult => {
    // A watched file touched without a change is routine; an operator's SIGHUP deserves an answer.
    (trigger === 'watch' ? log.debug : log.info).call(log, { trigger, version: applied.version, files }, 'config unchanged, nothing to apply');
    return { result: 'unchanged', version: applied.version, ms: performance.now() - t0 };
  };

  async function once(trigger: string): Promise<ReloadResult> {
    const t0 = performance.now();
    let loaded: LoadResult;
    // A rejected reload may have cached files the applied config does not match: check them all.
    cache.files.expectChanges(dirty ? null : changedFiles);
    changedFiles = new Set();
    try {
      loaded = loadConfig(opts.configPath, cache);
    } catch (err) {
      cache.files.endLoad();
      return reject(t0, oneLine(err));
    }
    const files = cache.files.endLoad();
    const tLoad = performance.now();
    if (files.parsed === 0 && files.removed === 0 && !dirty) return unchanged(trigger, t0, files);
    const config = loaded.config;
    const known = new Set(applied.config.warnings);
    for (const w of config.warnings) if (!known.has(w)) log.warn(w);
    try {
      await opts.resolveDemos(loaded, applied.config);
    } catch (err) {
      return reject(t0, `demo upstream: ${(err as Error).message}`, err);
    }

    let policyShared: PolicyShared;
    try {
      policyShared = opts.prepare(config);
    } catch (err) {
      return reject(t0, oneLine(err), err);
    }
    const pending = encoder.diff(config);
    const plan = slots.plan(groupListeners(config), config);
    if (pending.unchanged && plan.added.length === 0 && plan.removed.length === 0) {
      dirty = false;
      return unchanged(trigger, t0, files);
    }
    // Backstop for what only compiling finds (the loader checks regexes too): compile the new
    // routes here, so a thread never gets a route it cannot build.
    try {
      compileRouteTable(pending.newRoutes);
    } catch (err) {
      return reject(t0, oneLine(err), err);
    }
    // Every thread must bind a new listener on the same port, so port 0 is resolved here, and an
    // explicit port is tried first so that a busy one rejects the reload rather than half-applying it.
    for (const g of plan.added) {
      try {
        g.port = await probePort(g.address, g.port);
      } catch (err) {
        const names = g.listeners.map((i) => config.listeners[i].name).join(', ');
        return reject(t0, `listener ${names}: cannot bind ${g.address}:${g.port} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, err);
      }
    }
    encoder.commit(pending);
    slots.commit(plan);
    dirty = false;
    const version = applied.version + 1;
    const replies = await opts.send({
      type: 'apply',
      version,
      delta: pending.delta,
      groups: plan.groups.map(workerGroup),
      bind: plan.added.map((g) => g.slot),
      unbind: plan.removed.map((g) => g.slot),
      policyShared,
    });
    const ms = performance.now() - t0;
    applied = { config, version, hash: configHash(config), appliedAt: Date.now(), groups: plan.groups };
    await opts.applied(config).catch((err: Error) => log.error({ err }, 'policy state after reload'));
    stats.add(STAT_FIELDS.reloadsApplied, 1);
    stats.set(STAT_FIELDS.lastApplyUs, Math.round(ms * 1000));
    stats.set(STAT_FIELDS.configVersion, version);
    for (const r of replies) {
      if (r.error !== undefined) log.error({ thread: r.thread, version }, `config version ${version} failed on thread ${r.thread}: ${r.error}`);
      for (const b of r.bindErrors) log.error({ thread: r.thread, slot: b.slot }, `listener slot ${b.slot} not bound on thread ${r.thread}: ${b.message}`);
    }
    log.info(
      {
        trigger,
        version,
        hash: applied.hash,
        applyMs: round(ms),
        loadMs: round(tLoad - t0),
        workerMs: round(Math.max(0, ...replies.map((r) => r.ms))),
        threadHeapMb: Math.round(Math.max(0, ...replies.map((r) => r.heapUsed)) / 10485.76) / 100,
        files,
        routesChanged: pending.changedRoutes,
        routesRemoved: pending.removedRoutes,
        listenersAdded: plan.added.map(describe),
        listenersRemoved: plan.removed.map(describe),
      },
      'config applied',
    );
    return { result: 'applied', version, ms };
  }

  return {
    reload(trigger, changed = null) {
      if (stopped) return Promise.resolve({ result: 'unchanged', version: applied.version, ms: 0 });
      if (changed === null || changedFiles === null) changedFiles = null;
      else for (const f of changed) changedFiles.add(f);
      if (running !== null) {
        // Fold this one into a reload after the running one: it may have read the files too early.
        // The running reload may have read the files before this change: it loops once more, and
        // its result (resolved only after that) is this call's result too.
        again = trigger;
        return running;
      }
      const loop = async (): Promise<ReloadResult> => {
        let r = await once(trigger);
        while (again !== null && !stopped) {
          const t = again;
          again = null;
          r = await once(t);
        }
        return r;
      };
      running = loop().finally(() => {
        running = null;
      });
      return running;
    },
    get applied() {
      return applied;
    },
    stop() {
      stopped = true;
    },
  };
}

function workerGroup(g: SlotGroup): WorkerGroup {
  return { address: g.address, port: g.port, listeners: g.listeners, slot: g.slot };
}

function describe(g: SlotGroup): string {
  return `${g.address}:${g.port}`;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** A config error as one line: the first error's `file:line: field: what`, plus how many more. */
function oneLine(err: unknown): string {
  if (err instanceof AggregateConfigError) {
    const first = err.errors[0];
    return `${first.message} (and ${err.errors.length - 1} more; \`gatemesh validate\` lists them all)`;
  }
  const msg = err instanceof Error ? err.message : String(err);
  const nl = msg.indexOf('\n');
  return nl < 0 ? msg : msg.slice(0, nl);
}

/** Port 0 → a free port; an explicit port → itself once a test bind succeeded (throws EADDRINUSE etc.). */
export function probePort(address: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: address, port, exclusive: true }, () => {
      const bound = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(bound));
    });
  });
}
