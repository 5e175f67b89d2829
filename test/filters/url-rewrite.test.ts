// URLRewrite and the shared HTTPPathModifier: the spec's ReplacePrefixMatch table and its edge cases.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteRule } from '../../src/config/model';
import { checkPathModifier, createPathModifier } from '../../src/filters/path-modifier';
import { checkURLRewrite, createURLRewrite } from '../../src/filters/url-rewrite/url-rewrite';
import { freq, prefixRule } from './helpers';

describe('ReplacePrefixMatch (apis/v1/httproute_types.go table)', () => {
  const cases: [path: string, prefix: string, replace: string, want: string][] = [
    ['/foo/bar', '/foo', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo', '/xyz/', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz/', '/xyz/bar'],
    ['/foo', '/foo', '/xyz', '/xyz'],
    ['/foo/', '/foo', '/xyz', '/xyz/'],
    ['/foo/bar', '/foo', '', '/bar'],
    ['/foo/', '/foo', '', '/'],
    ['/foo', '/foo', '', '/'],
    ['/foo/', '/foo', '/', '/'],
    ['/foo', '/foo', '/', '/'],
    // the edge cases: "/" replacing the prefix, and the full path
    ['/prefix/x', '/prefix', '/', '/x'],
    ['/prefix', '/prefix', '/', '/'],
    ['/prefix/one/two', '/prefix/one', '/one', '/one/two'],
    // prefix "/" matches everything
    ['/a/b', '/', '/xyz', '/xyz/a/b'],
    // element-wise: a path the prefix does not cover is left alone
    ['/foobar', '/foo', '/xyz', '/foobar'],
  ];
  for (const [path, prefix, replace, want] of cases) {
    it(`${path} | ${prefix} | ${JSON.stringify(replace)} → ${want}`, () => {
      const fn = createPathModifier({ type: 'ReplacePrefixMatch', value: replace }, prefixRule(prefix));
      assert.equal(fn(path), want);
    });
  }
  it('ReplaceFullPath replaces the whole path', () => {
    assert.equal(createPathModifier({ type: 'ReplaceFullPath', value: '/full' }, prefixRule('/a'))('/a/b/c'), '/full');
  });
});

describe('path modifier: config checks', () => {
  const exact: RouteRule = { matches: [{ path: { type: 'Exact', value: '/a' }, headers: [], queryParams: [] }], backendRefs: [] };
  const two: RouteRule = { matches: [...prefixRule('/a').matches, ...prefixRule('/b').matches], backendRefs: [] };
  const cases: { desc: string; rule: RouteRule; type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; value: string; want: RegExp | null }[] = [
    { desc: 'prefix with one PathPrefix match', rule: prefixRule('/a'), type: 'ReplacePrefixMatch', value: '/b', want: null },
    { desc: 'empty prefix replacement is allowed', rule: prefixRule('/a'), type: 'ReplacePrefixMatch', value: '', want: null },
    { desc: 'prefix with an Exact match', rule: exact, type: 'ReplacePrefixMatch', value: '/b', want: /exactly one match, of type PathPrefix/ },
    { desc: 'prefix with two matches', rule: two, type: 'ReplacePrefixMatch', value: '/b', want: /exactly one match/ },
    { desc: 'full path with two matches is fine', rule: two, type: 'ReplaceFullPath', value: '/b', want: null },
    { desc: 'full path without a leading slash', rule: prefixRule('/a'), type: 'ReplaceFullPath', value: 'b', want: /must start with "\/"/ },
    { desc: 'space in a path', rule: prefixRule('/a'), type: 'ReplaceFullPath', value: '/a b', want: /RFC 3986/ },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const p = checkPathModifier({ type: c.type, value: c.value }, c.rule, ['path']);
      if (c.want === null) assert.deepEqual(p, []);
      else assert.match(p.map((x) => x.what).join('\n'), c.want);
    });
  }
});

describe('URLRewrite', () => {
  it('rewrites hostname and prefix, keeps the query', () => {
    const req = freq({ host: 'gw.example:8080', path: '/api/v1/users', query: 'a=1' });
    const r = createURLRewrite({ type: 'URLRewrite', hostname: 'users.internal', path: { type: 'ReplacePrefixMatch', value: '/v1' } }, prefixRule('/api/v1')).onRequest!(req);
    assert.equal(r.kind, 'continue');
    assert.equal(req.host, 'users.internal');
    assert.equal(req.path, '/v1/users');
    assert.equal(req.query, 'a=1');
  });
  it('rejects a wildcard hostname', () => {
    assert.match(checkURLRewrite({ type: 'URLRewrite', hostname: '*.example.com' }, prefixRule('/'))[0].what, /precise hostname/);
  });
});
