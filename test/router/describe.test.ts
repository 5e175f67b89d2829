// The readable route table (describeRoutes) and the "why this rule" explanation
// (explainRequest): row order is the lookup order, and the explanation agrees with the table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeRoutes, explainRequest, matchText, type TestRequest } from '../../src/router/describe';
import { m, route, rule, simple } from './fixtures';

function get(path: string, host = 'example.com', headers: string[] = [], method = 'GET', query = ''): TestRequest {
  return { host, method, path, query, headers };
}

describe('describeRoutes', () => {
  it('lists rows in lookup order: exact host, wildcards longest first, any host; each by precedence', () => {
    const routes = [
      simple('ns/any-root', { path: ['PathPrefix', '/'] }),
      simple('ns/any-api', { path: ['PathPrefix', '/api'], method: 'GET' }),
      simple('ns/wild', { path: ['Exact', '/w'] }, { hostnames: ['*.example.com'] }),
      simple('ns/wild-deep', { path: ['PathPrefix', '/'] }, { hostnames: ['*.a.example.com'] }),
      simple('ns/exact', { path: ['RegularExpression', '/x[0-9]+'] }, { hostnames: ['API.example.com.', 'api.example.com'] }),
      simple('ns/exact-path', { path: ['Exact', '/health'] }, { hostnames: ['api.example.com'] }),
    ];
    const rows = describeRoutes(routes);
    assert.deepStrictEqual(rows.map((r) => [r.hostname, r.rule]), [
      ['api.example.com', 'ns/exact-path/rule0'],
      ['api.example.com', 'ns/exact/rule0'], // two spellings of one hostname give one row
      ['*.a.example.com', 'ns/wild-deep/rule0'],
      ['*.example.com', 'ns/wild/rule0'],
      ['*', 'ns/any-api/rule0'],
      ['*', 'ns/any-root/rule0'],
    ]);
    assert.equal(rows[4].match, 'PathPrefix /api method=GET');
  });

  it('shows named rules, every backend with its weight, and the policy', () => {
    const r = route('ns/r', [
      { ...rule([m({ path: ['PathPrefix', '/a'] })], { name: 'canary', backends: [{ backend: 'x', weight: 3 }, { backend: null, weight: 1, invalidReason: 'BackendNotFound' }] }), timeouts: { requestMs: 5000, backendRequestMs: 1000 }, retry: { attempts: 2, codes: [502, 503], backoffMs: 100 } },
      rule([]),
    ]);
    const rows = describeRoutes([r]);
    assert.deepStrictEqual(rows[0], {
      hostname: '*',
      match: 'PathPrefix /a',
      route: 'ns/r',
      rule: 'ns/r/canary',
      backends: [{ backend: 'x', weight: 3 }, { backend: null, weight: 1, invalid: 'BackendNotFound' }],
      policy: 'request=5s backendRequest=1s retry=2x[502,503]/100ms',
    });
    assert.equal(rows[1].match, 'PathPrefix /', 'a rule without matches has the default match');
    assert.equal(rows[1].policy, undefined);
  });

  it('matchText spells out every condition', () => {
    assert.equal(
      matchText(m({ path: ['Exact', '/p'], method: 'PUT', headers: [['X-A', '1'], ['x-b', '^v', 'RegularExpression']], query: [['q', '2']] })),
      'Exact /p method=PUT header x-a=1 header x-b~^v query q=2',
    );
  });
});

describe('explainRequest', () => {
  const routes = [
    route('ns/api', [
      rule([m({ path: ['PathPrefix', '/api'], headers: [['x-env', 'canary']] })], { name: 'canary' }),
      rule([m({ path: ['PathPrefix', '/api'] })], { name: 'stable' }),
    ], { hostnames: ['api.example.com'] }),
    simple('ns/fallback', { path: ['PathPrefix', '/'] }),
  ];

  const cases: { desc: string; req: TestRequest; winner: string | null; because?: RegExp[]; skipped?: RegExp[] }[] = [
    {
      desc: 'header match wins, with its reasons',
      req: get('/api/x', 'API.example.com:8080', ['x-env', 'canary']),
      winner: 'ns/api/canary',
      because: [/^hostname: api\.example\.com is api\.example\.com$/, /^path: \/api\/x is under prefix \/api$/, /^header: x-env: canary$/],
    },
    {
      desc: 'a header value mismatch falls to the next rule, and says why',
      req: get('/api/x', 'api.example.com', ['x-env', 'prod']),
      winner: 'ns/api/stable',
      skipped: [/ns\/api\/canary .*header x-env: "prod" is not "canary"/],
    },
    {
      desc: 'a path outside the host\'s rules falls through to the any-host route',
      req: get('/apix', 'api.example.com'),
      winner: 'ns/fallback/rule0',
      because: [/^hostname: route accepts any host/],
      skipped: [/canary.*path \/apix is not under prefix \/api/, /stable.*path \/apix is not under prefix \/api/],
    },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const x = explainRequest(routes, c.req);
      assert.equal(x.winner?.rule ?? null, c.winner);
      for (const re of c.because ?? []) assert.ok(x.because.some((b) => re.test(b)), `${re} in\n${x.because.join('\n')}`);
      const skipped = x.skipped.map((s) => `${s.entry.rule} ${s.entry.match}: ${s.why}`);
      for (const re of c.skipped ?? []) assert.ok(skipped.some((s) => re.test(s)), `${re} in\n${skipped.join('\n')}`);
    });
  }

  it('no route: winner null, every row tried with its reason', () => {
    const only = [simple('ns/a', { path: ['Exact', '/a'], method: 'POST' }), simple('ns/b', { path: ['PathPrefix', '/b'], query: [['v', '1']] })];
    const x = explainRequest(only, get('/a', 'h', [], 'GET'));
    assert.equal(x.winner, null);
    assert.deepStrictEqual(x.skipped.map((s) => s.why), ['method GET is not POST', 'path /a is not under prefix /b']);
    const q = explainRequest(only, get('/b/c', 'h', [], 'GET', 'v=2'));
    assert.deepStrictEqual(q.skipped.map((s) => s.why), ['path /b/c is not exactly /a', 'query v="2" is not "1"']);
  });
});
