// Where policies apply: per section the most specific attachment wins (rule > HTTPRoute >
// listener > Gateway; native route > listener), backend-level sections reach the backends their
// routes reference unless the backend's own policy sets them, conflicts go to the oldest policy
// with a warning, unknown targets are warned about, and the shipped examples validate.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, validateConfig } from '../../src/config';
import type { GatewayConfig, RouteRule } from '../../src/config';
import { policiesNeedFullCompile } from '../../src/config/policy-gateway-api';
import { parseYamlText } from '../../src/config/yaml-source';
import { Diagnostics } from '../../src/config/config-error';
import { fixture, REPO_ROOT } from './fixtures';
import { writeConfig } from '../helpers/gateway';

function rule(config: GatewayConfig, listener: string, route: string, index = 0): RouteRule {
  const l = config.listeners.find((x) => x.name === listener);
  assert.ok(l, `listener ${listener}`);
  const r = l.routes.find((x) => x.name === route);
  assert.ok(r, `route ${route} on ${listener}`);
  return r.rules[index];
}

/** `section.policy` ids per section of a rule, or undefined: what a precedence test compares. */
function picked(r: RouteRule): Record<string, string | number | undefined> {
  return {
    rateLimit: r.policy?.rateLimit?.policy,
    quota: r.policy?.quota?.policy,
    concurrency: r.policy?.concurrency?.policy,
    attempts: r.retry?.attempts,
  };
}

describe('Gateway API attachment (fixtures/policy-k8s)', () => {
  const dir = fixture('policy-k8s');
  const file = path.join(dir, '20-policies.yaml');
  const { config } = loadConfig(dir);

  const cases: { desc: string; listener: string; route: string; index: number; want: Record<string, string | number | undefined> }[] = [
    {
      desc: 'rule-targeted rateLimit beats the listener\'s; the older of two HTTPRoute quotas wins',
      listener: 'default/gw/web',
      route: 'default/r',
      index: 0,
      want: { rateLimit: 'default/rule-main', quota: 'default/older-dup', concurrency: undefined, attempts: 3 },
    },
    {
      desc: 'listener-targeted (sectionName) beats the Gateway\'s; retry from the Gateway',
      listener: 'default/gw/web',
      route: 'default/r',
      index: 1,
      want: { rateLimit: 'default/gw-web', quota: 'default/older-dup', concurrency: undefined, attempts: 1 },
    },
    {
      desc: 'the same route on the other listener: the Gateway\'s rateLimit',
      listener: 'default/gw/alt',
      route: 'default/r',
      index: 1,
      want: { rateLimit: 'default/gw-all', quota: 'default/older-dup', concurrency: undefined, attempts: 1 },
    },
    {
      desc: 'gateway.envoyproxy.io/v1alpha1 with a singular targetRef',
      listener: 'default/gw/web',
      route: 'default/r2',
      index: 0,
      want: { rateLimit: 'default/eg-compat', quota: undefined, concurrency: undefined, attempts: 1 },
    },
  ];
  for (const c of cases) {
    it(c.desc, () => assert.deepStrictEqual(picked(rule(config, c.listener, c.route, c.index)), c.want));
  }

  it('a rule\'s own HTTPRoute retry keeps attempts and codes; the policy adds the per-try timeout', () => {
    assert.deepStrictEqual(rule(config, 'default/gw/web', 'default/r').retry, {
      attempts: 3,
      codes: [503],
      backoffMs: 25,
      backoffMaxMs: 250,
      triggers: ['connect-failure', 'reset', 'retriable-status-codes'],
      nonIdempotent: false,
      perTryTimeoutMs: 1000,
    });
  });

  it('Envoy Gateway clientSelectors (Distinct header) become the key', () => {
    assert.deepStrictEqual(rule(config, 'default/gw/web', 'default/r2').policy?.rateLimit?.rules[0].key, [{ type: 'Header', name: 'x-user-id' }]);
  });

  it('listeners whose Gateway policies differ get their own copies of the rules', () => {
    const web = config.listeners[0].routes.find((r) => r.name === 'default/r')!;
    const alt = config.listeners[1].routes.find((r) => r.name === 'default/r')!;
    assert.notEqual(web.rules, alt.rules);
    assert.deepStrictEqual(web.rules[0], alt.rules[0]);
    assert.notDeepStrictEqual(web.rules[1], alt.rules[1]);
  });

  it('backends: route-derived sections, Service and port targets, conflicts to the oldest', () => {
    assert.deepStrictEqual(config.backends['default/a:80'].policy, { policy: 'default/route-r', loadBalancer: { type: 'LeastRequest' } });
    assert.deepStrictEqual(config.backends['default/b:80'].policy, {
      policy: 'default/svc-b, default/svc-b-http',
      loadBalancer: { type: 'PeakEWMA', decayMs: 10_000, defaultRttMs: 30 },
      circuitBreaker: { maxConnections: 7, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    });
  });

  it('warns about conflicts, unknown targets and sections a backend cannot use; nothing else', () => {
    const attached = 'BackendTrafficPolicy default/dangling not attached to it';
    const want = [
      `${file}:18: BackendTrafficPolicy default/route-r and BackendTrafficPolicy default/older-dup both set quota on HTTPRoute default/r; ` +
        'the older, default/older-dup, wins (Gateway API conflict resolution: creationTimestamp, then namespace/name)',
      `${file}:34: backend default/a:80 gets loadBalancer from BackendTrafficPolicy default/route-r (via HTTPRoute default/r) and ` +
        'BackendTrafficPolicy default/route-r2 (via HTTPRoute default/r2); the older, default/route-r, wins; attach a policy with loadBalancer to Service default/a to choose',
      `${file}:64: quota applies to routes, not backends; attach it to a route, listener or Gateway (BackendTrafficPolicy default/svc-a-misc on Service default/a)`,
      `${file}:64: retry: only retry.budget applies to a backend; numRetries, retryOn and perRetry belong on a route, listener or Gateway policy ` +
        '(BackendTrafficPolicy default/svc-a-misc on Service default/a)',
      `${file}:77: spec.targetRefs[0]: Gateway default/nope not found; ${attached}`,
      `${file}:78: spec.targetRefs[1]: Gateway default/gw has no served HTTP listener named "nope" (listeners: web, alt); ${attached}`,
      `${file}:79: spec.targetRefs[2]: HTTPRoute default/nope not found (or not loaded: see its errors); ${attached}`,
      `${file}:80: spec.targetRefs[3]: HTTPRoute default/r has no rule named "nope" (rule names: main, other); ${attached}`,
      `${file}:81: spec.targetRefs[4]: Service default/nope not found; ${attached}`,
      `${file}:82: spec.targetRefs[5]: Service default/b has no port named "nope" (port names: http); ${attached}`,
      `${file}:83: spec.targetRefs[6]: target gateway.networking.k8s.io/GRPCRoute is not supported (Gateway and HTTPRoute of gateway.networking.k8s.io, core Service); ${attached}`,
    ];
    assert.deepStrictEqual([...config.warnings].sort(), want.sort());
    assert.deepStrictEqual(validateConfig(dir).errors, []);
  });

  it('the model is plain data that survives structuredClone', () => {
    assert.deepStrictEqual(structuredClone(config), config);
  });
});

describe('Gateway API: policy object errors', () => {
  const head = (spec: string): string => `apiVersion: gatemesh.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: p, namespace: ns }
spec:
${spec}
`;
  const cases = [
    { desc: 'neither targetRef nor targetRefs', spec: '  retry: {}', line: 4, field: 'spec', what: /^set exactly one of targetRefs/ },
    {
      desc: 'targetRef and targetRefs',
      spec: '  targetRef: { kind: Service, name: a }\n  targetRefs: [{ kind: Service, name: a }]',
      line: 4,
      field: 'spec',
      what: /^set exactly one of targetRefs/,
    },
    { desc: 'targetSelectors are not read', spec: '  targetSelectors: []', line: 5, field: 'spec.targetSelectors', what: /^unknown field \(allowed: targetRef, targetRefs, rateLimit/ },
    { desc: 'a target without a name', spec: '  targetRefs: [{ kind: Service }]', line: 5, field: 'spec.targetRefs[0].name', what: /^required field missing/ },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const file = writeConfig(head(c.spec));
      const { errors } = validateConfig(file);
      assert.equal(errors.length > 0, true);
      const e = errors.find((x) => x.field === c.field);
      assert.ok(e, errors.map((x) => x.message).join('\n'));
      assert.equal(e.line, c.line);
      assert.match(e.what, c.what);
      assert.ok(e.what.endsWith('; BackendTrafficPolicy ns/p not loaded'), e.what);
    });
  }

  it('without creationTimestamps the conflict goes to namespace/name order', () => {
    const docs = ['b', 'a'].map((n) => head(`  targetRefs: [{ kind: Service, name: s }]\n  circuitBreaker: { maxConnections: ${n === 'a' ? 1 : 2} }`).replace('name: p', `name: ${n}`));
    const file = writeConfig(`${fixtureText('10-gateway.yaml').replace(/\n$/, '')}\n---\napiVersion: v1\nkind: Service\nmetadata: { name: s, namespace: ns }\n---\n${docs.join('---\n')}`);
    const { config } = loadConfig(file);
    const w = config.warnings.filter((x) => x.includes('both set'));
    assert.equal(w.length, 1);
    assert.match(w[0], /BackendTrafficPolicy ns\/b and BackendTrafficPolicy ns\/a both set circuitBreaker on Service ns\/s; the older, ns\/a, wins/);
  });
});

function fixtureText(name: string): string {
  return require('node:fs').readFileSync(fixture(path.join('policy-k8s', name)), 'utf8');
}

describe('native attachment (fixtures/policy-native)', () => {
  const file = path.join(fixture('policy-native'), 'gatemesh.yaml');
  const { config } = loadConfig(file);

  const cases = [
    { desc: 'route policies beat the listener\'s, per section', listener: 'web', route: 'r', want: { rateLimit: 'edge', quota: 'limits', concurrency: undefined, attempts: 2 } },
    { desc: 'the listener\'s apply to a route with its own unrelated policy', listener: 'web', route: 'r2', want: { rateLimit: 'edge', quota: undefined, concurrency: undefined, attempts: 2 } },
    { desc: 'on a listener without policies only the route\'s apply', listener: 'alt', route: 'r', want: { rateLimit: undefined, quota: 'limits', concurrency: undefined, attempts: undefined } },
    { desc: 'no policies: no policy, no retry', listener: 'alt', route: 'r3', want: { rateLimit: undefined, quota: undefined, concurrency: undefined, attempts: undefined } },
  ];
  for (const c of cases) {
    it(c.desc, () => assert.deepStrictEqual(picked(rule(config, c.listener, c.route)), c.want));
  }

  it('backends: route-derived (first declared wins), inline, endpoint weights', () => {
    assert.deepStrictEqual(config.backends.a, {
      name: 'a',
      endpoints: [{ address: '127.0.0.1', port: 9001 }, { address: '127.0.0.1', port: 9002, weight: 5 }],
      policy: { policy: 'edge', loadBalancer: { type: 'LeastRequest' } },
    });
    assert.deepStrictEqual(config.backends.b, {
      name: 'b',
      endpoints: [{ address: '::1', port: 9003 }],
      policy: { policy: 'backend/b', loadBalancer: { type: 'Random' }, retryBudget: { ratio: 0.5, minPerSecond: 10, windowMs: 10_000 } },
    });
    assert.deepStrictEqual(config.warnings, [
      `${file}:37: backend "a" gets loadBalancer from policy "edge" (via route "r") and policy "lb-rr" (via route "r2"); ` +
        'the first declared, policy "edge", wins; give backend "a" a policy with loadBalancer to choose',
    ]);
  });
});

describe('native policy errors are fatal and name file:line: field', () => {
  const base = (route: string, backend = '', policies = '  - name: a\n    retry: {}\n  - name: b\n    retry: {}'): string => `listeners:
  - name: web
    port: 0
routes:
  - name: r
    backend: x
${route}
backends:
  - name: x
    endpoints: ["127.0.0.1:1"]
${backend}
policies:
${policies}
`;
  const cases = [
    { desc: 'unknown policy name', text: base('    policy: nope'), line: 7, field: 'routes[0].policy', what: 'no policy named "nope" (known: a, b)' },
    { desc: 'unknown name in a list', text: base('    policies: [a, nope]'), line: 7, field: 'routes[0].policies[1]', what: 'no policy named "nope" (known: a, b)' },
    {
      desc: 'two policies set the same section',
      text: base('    policies: [a, b]'),
      line: 7,
      field: 'routes[0].policies',
      what: 'policy "a" and policy "b" both set retry; a route takes each section from one policy: remove retry from one of them',
    },
    {
      desc: 'a named and an inline policy set the same section',
      text: base('    policy: { retry: {} }\n    policies: [a]'),
      line: 8,
      field: 'routes[0].policies',
      what: 'policy "a" and the inline policy of route "r" both set retry; a route takes each section from one policy: remove retry from one of them',
    },
    {
      desc: 'a bad field in an inline policy',
      text: base('    policy:\n      retry: { numRetries: -1 }'),
      line: 8,
      field: 'routes[0].policy.retry.numRetries',
      what: 'expected integer >= 0',
    },
    {
      desc: 'cross-field problem in an inline backend policy',
      text: base('', '    policy: { loadBalancer: { type: ConsistentHash } }'),
      line: 11,
      field: 'backends[0].policy.loadBalancer',
      what: /^type ConsistentHash needs what to hash/,
    },
    { desc: 'duplicate policy names', text: base('', '', '  - name: a\n  - name: a'), line: 14, field: 'policies[1].name', what: /^duplicate policy name "a" \(first at .*:13\); policy names must be unique$/ },
    { desc: 'a policy name with a slash', text: base('', '', '  - name: a/b'), line: 13, field: 'policies[0].name', what: /^expected a policy name of letters, digits/ },
    { desc: 'unknown key in a native policy', text: base('', '', '  - name: a\n    ratelimit: {}'), line: 14, field: 'policies[0].ratelimit', what: /^unknown field \(allowed: name, rateLimit/ },
    { desc: 'endpoint weight 0', text: base('').replace('endpoints: ["127.0.0.1:1"]', 'endpoints: [{ address: "127.0.0.1:1", weight: 0 }]'), line: 10, field: 'backends[0].endpoints[0].weight', what: 'expected integer >= 1' },
    { desc: 'endpoint object key', text: base('').replace('endpoints: ["127.0.0.1:1"]', 'endpoints: [{ address: "127.0.0.1:1", wieght: 2 }]'), line: 10, field: 'backends[0].endpoints[0].wieght', what: 'unknown field (allowed: address, weight)' },
    { desc: 'endpoint object address', text: base('').replace('endpoints: ["127.0.0.1:1"]', 'endpoints: [{ address: "127.0.0.1" }]'), line: 10, field: 'backends[0].endpoints[0].address', what: /^expected "host:port"/ },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const file = writeConfig(c.text);
      const { errors } = validateConfig(file);
      assert.equal(errors.length, 1, errors.map((e) => e.message).join('\n'));
      const e = errors[0];
      assert.deepStrictEqual([e.line, e.field], [c.line, c.field]);
      if (typeof c.what === 'string') assert.equal(e.what, c.what);
      else assert.match(e.what, c.what);
      assert.throws(() => loadConfig(file), (err: unknown) => (err as Error).message === e.message);
    });
  }
});

describe('shipped examples', () => {
  const cases = [
    { desc: 'examples/gateway-api/ (with policies.yaml)', target: 'examples/gateway-api', listener: 'infra/edge/http', route: 'shop/storefront', rateLimit: 'shop/api-limits' },
    { desc: 'examples/native.yaml (with policies:)', target: 'examples/native.yaml', listener: 'web', route: 'api', rateLimit: 'api-limits' },
  ];
  for (const c of cases) {
    it(`${c.desc} validates (what \`gatemesh validate\` runs) and attaches its policies`, () => {
      const target = path.join(REPO_ROOT, c.target);
      assert.deepStrictEqual(validateConfig(target), { errors: [], warnings: [] });
      const { config } = loadConfig(target);
      assert.equal(rule(config, c.listener, c.route).policy?.rateLimit?.policy, c.rateLimit);
      assert.ok(Object.values(config.backends).some((b) => b.policy !== undefined));
    });
  }
});

describe('incremental reload: when policies need a full compile', () => {
  const cases = [
    { desc: 'any HTTPRoute target', spec: 'targetRefs: [{ kind: HTTPRoute, name: r }]\n  retry: {}', want: true },
    { desc: 'a Gateway-targeted healthCheck', spec: 'targetRef: { kind: Gateway, name: g }\n  healthCheck: {}', want: true },
    { desc: 'a Service-targeted quota', spec: 'targetRefs: [{ kind: Service, name: s }]\n  quota: { rules: [] }', want: true },
    { desc: 'a Service-targeted per-route retry', spec: 'targetRefs: [{ kind: Service, name: s }]\n  retry: { numRetries: 2, budget: {} }', want: true },
    { desc: 'a Service-targeted loadBalancer and budget: incremental is exact', spec: 'targetRefs: [{ kind: Service, name: s }]\n  loadBalancer: { type: Random }\n  retry: { budget: {} }', want: false },
    { desc: 'Gateway-targeted request sections: incremental is exact', spec: 'targetRefs: [{ kind: Gateway, name: g }]\n  rateLimit: { rules: [] }\n  retry: {}', want: false },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const docs = parseYamlText('x.yaml', `apiVersion: gatemesh.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: { name: p }\nspec:\n  ${c.spec}\n`, new Diagnostics());
      assert.equal(policiesNeedFullCompile(docs), c.want);
    });
  }
});
