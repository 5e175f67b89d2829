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
  /** Routes the workers do not have yet: [id, route]. */
  routes: [number, Route][];
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
  /** Route occurrences whose content is new to the workers. */
  changedRoutes: number;
  /** Route contents no longer served. */
  removedRoutes: number;
  /** Internal: ids and backend texts to remember on commit. */
  readonly next: { ids: Map<string, number>; texts: Map<number, string>; routes: Map<number, Route>; backends: Map<string, string> };
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

export function createDeltaEncoder(): DeltaEncoder {
  // content → id and back; id → the Route object it was first seen as.
  let ids = new Map<string, number>();
  let texts = new Map<number, string>();
  let routes = new Map<number, Route>();
  let backendTexts = new Map<string, string>();
  let backendObjs = new Map<string, Backend>();
  let listeners: DeltaListener[] = [];
  let nextId = 1;
  // The loader hands back the same Route objects for files it did not recompile
  // (src/config/manifest-memo.ts): their text is known. Config objects are never mutated.
  const textOf = new WeakMap<Route, string>();

  return {
    diff(config) {
      const nIds = new Map<string, number>();
      const nTexts = new Map<number, string>();
      const nRoutes = new Map<number, Route>();
      const added: [number, Route][] = [];
      let changedRoutes = 0;
      let sameShape = config.listeners.length === listeners.length;
      const out: DeltaListener[] = config.listeners.map((l, li) => {
        const prev = sameShape ? listeners[li] : undefined;
        const routeIds = new Array<number>(l.routes.length);
        for (let i = 0; i < l.routes.length; i++) {
          const route = l.routes[i];
          let text = textOf.get(route);
          if (text === undefined) {
            text = JSON.stringify(route);
            textOf.set(route, text);
          }
          let id = nIds.get(text);
          if (id === undefined) {
            id = ids.get(text);
            if (id === undefined) {
              id = nextId++;
              added.push([id, route]);
              changedRoutes++;
            }
            nIds.set(text, id);
            nTexts.set(id, text);
            nRoutes.set(id, routes.get(id) ?? route);
          }
          routeIds[i] = id;
        }
        const { routes: _r, ...rest } = l;
        const dl: DeltaListener = { ...rest, routes: routeIds };
        if (prev === undefined || !sameListener(prev, dl)) sameShape = false;
        return dl;
      });
      const dropRoutes: number[] = [];
      for (const id of texts.keys()) if (!nTexts.has(id)) dropRoutes.push(id);

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
        delta: { routes: added, dropRoutes, backends: changedBackends, dropBackends, listeners: out },
        unchanged: sameShape && added.length === 0 && dropRoutes.length === 0 && changedBackends.length === 0 && dropBackends.length === 0,
        changedRoutes,
        removedRoutes: dropRoutes.length,
        next: { ids: nIds, texts: nTexts, routes: nRoutes, backends: nBackends },
      };
    },

    commit(pending) {
      ids = pending.next.ids;
      texts = pending.next.texts;
      routes = pending.next.routes;
      backendTexts = pending.next.backends;
      for (const b of pending.delta.backends) backendObjs.set(b.name, b);
      for (const name of pending.delta.dropBackends) backendObjs.delete(name);
      listeners = pending.delta.listeners;
    },

    snapshot() {
      return {
        routes: [...routes],
        dropRoutes: [],
        backends: [...backendObjs.values()],
        dropBackends: [],
        listeners,
      };
    },

    get size() {
      return ids.size;
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
      for (const [id, route] of delta.routes) routes.set(id, route);
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
