// The indexed route table must pick exactly what a linear scan over all matches picks, for
// random small configs drawn from overlapping hostnames, paths, methods, headers and params.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import type { Route, RouteMatch, RouteRule } from '../../src/config/model';
import { compileRouteTable } from '../../src/router/route-table';
import { createLinearRouteTable } from '../../src/router/linear-route-table';

const HOSTNAMES = ['a.example.com', 'A.Example.com.', '*.example.com', '*.b.example.com', 'b.example.com', 'x.b.example.com', '*'];
const PREFIXES = ['/', '/a', '/a/', '/a/b', '/ab', '/a/b/c', '/b', '/a/b/'];
const EXACTS = ['/', '/a', '/a/', '/a/b', '/ab', '/b'];
const REGEXES = ['/a/.*', '/a', '/[ab]+', '.*', '/a(/b)?'];
const TIMES = [undefined, '2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z'];

const matchArb: fc.Arbitrary<RouteMatch> = fc.record({
  path: fc.oneof(
    fc.constantFrom(...PREFIXES).map((value) => ({ type: 'PathPrefix' as const, value })),
    fc.constantFrom(...EXACTS).map((value) => ({ type: 'Exact' as const, value })),
    fc.constantFrom(...REGEXES).map((value) => ({ type: 'RegularExpression' as const, value })),
  ),
  method: fc.constantFrom(undefined, 'GET', 'POST'),
  headers: fc.uniqueArray(fc.record({
    type: fc.constantFrom('Exact' as const, 'RegularExpression' as const),
    name: fc.constantFrom('x', 'y'),
    value: fc.constantFrom('1', '2'),
  }), { maxLength: 2, selector: (h) => h.name }),
  queryParams: fc.uniqueArray(fc.record({
    type: fc.constantFrom('Exact' as const, 'RegularExpression' as const),
    name: fc.constantFrom('q', 'r'),
    value: fc.constantFrom('1', '2', '[12]'),
  }), { maxLength: 2, selector: (q) => q.name }),
});

const ruleArb: fc.Arbitrary<RouteRule> = fc.record({
  matches: fc.array(matchArb, { maxLength: 3 }),
  backendRefs: fc.constant([{ backend: 'b', weight: 1 }]),
});

const routesArb: fc.Arbitrary<Route[]> = fc.uniqueArray(fc.record({
  name: fc.constantFrom('a/r1', 'a/r2', 'b/r1', 'b/r3', 'c/z', 'c/a'),
  hostnames: fc.uniqueArray(fc.constantFrom(...HOSTNAMES), { maxLength: 2 }),
  rules: fc.array(ruleArb, { minLength: 1, maxLength: 3 }),
  creationTimestamp: fc.constantFrom(...TIMES),
  source: fc.constant({ file: 'gen.yaml', line: 1 }),
}), { minLength: 1, maxLength: 6, selector: (r) => r.name });

const requestArb = fc.record({
  host: fc.constantFrom('a.example.com', 'A.EXAMPLE.COM:80', 'b.example.com', 'x.b.example.com', 'y.x.b.example.com.', 'example.com', 'other.test', '[::1]:8'),
  method: fc.constantFrom('GET', 'POST'),
  path: fc.constantFrom('/', '/a', '/a/', '/a/b', '/a/b/c', '/ab', '/b', '/a//b', '/a/bc'),
  query: fc.constantFrom('', 'q=1', 'q=2&r=1', 'r=2&q=1', 'q=1&q=2', 'qq=1'),
  headers: fc.constantFrom<string[]>([], ['x', '1'], ['x', '2', 'y', '1'], ['y', '2', 'x', '1', 'x', '2']),
});

describe('route table: differential against the linear reference', () => {
  it('picks the same rule for random configs and requests', () => {
    fc.assert(
      fc.property(routesArb, fc.array(requestArb, { minLength: 1, maxLength: 25 }), (routes, requests) => {
        const table = compileRouteTable(routes);
        const ref = createLinearRouteTable(routes);
        assert.equal(table.size, ref.size);
        for (const r of requests) {
          const got = table.match(r.host, r.method, r.path, r.query, r.headers)?.label ?? null;
          const want = ref.match(r.host, r.method, r.path, r.query, r.headers)?.label ?? null;
          assert.equal(got, want, JSON.stringify(r));
        }
      }),
      { numRuns: 400, seed: 0x5eed },
    );
  });
});
