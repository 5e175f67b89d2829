import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { BackendRef, Route } from '../../src/config/model';
import { compileRouteTable } from '../../src/router/route-table';
import { createLinearRouteTable } from '../../src/router/linear-route-table';
import { m, route, rule, simple } from './fixtures';

interface Req {
  host?: string;
  method?: string;
  path: string;
  query?: string;
  headers?: string[];
}

interface Case {
  desc: string;
  routes: Route[];
  req: Req;
  /** Expected MatchedRule.label, or null for no match (404). */
  want: string | null;
}

const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-06-01T00:00:00Z';

function run(routes: Route[], req: Req): string | null {
  const args = [req.host ?? 'example.com', req.method ?? 'GET', req.path, req.query ?? '', req.headers ?? []] as const;
  const got = compileRouteTable(routes).match(...args);
  // The linear reference must agree on every table case (it is the oracle of the differential test).
  const ref = createLinearRouteTable(routes).match(...args);
  assert.equal(got?.label ?? null, ref?.label ?? null, 'compiled table and linear reference disagree');
  return got === null ? null : got.label;
}

function table(cases: Case[]): void {
  for (const c of cases) {
    it(c.desc, () => {
      assert.equal(run(c.routes, c.req), c.want);
    });
  }
}

describe('route table: path matching', () => {
  const exact = [simple('ns/exact', { path: ['Exact', '/foo'] })];
  const v2 = [simple('ns/v2', { path: ['PathPrefix', '/v2'] })];
  const v2slash = [simple('ns/v2s', { path: ['PathPrefix', '/v2/'] })];
  const root = [simple('ns/root', { path: ['PathPrefix', '/'] })];
  const deep = [simple('ns/ab', { path: ['PathPrefix', '/a/b'] })];
  table([
    { desc: 'Exact matches the identical path', routes: exact, req: { path: '/foo' }, want: 'ns/exact/rule0' },
    { desc: 'Exact does not match a trailing slash', routes: exact, req: { path: '/foo/' }, want: null },
    { desc: 'Exact does not match a longer path', routes: exact, req: { path: '/foo/bar' }, want: null },
    { desc: 'Exact is case-sensitive', routes: exact, req: { path: '/Foo' }, want: null },
    { desc: 'PathPrefix /v2 matches /v2', routes: v2, req: { path: '/v2' }, want: 'ns/v2/rule0' },
    { desc: 'PathPrefix /v2 matches /v2/', routes: v2, req: { path: '/v2/' }, want: 'ns/v2/rule0' },
    { desc: 'PathPrefix /v2 matches /v2/x/y', routes: v2, req: { path: '/v2/x/y' }, want: 'ns/v2/rule0' },
    { desc: 'PathPrefix /v2 is segment-aware: not /v2example', routes: v2, req: { path: '/v2example' }, want: null },
    { desc: 'PathPrefix /v2 does not match /v', routes: v2, req: { path: '/v' }, want: null },
    { desc: 'PathPrefix is case-sensitive', routes: v2, req: { path: '/V2/x' }, want: null },
    { desc: 'PathPrefix /v2/ (trailing slash ignored, spec) matches /v2', routes: v2slash, req: { path: '/v2' }, want: 'ns/v2s/rule0' },
    { desc: 'PathPrefix /v2/ matches /v2/', routes: v2slash, req: { path: '/v2/' }, want: 'ns/v2s/rule0' },
    { desc: 'PathPrefix /v2/ matches /v2/x', routes: v2slash, req: { path: '/v2/x' }, want: 'ns/v2s/rule0' },
    { desc: 'PathPrefix /v2/ does not match /v2example', routes: v2slash, req: { path: '/v2example' }, want: null },
    { desc: 'PathPrefix / matches /', routes: root, req: { path: '/' }, want: 'ns/root/rule0' },
    { desc: 'PathPrefix / matches any deep path', routes: root, req: { path: '/a/b/c.html' }, want: 'ns/root/rule0' },
    { desc: 'PathPrefix / matches even a non-origin-form target', routes: root, req: { path: '*' }, want: 'ns/root/rule0' },
    { desc: 'multi-segment prefix /a/b matches /a/b/c', routes: deep, req: { path: '/a/b/c' }, want: 'ns/ab/rule0' },
    { desc: 'multi-segment prefix /a/b does not match /a/bc', routes: deep, req: { path: '/a/bc' }, want: null },
    { desc: 'multi-segment prefix /a/b does not match /a', routes: deep, req: { path: '/a' }, want: null },
    { desc: 'prefix matches across a double slash segment', routes: deep, req: { path: '/a/b//c' }, want: 'ns/ab/rule0' },
    {
      desc: 'a rule without matches gets the default PathPrefix /',
      routes: [route('ns/default', [rule([])])], req: { path: '/anything' }, want: 'ns/default/rule0',
    },
    {
      desc: 'a rule matches when any one of its matches does',
      routes: [route('ns/any', [rule([m({ path: ['Exact', '/a'] }), m({ path: ['Exact', '/b'] })])])],
      req: { path: '/b' }, want: 'ns/any/rule0',
    },
  ]);
});

describe('route table: regular expressions', () => {
  const re = [simple('ns/re', { path: ['RegularExpression', '/api/[0-9]+'] })];
  table([
    { desc: 'regex matches the whole path', routes: re, req: { path: '/api/123' }, want: 'ns/re/rule0' },
    { desc: 'regex is anchored at the end', routes: re, req: { path: '/api/123/x' }, want: null },
    { desc: 'regex is anchored at the start', routes: re, req: { path: '/x/api/123' }, want: null },
    {
      desc: 'alternation is anchored as a whole (a|b, not ^a|b$)',
      routes: [simple('ns/alt', { path: ['RegularExpression', '/a|/b'] })], req: { path: '/a/x' }, want: null,
    },
    {
      desc: 'regex beats a longer PathPrefix (implementation-specific: Exact > regex > prefix)',
      routes: [
        simple('ns/prefix', { path: ['PathPrefix', '/api/123'] }, { created: T1 }),
        simple('ns/re', { path: ['RegularExpression', '/api/[0-9]+'] }, { created: T2 }),
      ],
      req: { path: '/api/123' }, want: 'ns/re/rule0',
    },
    {
      desc: 'regex beats the / catch-all',
      routes: [simple('ns/root', {}, { created: T1 }), simple('ns/re', { path: ['RegularExpression', '/api/.*'] }, { created: T2 })],
      req: { path: '/api/x' }, want: 'ns/re/rule0',
    },
    {
      desc: 'Exact beats regex',
      routes: [simple('ns/re', { path: ['RegularExpression', '/api/.*'] }, { created: T1 }), simple('ns/exact', { path: ['Exact', '/api/x'] }, { created: T2 })],
      req: { path: '/api/x' }, want: 'ns/exact/rule0',
    },
    {
      desc: 'longer regex source wins among regexes',
      routes: [simple('ns/short', { path: ['RegularExpression', '/.*'] }, { created: T1 }), simple('ns/long', { path: ['RegularExpression', '/api/[a-z]+'] }, { created: T2 })],
      req: { path: '/api/x' }, want: 'ns/long/rule0',
    },
    {
      desc: 'a regex whose conditions fail falls back to prefixes',
      routes: [simple('ns/re', { path: ['RegularExpression', '/api/.*'], method: 'POST' }), simple('ns/prefix', { path: ['PathPrefix', '/api'] })],
      req: { path: '/api/x' }, want: 'ns/prefix/rule0',
    },
  ]);
  it('an invalid regex fails compilation with file:line and route name', () => {
    assert.throws(() => compileRouteTable([simple('ns/bad', { path: ['RegularExpression', '/a(['] })]),
      /test\.yaml:1: route ns\/bad rule 0 match 0: invalid RegularExpression/);
  });
});

describe('route table: precedence across routes', () => {
  table([
    {
      desc: 'Exact beats PathPrefix even when the prefix route is older',
      routes: [simple('ns/prefix', { path: ['PathPrefix', '/a'] }, { created: T1 }), simple('ns/exact', { path: ['Exact', '/a/b'] }, { created: T2 })],
      req: { path: '/a/b' }, want: 'ns/exact/rule0',
    },
    {
      desc: 'Exact beats a PathPrefix of the same characters',
      routes: [simple('ns/prefix', { path: ['PathPrefix', '/a/b'] }, { created: T1 }), simple('ns/exact', { path: ['Exact', '/a/b'] }, { created: T2 })],
      req: { path: '/a/b' }, want: 'ns/exact/rule0',
    },
    {
      desc: 'Exact with failing conditions falls back to PathPrefix',
      routes: [simple('ns/exact', { path: ['Exact', '/a'], method: 'POST' }), simple('ns/prefix', { path: ['PathPrefix', '/a'] })],
      req: { path: '/a' }, want: 'ns/prefix/rule0',
    },
    {
      desc: 'longer PathPrefix wins regardless of age and name',
      routes: [simple('ns/a-short', { path: ['PathPrefix', '/a'] }, { created: T1 }), simple('ns/z-long', { path: ['PathPrefix', '/a/b'] }, { created: T2 })],
      req: { path: '/a/b/c' }, want: 'ns/z-long/rule0',
    },
    {
      desc: 'longer PathPrefix wins over a method match on a shorter one',
      routes: [simple('ns/short', { path: ['PathPrefix', '/api'], method: 'GET' }), simple('ns/long', { path: ['PathPrefix', '/api/v1'] })],
      req: { path: '/api/v1/x' }, want: 'ns/long/rule0',
    },
    {
      desc: 'longest prefix with failing conditions falls back to the next shorter prefix',
      routes: [simple('ns/long', { path: ['PathPrefix', '/api/v1'], headers: [['x-env', 'canary']] }), simple('ns/short', { path: ['PathPrefix', '/api'] })],
      req: { path: '/api/v1/x' }, want: 'ns/short/rule0',
    },
    {
      desc: 'prefixes /v2 and /v2/ are the same prefix: the oldest route wins',
      routes: [simple('ns/a-slash', { path: ['PathPrefix', '/v2/'] }, { created: T2 }), simple('ns/b-bare', { path: ['PathPrefix', '/v2'] }, { created: T1 })],
      req: { path: '/v2/x' }, want: 'ns/b-bare/rule0',
    },
    {
      desc: 'a method match beats no method match',
      routes: [simple('ns/any', { path: ['PathPrefix', '/api'] }, { created: T1 }), simple('ns/get', { path: ['PathPrefix', '/api'], method: 'GET' }, { created: T2 })],
      req: { path: '/api', method: 'GET' }, want: 'ns/get/rule0',
    },
    {
      desc: 'the method route is skipped for another method',
      routes: [simple('ns/any', { path: ['PathPrefix', '/api'] }), simple('ns/get', { path: ['PathPrefix', '/api'], method: 'GET' })],
      req: { path: '/api', method: 'POST' }, want: 'ns/any/rule0',
    },
    {
      desc: 'a method match beats more header matches',
      routes: [
        simple('ns/headers', { path: ['PathPrefix', '/api'], headers: [['a', '1'], ['b', '2']] }, { created: T1 }),
        simple('ns/method', { path: ['PathPrefix', '/api'], method: 'GET' }, { created: T2 }),
      ],
      req: { path: '/api', headers: ['a', '1', 'b', '2'] }, want: 'ns/method/rule0',
    },
    {
      desc: 'more header matches win',
      routes: [
        simple('ns/one', { path: ['PathPrefix', '/api'], headers: [['a', '1']] }, { created: T1 }),
        simple('ns/two', { path: ['PathPrefix', '/api'], headers: [['a', '1'], ['b', '2']] }, { created: T2 }),
      ],
      req: { path: '/api', headers: ['a', '1', 'b', '2'] }, want: 'ns/two/rule0',
    },
    {
      desc: 'more header matches beat more query matches',
      routes: [
        simple('ns/query', { path: ['PathPrefix', '/api'], query: [['q', '1'], ['r', '2']] }, { created: T1 }),
        simple('ns/header', { path: ['PathPrefix', '/api'], headers: [['a', '1']] }, { created: T2 }),
      ],
      req: { path: '/api', query: 'q=1&r=2', headers: ['a', '1'] }, want: 'ns/header/rule0',
    },
    {
      desc: 'more query param matches win',
      routes: [
        simple('ns/one', { path: ['PathPrefix', '/api'], query: [['q', '1']] }, { created: T1 }),
        simple('ns/two', { path: ['PathPrefix', '/api'], query: [['q', '1'], ['r', '2']] }, { created: T2 }),
      ],
      req: { path: '/api', query: 'r=2&q=1' }, want: 'ns/two/rule0',
    },
    {
      desc: 'tie: the oldest creationTimestamp wins over alphabetical order',
      routes: [simple('ns/a', { path: ['PathPrefix', '/api'] }, { created: T2 }), simple('ns/b', { path: ['PathPrefix', '/api'] }, { created: T1 })],
      req: { path: '/api' }, want: 'ns/b/rule0',
    },
    {
      desc: 'tie: same timestamp, alphabetical namespace/name wins (input order irrelevant)',
      routes: [simple('ns/b', { path: ['PathPrefix', '/api'] }, { created: T1 }), simple('ns/a', { path: ['PathPrefix', '/api'] }, { created: T1 })],
      req: { path: '/api' }, want: 'ns/a/rule0',
    },
    {
      desc: 'tie: namespace sorts before name (a/z before b/a)',
      routes: [simple('b/a', { path: ['PathPrefix', '/api'] }), simple('a/z', { path: ['PathPrefix', '/api'] })],
      req: { path: '/api' }, want: 'a/z/rule0',
    },
    {
      desc: 'tie: a route with a timestamp beats one without (absent = newest)',
      routes: [simple('ns/a', { path: ['PathPrefix', '/api'] }), simple('ns/b', { path: ['PathPrefix', '/api'] }, { created: T2 })],
      req: { path: '/api' }, want: 'ns/b/rule0',
    },
    {
      desc: 'tie within a route: the first rule in list order wins',
      routes: [route('ns/r', [rule([m({ path: ['PathPrefix', '/api'] })], { name: 'first' }), rule([m({ path: ['PathPrefix', '/api'] })], { name: 'second' })])],
      req: { path: '/api' }, want: 'ns/r/first',
    },
    {
      desc: 'within a route a more specific later rule still wins',
      routes: [route('ns/r', [rule([m({ path: ['PathPrefix', '/'] })]), rule([m({ path: ['PathPrefix', '/api'] })])])],
      req: { path: '/api/x' }, want: 'ns/r/rule1',
    },
  ]);
});

describe('route table: headers, query params and method', () => {
  const hdr = [simple('ns/h', { path: ['PathPrefix', '/'], headers: [['X-Env', 'canary']] })];
  const hre = [simple('ns/hre', { path: ['PathPrefix', '/'], headers: [['x-ver', 'v[0-9]', 'RegularExpression']] })];
  const q = [simple('ns/q', { path: ['PathPrefix', '/'], query: [['a', '1']] })];
  const qre = [simple('ns/qre', { path: ['PathPrefix', '/'], query: [['id', '[0-9]+', 'RegularExpression']] })];
  const get = [simple('ns/get', { path: ['PathPrefix', '/'], method: 'GET' })];
  table([
    { desc: 'header name is case-insensitive (config X-Env, request x-env)', routes: hdr, req: { path: '/', headers: ['x-env', 'canary'] }, want: 'ns/h/rule0' },
    { desc: 'header value is case-sensitive', routes: hdr, req: { path: '/', headers: ['x-env', 'Canary'] }, want: null },
    { desc: 'missing header does not match', routes: hdr, req: { path: '/', headers: ['x-other', 'canary'] }, want: null },
    { desc: 'repeated header: the first value is used (match)', routes: hdr, req: { path: '/', headers: ['x-env', 'canary', 'x-env', 'prod'] }, want: 'ns/h/rule0' },
    { desc: 'repeated header: the first value is used (no match)', routes: hdr, req: { path: '/', headers: ['x-env', 'prod', 'x-env', 'canary'] }, want: null },
    { desc: 'header regex full-matches the value', routes: hre, req: { path: '/', headers: ['x-ver', 'v2'] }, want: 'ns/hre/rule0' },
    { desc: 'header regex is anchored', routes: hre, req: { path: '/', headers: ['x-ver', 'v2-beta'] }, want: null },
    { desc: 'query exact match', routes: q, req: { path: '/', query: 'b=2&a=1' }, want: 'ns/q/rule0' },
    { desc: 'query: first occurrence is used (match)', routes: q, req: { path: '/', query: 'a=1&a=2' }, want: 'ns/q/rule0' },
    { desc: 'query: first occurrence is used (no match)', routes: q, req: { path: '/', query: 'a=2&a=1' }, want: null },
    { desc: 'query name is case-sensitive', routes: q, req: { path: '/', query: 'A=1' }, want: null },
    { desc: 'query name must match whole (xa=1 is not a=1)', routes: q, req: { path: '/', query: 'xa=1' }, want: null },
    { desc: 'query value must match whole (a=10 is not a=1)', routes: q, req: { path: '/', query: 'a=10' }, want: null },
    { desc: 'query value is compared raw, not percent-decoded', routes: q, req: { path: '/', query: 'a=%31' }, want: null },
    { desc: 'absent query does not match', routes: q, req: { path: '/', query: '' }, want: null },
    { desc: 'query regex full-matches the value', routes: qre, req: { path: '/', query: 'x=&id=42' }, want: 'ns/qre/rule0' },
    { desc: 'query regex is anchored', routes: qre, req: { path: '/', query: 'id=42a' }, want: null },
    { desc: 'method matches exactly', routes: get, req: { path: '/', method: 'GET' }, want: 'ns/get/rule0' },
    { desc: 'method is case-sensitive', routes: get, req: { path: '/', method: 'get' }, want: null },
    { desc: 'another method does not match', routes: get, req: { path: '/', method: 'HEAD' }, want: null },
  ]);
});

describe('route table: hostnames', () => {
  const exact = [simple('ns/api', {}, { hostnames: ['api.example.com'] })];
  const wild = [simple('ns/wild', {}, { hostnames: ['*.example.com'] })];
  table([
    { desc: 'exact hostname', routes: exact, req: { host: 'api.example.com', path: '/' }, want: 'ns/api/rule0' },
    { desc: 'host compare is case-insensitive', routes: exact, req: { host: 'API.Example.COM', path: '/' }, want: 'ns/api/rule0' },
    { desc: 'port is stripped', routes: exact, req: { host: 'api.example.com:8080', path: '/' }, want: 'ns/api/rule0' },
    { desc: 'trailing dot is ignored', routes: exact, req: { host: 'api.example.com.', path: '/' }, want: 'ns/api/rule0' },
    { desc: 'trailing dot and port together', routes: exact, req: { host: 'API.example.com.:443', path: '/' }, want: 'ns/api/rule0' },
    { desc: 'another host does not match', routes: exact, req: { host: 'www.example.com', path: '/' }, want: null },
    { desc: 'a longer host does not match an exact name', routes: exact, req: { host: 'x.api.example.com', path: '/' }, want: null },
    {
      desc: 'route hostnames with upper case and a trailing dot are normalized',
      routes: [simple('ns/n', {}, { hostnames: ['API.Example.com.'] })], req: { host: 'api.example.com', path: '/' }, want: 'ns/n/rule0',
    },
    { desc: 'wildcard matches one label', routes: wild, req: { host: 'a.example.com', path: '/' }, want: 'ns/wild/rule0' },
    { desc: 'wildcard matches several labels', routes: wild, req: { host: 'a.b.c.example.com', path: '/' }, want: 'ns/wild/rule0' },
    { desc: 'wildcard is case-insensitive and ignores the port', routes: wild, req: { host: 'A.EXAMPLE.com:80', path: '/' }, want: 'ns/wild/rule0' },
    { desc: 'wildcard does not match the apex', routes: wild, req: { host: 'example.com', path: '/' }, want: null },
    { desc: 'wildcard does not match an empty label (.example.com)', routes: wild, req: { host: '.example.com', path: '/' }, want: null },
    { desc: 'wildcard needs a label boundary (badexample.com)', routes: wild, req: { host: 'badexample.com', path: '/' }, want: null },
    { desc: 'wildcard does not match another domain', routes: wild, req: { host: 'a.example.org', path: '/' }, want: null },
    {
      desc: 'exact hostname beats wildcard even when the wildcard route has an Exact path',
      routes: [simple('ns/wild', { path: ['Exact', '/x'] }, { hostnames: ['*.example.com'], created: T1 }), simple('ns/api', {}, { hostnames: ['api.example.com'], created: T2 })],
      req: { host: 'api.example.com', path: '/x' }, want: 'ns/api/rule0',
    },
    {
      desc: 'longer wildcard beats shorter wildcard',
      routes: [simple('ns/short', {}, { hostnames: ['*.example.com'] }), simple('ns/long', {}, { hostnames: ['*.b.example.com'] })],
      req: { host: 'x.b.example.com', path: '/' }, want: 'ns/long/rule0',
    },
    {
      desc: 'shorter wildcard still matches hosts outside the longer one',
      routes: [simple('ns/short', {}, { hostnames: ['*.example.com'] }), simple('ns/long', {}, { hostnames: ['*.b.example.com'] })],
      req: { host: 'x.c.example.com', path: '/' }, want: 'ns/short/rule0',
    },
    {
      desc: 'wildcard beats a route without hostnames',
      routes: [simple('ns/any', { path: ['Exact', '/x'] }, { created: T1 }), simple('ns/wild', {}, { hostnames: ['*.example.com'], created: T2 })],
      req: { host: 'a.example.com', path: '/x' }, want: 'ns/wild/rule0',
    },
    {
      desc: 'falls through to a wildcard route when no rule of the exact host matches',
      routes: [simple('ns/api', { path: ['PathPrefix', '/foo'] }, { hostnames: ['api.example.com'] }), simple('ns/wild', { path: ['PathPrefix', '/bar'] }, { hostnames: ['*.example.com'] })],
      req: { host: 'api.example.com', path: '/bar' }, want: 'ns/wild/rule0',
    },
    {
      desc: 'falls through to a route without hostnames last',
      routes: [simple('ns/api', { path: ['PathPrefix', '/foo'] }, { hostnames: ['api.example.com'] }), simple('ns/any', { path: ['PathPrefix', '/'] })],
      req: { host: 'api.example.com', path: '/bar' }, want: 'ns/any/rule0',
    },
    {
      desc: 'a route with several hostnames answers each of them',
      routes: [simple('ns/multi', {}, { hostnames: ['a.com', '*.b.com'] })], req: { host: 'x.b.com', path: '/' }, want: 'ns/multi/rule0',
    },
    { desc: 'no hostnames matches any host', routes: [simple('ns/any', {})], req: { host: 'whatever.test:1', path: '/' }, want: 'ns/any/rule0' },
    { desc: 'no hostnames matches a bracketed IPv6 host with port', routes: [simple('ns/any', {})], req: { host: '[::1]:8080', path: '/' }, want: 'ns/any/rule0' },
    { desc: 'no hostnames matches an empty host', routes: [simple('ns/any', {})], req: { host: '', path: '/' }, want: 'ns/any/rule0' },
    { desc: 'IPv6 host does not match a hostname route', routes: exact, req: { host: '[::1]:443', path: '/' }, want: null },
    { desc: 'empty route list matches nothing', routes: [], req: { path: '/' }, want: null },
  ]);
});

describe('route table: MatchedRule and size', () => {
  it('precomputes names and label', () => {
    const t = compileRouteTable([route('ns/r', [rule([m({ path: ['Exact', '/a'] })]), rule([m({ path: ['Exact', '/b'] })], { name: 'named' })])]);
    const a = t.match('h', 'GET', '/a', '', []);
    const b = t.match('h', 'GET', '/b', '', []);
    assert.deepEqual([a?.routeName, a?.ruleName, a?.ruleIndex, a?.label], ['ns/r', undefined, 0, 'ns/r/rule0']);
    assert.deepEqual([b?.routeName, b?.ruleName, b?.ruleIndex, b?.label], ['ns/r', 'named', 1, 'ns/r/named']);
  });
  it('returns the same object for every match of a rule', () => {
    const t = compileRouteTable([route('ns/r', [rule([m({ path: ['Exact', '/a'] }), m({ path: ['PathPrefix', '/b'] })])], { hostnames: ['x.com', '*.y.com'] })]);
    const a = t.match('x.com', 'GET', '/a', '', []);
    assert.ok(a !== null);
    assert.equal(t.match('x.com', 'GET', '/b/c', '', []), a);
    assert.equal(t.match('q.y.com', 'GET', '/a', '', []), a);
  });
  it('size counts rules × matches (default match counts once), not hostnames', () => {
    const t = compileRouteTable([
      route('ns/a', [rule([m(), m({ path: ['Exact', '/x'] })]), rule([])], { hostnames: ['a.com', 'b.com'] }),
      simple('ns/b', { path: ['Exact', '/y'] }),
    ]);
    assert.equal(t.size, 4);
  });
});

describe('route table: weighted backend pick', () => {
  const A = { backend: 'A', weight: 1 };
  const B = { backend: 'B', weight: 3 };
  const Z = { backend: 'Z', weight: 0 };
  const pick = (backends: BackendRef[]) =>
    compileRouteTable([route('ns/w', [rule([m()], { backends })])]).match('h', 'GET', '/', '', [])!;

  it('weights 1:3 over 4000 picks give exactly 1000/3000, interleaved', () => {
    const r = pick([A, B]);
    const counts = new Map<string | null, number>();
    const seq: string[] = [];
    for (let i = 0; i < 4000; i++) {
      const b = r.pickBackend()!.backend;
      counts.set(b, (counts.get(b) ?? 0) + 1);
      if (i < 8) seq.push(b!);
    }
    assert.equal(counts.get('A'), 1000);
    assert.equal(counts.get('B'), 3000);
    assert.deepEqual(seq, ['B', 'A', 'B', 'B', 'B', 'A', 'B', 'B']); // smooth: never A A, never 3 B's in a row
  });
  it('weight 0 is removed from backendRefs and never picked', () => {
    const r = pick([Z, A, Z]);
    assert.deepEqual(r.backendRefs.map((b) => b.backend), ['A']);
    for (let i = 0; i < 100; i++) assert.equal(r.pickBackend()!.backend, 'A');
  });
  it('weight 0 among weighted refs is never picked', () => {
    const r = pick([A, Z, B]);
    const seen = new Set<string | null>();
    for (let i = 0; i < 400; i++) seen.add(r.pickBackend()!.backend);
    assert.deepEqual([...seen].sort(), ['A', 'B']);
  });
  it('all weights 0 → empty backendRefs and pickBackend() is null', () => {
    const r = pick([Z, { backend: 'Y', weight: 0 }]);
    assert.deepEqual(r.backendRefs, []);
    assert.equal(r.pickBackend(), null);
  });
  it('no backendRefs → pickBackend() is null', () => {
    assert.equal(pick([]).pickBackend(), null);
  });
  it('an unresolved ref (backend null) is still picked by weight (the proxy answers 500)', () => {
    const r = pick([{ backend: null, weight: 1, invalidReason: 'Service ns/x not found' }]);
    assert.equal(r.pickBackend()?.invalidReason, 'Service ns/x not found');
  });
  it('weights 2:1:1 over 400 picks give exactly 200/100/100', () => {
    const r = pick([{ backend: 'P', weight: 2 }, { backend: 'Q', weight: 1 }, { backend: 'R', weight: 1 }]);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      const b = r.pickBackend()!.backend!;
      counts[b] = (counts[b] ?? 0) + 1;
    }
    assert.deepEqual(counts, { P: 200, Q: 100, R: 100 });
  });
});

describe('route table: 10,000 routes', () => {
  const N = 10_000;
  const routes: Route[] = [];
  for (let i = 0; i < N; i++) {
    routes.push(route(`ns/svc-${i}`, [
      rule([m({ path: ['PathPrefix', `/svc-${i}/`] })], { name: 'prefix' }),
      rule([m({ path: ['Exact', `/svc-${i}/healthz`] }), m({ path: ['Exact', `/svc-${i}/ready`] })], { name: 'health' }),
    ], { hostnames: i % 2 === 0 ? ['api.example.com'] : ['*.example.com'] }));
  }
  const t = compileRouteTable(routes);
  it('compiles every rule × match', () => {
    assert.equal(t.size, N * 3);
  });
  it('every route answers its own prefix and exact paths', () => {
    for (let i = 0; i < N; i++) {
      const host = i % 2 === 0 ? 'api.example.com' : 'api.example.com:8443';
      assert.equal(t.match(host, 'GET', `/svc-${i}/items/${i}`, '', [])?.label, `ns/svc-${i}/prefix`);
      assert.equal(t.match(host, 'GET', `/svc-${i}/healthz`, '', [])?.label, `ns/svc-${i}/health`);
      assert.equal(t.match(host, 'GET', `/svc-${i}/ready`, '', [])?.label, `ns/svc-${i}/health`);
    }
  });
  it('near misses do not match', () => {
    assert.equal(t.match('api.example.com', 'GET', '/svc-99999/x', '', []), null);
    assert.equal(t.match('api.example.com', 'GET', '/svc-12x/x', '', []), null);
    assert.equal(t.match('other.test', 'GET', '/svc-1/x', '', []), null);
  });
  it('odd routes (wildcard) answer other subdomains, even ones (exact host) do not', () => {
    assert.equal(t.match('a.b.example.com', 'GET', '/svc-9999/x', '', [])?.label, 'ns/svc-9999/prefix');
    assert.equal(t.match('a.b.example.com', 'GET', '/svc-9998/x', '', []), null);
  });
  it('agrees with the linear reference on a sample', () => {
    const ref = createLinearRouteTable(routes);
    for (let i = 0; i < N; i += 997) {
      for (const path of [`/svc-${i}/a`, `/svc-${i}/healthz`, `/svc-${i}`, `/svc-${i}x`]) {
        assert.equal(t.match('api.example.com', 'GET', path, '', [])?.label ?? null, ref.match('api.example.com', 'GET', path, '', [])?.label ?? null, path);
      }
    }
  });
});
