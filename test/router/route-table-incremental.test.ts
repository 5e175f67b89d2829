// compileRouteTable(routes, previous): an incremental build must route exactly as a fresh
// build (and the linear reference) does, and must reuse the compiled state of unchanged routes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import type { Route, RouteMatch } from '../../src/config/model';
import { compileRouteTable } from '../../src/router/route-table';
import { createLinearRouteTable } from '../../src/router/linear-route-table';

const HOSTNAMES = ['a.example.com', '*.example.com', 'b.example.com', '*'];
const PATHS: RouteMatch['path'][] = [
  { type: 'PathPrefix', value: '/' },
  { type: 'PathPrefix', value: '/a' },
  { type: 'PathPrefix', value: '/a/b' },
  { type: 'Exact', value: '/a' },
  { type: 'Exact', value: '/b' },
  { type: 'RegularExpression', value: '/a/.*' },
];

function route(name: string, hostnames: string[], paths: RouteMatch['path'][], method?: string): Route {
  return {
    name,
    hostnames,
    source: { file: 'gen.yaml', line: 1 },
    rules: [{ matches: paths.map((path) => ({ path, headers: [], queryParams: [], ...(method ? { method } : {}) })), backendRefs: [{ backend: name, weight: 1 }] }],
  };
}

const routeArb: fc.Arbitrary<Route> = fc
  .record({
    name: fc.constantFrom('ns/r1', 'ns/r2', 'ns/r3', 'ns/r4', 'other/r1'),
    hostnames: fc.uniqueArray(fc.constantFrom(...HOSTNAMES), { maxLength: 2 }),
    paths: fc.array(fc.constantFrom(...PATHS), { minLength: 1, maxLength: 2 }),
    method: fc.constantFrom(undefined, 'GET', 'POST'),
  })
  .map((r) => route(r.name, r.hostnames, r.paths, r.method));

const requestArb = fc.record({
  host: fc.constantFrom('a.example.com', 'b.example.com', 'x.example.com', 'other.test'),
  method: fc.constantFrom('GET', 'POST'),
  path: fc.constantFrom('/', '/a', '/a/b', '/a/b/c', '/b', '/ab'),
});

/** A reload: keep some of the old Route objects (same identity), drop some, add new ones, shuffle. */
const reloadArb = fc.record({
  before: fc.array(routeArb, { minLength: 1, maxLength: 8 }),
  keep: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
  added: fc.array(routeArb, { maxLength: 4 }),
  order: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
});

describe('route table: incremental build', () => {
  it('routes as a fresh build and the linear reference do, over random reloads', () => {
    fc.assert(
      fc.property(reloadArb, fc.array(requestArb, { minLength: 1, maxLength: 20 }), ({ before, keep, added, order }, requests) => {
        const t1 = compileRouteTable(before);
        const after = [...before.filter((_, i) => keep[i]), ...added];
        after.sort((x, y) => order[after.indexOf(x) % 12] - order[after.indexOf(y) % 12]);
        const t2 = compileRouteTable(after, t1);
        const fresh = compileRouteTable(after);
        const ref = createLinearRouteTable(after);
        assert.equal(t2.size, fresh.size);
        for (const r of requests) {
          const got = t2.match(r.host, r.method, r.path, '', [])?.label ?? null;
          assert.equal(got, ref.match(r.host, r.method, r.path, '', [])?.label ?? null, JSON.stringify(r));
          assert.equal(got, fresh.match(r.host, r.method, r.path, '', [])?.label ?? null, JSON.stringify(r));
        }
      }),
      { numRuns: 300, seed: 0x4e10ad },
    );
  });

  it('reuses the compiled rules of unchanged routes and leaves the previous table serving', () => {
    const keep = route('ns/keep', ['a.example.com'], [{ type: 'PathPrefix', value: '/keep' }]);
    const old = route('ns/change', ['b.example.com'], [{ type: 'PathPrefix', value: '/old' }]);
    const t1 = compileRouteTable([keep, old]);
    const changed = route('ns/change', ['b.example.com'], [{ type: 'PathPrefix', value: '/new' }]);
    const t2 = compileRouteTable([keep, changed], t1);
    // Same CompiledRule object: its compiled state (and weighted-pick position) carried over.
    assert.equal(t2.match('a.example.com', 'GET', '/keep', '', []), t1.match('a.example.com', 'GET', '/keep', '', []));
    assert.equal(t2.match('b.example.com', 'GET', '/old', '', []), null);
    assert.equal(t2.match('b.example.com', 'GET', '/new', '', [])?.label, 'ns/change/rule0');
    // The previous table still answers as before (requests in flight hold it).
    assert.equal(t1.match('b.example.com', 'GET', '/old', '', [])?.label, 'ns/change/rule0');
    assert.equal(t1.match('b.example.com', 'GET', '/new', '', []), null);
  });

  it('keeps precedence ties right when one Route object appears twice', () => {
    const twice = route('ns/dup', [], [{ type: 'PathPrefix', value: '/' }]);
    const t1 = compileRouteTable([twice, twice]);
    const t2 = compileRouteTable([twice, twice], t1);
    assert.equal(t2.size, 2);
    assert.equal(t2.match('h', 'GET', '/x', '', [])?.label, 'ns/dup/rule0');
  });

  /** A chain of reloads, each an edit in place (replace, insert, delete, move a block), as hot reload makes them. */
  const editArb = fc.record({
    kind: fc.constantFrom('replace', 'insert', 'delete', 'move', 'same'),
    at: fc.nat(),
    len: fc.integer({ min: 1, max: 3 }),
    to: fc.nat(),
    routes: fc.array(routeArb, { minLength: 1, maxLength: 3 }),
  });
  function edit(list: Route[], e: { kind: string; at: number; len: number; to: number; routes: Route[] }): Route[] {
    const out = list.slice();
    const at = out.length === 0 ? 0 : e.at % (out.length + 1);
    if (e.kind === 'replace') out.splice(at, e.len, ...e.routes);
    else if (e.kind === 'insert') out.splice(at, 0, ...e.routes);
    else if (e.kind === 'delete') out.splice(at, e.len);
    else if (e.kind === 'move') {
      const block = out.splice(at, e.len);
      out.splice(e.to % (out.length + 1), 0, ...block);
    }
    return out;
  }

  it('routes as a fresh build does after a chain of in-place edits', () => {
    fc.assert(
      fc.property(fc.array(routeArb, { minLength: 1, maxLength: 10 }), fc.array(editArb, { minLength: 1, maxLength: 6 }), fc.array(requestArb, { minLength: 1, maxLength: 12 }), (start, edits, requests) => {
        let routes = start;
        let table = compileRouteTable(routes);
        for (const e of edits) {
          routes = edit(routes, e);
          const before = table;
          table = compileRouteTable(routes, before);
          const fresh = compileRouteTable(routes);
          const ref = createLinearRouteTable(routes);
          assert.equal(table.size, fresh.size);
          for (const r of requests) {
            const got = table.match(r.host, r.method, r.path, '', [])?.label ?? null;
            assert.equal(got, ref.match(r.host, r.method, r.path, '', [])?.label ?? null, `${e.kind} ${JSON.stringify(r)}`);
            assert.equal(got, fresh.match(r.host, r.method, r.path, '', [])?.label ?? null, `${e.kind} ${JSON.stringify(r)}`);
          }
        }
      }),
      { numRuns: 300, seed: 0x4e10ae },
    );
  });

  it('keeps the compiled rules of routes after an inserted one, and never moves a route onto another\'s state', () => {
    const a = route('ns/a', ['a.example.com'], [{ type: 'PathPrefix', value: '/a' }]);
    const b = route('ns/b', ['b.example.com'], [{ type: 'PathPrefix', value: '/b' }]);
    const c = route('ns/c', ['a.example.com'], [{ type: 'Exact', value: '/c' }]);
    const t1 = compileRouteTable([a, b]);
    const t2 = compileRouteTable([c, a, b], t1);
    assert.equal(t2.match('a.example.com', 'GET', '/a/x', '', []), t1.match('a.example.com', 'GET', '/a/x', '', []), 'a after the insertion keeps its rule');
    assert.equal(t2.match('b.example.com', 'GET', '/b', '', []), t1.match('b.example.com', 'GET', '/b', '', []), 'b in an untouched bucket keeps its rule');
    assert.equal(t2.match('a.example.com', 'GET', '/c', '', [])?.label, 'ns/c/rule0');
    const t3 = compileRouteTable([a, b], t2);
    assert.equal(t3.match('a.example.com', 'GET', '/c', '', []), null);
    assert.equal(t3.match('a.example.com', 'GET', '/a', '', []), t1.match('a.example.com', 'GET', '/a', '', []));
    assert.equal(t3.size, 2);
  });
});
