// What a reload sends to the worker threads: only the routes and backends that changed, each
// route identified by an id that stands for its content. The main thread interns every route
// by its serialized content (the "content hash", kept as the string itself so two routes never
// collide); a worker keeps one Route object per id, so a route whose content did not change is
// the *same object* in the next config and the route table reuses its compiled state
// (compileRouteTable's `previous`). Structured-cloning a whole 10,000-route config costs ~80 ms a
// side; an id list costs almost nothing (bench/reload.ts).
import type { Backend, GatewayConfig, Listener, Route } from '../config/model';

/** A listener whose routes are content ids, in the listener's route order. */
export interface DeltaListener extends Omit<Listener, 'routes'> {
  routes: number[];
}

export interface ConfigDelta {
  /** Routes the workers do not have yet: [id, route as JSON]. The text is already at hand (it is
   *  the content key) and a string crosses threads as one copy, where a cloned object graph costs
   *  a serialization and a deserialization per object. */
  routes: [number, string][];
  /** Ids no longer referenced by any listener. */
  dropRoutes: number[];
  /** Backends added or changed. */
  backends: Backend[];
  /** Backend names removed. */
  dropBackends: string[];
  /** Every listener of the new config, in config order. */
  listeners: DeltaListener[];
}

/** A diff not yet committed (the reload may still be rejected). */
export interface PendingDelta {
  delta: ConfigDelta;
  /** Nothing changed: same routes in the same places, same backends, same listeners. */
  unchanged: boolean;
  /** Route contents new to the workers. */
  changedRoutes: number;
  /** Route contents no longer served. */
  removedRoutes: number;
  /** The new routes as objects, for checks before committing. */
  newRoutes: Route[];
  /** Internal: what `commit` records. */
  readonly next: {
    added: [number, string, Route][];
    /** Ids whose Route object changed (same content, newer object). */
    renewed: [number, Route][];
    backends: Map<string, string>;
  };
}

export interface DeltaEncoder {
  /** The delta from the committed state to `config`. Pure: the state changes only on `commit`. */
  diff(config: GatewayConfig): PendingDelta;
  commit(pending: PendingDelta): void;
  /** Everything committed, as one delta from nothing (a thread that starts later). */
  snapshot(): ConfigDelta;
  /** Distinct route contents currently committed. */
  readonly size: number;
}

interface Entry {
  text: string;
  /** The latest Route object with this content: strings parsed from YAML are slices of the
   *  file's text, so keeping an old object would keep an old version of its file alive. */
  route: Route;
}

export function createDeltaEncoder(): DeltaEncoder {
  const idOfText = new Map<string, number>();
  const entries = new Map<number, Entry>();
  let backendTexts = new Map<string, string>();
  const backendObjs = new Map<string, Backend>();
  let listeners: DeltaListener[] = [];
  let nextId = 1;
  // The loader hands back the same Route objects for files it did not recompile
  // (src/config/manifest-memo.ts), so most routes are known by identity without serializing
  // them. Config objects are never mutated after loading.
  const idOfRoute = new WeakMap<Route, number>();

  return {
    diff(config) {
      const referenced = new Set<number>();
      const pendingText = new Map<string, number>();
      const added: [number, string, Route][] = [];
      const renewed: [number, Route][] = [];
      let sameShape = config.listeners.length === listeners.length;
      const out: DeltaListener[] = config.listeners.map((l, li) => {
        const routeIds = new Array<number>(l.routes.length);
        for (let i = 0; i < l.routes.length; i++) {
          const route = l.routes[i];
          let id = idOfRoute.get(route);
          const entry = id === undefined ? undefined : entries.get(id);
          if (entry === undefined) {
            const text = JSON.stringify(route);
            id = idOfText.get(text) ?? pendingText.get(text);
            if (id === undefined) {
              id = nextId++;
              pendingText.set(text, id);
              added.push([id, text, route]);
            } else {
              const known = entries.get(id);
              if (known !== undefined && known.route !== route && !referenced.has(id)) renewed.push([id, route]);
            }
            idOfRoute.set(route, id);
          } else if (entry.route !== route && !referenced.has(id!)) {
            renewed.push([id!, route]);
          }
          referenced.add(id!);
          routeIds[i] = id!;
        }
        const { routes: _r, ...rest } = l;
        const dl: DeltaListener = { ...rest, routes: routeIds };
        if (sameShape && !sameListener(listeners[li], dl)) sameShape = false;
        return dl;
      });
      const dropRoutes: number[] = [];
      for (const id of entries.keys()) if (!referenced.has(id)) dropRoutes.push(id);

      const nBackends = new Map<string, string>();
      const changedBackends: Backend[] = [];
      for (const [name, b] of Object.entries(config.backends)) {
        const text = JSON.stringify(b);
        nBackends.set(name, text);
        if (backendTexts.get(name) !== text) changedBackends.push(b);
      }
      const dropBackends: string[] = [];
      for (const name of backendTexts.keys()) if (!nBackends.has(name)) dropBackends.push(name);

      return {
        delta: { routes: added.map(([id, text]) => [id, text]), dropRoutes, backends: changedBackends, dropBackends, listeners: out },
        unchanged: sameShape && added.length === 0 && dropRoutes.length === 0 && changedBackends.length === 0 && dropBackends.length === 0,
        changedRoutes: added.length,
        removedRoutes: dropRoutes.length,
        newRoutes: added.map(([, , r]) => r),
        next: { added, renewed, backends: nBackends },
      };
    },

    commit(pending) {
      for (const id of pending.delta.dropRoutes) {
        const e = entries.get(id);
        if (e !== undefined) idOfText.delete(e.text);
        entries.delete(id);
      }
      for (const [id, text, route] of pending.next.added) {
        idOfText.set(text, id);
        entries.set(id, { text, route });
      }
      for (const [id, route] of pending.next.renewed) {
        const e = entries.get(id);
        if (e !== undefined) e.route = route;
      }
      backendTexts = pending.next.backends;
      for (const b of pending.delta.backends) backendObjs.set(b.name, b);
      for (const name of pending.delta.dropBackends) backendObjs.delete(name);
      listeners = pending.delta.listeners;
    },

    snapshot() {
      return {
        routes: [...entries].map(([id, e]) => [id, e.text]),
        dropRoutes: [],
        backends: [...backendObjs.values()],
        dropBackends: [],
        listeners,
      };
    },

    get size() {
      return entries.size;
    },
  };
}

function sameListener(a: DeltaListener, b: DeltaListener): boolean {
  if (a.name !== b.name || a.address !== b.address || a.port !== b.port || a.hostname !== b.hostname || a.protocol !== b.protocol) return false;
  if (a.routes.length !== b.routes.length) return false;
  for (let i = 0; i < a.routes.length; i++) if (a.routes[i] !== b.routes[i]) return false;
  return true;
}

/** The worker side: turns deltas into configs whose unchanged routes and backends keep their identity. */
export interface DeltaDecoder {
  apply(delta: ConfigDelta): GatewayConfig;
}

export function createDeltaDecoder(): DeltaDecoder {
  const routes = new Map<number, Route>();
  const backends = new Map<string, Backend>();
  return {
    apply(delta) {
      for (const [id, text] of delta.routes) routes.set(id, JSON.parse(text) as Route);
      for (const b of delta.backends) backends.set(b.name, b);
      for (const name of delta.dropBackends) backends.delete(name);
      const listeners: Listener[] = delta.listeners.map((l) => {
        const list = new Array<Route>(l.routes.length);
        for (let i = 0; i < l.routes.length; i++) {
          const r = routes.get(l.routes[i]);
          if (r === undefined) throw new Error(`reload: route id ${l.routes[i]} unknown to this thread (delta out of order)`);
          list[i] = r;
        }
        return { ...l, routes: list };
      });
      for (const id of delta.dropRoutes) routes.delete(id);
      return { listeners, backends: Object.fromEntries(backends), sources: [], warnings: [] };
    },
  };
}
