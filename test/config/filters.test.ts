// HTTPRoute filters from both config formats (src/config/filters.ts): the model they compile to,
// the spec's validation rules reported as file:line: field (the route dropped, the rest loaded),
// mirror backendRef resolution and unsupported filter types.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig, validateConfig } from '../../src/config';
import type { GatewayConfig, RouteRule } from '../../src/config';
import { writeConfig } from '../helpers/gateway';

const HEAD = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: gm }
spec: { controllerName: gatemesh.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: app }
spec:
  gatewayClassName: gm
  listeners: [{ name: web, port: 0, protocol: HTTP }]
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: app }
spec: { ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: shadow, namespace: other }
spec: { ports: [{ port: 81 }] }
---
`;

/** An HTTPRoute `app/<name>` with the given rules YAML (indented under `rules:`). */
const route = (name: string, rules: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: app }
spec:
  parentRefs: [{ name: gw }]
  rules:
${rules}`;

function rulesOf(config: GatewayConfig, name: string): RouteRule[] {
  const r = config.listeners[0].routes.find((x) => x.name === name);
  assert.ok(r, `route ${name} loaded (have ${config.listeners[0].routes.map((x) => x.name).join(', ')})`);
  return r.rules;
}

describe('Gateway API filters → model', () => {
  it('compiles every filter type, on rules and backendRefs', () => {
    const file = writeConfig(HEAD + route('all', `    - matches: [{ path: { type: PathPrefix, value: /api } }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{ name: X-Set, value: s }]
            add: [{ name: x-add, value: a }]
            remove: [x-rm]
        - type: ResponseHeaderModifier
          responseHeaderModifier: { add: [{ name: x-resp, value: r }] }
        - type: URLRewrite
          urlRewrite: { hostname: internal.example, path: { type: ReplacePrefixMatch, replacePrefixMatch: / } }
        - type: RequestMirror
          requestMirror: { backendRef: { name: echo, port: 80 }, fraction: { numerator: 1, denominator: 4 } }
        - type: RequestMirror
          requestMirror: { backendRef: { name: echo, port: 80 } }
        - type: CORS
          cors: { allowOrigins: ["https://*.example.com"], allowMethods: [GET], maxAge: 60 }
      backendRefs:
        - name: echo
          port: 80
          filters:
            - type: RequestHeaderModifier
              requestHeaderModifier: { set: [{ name: x-backend, value: echo }] }
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { scheme: https, port: 8443, path: { type: ReplaceFullPath, replaceFullPath: /new } }
`), 'routes.yaml');
    const { config } = loadConfig(file);
    const [api, old] = rulesOf(config, 'app/all');
    assert.deepStrictEqual(api.filters, [
      { type: 'RequestHeaderModifier', modifier: { set: [{ name: 'X-Set', value: 's' }], add: [{ name: 'x-add', value: 'a' }], remove: ['x-rm'] } },
      { type: 'ResponseHeaderModifier', modifier: { set: [], add: [{ name: 'x-resp', value: 'r' }], remove: [] } },
      { type: 'URLRewrite', hostname: 'internal.example', path: { type: 'ReplacePrefixMatch', value: '/' } },
      { type: 'RequestMirror', backend: 'app/echo:80', percent: 25 },
      { type: 'RequestMirror', backend: 'app/echo:80', percent: 100 },
      { type: 'CORS', allowOrigins: ['https://*.example.com'], allowMethods: ['GET'], allowHeaders: [], exposeHeaders: [], allowCredentials: false, maxAge: 60 },
    ]);
    assert.deepStrictEqual(api.backendRefs[0].filters, [{ type: 'RequestHeaderModifier', modifier: { set: [{ name: 'x-backend', value: 'echo' }], add: [], remove: [] } }]);
    assert.deepStrictEqual(old.filters, [{ type: 'RequestRedirect', statusCode: 302, scheme: 'https', port: 8443, path: { type: 'ReplaceFullPath', value: '/new' } }]);
    assert.deepStrictEqual(old.backendRefs, []);
    assert.deepStrictEqual(config.warnings, []);
  });

  it('resolves mirror backendRefs like backendRefs: a missing or ungranted Service drops only the mirror', () => {
    const ok = HEAD + route('m', `    - filters:
        - type: RequestMirror
          requestMirror: { backendRef: { name: nosuch, port: 80 } }
        - type: RequestMirror
          requestMirror: { backendRef: { name: shadow, namespace: other, port: 81 } }
      backendRefs: [{ name: echo, port: 80 }]
`);
    const file = writeConfig(ok, 'routes.yaml');
    const { config } = loadConfig(file);
    const [rule] = rulesOf(config, 'app/m');
    assert.deepStrictEqual(rule.filters!.map((f) => f.type === 'RequestMirror' && f.backend), [null, null]);
    const text = config.warnings.join('\n');
    assert.match(text, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: spec\\.rules\\[0\\]\\.filters\\[0\\]\\.requestMirror\\.backendRef: Service app/nosuch not found; the mirror is dropped \\(BackendNotFound\\)`));
    assert.match(text, /filters\[1\]\.requestMirror\.backendRef: Service other\/shadow is in another namespace .*; the mirror is dropped \(RefNotPermitted\)/);

    const granted = writeConfig(ok + `---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: g, namespace: other }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: app }]
  to: [{ group: "", kind: Service }]
`, 'routes.yaml');
    const after = loadConfig(granted).config;
    assert.deepStrictEqual(rulesOf(after, 'app/m')[0].filters!.map((f) => f.type === 'RequestMirror' && f.backend), [null, 'other/shadow:81']);
    assert.ok(after.backends['other/shadow:81'], 'the mirror backend is in the config');
  });

  it('ExtensionRef and unknown types are kept as Unresolved (requests get 500) with a warning', () => {
    const file = writeConfig(HEAD + route('ext', `    - filters:
        - type: ExtensionRef
          extensionRef: { group: example.net, kind: Thing, name: t }
      backendRefs: [{ name: echo, port: 80 }]
`), 'routes.yaml');
    const { config } = loadConfig(file);
    assert.equal(rulesOf(config, 'app/ext')[0].filters![0].type, 'Unresolved');
    assert.match(config.warnings.join('\n'), /spec\.rules\[0\]\.filters\[0\]\.type: filter type ExtensionRef is not supported .*requests on this rule get 500/);
  });
});

describe('Gateway API filter validation (route dropped, file:line: field)', () => {
  const cases: { desc: string; rules: string; line: number; field: string; what: RegExp }[] = [
    {
      desc: 'RequestHeaderModifier twice',
      rules: `    - filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { add: [{ name: a, value: b }] }
        - type: RequestHeaderModifier
          requestHeaderModifier: { add: [{ name: c, value: d }] }
      backendRefs: [{ name: echo, port: 80 }]
`,
      line: 10, field: 'spec.rules[0].filters[1].type', what: /RequestHeaderModifier filter cannot be repeated/,
    },
    {
      desc: 'RequestRedirect with URLRewrite',
      rules: `    - filters:
        - type: URLRewrite
          urlRewrite: { hostname: a.example }
        - type: RequestRedirect
          requestRedirect: { hostname: b.example }
`,
      line: 10, field: 'spec.rules[0].filters[1].type', what: /RequestRedirect and URLRewrite cannot be used together/,
    },
    {
      desc: 'RequestRedirect with backendRefs',
      rules: `    - filters:
        - type: RequestRedirect
          requestRedirect: { hostname: b.example }
      backendRefs: [{ name: echo, port: 80 }]
`,
      line: 8, field: 'spec.rules[0].filters[0].type', what: /must not be used together with backendRefs/,
    },
    {
      desc: 'ReplacePrefixMatch with two matches',
      rules: `    - matches: [{ path: { value: /a } }, { path: { value: /b } }]
      filters:
        - type: URLRewrite
          urlRewrite:
            path: { type: ReplacePrefixMatch, replacePrefixMatch: /c }
      backendRefs: [{ name: echo, port: 80 }]
`,
      line: 11, field: 'spec.rules[0].filters[0].urlRewrite.path.replacePrefixMatch', what: /exactly one match, of type PathPrefix/,
    },
    {
      desc: 'ReplacePrefixMatch with an Exact match',
      rules: `    - matches: [{ path: { type: Exact, value: /a } }]
      filters:
        - type: URLRewrite
          urlRewrite:
            path: { type: ReplacePrefixMatch, replacePrefixMatch: /c }
      backendRefs: [{ name: echo, port: 80 }]
`,
      line: 11, field: 'spec.rules[0].filters[0].urlRewrite.path.replacePrefixMatch', what: /of type Exact/,
    },
    {
      desc: 'one header name in set and remove (case-insensitive)',
      rules: `    - filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{ name: X-A, value: "1" }]
            remove: [x-a]
      backendRefs: [{ name: echo, port: 80 }]
`,
      line: 11, field: 'spec.rules[0].filters[0].requestHeaderModifier.remove[0]', what: /only one action per header name/,
    },
    {
      desc: 'type without its body',
      rules: `    - filters:
        - type: CORS
      backendRefs: [{ name: echo, port: 80 }]
`,
      line: 8, field: 'spec.rules[0].filters[0].type', what: /filter\.cors must be specified for CORS filter\.type/,
    },
    {
      desc: 'body of another type',
      rules: `    - filters:
        - type: CORS
          cors: { allowOrigins: ["*"] }
          urlRewrite: { hostname: a.example }
      backendRefs: [{ name: echo, port: 80 }]
`,
      line: 10, field: 'spec.rules[0].filters[0].urlRewrite', what: /filter\.urlRewrite must be nil if the filter\.type is not URLRewrite/,
    },
    {
      desc: 'mirror percent and fraction together',
      rules: `    - filters:
        - type: RequestMirror
          requestMirror:
            backendRef: { name: echo, port: 80 }
            percent: 10
            fraction: { numerator: 1 }
      backendRefs: [{ name: echo, port: 80 }]
`,
      line: 12, field: 'spec.rules[0].filters[0].requestMirror.fraction', what: /Only one of percent or fraction/,
    },
    {
      desc: 'CORS * with other origins',
      rules: `    - filters:
        - type: CORS
          cors:
            allowOrigins: ["*", "https://a.example"]
      backendRefs: [{ name: echo, port: 80 }]
`,
      line: 10, field: 'spec.rules[0].filters[0].cors.allowOrigins[0]', what: /cannot be listed alongside/,
    },
    {
      desc: 'redirect status 304 (schema)',
      rules: `    - filters:
        - type: RequestRedirect
          requestRedirect:
            statusCode: 304
`,
      line: 10, field: 'spec.rules[0].filters[0].requestRedirect.statusCode', what: /expected one of: 301, 302, 303, 307, 308/,
    },
    {
      desc: 'backendRef filters follow the same rules',
      rules: `    - backendRefs:
        - name: echo
          port: 80
          filters:
            - type: ResponseHeaderModifier
              responseHeaderModifier: { set: [{ name: Content-Length, value: "3" }] }
`,
      line: 12, field: 'spec.rules[0].backendRefs[0].filters[0].responseHeaderModifier.set[0].name', what: /framing header/,
    },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      // Line numbers count from the HTTPRoute document, which starts after HEAD.
      const headLines = HEAD.split('\n').length - 1;
      const file = writeConfig(HEAD + route('bad', c.rules) + `---\n` + route('good', `    - backendRefs: [{ name: echo, port: 80 }]\n`), 'routes.yaml');
      const { errors } = validateConfig(file);
      assert.ok(errors.length >= 1, 'an error is reported');
      const e = errors[0];
      assert.equal(e.file, file);
      assert.equal(e.field, c.field, e.message);
      assert.equal(e.line, headLines + c.line, e.message);
      assert.match(e.what, c.what);
      assert.match(e.what, /HTTPRoute app\/bad not loaded/);
      // The rest of the config still loads.
      const { config } = loadConfig(file);
      assert.deepStrictEqual(config.listeners[0].routes.map((r) => r.name), ['app/good']);
    });
  }
});

const NATIVE_HEAD = `listeners:
  - { name: web, port: 0, address: 127.0.0.1 }
backends:
  - { name: api, endpoints: ["127.0.0.1:1"] }
  - { name: shadow, endpoints: ["127.0.0.1:2"] }
routes:
`;

describe('native filters → model', () => {
  it('compiles every key, in the documented order', () => {
    const file = writeConfig(NATIVE_HEAD + `  - name: all
    match: { path: /api }
    backends:
      - name: api
        requestHeaders: { set: { x-backend: api } }
        responseHeaders: { remove: [server] }
    cors: { allowOrigins: ["*"], maxAge: 10 }
    requestHeaders: { set: { x-a: "1" }, add: { x-b: "2" }, remove: [x-c] }
    responseHeaders: { add: { x-d: "4" } }
    rewrite: { hostname: api.internal, prefix: /v1 }
    mirror: [{ backend: shadow, percent: 10 }, { backend: nosuch }]
  - name: old
    match: { path: /old }
    redirect: { scheme: https, hostname: new.example, port: 8443, path: /x, statusCode: 308 }
`);
    const { config } = loadConfig(file);
    const [all, old] = config.listeners[0].routes;
    assert.deepStrictEqual(all.rules[0].filters, [
      { type: 'CORS', allowOrigins: ['*'], allowMethods: [], allowHeaders: [], exposeHeaders: [], allowCredentials: false, maxAge: 10 },
      { type: 'RequestHeaderModifier', modifier: { set: [{ name: 'x-a', value: '1' }], add: [{ name: 'x-b', value: '2' }], remove: ['x-c'] } },
      { type: 'URLRewrite', hostname: 'api.internal', path: { type: 'ReplacePrefixMatch', value: '/v1' } },
      { type: 'RequestMirror', backend: 'shadow', percent: 10 },
      { type: 'RequestMirror', backend: null, percent: 100 },
      { type: 'ResponseHeaderModifier', modifier: { set: [], add: [{ name: 'x-d', value: '4' }], remove: [] } },
    ]);
    assert.deepStrictEqual(all.rules[0].backendRefs[0].filters, [
      { type: 'RequestHeaderModifier', modifier: { set: [{ name: 'x-backend', value: 'api' }], add: [], remove: [] } },
      { type: 'ResponseHeaderModifier', modifier: { set: [], add: [], remove: ['server'] } },
    ]);
    assert.deepStrictEqual(old.rules[0], {
      matches: [{ path: { type: 'PathPrefix', value: '/old' }, headers: [], queryParams: [] }],
      backendRefs: [],
      filters: [{ type: 'RequestRedirect', statusCode: 308, scheme: 'https', hostname: 'new.example', port: 8443, path: { type: 'ReplaceFullPath', value: '/x' } }],
    });
    assert.match(config.warnings.join('\n'), /routes\[0\]\.mirror\[1\]\.backend: no backend named "nosuch"; this mirror of route "all" is dropped/);
  });

  const cases: { desc: string; route: string; line: number; field: string; what: RegExp }[] = [
    { desc: 'path and prefix together', route: `  - name: r\n    backend: api\n    rewrite: { path: /a, prefix: /b }\n`, line: 9, field: 'routes[0].rewrite.prefix', what: /set only one of path/ },
    { desc: 'redirect with a backend', route: `  - name: r\n    backend: api\n    redirect: { hostname: a.example }\n`, line: 9, field: 'routes[0].redirect', what: /must not be used together with backendRefs/ },
    { desc: 'neither backend nor redirect', route: `  - name: r\n    cors: { allowOrigins: ["*"] }\n`, line: 7, field: 'routes[0]', what: /set exactly one of `backend/ },
    { desc: 'prefix with two matches', route: `  - name: r\n    match: [{ path: /a }, { path: /b }]\n    backend: api\n    rewrite: { prefix: /c }\n`, line: 10, field: 'routes[0].rewrite.prefix', what: /exactly one match/ },
    { desc: 'one header name twice', route: `  - name: r\n    backend: api\n    requestHeaders: { set: { X-A: "1" }, add: { x-a: "2" } }\n`, line: 9, field: 'routes[0].requestHeaders.add.x-a', what: /only one action per header name/ },
    { desc: 'bad CORS origin', route: `  - name: r\n    backend: api\n    cors: { allowOrigins: [example.com] }\n`, line: 9, field: 'routes[0].cors.allowOrigins[0]', what: /expected "\*" or an origin/ },
    { desc: 'backend reference header edits are checked', route: `  - name: r\n    backends: [{ name: api, requestHeaders: { remove: [host] } }]\n`, line: 8, field: 'routes[0].backends[0].requestHeaders.remove[0]', what: /Host cannot be removed/ },
    { desc: 'unknown redirect key (schema)', route: `  - name: r\n    redirect: { code: 301 }\n`, line: 8, field: 'routes[0].redirect.code', what: /unknown field/ },
  ];
  for (const c of cases) {
    it(`error: ${c.desc}`, () => {
      const file = writeConfig(NATIVE_HEAD + c.route);
      const { errors } = validateConfig(file);
      assert.ok(errors.length >= 1, 'an error is reported');
      const e = errors[0];
      assert.equal(e.field, c.field, e.message);
      assert.equal(e.line, c.line, e.message);
      assert.match(e.what, c.what);
      assert.throws(() => loadConfig(file));
    });
  }
});
