// What a reload sends to the worker threads: only the routes and backends that changed, each
// route identified by an id that stands for its content. The main thread interns every route
// by its serialized content (the "content hash", kept as the string itself so two routes never
// collide); a worker keeps one Route object per id, so a route whose content did not change is
// the *same object* in the next config and the route table reuses its compiled state
// (compileRouteTable's `previous`). Structured-cloning a whole 10,000-route config costs ~80 ms a
// side; an id list costs almost nothing (bench/reload.ts).
import type { Backend, GatewayConfig, Listener, Route } from '../config/model';
import { changedRange } from '../router/changed-range';

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
    added: [number, string][];
    /** Change in the number of places (listener, index) each id is served at. */
    refs: Map<number, number>;
    /** Each listener's Route objects, for the next diff's same-place check. Moved out by
     *  `commit`, so a pending delta kept by a caller does not pin a whole config's routes. */
    routes: Route[][];
    backends: Map<string, string>;
    backendObjs: Map<string, Backend>;
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
  /** Places (listener, index) in the committed config that serve this content. */
  refs: number;
}

const NO_ROUTES: Route[] = [];
const NO_IDS: number[] = [];

export function createDeltaEncoder(): DeltaEncoder {
  const idOfText = new Map<string, number>();
  const entries = new Map<number, Entry>();
  let backendTexts = new Map<string, string>();
  /** The committed Backend objects: an object seen before has the same content (config objects
   *  are not mutated once the reload has prepared them), so it is not serialized again. */
  let backendObjs = new Map<string, Backend>();
  let listeners: DeltaListener[] = [];
  /** The committed config's Route objects per listener, in order. */
  let routesOf: Route[][] = [];
  let nextId = 1;
  // The loader hands back the same Route objects for files it did not recompile
  // (src/config/manifest-memo.ts), so most routes are known by identity without serializing
  // them. Config objects are never mutated after loading.
  const idOfRoute = new WeakMap<Route, number>();

  return {
    diff(config) {
      const refs = new Map<number, number>();
      const pendingText = new Map<string, number>();
      const added: [number, string][] = [];
      const newRoutes: Route[] = [];
      const count = (id: number, d: number): void => void refs.set(id, (refs.get(id) ?? 0) + d);
      const idOf = (route: Route): number => {
        let id = idOfRoute.get(route);
        if (id !== undefined && entries.has(id)) return id;
        const text = JSON.stringify(route);
        id = idOfText.get(text) ?? pendingText.get(text);
        if (id === undefined) {
          id = nextId++;
          pendingText.set(text, id);
          added.push([id, text]);
          newRoutes.push(route);
        }
        idOfRoute.set(route, id);
        return id;
      };
      let sameShape = config.listeners.length === listeners.length;
      // Per listener, the routes that are the same objects in the same places at its start and
      // at its end (a reload that changes one route leaves the other 9,999 there) keep their ids
      // without a look-up; only the range between is resolved.
      const out: DeltaListener[] = config.listeners.map((l, li) => {
        const routes = l.routes;
        const old = li < routesOf.length ? routesOf[li] : NO_ROUTES;
        const oldIds = li < listeners.length ? listeners[li].routes : NO_IDS;
        const n = routes.length;
        const { start, prevEnd, nextEnd } = changedRange(old, routes);
        const routeIds = new Array<number>(n);
        for (let i = 0; i < start; i++) routeIds[i] = oldIds[i];
        for (let i = start; i < prevEnd; i++) count(oldIds[i], -1);
        for (let i = start; i < nextEnd; i++) {
          const id = idOf(routes[i]);
          count(id, 1);
          routeIds[i] = id;
        }
        for (let i = nextEnd; i < n; i++) routeIds[i] = oldIds[i - nextEnd + prevEnd];
        const { routes: _r, ...rest } = l;
        const dl: DeltaListener = { ...rest, routes: routeIds };
        if (sameShape && !sameListener(listeners[li], dl)) sameShape = false;
        return dl;
      });
      for (let li = config.listeners.length; li < listeners.length; li++) for (const id of listeners[li].routes) count(id, -1);
      const dropRoutes: number[] = [];
      for (const [id, d] of refs) {
        const e = entries.get(id);
        if (e !== undefined && d < 0 && e.refs + d === 0) dropRoutes.push(id);
      }

      const nBackends = new Map<string, string>();
      const nObjs = new Map<string, Backend>();
      const changedBackends: Backend[] = [];
      for (const [name, b] of Object.entries(config.backends)) {
        const known = backendObjs.get(name) === b ? backendTexts.get(name) : undefined;
        const text = known ?? JSON.stringify(b);
        nBackends.set(name, text);
        nObjs.set(name, b);
        if (backendTexts.get(name) !== text) changedBackends.push(b);
      }
      const dropBackends: string[] = [];
      for (const name of backendTexts.keys()) if (!nBackends.has(name)) dropBackends.push(name);

      return {
        delta: { routes: added, dropRoutes, backends: changedBackends, dropBackends, listeners: out },
        unchanged: sameShape && added.length === 0 && dropRoutes.length === 0 && changedBackends.length === 0 && dropBackends.length === 0,
        changedRoutes: added.length,
        removedRoutes: dropRoutes.length,
        newRoutes,
        next: { added, refs, routes: config.listeners.map((l) => l.routes.slice()), backends: nBackends, backendObjs: nObjs },
      };
    },

    commit(pending) {
      for (const [id, text] of pending.next.added) {
        idOfText.set(text, id);
        entries.set(id, { text, refs: 0 });
      }
      for (const [id, d] of pending.next.refs) {
        const e = entries.get(id);
        if (e === undefined) continue;
        e.refs += d;
        if (e.refs <= 0) {
          idOfText.delete(e.text);
          entries.delete(id);
        }
      }
      backendTexts = pending.next.backends;
      backendObjs = pending.next.backendObjs;
      listeners = pending.delta.listeners;
      routesOf = pending.next.routes;
      pending.next.routes = [];
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
  /** The previous apply's ids and Route objects per listener: the same id in the same place is the same object. */
  let lastIds: number[][] = [];
  let lastRoutes: Route[][] = [];
  return {
    apply(delta) {
      for (const [id, text] of delta.routes) routes.set(id, JSON.parse(text) as Route);
      for (const b of delta.backends) backends.set(b.name, b);
      for (const name of delta.dropBackends) backends.delete(name);
      const listeners: Listener[] = delta.listeners.map((l, li) => {
        const ids = l.routes;
        const oldIds = li < lastIds.length ? lastIds[li] : NO_IDS;
        const old = li < lastRoutes.length ? lastRoutes[li] : NO_ROUTES;
        const n = ids.length;
        // Ids are content, never reused for other content: the unchanged start and end need no look-up.
        const { start, prevEnd, nextEnd } = changedRange(oldIds, ids);
        const list: Route[] = [];
        for (let i = 0; i < start; i++) list.push(old[i]);
        for (let i = start; i < nextEnd; i++) {
          const r = routes.get(ids[i]);
          if (r === undefined) throw new Error(`reload: route id ${ids[i]} unknown to this thread (delta out of order)`);
          list.push(r);
        }
        for (let i = nextEnd; i < n; i++) list.push(old[i - nextEnd + prevEnd]);
        return { ...l, routes: list };
      });
      for (const id of delta.dropRoutes) routes.delete(id);
      lastIds = delta.listeners.map((l) => l.routes);
      lastRoutes = listeners.map((l) => l.routes);
      return { listeners, backends: Object.fromEntries(backends), sources: [], warnings: [] };
    },
  };
}
