// CORS: preflight answers, actual-request headers, origin wildcards, credentials rules, checks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkCORS, createCORS, type CORSSpec } from '../../src/filters/cors/cors';
import { freq, lines } from './helpers';

const cors = (s: Partial<CORSSpec>): CORSSpec => ({
  type: 'CORS', allowOrigins: [], allowMethods: [], allowHeaders: [], exposeHeaders: [], allowCredentials: false, maxAge: 5, ...s,
});
// The conformance suite's cors-1 route (conformance/tests/httproute-cors.yaml).
const cors1 = cors({
  allowOrigins: ['https://www.foo.com', 'https://*.bar.com'],
  allowMethods: ['GET', 'OPTIONS'],
  allowHeaders: ['x-header-1', 'x-header-2'],
  exposeHeaders: ['x-header-3', 'x-header-4'],
  allowCredentials: true,
  maxAge: 3600,
});

const preflight = (origin: string, method: string, extra: string[] = []): string[] => ['origin', origin, 'access-control-request-method', method, ...extra];

describe('CORS preflight', () => {
  const cases: { desc: string; spec: CORSSpec; headers: string[]; want: string[] }[] = [
    {
      desc: 'exact origin: every header, the configured lists',
      spec: cors1,
      headers: preflight('https://www.foo.com', 'GET', ['access-control-request-headers', 'x-header-1, x-header-2']),
      want: ['access-control-allow-origin: https://www.foo.com', 'vary: origin', 'access-control-allow-credentials: true', 'access-control-allow-methods: GET, OPTIONS',
        'access-control-allow-headers: x-header-1, x-header-2', 'access-control-expose-headers: x-header-3, x-header-4', 'access-control-max-age: 3600'],
    },
    { desc: 'wildcard origin covers one label', spec: cors1, headers: preflight('https://www.bar.com', 'GET'), want: ['access-control-allow-origin: https://www.bar.com'] },
    { desc: 'wildcard origin covers several labels', spec: cors1, headers: preflight('https://xpto.www.bar.com', 'GET'), want: ['access-control-allow-origin: https://xpto.www.bar.com'] },
    { desc: 'explicit default port matches', spec: cors1, headers: preflight('https://www.foo.com:443', 'GET'), want: ['access-control-allow-origin: https://www.foo.com:443'] },
    { desc: 'origin is case-insensitive', spec: cors1, headers: preflight('HTTPS://WWW.FOO.COM', 'GET'), want: ['access-control-allow-origin: HTTPS://WWW.FOO.COM'] },
    { desc: 'non-matching origin: no CORS header', spec: cors1, headers: preflight('https://foobar.com', 'GET'), want: [] },
    { desc: 'wrong scheme: no CORS header', spec: cors1, headers: preflight('http://www.foo.com', 'GET'), want: [] },
    { desc: 'wrong port: no CORS header', spec: cors1, headers: preflight('https://www.foo.com:8443', 'GET'), want: [] },
    { desc: 'the bare domain is not under the wildcard', spec: cors1, headers: preflight('https://bar.com', 'GET'), want: [] },
    {
      desc: 'allowMethods * without credentials: *',
      spec: cors({ allowOrigins: ['https://www.foo.com'], allowMethods: ['*'] }),
      headers: preflight('https://www.foo.com', 'POST'),
      want: ['access-control-allow-origin: https://www.foo.com', 'vary: origin', 'access-control-allow-methods: *', 'access-control-max-age: 5'],
    },
    {
      desc: 'everything * without credentials: * everywhere',
      spec: cors({ allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: ['*'], exposeHeaders: ['*'] }),
      headers: preflight('https://foobar.com:12345', 'PUT', ['access-control-request-headers', 'x-a']),
      want: ['access-control-allow-origin: *', 'access-control-allow-methods: *', 'access-control-allow-headers: *', 'access-control-expose-headers: *', 'access-control-max-age: 5'],
    },
    {
      desc: 'everything * with credentials: the request is echoed, * never sent',
      spec: cors({ allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: ['*'], exposeHeaders: ['*', 'x-e'], allowCredentials: true }),
      headers: preflight('https://other.foo.com', 'PUT', ['access-control-request-headers', 'x-header-1, x-header-2']),
      want: ['access-control-allow-origin: https://other.foo.com', 'vary: origin', 'access-control-allow-credentials: true', 'access-control-allow-methods: PUT',
        'access-control-allow-headers: x-header-1, x-header-2', 'access-control-expose-headers: x-e', 'access-control-max-age: 5'],
    },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const req = freq({ method: 'OPTIONS', headers: c.headers });
      const r = createCORS(c.spec).onRequest!(req);
      assert.equal(r.kind, 'respond');
      if (r.kind !== 'respond') return;
      assert.equal(r.status, 200);
      assert.equal(r.body, '');
      const got = lines(r.headers);
      if (c.want.length === 0) assert.deepEqual(got, []);
      else for (const w of c.want) assert.ok(got.includes(w), `${w} in ${JSON.stringify(got)}`);
      if (c.want.length > 1) assert.deepEqual(got, c.want);
    });
  }

  it('an OPTIONS without Access-Control-Request-Method is forwarded', () => {
    assert.equal(createCORS(cors1).onRequest!(freq({ method: 'OPTIONS', headers: ['origin', 'https://www.foo.com'] })).kind, 'continue');
  });
  it('a GET is forwarded', () => {
    assert.equal(createCORS(cors1).onRequest!(freq({ headers: preflight('https://www.foo.com', 'GET') })).kind, 'continue');
  });
});

describe('CORS actual request (response phase)', () => {
  const cases: { desc: string; spec: CORSSpec; origin: string | null; upstream: string[]; want: string[] }[] = [
    { desc: 'allowed origin: origin, credentials, expose', spec: cors1, origin: 'https://www.foo.com', upstream: ['content-type', 'text/plain'],
      want: ['content-type: text/plain', 'access-control-allow-origin: https://www.foo.com', 'vary: origin', 'access-control-allow-credentials: true', 'access-control-expose-headers: x-header-3, x-header-4'] },
    { desc: 'upstream CORS headers are replaced, never doubled', spec: cors({ allowOrigins: ['*'] }), origin: 'https://a.example', upstream: ['access-control-allow-origin', 'https://evil.example'],
      want: ['access-control-allow-origin: *'] },
    { desc: 'not allowed: response untouched', spec: cors1, origin: 'https://foobar.com', upstream: ['a', '1'], want: ['a: 1'] },
    { desc: 'no Origin: response untouched', spec: cors1, origin: null, upstream: ['a', '1'], want: ['a: 1'] },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const h = c.upstream.slice();
      createCORS(c.spec).onResponse!(200, h, freq({ headers: c.origin === null ? [] : ['origin', c.origin] }));
      assert.deepEqual(lines(h), c.want);
    });
  }
});

describe('CORS config checks', () => {
  const cases: { desc: string; spec: CORSSpec; want: RegExp | null }[] = [
    { desc: 'conformance cors-1 is valid', spec: cors1, want: null },
    { desc: '* alongside other origins', spec: cors({ allowOrigins: ['*', 'https://a.example'] }), want: /cannot be listed alongside/ },
    { desc: 'origin without scheme', spec: cors({ allowOrigins: ['www.foo.com'] }), want: /expected "\*" or an origin/ },
    { desc: 'origin with a path', spec: cors({ allowOrigins: ['https://a.example/path'] }), want: /expected "\*" or an origin/ },
    { desc: 'lower-case method', spec: cors({ allowMethods: ['get'] }), want: /one of: GET/ },
    { desc: '* alongside other methods', spec: cors({ allowMethods: ['*', 'GET'] }), want: /cannot be listed alongside/ },
    { desc: 'bad header name', spec: cors({ allowHeaders: ['x y'] }), want: /invalid header name/ },
    { desc: 'maxAge 0', spec: cors({ maxAge: 0 }), want: />= 1/ },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const p = checkCORS(c.spec);
      if (c.want === null) assert.deepEqual(p, []);
      else assert.match(p.map((x) => x.what).join('\n'), c.want);
    });
  }
});
