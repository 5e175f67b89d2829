// The active health checker: runs on the main thread, once per process, one timer per checked
// endpoint, and writes each verdict into the backend's health buffer, where every worker's
// balancer reads it. Also sweeps every health buffer once a second (./shared.ts sweepHealthShared).
//
// Decisions:
// - Thresholds (Envoy): a healthy endpoint turns unhealthy after unhealthyThreshold consecutive
//   failures, an unhealthy one healthy after healthyThreshold consecutive passes. A failure is a
//   connect error, a timeout (timeoutMs for the whole exchange) or a status not in expectedStatuses.
// - Initial state: the endpoints of a backend gatemesh has not checked before start healthy (as
//   Kong does): at boot traffic flows at once, and a dead endpoint is found by the first
//   unhealthyThreshold checks or by outlier detection. An endpoint that joins an already checked
//   backend on reload starts pending (unhealthy) until its first check passes, which takes one pass
//   whatever healthyThreshold says (Envoy's behaviour for new hosts): a replica that is still
//   starting gets no traffic while its peers carry the load. If that leaves too few healthy, the
//   panic threshold routes to everyone anyway.
// - Checks are spread: the first runs after a random 0-10 % of the interval, later ones every
//   interval ± 10 % (Envoy's interval_jitter), so many endpoints do not fire together.
// - Reload (update): a running check whose backend, endpoint (address:port) and check settings are
//   unchanged keeps its timer and its counters; if the backend's buffer was rebuilt (its endpoint
//   list changed), the verdict, ejection and hold of every kept endpoint are copied across.
// - Call update() with the config about to be sent to the workers, before sending it, so new
//   endpoints are already marked pending when a worker first sees the buffer.
import type { ActiveHealthCheck, Endpoint, HealthPolicy } from '../config/model';
import { nowMs } from '../shared/clock';
import { endpointLabel, probeHttp } from './probe';
import {
  ACTIVE_HEALTHY,
  ACTIVE_PENDING,
  ACTIVE_UNHEALTHY,
  S_ACTIVE_RUN,
  activeState,
  copyEndpointState,
  checkShared,
  passiveOn,
  setActiveState,
  slot,
  sweepHealthShared,
} from './shared';

/** What the checker logs through (a pino logger fits). */
export interface HealthLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CheckedBackend {
  name: string;
  endpoints: Endpoint[];
  policy: HealthPolicy | undefined;
  /** Backend.shared.health; undefined when the backend needs no health state. */
  shared: SharedArrayBuffer | undefined;
}

/** One checked endpoint, for admin /stats. */
export interface ActiveCheckStatus {
  backend: string;
  /** address:port */
  endpoint: string;
  healthy: boolean;
  /** New endpoint that has not passed a check yet. */
  pending: boolean;
  /** Current run: +n consecutive passes or -n consecutive failures. */
  run: number;
  /** Checks completed since this check started. */
  checks: number;
  /** Reason of the last result ("status 200", "timeout after 1000 ms", "ECONNREFUSED"). */
  last: string;
}

export interface HealthChecker {
  /** Applies a config: starts checks for new backends/endpoints, stops removed ones, keeps unchanged ones. */
  update(backends: CheckedBackend[]): void;
  status(): ActiveCheckStatus[];
  close(): void;
}

export interface HealthCheckerOptions {
  logger: HealthLogger;
  /** Jitter source, [0, 1); default Math.random. */
  random?: () => number;
  /** ms between sweeps of every health buffer; default 1000. */
  sweepMs?: number;
}

/** Extra checks a timer waits beyond the interval, as a fraction of it (± this). */
const JITTER = 0.1;

class EndpointCheck {
  timer: NodeJS.Timeout | undefined;
  cancel: (() => void) | undefined;
  run = 0;
  checks = 0;
  last = '';
  stopped = false;

  constructor(
    readonly backend: string,
    readonly endpoint: Endpoint,
    readonly label: string,
    readonly check: ActiveHealthCheck,
    readonly cfgKey: string,
    public view: Int32Array,
    public index: number,
    private readonly logger: HealthLogger,
    private readonly random: () => number,
  ) {}

  start(): void {
    this.schedule(this.check.intervalMs * JITTER * this.random());
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.cancel !== undefined) this.cancel();
    this.cancel = undefined;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.probe(), ms);
    this.timer.unref();
  }

  private probe(): void {
    this.timer = undefined;
    this.cancel = probeHttp(this.endpoint, this.check, (passed, reason) => {
      this.cancel = undefined;
      if (this.stopped) return;
      this.record(passed, reason);
      this.schedule(this.check.intervalMs * (1 - JITTER + 2 * JITTER * this.random()));
    });
  }

  /** One result: count the run, and flip the verdict when a threshold is reached. */
  record(passed: boolean, reason: string): void {
    this.checks++;
    this.last = reason;
    const s = this.view;
    const state = activeState(s, this.index);
    let next = state;
    if (passed) {
      this.run = this.run > 0 ? this.run + 1 : 1;
      if (state === ACTIVE_PENDING || (state === ACTIVE_UNHEALTHY && this.run >= this.check.healthyThreshold)) next = ACTIVE_HEALTHY;
    } else {
      this.run = this.run < 0 ? this.run - 1 : -1;
      if (state === ACTIVE_PENDING || (state === ACTIVE_HEALTHY && -this.run >= this.check.unhealthyThreshold)) next = ACTIVE_UNHEALTHY;
    }
    Atomics.store(s, slot(this.index) + S_ACTIVE_RUN, this.run);
    if (next === state || !setActiveState(s, this.index, next)) return;
    const fields = { backend: this.backend, endpoint: this.label, reason, run: this.run };
    if (next === ACTIVE_HEALTHY) this.logger.info(fields, state === ACTIVE_PENDING ? 'health check: new endpoint healthy' : 'health check: endpoint healthy again');
    else this.logger.warn(fields, state === ACTIVE_PENDING ? 'health check: new endpoint failed its first check' : 'health check: endpoint unhealthy');
  }
}

interface BackendState {
  sab: SharedArrayBuffer;
  view: Int32Array;
  /** Endpoint key → index in this buffer. */
  keys: Map<string, number>;
  /** JSON of the active check settings, undefined when none. */
  cfgKey: string | undefined;
  /** Outlier base ejection time (the multiplier's decay step), 0 when off. */
  decayMs: number;
  checks: Map<string, EndpointCheck>;
}

/** Stable endpoint identities across reloads: address:port, with #n for a repeated one. */
function endpointKeys(endpoints: Endpoint[]): string[] {
  const seen = new Map<string, number>();
  return endpoints.map((e) => {
    const k = `${e.address}:${e.port}`;
    const n = seen.get(k) ?? 0;
    seen.set(k, n + 1);
    return n === 0 ? k : `${k}#${n}`;
  });
}

export function createHealthChecker(opts: HealthCheckerOptions): HealthChecker {
  const logger = opts.logger;
  const random = opts.random ?? Math.random;
  let backends = new Map<string, BackendState>();
  let sweeper: NodeJS.Timeout | undefined;

  const sweep = (): void => {
    const now = nowMs();
    for (const b of backends.values()) sweepHealthShared(b.sab, b.decayMs, now);
  };

  const stopAll = (b: BackendState): void => {
    for (const c of b.checks.values()) c.stop();
    b.checks.clear();
  };

  return {
    update(list) {
      // Validate every buffer first: a throw must leave the running checks as they were.
      const views = list.map((b) => (b.shared === undefined || b.endpoints.length === 0 ? undefined : checkShared(b.shared, b.endpoints.length)));
      const next = new Map<string, BackendState>();
      const now = nowMs();
      for (const [bi, b] of list.entries()) {
        const old = backends.get(b.name);
        const view = views[bi];
        if (view === undefined || b.shared === undefined) continue;
        const active = b.policy?.active;
        const cfgKey = active === undefined ? undefined : JSON.stringify(active);
        const keyList = endpointKeys(b.endpoints);
        const keys = new Map<string, number>();
        keyList.forEach((k, i) => keys.set(k, i));
        if (old !== undefined && old.sab !== b.shared) {
          for (const [k, i] of keys) {
            const from = old.keys.get(k);
            if (from !== undefined) copyEndpointState(old.sab, from, b.shared, i, now);
          }
        }
        const checks = new Map<string, EndpointCheck>();
        for (let i = 0; i < keyList.length; i++) {
          const k = keyList[i];
          const running = old?.checks.get(k);
          if (running !== undefined) {
            old!.checks.delete(k);
            if (running.cfgKey === cfgKey) {
              running.view = view;
              running.index = i;
              checks.set(k, running);
              continue;
            }
            running.stop();
          }
          if (active === undefined) {
            // No active check (any more): nothing may hold the endpoint unhealthy.
            setActiveState(view, i, ACTIVE_HEALTHY);
            continue;
          }
          const known = old !== undefined && old.cfgKey !== undefined && old.keys.has(k);
          if (!known) {
            // Joining a checked backend: pending until the first pass. A new backend: healthy.
            const initial = old !== undefined && old.cfgKey !== undefined ? ACTIVE_PENDING : ACTIVE_HEALTHY;
            setActiveState(view, i, initial);
            Atomics.store(view, slot(i) + S_ACTIVE_RUN, 0);
          }
          const c = new EndpointCheck(b.name, b.endpoints[i], endpointLabel(b.endpoints[i]), active, cfgKey!, view, i, logger, random);
          checks.set(k, c);
          c.start();
        }
        if (old !== undefined) stopAll(old);
        const passive = b.policy?.passive;
        next.set(b.name, { sab: b.shared, view, keys, cfgKey, decayMs: passiveOn(passive) ? passive.baseEjectionTimeMs : 0, checks });
      }
      for (const [name, b] of backends) if (!next.has(name)) stopAll(b);
      backends = next;
      if (backends.size > 0 && sweeper === undefined) {
        sweeper = setInterval(sweep, opts.sweepMs ?? 1000);
        sweeper.unref();
      } else if (backends.size === 0 && sweeper !== undefined) {
        clearInterval(sweeper);
        sweeper = undefined;
      }
    },

    status() {
      const out: ActiveCheckStatus[] = [];
      for (const b of backends.values()) {
        for (const c of b.checks.values()) {
          const state = activeState(c.view, c.index);
          out.push({ backend: c.backend, endpoint: c.label, healthy: state === ACTIVE_HEALTHY, pending: state === ACTIVE_PENDING, run: c.run, checks: c.checks, last: c.last });
        }
      }
      return out;
    },

    close() {
      for (const b of backends.values()) stopAll(b);
      backends = new Map();
      if (sweeper !== undefined) clearInterval(sweeper);
      sweeper = undefined;
    },
  };
}
