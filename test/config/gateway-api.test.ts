// Gateway API manifests: controller filtering, attachment and hostname intersection,
// ReferenceGrant, Service/EndpointSlice resolution, and what is an error vs a warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ConfigError, loadConfig, validateConfig } from '../../src/config';
import type { BackendRef, GatewayConfig, Listener } from '../../src/config';
import { fixture } from './fixtures';

function listener(config: GatewayConfig, name: string): Listener {
  const l = config.listeners.find((x) => x.name === name);
  assert.ok(l, `listener ${name} in ${config.listeners.map((x) => x.name).join(', ')}`);
  return l;
}

test('gateway-api: happy path with EndpointSlices giving real addresses', () => {
  const dir = fixture('k8s-happy');
  const routesFile = path.join(dir, 'routes.yaml');
  const { config, demoBackends } = loadConfig(dir);
  assert.deepStrictEqual(demoBackends, []);
  assert.deepStrictEqual(config.sources, ['gateway.yaml', 'routes.yaml', 'services.yaml'].map((f) => path.join(dir, f)));
  // The HTTPS listener is skipped; the HTTP one binds spec.addresses[0].
  assert.deepStrictEqual(config.listeners.map((l) => [l.name, l.address, l.port, l.protocol, l.hostname]), [
    ['edge/gw/web', '127.0.0.1', 0, 'HTTP', undefined],
  ]);
  assert.deepStrictEqual(config.listeners[0].routes, [
    {
      name: 'app/api',
      hostnames: [],
      creationTimestamp: '2024-01-02T03:04:05Z',
      source: { file: routesFile, line: 1 },
      rules: [
        {
          name: 'main',
          matches: [
            {
              path: { type: 'PathPrefix', value: '/api' },
              headers: [
                { type: 'Exact', name: 'x-env', value: 'canary' },
                { type: 'RegularExpression', name: 'x-ver', value: '^v[0-9]+$' },
              ],
              queryParams: [{ type: 'Exact', name: 'debug', value: '1' }],
              method: 'POST',
            },
          ],
          backendRefs: [
            { backend: 'app/echo:80', weight: 3 },
            { backend: 'app/plain:9090', weight: 1 },
          ],
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }],
          backendRefs: [
            { backend: 'app/empty:80', weight: 1 },
            { backend: null, weight: 1, invalidReason: 'BackendNotFound' },
            { backend: null, weight: 1, invalidReason: 'BackendNotFound' },
            { backend: 'app/echo:80', weight: 0 },
          ],
        },
      ],
    },
  ]);
  assert.deepStrictEqual(config.backends, {
    // Ready (or condition-less) addresses of three slices on the port named like the Service
    // port ("http" → 8080), deduplicated; 10.0.0.3 is not ready.
    'app/echo:80': {
      name: 'app/echo:80',
      endpoints: [
        { address: '10.0.0.1', port: 8080 },
        { address: '10.0.0.2', port: 8080 },
        { address: '10.0.0.5', port: 8080 },
        { address: 'fd00::4', port: 8080 },
      ],
    },
    // Unnamed Service port: the slice's single port.
    'app/plain:9090': { name: 'app/plain:9090', endpoints: [{ address: '10.0.1.1', port: 8080 }, { address: '10.0.1.2', port: 8080 }] },
    // Service without slices: backend exists, no endpoints (503 at runtime).
    'app/empty:80': { name: 'app/empty:80', endpoints: [] },
  });
  assert.deepStrictEqual(config.warnings, [
    `${path.join(dir, 'gateway.yaml')}:27: Gateway edge/gw listener "tls": protocol HTTPS is not supported yet (HTTP only); listener skipped`,
    `${routesFile}:35: spec.rules[1].backendRefs[1]: Service app/nosuch not found; requests that pick it get 500 (BackendNotFound)`,
    `${routesFile}:38: spec.rules[1].backendRefs[2].port: Service app/echo has no port 81 (ports: 80, 9100); requests that pick it get 500 (BackendNotFound)`,
  ]);
});

test('gateway-api: hostname intersection per listener', () => {
  const file = fixture('k8s-hostnames.yaml');
  const { config, } = loadConfig(file);
  const cases: { desc: string; route: string; listener: string; hostnames: string[] | null }[] = [
    { desc: 'route wildcard ∩ listener exact = listener exact', route: 'wildcard', listener: 'exact', hostnames: ['foo.example.com'] },
    { desc: 'same wildcard', route: 'wildcard', listener: 'wild', hostnames: ['*.example.com'] },
    { desc: 'listener without hostname keeps the route hostnames', route: 'wildcard', listener: 'any', hostnames: ['*.example.com'] },
    { desc: 'disjoint domains: not attached', route: 'wildcard', listener: 'other', hostnames: null },
    { desc: 'two wildcards give the more specific', route: 'wildcard', listener: 'deepwild', hostnames: ['*.foo.example.com'] },
    { desc: 'exact names not equal to the listener exact: not attached', route: 'exacts', listener: 'exact', hostnames: null },
    { desc: 'exact names under the listener wildcard, lower-cased and deduplicated', route: 'exacts', listener: 'wild', hostnames: ['bar.foo.example.com', 'api.example.com'] },
    { desc: 'exact names on an any-host listener', route: 'exacts', listener: 'any', hostnames: ['bar.foo.example.com', 'api.example.com'] },
    { desc: 'only the names under a deeper wildcard', route: 'exacts', listener: 'deepwild', hostnames: ['bar.foo.example.com'] },
    { desc: 'no route hostnames inherit the listener exact', route: 'nohost', listener: 'exact', hostnames: ['foo.example.com'] },
    { desc: 'no route hostnames inherit the listener wildcard', route: 'nohost', listener: 'wild', hostnames: ['*.example.com'] },
    { desc: 'no hostnames anywhere: any host', route: 'nohost', listener: 'any', hostnames: [] },
    { desc: 'sectionName selects one listener', route: 'section', listener: 'wild', hostnames: ['*.example.com'] },
    { desc: 'port selects a listener', route: 'section', listener: 'any', hostnames: [] },
    { desc: 'not selected by sectionName or port', route: 'section', listener: 'exact', hostnames: null },
  ];
  for (const c of cases) {
    const routes = listener(config, `default/gw/${c.listener}`).routes.filter((r) => r.name === `default/${c.route}`);
    if (c.hostnames === null) assert.equal(routes.length, 0, c.desc);
    else assert.deepStrictEqual(routes.map((r) => r.hostnames), [c.hostnames], c.desc);
  }
  assert.deepStrictEqual(config.warnings, [
    `${file}:27: HTTPRoute default/wildcard: no hostname in common with listener default/gw/other (hostname other.org); not attached to it`,
    `${file}:35: HTTPRoute default/exacts: no hostname in common with listener default/gw/exact (hostname foo.example.com); not attached to it`,
    `${file}:35: HTTPRoute default/exacts: no hostname in common with listener default/gw/other (hostname other.org); not attached to it`,
    `${file}:53: spec.parentRefs[3]: Gateway default/gw has no served HTTP listener named "nope"`,
  ]);
});

test('gateway-api: ReferenceGrant allows and denies cross-namespace backendRefs', () => {
  const { config } = loadConfig(fixture('k8s-refgrant.yaml'));
  const refs = config.listeners[0].routes[0].rules[0].backendRefs;
  const cases: { desc: string; expected: BackendRef }[] = [
    { desc: 'grant names this Service', expected: { backend: 'backend/svc-a:80', weight: 1 } },
    { desc: 'grant names another Service', expected: { backend: null, weight: 1, invalidReason: 'RefNotPermitted' } },
    { desc: 'grant is for another source namespace', expected: { backend: null, weight: 1, invalidReason: 'RefNotPermitted' } },
    { desc: 'grant without a name allows every Service', expected: { backend: 'open/svc-d:80', weight: 1 } },
    { desc: 'grant is for another route kind', expected: { backend: null, weight: 1, invalidReason: 'RefNotPermitted' } },
    { desc: 'denied before existence is checked', expected: { backend: null, weight: 1, invalidReason: 'RefNotPermitted' } },
    { desc: 'same namespace needs no grant', expected: { backend: 'front/local:80', weight: 1 } },
    { desc: 'not a Service', expected: { backend: null, weight: 1, invalidReason: 'InvalidKind' } },
  ];
  assert.equal(refs.length, cases.length);
  cases.forEach((c, i) => assert.deepStrictEqual(refs[i], c.expected, c.desc));
  assert.deepStrictEqual(Object.keys(config.backends).sort(), ['backend/svc-a:80', 'front/local:80', 'open/svc-d:80']);
  assert.equal(config.warnings.filter((w) => w.includes('(RefNotPermitted)')).length, 4);
});

test('gateway-api: unknown kinds are warnings naming file and line', () => {
  const file = fixture('k8s-unknown-kind.yaml');
  const { config } = loadConfig(file);
  assert.equal(config.listeners.length, 1);
  assert.equal(config.warnings.length, 2);
  assert.ok(config.warnings[0].startsWith(`${file}:18: kind ConfigMap ignored (apiVersion v1;`), config.warnings[0]);
  assert.ok(config.warnings[1].startsWith(`${file}:25: kind TCPRoute ignored (apiVersion gateway.networking.k8s.io/v1alpha2;`), config.warnings[1]);
  assert.deepStrictEqual(validateConfig(file).errors, []);
});

test('gateway-api: only Gateways of a gatemesh.io/gateway-controller class are served', () => {
  const file = fixture('k8s-controller.yaml');
  const { config } = loadConfig(file);
  assert.deepStrictEqual(config.listeners.map((l) => [l.name, l.routes.map((r) => r.name)]), [['default/mine/web', ['default/both']]]);
  assert.deepStrictEqual(config.warnings, [
    `${file}:29: Gateway default/notmine ignored: its GatewayClass "theirs" has controllerName example.com/other-controller, not gatemesh.io/gateway-controller`,
    `${file}:38: Gateway default/orphan ignored: GatewayClass "missing" not found (add one with spec.controllerName: gatemesh.io/gateway-controller)`,
    `${file}:50: spec.parentRefs[2]: Gateway default/nowhere not found; HTTPRoute default/both not attached to it`,
  ]);
});

test('gateway-api: allowedRoutes, Selector treated as Same, filters compiled without a warning', () => {
  const file = fixture('k8s-allowed-routes.yaml');
  const { config } = loadConfig(file);
  assert.deepStrictEqual(config.listeners.map((l) => [l.name, l.routes.map((r) => r.name)]), [
    ['infra/gw/same', ['infra/inside']],
    ['infra/gw/selector', ['infra/inside']],
    ['infra/gw/grpc', []],
  ]);
  assert.deepStrictEqual(config.listeners[0].routes[0].rules[0].filters, [
    { type: 'RequestHeaderModifier', modifier: { set: [], add: [{ name: 'x-a', value: 'b' }], remove: [] } },
  ]);
  const expectStart = [
    `${file}:22: Gateway infra/gw listener "selector": namespaces.from Selector`,
    `${file}:35: spec.parentRefs[0]: listener infra/gw/grpc does not allow HTTPRoute infra/inside: allowedRoutes.kinds`,
    `${file}:47: spec.parentRefs[0]: listener infra/gw/same does not allow HTTPRoute app/outside: allowedRoutes.namespaces.from is Same`,
    `${file}:47: spec.parentRefs[0]: listener infra/gw/selector does not allow HTTPRoute app/outside: allowedRoutes.namespaces.from is Selector`,
    `${file}:47: spec.parentRefs[0]: listener infra/gw/grpc does not allow HTTPRoute app/outside: allowedRoutes.kinds`,
    `${file}:43: HTTPRoute app/outside is not attached to any listener`,
  ];
  assert.equal(config.warnings.length, expectStart.length, config.warnings.join('\n'));
  expectStart.forEach((s, i) => assert.ok(config.warnings[i].startsWith(s), `${config.warnings[i]}\n  expected to start with\n${s}`));
});

test('gateway-api: invalid HTTPRoutes are dropped with file:line: field, the rest loads', () => {
  const file = fixture('k8s-invalid-route.yaml');
  const expected: { desc: string; line: number; field: string; what: string }[] = [
    { desc: 'unknown key', line: 31, field: 'spec.rules[0].matchs', what: 'unknown field (allowed: name, matches, filters, backendRefs, timeouts, retry, sessionPersistence); HTTPRoute default/typo not loaded' },
    { desc: 'Exact path without "/"', line: 42, field: 'spec.rules[0].matches[0].path.value', what: 'path must start with "/" (got "x"); HTTPRoute default/badpath not loaded' },
    { desc: 'negative weight', line: 54, field: 'spec.rules[0].backendRefs[0].weight', what: 'expected integer >= 0; HTTPRoute default/badweight not loaded' },
    { desc: 'unknown path type', line: 64, field: 'spec.rules[0].matches[0].path.type', what: 'expected one of: Exact, PathPrefix, RegularExpression; HTTPRoute default/badtype not loaded' },
    { desc: 'invalid hostname', line: 72, field: 'spec.hostnames[0]', what: 'expected a hostname like "api.example.com" or "*.example.com" (RFC 1123 labels, optional leading "*."); HTTPRoute default/badregex not loaded' },
    { desc: 'invalid header regex', line: 76, field: 'spec.rules[0].matches[0].headers[0].value', what: 'invalid regular expression:' },
  ];
  const { errors, warnings } = validateConfig(file);
  assert.deepStrictEqual(warnings, []);
  assert.equal(errors.length, expected.length, errors.map((e) => e.message).join('\n'));
  expected.forEach((x, i) => {
    assert.deepStrictEqual([errors[i].file, errors[i].line, errors[i].field], [file, x.line, x.field], x.desc);
    assert.ok(errors[i].what.startsWith(x.what), `${x.desc}: ${errors[i].what}`);
  });
  const { config } = loadConfig(file);
  assert.deepStrictEqual(config.listeners[0].routes.map((r) => r.name), ['default/good']);
  assert.deepStrictEqual(config.warnings, errors.map((e) => `error: ${e.message}`));
});

interface FatalCase {
  desc: string;
  file: string;
  line: number;
  field: string;
  what: string;
}

const fatalCases: FatalCase[] = [
  {
    desc: 'unknown key in a Gateway listener fails the load',
    file: 'k8s-invalid-gateway.yaml',
    line: 18,
    field: 'spec.listeners[0].hostnme',
    what: 'unknown field (allowed: name, hostname, port, protocol, tls, allowedRoutes)',
  },
  {
    desc: 'a non-manifest document in a manifest file',
    file: 'k8s-mixed-doc.yaml',
    line: 5,
    field: '(document)',
    what: 'expected a Kubernetes object with apiVersion and kind (native config and manifests go in separate files)',
  },
  {
    desc: 'manifests without a served Gateway',
    file: 'k8s-no-gateway.yaml',
    line: 1,
    field: 'listeners',
    what: 'no listeners to serve: add `listeners:` (native format) or a Gateway whose GatewayClass has spec.controllerName: gatemesh.io/gateway-controller',
  },
];

for (const c of fatalCases) {
  test(`gateway-api fatal: ${c.desc}`, () => {
    const file = fixture(c.file);
    assert.throws(
      () => loadConfig(file),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.message, `${file}:${c.line}: ${c.field}: ${c.what}`);
        return true;
      },
    );
    assert.deepStrictEqual(validateConfig(file).errors.map((e) => e.message), [`${file}:${c.line}: ${c.field}: ${c.what}`]);
  });
}
