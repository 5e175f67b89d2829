// The reload wire format: only changed routes and backends travel, unchanged ones keep their
// object identity on the worker side (so their compiled state is reused), nothing leaks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GatewayConfig, Route } from '../../src/config/model';
import { createDeltaDecoder, createDeltaEncoder } from '../../src/reload/config-delta';

function r(name: string, prefix: string, backend = 'b'): Route {
  return { name, hostnames: [], source: { file: 'f.yaml', line: 1 }, rules: [{ matches: [{ path: { type: 'PathPrefix', value: prefix }, headers: [], queryParams: [] }], backendRefs: [{ backend, weight: 1 }] }] };
}

function cfg(routes: Route[], listeners = ['web'], backends: Record<string, number> = { b: 1 }): GatewayConfig {
  return {
    listeners: listeners.map((name) => ({ name, address: '127.0.0.1', port: 0, protocol: 'HTTP', routes: routes.map((x) => structuredClone(x)) })),
    backends: Object.fromEntries(Object.entries(backends).map(([name, port]) => [name, { name, endpoints: [{ address: '127.0.0.1', port }] }])),
    sources: [],
    warnings: [],
  };
}

describe('config delta', () => {
  it('sends only what changed and keeps unchanged routes identical on the worker', () => {
    const enc = createDeltaEncoder();
    const dec = createDeltaDecoder();
    const p1 = enc.diff(cfg([r('one', '/1'), r('two', '/2')]));
    assert.equal(p1.delta.routes.length, 2);
    enc.commit(p1);
    const c1 = dec.apply(p1.delta);

    const p2 = enc.diff(cfg([r('one', '/1'), r('two', '/two'), r('three', '/3')]));
    assert.equal(p2.unchanged, false);
    assert.equal(p2.changedRoutes, 2);
    assert.equal(p2.removedRoutes, 1);
    assert.deepEqual(p2.newRoutes.map((x) => x.name), ['two', 'three']);
    assert.deepEqual(p2.delta.routes.map(([, text]) => (JSON.parse(text) as Route).name), ['two', 'three']);
    assert.equal(p2.delta.backends.length, 0);
    enc.commit(p2);
    const c2 = dec.apply(p2.delta);
    assert.equal(c2.listeners[0].routes[0], c1.listeners[0].routes[0], 'unchanged route keeps its identity');
    assert.notEqual(c2.listeners[0].routes[1], c1.listeners[0].routes[1]);
    assert.deepEqual(c2.listeners[0].routes.map((x) => x.rules[0].matches[0].path.value), ['/1', '/two', '/3']);
    assert.equal(enc.size, 3);
  });

  it('reports an identical config as unchanged, and a reorder, a listener or a backend change as changed', () => {
    const cases: { desc: string; next: GatewayConfig; unchanged: boolean }[] = [
      { desc: 'same content, new objects', next: cfg([r('one', '/1'), r('two', '/2')]), unchanged: true },
      { desc: 'routes reordered', next: cfg([r('two', '/2'), r('one', '/1')]), unchanged: false },
      { desc: 'listener added', next: cfg([r('one', '/1'), r('two', '/2')], ['web', 'api']), unchanged: false },
      { desc: 'backend endpoint changed', next: cfg([r('one', '/1'), r('two', '/2')], ['web'], { b: 2 }), unchanged: false },
      { desc: 'backend added', next: cfg([r('one', '/1'), r('two', '/2')], ['web'], { b: 1, c: 3 }), unchanged: false },
    ];
    for (const c of cases) {
      const enc = createDeltaEncoder();
      enc.commit(enc.diff(cfg([r('one', '/1'), r('two', '/2')])));
      assert.equal(enc.diff(c.next).unchanged, c.unchanged, c.desc);
    }
  });

  it('shares one id for a route on two listeners, and drops ids and backends no longer used', () => {
    const enc = createDeltaEncoder();
    const dec = createDeltaDecoder();
    const p1 = enc.diff(cfg([r('one', '/1')], ['web', 'api'], { b: 1, c: 2 }));
    assert.equal(p1.delta.routes.length, 1);
    assert.deepEqual(p1.delta.listeners.map((l) => l.routes), [[p1.delta.routes[0][0]], [p1.delta.routes[0][0]]]);
    enc.commit(p1);
    dec.apply(p1.delta);
    const p2 = enc.diff(cfg([r('two', '/2')], ['web'], { b: 1 }));
    assert.deepEqual(p2.delta.dropRoutes, [p1.delta.routes[0][0]]);
    assert.deepEqual(p2.delta.dropBackends, ['c']);
    enc.commit(p2);
    const c2 = dec.apply(p2.delta);
    assert.deepEqual(Object.keys(c2.backends), ['b']);
    assert.equal(enc.size, 1);
  });

  it('a snapshot brings a new worker to the committed state; an uncommitted diff changes nothing', () => {
    const enc = createDeltaEncoder();
    enc.commit(enc.diff(cfg([r('one', '/1'), r('two', '/2')])));
    enc.diff(cfg([r('three', '/3')])); // rejected reload: never committed
    const c = createDeltaDecoder().apply(enc.snapshot());
    assert.deepEqual(c.listeners[0].routes.map((x) => x.name), ['one', 'two']);
    assert.deepEqual(Object.keys(c.backends), ['b']);
  });

  it('tracks a chain of edits: the worker gets each config, and ids no longer served are dropped', () => {
    // Random-ish but reproducible: replace, insert, delete and move routes on two listeners, with
    // duplicate contents (the same route on both listeners, twice on one), and new objects for
    // unchanged content (a recompiled file).
    const enc = createDeltaEncoder();
    const dec = createDeltaDecoder();
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const pool = Array.from({ length: 12 }, (_, i) => r(`r${i}`, `/${i}`));
    let lists: Route[][] = [pool.slice(0, 5), [pool[0], pool[5], pool[5]]];
    const contentOf = (x: Route): string => JSON.stringify(x);
    for (let step = 0; step < 200; step++) {
      lists = lists.map((list) => {
        const out = list.slice();
        const at = rnd(out.length + 1);
        switch (rnd(5)) {
          case 0: out.splice(at, 1, pool[rnd(pool.length)]); break;
          case 1: out.splice(at, 0, pool[rnd(pool.length)]); break;
          case 2: if (out.length > 1) out.splice(at, 1 + rnd(2)); break;
          case 3: out.splice(rnd(out.length + 1), 0, ...out.splice(at, 2)); break;
          default: if (out.length > 0) out[at % out.length] = structuredClone(out[at % out.length]); // same content, new object
        }
        return out;
      });
      const config: GatewayConfig = {
        listeners: lists.map((routes, i) => ({ name: `l${i}`, address: '127.0.0.1', port: 0, protocol: 'HTTP', routes })),
        backends: { b: { name: 'b', endpoints: [{ address: '127.0.0.1', port: 1 }] } },
        sources: [],
        warnings: [],
      };
      const pending = enc.diff(config);
      if (step % 7 === 3) continue; // a rejected reload: never committed nor sent
      enc.commit(pending);
      const got = dec.apply(structuredClone(pending.delta));
      assert.deepEqual(got.listeners.map((l) => l.routes.map(contentOf)), lists.map((l) => l.map(contentOf)), `step ${step}`);
      assert.equal(enc.size, new Set(lists.flat().map(contentOf)).size, `step ${step}: committed ids = distinct contents served`);
      // A fresh thread gets the same config from a snapshot.
      const fresh = createDeltaDecoder().apply(structuredClone(enc.snapshot()));
      assert.deepEqual(fresh.listeners.map((l) => l.routes.map(contentOf)), lists.map((l) => l.map(contentOf)));
    }
  });

  it('a committed diff no longer holds the config\'s routes (a caller may keep it)', () => {
    const enc = createDeltaEncoder();
    const p = enc.diff(cfg([r('one', '/1')]));
    assert.equal(p.next.routes.length, 1);
    enc.commit(p);
    assert.equal(p.next.routes.length, 0);
  });
});
