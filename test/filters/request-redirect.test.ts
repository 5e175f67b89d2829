// RequestRedirect: Location construction with the spec's port rules, status codes, config checks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkRequestRedirect, createRequestRedirect, type RequestRedirectSpec } from '../../src/filters/request-redirect/request-redirect';
import { freq, prefixRule } from './helpers';

const spec = (s: Partial<RequestRedirectSpec>): RequestRedirectSpec => ({ type: 'RequestRedirect', statusCode: 302, ...s });

describe('RequestRedirect: Location', () => {
  const cases: { desc: string; spec: RequestRedirectSpec; req: Parameters<typeof freq>[0]; prefix?: string; status?: number; location: string }[] = [
    { desc: 'hostname only, listener on 80: no port', spec: spec({ hostname: 'example.org' }), req: { host: 'gw', path: '/a', listenerPort: 80 }, location: 'http://example.org/a' },
    { desc: 'scheme nil, port nil, listener 8080: the listener port', spec: spec({ hostname: 'example.org' }), req: { host: 'gw:8080', listenerPort: 8080 }, location: 'http://example.org:8080/' },
    { desc: 'scheme nil, port 80 given: dropped', spec: spec({ hostname: 'example.org', port: 80 }), req: { listenerPort: 8080 }, location: 'http://example.org/' },
    { desc: 'scheme https, port nil: 443, dropped', spec: spec({ scheme: 'https' }), req: { host: 'example.org:8080', listenerPort: 8080 }, location: 'https://example.org/' },
    { desc: 'scheme https, port 443: dropped', spec: spec({ scheme: 'https', port: 443 }), req: { host: 'example.org' }, location: 'https://example.org/' },
    { desc: 'scheme https, port 8443: kept', spec: spec({ scheme: 'https', port: 8443 }), req: { host: 'example.org' }, location: 'https://example.org:8443/' },
    { desc: 'scheme http on an https request, port nil: 80, dropped', spec: spec({ scheme: 'http' }), req: { scheme: 'https', host: 'example.org', listenerPort: 443 }, location: 'http://example.org/' },
    { desc: 'port only: listener scheme kept', spec: spec({ port: 8083 }), req: { host: 'example.org' }, location: 'http://example.org:8083/' },
    { desc: 'listener port unknown (0): the Host port', spec: spec({ hostname: 'example.org' }), req: { host: '127.0.0.1:41234' }, location: 'http://example.org:41234/' },
    { desc: 'listener port unknown, Host without port: the scheme default', spec: spec({ path: { type: 'ReplaceFullPath', value: '/x' } }), req: { host: 'Example.ORG' }, location: 'http://example.org/x' },
    { desc: 'IPv6 Host keeps its brackets', spec: spec({ port: 9000 }), req: { host: '[::1]:8080' }, location: 'http://[::1]:9000/' },
    { desc: 'query kept', spec: spec({ hostname: 'h.example' }), req: { host: 'a:80', path: '/p', query: 'x=1&y=2', listenerPort: 80 }, location: 'http://h.example/p?x=1&y=2' },
    { desc: 'ReplacePrefixMatch', spec: spec({ path: { type: 'ReplacePrefixMatch', value: '/replacement-prefix' } }), prefix: '/original-prefix', req: { host: 'gw', path: '/original-prefix/lemon', listenerPort: 80 }, location: 'http://gw/replacement-prefix/lemon' },
    { desc: 'ReplacePrefixMatch of "/" on the full path', spec: spec({ path: { type: 'ReplacePrefixMatch', value: '/' } }), prefix: '/strip', req: { host: 'gw', path: '/strip', listenerPort: 80 }, location: 'http://gw/' },
    { desc: '301', spec: spec({ hostname: 'example.org', statusCode: 301 }), req: { listenerPort: 80 }, status: 301, location: 'http://example.org/' },
    { desc: '308', spec: spec({ scheme: 'https', hostname: 'secure.example', statusCode: 308 }), req: {}, status: 308, location: 'https://secure.example/' },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const req = freq(c.req);
      const r = createRequestRedirect(c.spec, prefixRule(c.prefix ?? '/')).onRequest!(req);
      assert.equal(r.kind, 'respond');
      if (r.kind !== 'respond') return;
      assert.equal(r.status, c.status ?? 302);
      assert.deepEqual(r.headers, ['location', c.location]);
      assert.equal(r.body, '');
      assert.equal(req.local, true);
    });
  }
});

describe('RequestRedirect: config checks', () => {
  const cases: { desc: string; spec: RequestRedirectSpec; want: RegExp | null }[] = [
    { desc: 'valid', spec: spec({ scheme: 'https', hostname: 'a.example', port: 8443, statusCode: 308 }), want: null },
    { desc: 'status 304', spec: spec({ statusCode: 304 }), want: /expected one of: 301, 302, 303, 307, 308/ },
    { desc: 'scheme ftp', spec: spec({ scheme: 'ftp' as 'http' }), want: /http, https/ },
    { desc: 'wildcard hostname', spec: spec({ hostname: '*.a.example' }), want: /precise hostname/ },
    { desc: 'port 0', spec: spec({ port: 0 }), want: /1\.\.65535/ },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const p = checkRequestRedirect(c.spec, prefixRule('/'));
      if (c.want === null) assert.deepEqual(p, []);
      else assert.match(p.map((x) => x.what).join('\n'), c.want);
    });
  }
});
