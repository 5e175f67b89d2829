// The spec's rules across one filter list (src/filters/check.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HTTPFilter, RouteRule } from '../../src/config/model';
import { checkFilterList } from '../../src/filters/check';
import { prefixRule } from './helpers';

const hdr = (type: 'RequestHeaderModifier' | 'ResponseHeaderModifier'): HTTPFilter => ({ type, modifier: { set: [{ name: 'x', value: '1' }], add: [], remove: [] } });
const redirect: HTTPFilter = { type: 'RequestRedirect', statusCode: 302, hostname: 'a.example' };
const rewrite: HTTPFilter = { type: 'URLRewrite', hostname: 'b.example' };
const mirror: HTTPFilter = { type: 'RequestMirror', backend: 'm', percent: 100 };
const cors: HTTPFilter = { type: 'CORS', allowOrigins: ['*'], allowMethods: [], allowHeaders: [], exposeHeaders: [], allowCredentials: false, maxAge: 5 };

describe('filter list checks', () => {
  const cases: { desc: string; filters: HTTPFilter[]; rule?: RouteRule; level?: 'rule' | 'backendRef'; want: RegExp | null }[] = [
    { desc: 'one of each kind is fine', filters: [hdr('RequestHeaderModifier'), hdr('ResponseHeaderModifier'), rewrite, mirror, cors], want: null },
    { desc: 'several mirrors are fine', filters: [mirror, mirror, mirror], want: null },
    { desc: 'RequestHeaderModifier twice', filters: [hdr('RequestHeaderModifier'), hdr('RequestHeaderModifier')], want: /RequestHeaderModifier filter cannot be repeated/ },
    { desc: 'CORS twice', filters: [cors, cors], want: /CORS filter cannot be repeated/ },
    { desc: 'URLRewrite twice', filters: [rewrite, rewrite], want: /URLRewrite filter cannot be repeated/ },
    { desc: 'redirect with rewrite', filters: [redirect, rewrite], rule: prefixRule('/', 0), want: /RequestRedirect and URLRewrite cannot be used together/ },
    { desc: 'redirect with backendRefs on the rule', filters: [redirect], rule: prefixRule('/', 1), want: /must not be used together with backendRefs/ },
    { desc: 'redirect on a backendRef is allowed', filters: [redirect], rule: prefixRule('/', 1), level: 'backendRef', want: null },
    { desc: 'redirect without backendRefs', filters: [redirect], rule: prefixRule('/', 0), want: null },
    { desc: 'a bad filter inside the list is reported with its index', filters: [mirror, { type: 'RequestRedirect', statusCode: 399 }], rule: prefixRule('/', 0), want: /301, 302/ },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const p = checkFilterList(c.filters, c.rule ?? prefixRule('/'), c.level ?? 'rule');
      if (c.want === null) assert.deepEqual(p, []);
      else assert.match(p.map((x) => `[${x.index}] ${x.what}`).join('\n'), c.want);
    });
  }
  it('problems carry the index of the offending filter', () => {
    const p = checkFilterList([mirror, hdr('RequestHeaderModifier'), hdr('RequestHeaderModifier')], prefixRule('/'), 'rule');
    assert.equal(p.length, 1);
    assert.equal(p[0].index, 2);
  });
});
