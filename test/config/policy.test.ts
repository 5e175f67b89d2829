// Traffic policy sections in both config formats: each section compiles to the exact model with
// its defaults, and bad fields give file:line: field messages with the fix. The same section text
// goes into a native `policies:` entry and into a BackendTrafficPolicy spec.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig, validateConfig } from '../../src/config';
import type { BackendPolicy, GatewayConfig, RequestPolicy, RouteRetry, RouteRule } from '../../src/config';
import { writeConfig } from '../helpers/gateway';

type On = 'route' | 'backend';

function indent(text: string, n: number): string {
  return text.split('\n').map((l) => (l === '' ? l : ' '.repeat(n) + l)).join('\n');
}

/** Native config; policy `p` (on the route or the backend) has `section` from line 15. */
const NATIVE_SECTION_LINE = 15;
function native(section: string, on: On): string {
  return `listeners:
  - name: web
    port: 0
routes:
  - name: r
    backend: b
    policy: ${on === 'route' ? 'p' : 'none'}
backends:
  - name: b
    endpoints: ["127.0.0.1:1", "127.0.0.1:2"]
    policy: ${on === 'backend' ? 'p' : 'none'}
policies:
  - name: none
  - name: p
${indent(section, 4)}
`;
}

/** Manifests; BackendTrafficPolicy default/p targets HTTPRoute r or Service b, `section` from line 33. */
const K8S_SECTION_LINE = 33;
function manifests(section: string, on: On): string {
  const target = on === 'route' ? '{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: r }' : '{ group: "", kind: Service, name: b }';
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: gm }
spec: { controllerName: gatemesh.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw }
spec: { gatewayClassName: gm, listeners: [{ name: web, port: 0, protocol: HTTP }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec: { parentRefs: [{ name: gw }], rules: [{ name: main, backendRefs: [{ name: b, port: 80 }] }] }
---
apiVersion: v1
kind: Service
metadata: { name: b }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: b-1, labels: { kubernetes.io/service-name: b } }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints: [{ addresses: ["10.0.0.1", "10.0.0.2"] }]
---
apiVersion: gatemesh.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: p }
spec:
  targetRefs: [${target}]
${indent(section, 2)}
`;
}

const FORMATS = [
  { name: 'native', id: 'p', text: native, line: NATIVE_SECTION_LINE, field: 'policies[1].', backend: 'b', suffix: '' },
  {
    name: 'gateway-api',
    id: 'default/p',
    text: manifests,
    line: K8S_SECTION_LINE,
    field: 'spec.',
    backend: 'default/b:80',
    suffix: '; BackendTrafficPolicy default/p not loaded',
  },
] as const;

function only(config: GatewayConfig): RouteRule {
  assert.equal(config.listeners.length, 1);
  assert.equal(config.listeners[0].routes.length, 1);
  return config.listeners[0].routes[0].rules[0];
}

interface Expected {
  policy?: RequestPolicy;
  retry?: RouteRetry;
  backend?: Omit<BackendPolicy, 'policy'>;
}

interface SectionCase {
  desc: string;
  on: On;
  yaml: string;
  /** What the rule and the backend get; `id` is the policy's id in that format. */
  expect: (id: string) => Expected;
}

const limitDefaults = { onMissingKey: 'Skip' as const, key: [{ type: 'Route' as const }] };
const rlDefaults = { mode: 'Local' as const, failureMode: 'open' as const, headers: true, legacyHeaders: false };

const sectionCases: SectionCase[] = [
  {
    desc: 'rateLimit: defaults (Local, one Route key, Skip, draft headers on)',
    on: 'route',
    yaml: 'rateLimit: { rules: [{ limit: { requests: 5, unit: Second } }] }',
    expect: (id) => ({
      policy: { rateLimit: { policy: id, ...rlDefaults, rules: [{ name: `${id}/limit0`, ...limitDefaults, requests: 5, periodMs: 1000 }] } },
    }),
  },
  {
    desc: 'rateLimit: every field, composite keys and every unit',
    on: 'route',
    yaml: `rateLimit:
  type: Global
  failureMode: closed
  headers: { draft: false, legacy: true }
  rules:
    - name: per-client
      key: [{ type: ClientIP }, { type: Header, name: X-Api-Key }, { type: QueryParam, name: Key }]
      onMissingKey: Shared
      limit: { requests: 10, unit: Minute }
    - key: [{ type: Consumer }]
      onMissingKey: Reject
      limit: { requests: 1000, unit: Hour }
    - limit: { requests: 50000, unit: Day }
    - limit: { requests: 7, unit: 1m30s }`,
    expect: (id) => ({
      policy: {
        rateLimit: {
          policy: id,
          mode: 'Global',
          failureMode: 'closed',
          headers: false,
          legacyHeaders: true,
          rules: [
            {
              name: 'per-client',
              key: [{ type: 'ClientIP' }, { type: 'Header', name: 'x-api-key' }, { type: 'QueryParam', name: 'Key' }],
              onMissingKey: 'Shared',
              requests: 10,
              periodMs: 60_000,
            },
            { name: `${id}/limit1`, key: [{ type: 'Consumer' }], onMissingKey: 'Reject', requests: 1000, periodMs: 3_600_000 },
            { name: `${id}/limit2`, ...limitDefaults, requests: 50000, periodMs: 86_400_000 },
            { name: `${id}/limit3`, ...limitDefaults, requests: 7, periodMs: 90_000 },
          ],
        },
      },
    }),
  },
  {
    desc: 'rateLimit: Envoy Gateway shape (local.rules, Distinct clientSelectors)',
    on: 'route',
    yaml: `rateLimit:
  type: Local
  local:
    rules:
      - clientSelectors:
          - headers: [{ name: X-User, type: Distinct }]
            sourceCIDR: { type: Distinct, value: 0.0.0.0/0 }
        limit: { requests: 10, unit: Minute }`,
    expect: (id) => ({
      policy: {
        rateLimit: {
          policy: id,
          ...rlDefaults,
          rules: [{ name: `${id}/limit0`, key: [{ type: 'Header', name: 'x-user' }, { type: 'ClientIP' }], onMissingKey: 'Skip', requests: 10, periodMs: 60_000 }],
        },
      },
    }),
  },
  {
    desc: 'rateLimit: global.rules means Global',
    on: 'route',
    yaml: 'rateLimit: { global: { rules: [{ limit: { requests: 1, unit: Second } }] } }',
    expect: (id) => ({
      policy: { rateLimit: { policy: id, ...rlDefaults, mode: 'Global', rules: [{ name: `${id}/limit0`, ...limitDefaults, requests: 1, periodMs: 1000 }] } },
    }),
  },
  {
    desc: 'quota: defaults (Calendar, Route key, headers on)',
    on: 'route',
    yaml: 'quota: { rules: [{ limit: { requests: 1000, window: Month } }] }',
    expect: (id) => ({
      policy: {
        quota: { policy: id, headers: true, rules: [{ name: `${id}/quota0`, ...limitDefaults, requests: 1000, window: 'Month', alignment: 'Calendar' }] },
      },
    }),
  },
  {
    desc: 'quota: every field',
    on: 'route',
    yaml: `quota:
  headers: false
  rules:
    - name: daily
      key: [{ type: Header, name: x-api-key }]
      onMissingKey: Reject
      limit: { requests: 100, window: Day }
      alignment: Rolling
    - limit: { requests: 5, window: Hour }`,
    expect: (id) => ({
      policy: {
        quota: {
          policy: id,
          headers: false,
          rules: [
            { name: 'daily', key: [{ type: 'Header', name: 'x-api-key' }], onMissingKey: 'Reject', requests: 100, window: 'Day', alignment: 'Rolling' },
            { name: `${id}/quota1`, ...limitDefaults, requests: 5, window: 'Hour', alignment: 'Calendar' },
          ],
        },
      },
    }),
  },
  {
    desc: 'concurrency: defaults (no queue, 1 s queue timeout)',
    on: 'route',
    yaml: 'concurrency: { maxInFlight: 64 }',
    expect: (id) => ({ policy: { concurrency: { policy: id, maxInFlight: 64, maxQueue: 0, queueTimeoutMs: 1000 } } }),
  },
  {
    desc: 'concurrency: queue and adaptive defaults (minLimit 4, initialLimit 20)',
    on: 'route',
    yaml: 'concurrency: { maxInFlight: 100, maxQueue: 50, queueTimeout: 250ms, adaptive: {} }',
    expect: (id) => ({
      policy: {
        concurrency: {
          policy: id,
          maxInFlight: 100,
          maxQueue: 50,
          queueTimeoutMs: 250,
          adaptive: { minLimit: 4, initialLimit: 20, tolerance: 2, smoothing: 0.2, windowMs: 1000 },
        },
      },
    }),
  },
  {
    desc: 'concurrency: adaptive defaults clamp to a small maxInFlight; explicit values',
    on: 'route',
    yaml: 'concurrency: { maxInFlight: 3, adaptive: { tolerance: 1.5, smoothing: 0.5, window: 2s } }',
    expect: (id) => ({
      policy: {
        concurrency: {
          policy: id,
          maxInFlight: 3,
          maxQueue: 0,
          queueTimeoutMs: 1000,
          adaptive: { minLimit: 3, initialLimit: 3, tolerance: 1.5, smoothing: 0.5, windowMs: 2000 },
        },
      },
    }),
  },
  {
    desc: 'retry: {} is retries with the defaults',
    on: 'route',
    yaml: 'retry: {}',
    expect: () => ({
      retry: { attempts: 1, codes: [], backoffMs: 25, backoffMaxMs: 250, triggers: ['connect-failure', 'reset'], nonIdempotent: false },
    }),
  },
  {
    desc: 'retry: httpStatusCodes without triggers add retriable-status-codes',
    on: 'route',
    yaml: 'retry: { numRetries: 3, retryOn: { httpStatusCodes: [504, 502, 504] } }',
    expect: () => ({
      retry: {
        attempts: 3,
        codes: [502, 504],
        backoffMs: 25,
        backoffMaxMs: 250,
        triggers: ['connect-failure', 'reset', 'retriable-status-codes'],
        nonIdempotent: false,
      },
    }),
  },
  {
    desc: 'retry: every field',
    on: 'route',
    yaml: `retry:
  numRetries: 2
  retryOn:
    triggers: [5xx, gateway-error, 5xx]
    nonIdempotent: true
  perRetry:
    timeout: 2s
    backOff: { baseInterval: 100ms, maxInterval: 2s }
  budget: { percent: 25, minRetriesPerSecond: 5, window: 30s }`,
    expect: () => ({
      retry: {
        attempts: 2,
        codes: [],
        backoffMs: 100,
        backoffMaxMs: 2000,
        triggers: ['5xx', 'gateway-error'],
        nonIdempotent: true,
        perTryTimeoutMs: 2000,
        budget: { ratio: 0.25, minPerSecond: 5, windowMs: 30_000 },
      },
    }),
  },
  {
    desc: 'retry: a budget alone turns no retries on',
    on: 'route',
    yaml: 'retry: { budget: {} }',
    expect: () => ({}),
  },
  ...(['RoundRobin', 'LeastRequest', 'Random'] as const).map((type) => ({
    desc: `loadBalancer: ${type}`,
    on: 'backend' as const,
    yaml: `loadBalancer: { type: ${type} }`,
    expect: () => ({ backend: { loadBalancer: { type } } }),
  })),
  {
    desc: 'loadBalancer: PeakEWMA defaults (Linkerd: decay 10 s, default RTT 30 ms)',
    on: 'backend',
    yaml: 'loadBalancer: { type: PeakEWMA }',
    expect: () => ({ backend: { loadBalancer: { type: 'PeakEWMA', decayMs: 10_000, defaultRttMs: 30 } } }),
  },
  {
    desc: 'loadBalancer: PeakEWMA explicit',
    on: 'backend',
    yaml: 'loadBalancer: { type: PeakEWMA, peakEWMA: { decay: 5s, defaultRTT: 100ms } }',
    expect: () => ({ backend: { loadBalancer: { type: 'PeakEWMA', decayMs: 5000, defaultRttMs: 100 } } }),
  },
  {
    desc: 'loadBalancer: ConsistentHash on SourceIP, Maglev 65537 by default',
    on: 'backend',
    yaml: 'loadBalancer: { type: ConsistentHash, consistentHash: { type: SourceIP } }',
    expect: () => ({ backend: { loadBalancer: { type: 'ConsistentHash', algorithm: 'Maglev', hashOn: { type: 'ClientIP' }, tableSize: 65537 } } }),
  },
  {
    desc: 'loadBalancer: ConsistentHash on a header (name lower-cased), prime table',
    on: 'backend',
    yaml: 'loadBalancer: { type: ConsistentHash, consistentHash: { type: Header, header: { name: X-User }, tableSize: 5000011 } }',
    expect: () => ({
      backend: { loadBalancer: { type: 'ConsistentHash', algorithm: 'Maglev', hashOn: { type: 'Header', name: 'x-user' }, tableSize: 5000011 } },
    }),
  },
  {
    desc: 'loadBalancer: RingHash on a cookie, 1024 points per endpoint (2 endpoints)',
    on: 'backend',
    yaml: 'loadBalancer: { type: ConsistentHash, consistentHash: { type: Cookie, cookie: { name: session }, algorithm: RingHash } }',
    expect: () => ({
      backend: { loadBalancer: { type: 'ConsistentHash', algorithm: 'RingHash', hashOn: { type: 'Cookie', name: 'session' }, tableSize: 2048 } },
    }),
  },
  {
    desc: 'loadBalancer: RingHash on a query parameter, explicit size',
    on: 'backend',
    yaml: 'loadBalancer: { type: ConsistentHash, consistentHash: { type: QueryParam, queryParam: { name: user }, algorithm: RingHash, tableSize: 4096 } }',
    expect: () => ({
      backend: { loadBalancer: { type: 'ConsistentHash', algorithm: 'RingHash', hashOn: { type: 'QueryParam', name: 'user' }, tableSize: 4096 } },
    }),
  },
  {
    desc: 'healthCheck: {} (panic threshold 50 %, Retry-After honoured)',
    on: 'backend',
    yaml: 'healthCheck: {}',
    expect: () => ({ backend: { health: { panicThresholdPercent: 50, honorRetryAfter: true } } }),
  },
  {
    desc: 'healthCheck: active and passive defaults',
    on: 'backend',
    yaml: 'healthCheck: { active: {}, passive: {} }',
    expect: () => ({
      backend: {
        health: {
          panicThresholdPercent: 50,
          honorRetryAfter: true,
          active: { path: '/', method: 'GET', intervalMs: 3000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 3, expectedStatuses: [200] },
          passive: { consecutive5xx: 5, consecutiveGatewayErrors: 0, baseEjectionTimeMs: 30_000, maxEjectionTimeMs: 300_000, maxEjectionPercent: 10 },
        },
      },
    }),
  },
  {
    desc: 'healthCheck: every field',
    on: 'backend',
    yaml: `healthCheck:
  active:
    type: HTTP
    http: { path: /healthz, method: head, hostname: health.internal, expectedStatuses: [204, 200, 204] }
    interval: 10s
    timeout: 2s
    healthyThreshold: 2
    unhealthyThreshold: 5
  passive:
    consecutive5XxErrors: 0
    consecutiveGatewayErrors: 3
    baseEjectionTime: 10s
    maxEjectionTime: 1m
    maxEjectionPercent: 50
  panicThreshold: 0
  honorRetryAfter: false`,
    expect: () => ({
      backend: {
        health: {
          panicThresholdPercent: 0,
          honorRetryAfter: false,
          active: {
            path: '/healthz',
            method: 'HEAD',
            hostname: 'health.internal',
            intervalMs: 10_000,
            timeoutMs: 2000,
            healthyThreshold: 2,
            unhealthyThreshold: 5,
            expectedStatuses: [200, 204],
          },
          passive: { consecutive5xx: 0, consecutiveGatewayErrors: 3, baseEjectionTimeMs: 10_000, maxEjectionTimeMs: 60_000, maxEjectionPercent: 50 },
        },
      },
    }),
  },
  {
    desc: 'circuitBreaker: defaults (Envoy: 1024, retries 3)',
    on: 'backend',
    yaml: 'circuitBreaker: {}',
    expect: () => ({ backend: { circuitBreaker: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 } } }),
  },
  {
    desc: 'circuitBreaker: Envoy Gateway names → model names',
    on: 'backend',
    yaml: 'circuitBreaker: { maxConnections: 10, maxPendingRequests: 0, maxParallelRequests: 20, maxParallelRetries: 0 }',
    expect: () => ({ backend: { circuitBreaker: { maxConnections: 10, maxPendingRequests: 0, maxRequests: 20, maxRetries: 0 } } }),
  },
  {
    desc: 'on a backend: concurrency, rateLimit and the retry budget',
    on: 'backend',
    yaml: `concurrency: { maxInFlight: 8 }
rateLimit: { rules: [{ limit: { requests: 100, unit: Second } }] }
retry: { budget: { percent: 10 } }`,
    expect: (id) => ({
      backend: {
        concurrency: { policy: id, maxInFlight: 8, maxQueue: 0, queueTimeoutMs: 1000 },
        rateLimit: { policy: id, ...rlDefaults, rules: [{ name: `${id}/limit0`, ...limitDefaults, requests: 100, periodMs: 1000 }] },
        retryBudget: { ratio: 0.1, minPerSecond: 10, windowMs: 10_000 },
      },
    }),
  },
  {
    desc: 'on a route: backend-level sections reach the route\'s backends',
    on: 'route',
    yaml: 'loadBalancer: { type: LeastRequest }\ncircuitBreaker: { maxConnections: 5 }',
    expect: () => ({
      backend: { loadBalancer: { type: 'LeastRequest' }, circuitBreaker: { maxConnections: 5, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 } },
    }),
  },
];

describe('policy sections compile to the model', () => {
  for (const f of FORMATS) {
    for (const c of sectionCases) {
      it(`${f.name}: ${c.desc}`, () => {
        const file = writeConfig(f.text(c.yaml, c.on));
        assert.deepStrictEqual(validateConfig(file), { errors: [], warnings: [] });
        const { config } = loadConfig(file);
        const rule = only(config);
        const want = c.expect(f.id);
        assert.deepStrictEqual(rule.policy, want.policy);
        assert.deepStrictEqual(rule.retry, want.retry);
        const backend = config.backends[f.backend];
        assert.deepStrictEqual(backend.policy, want.backend === undefined ? undefined : { policy: f.id, ...want.backend });
        // Plain data: it crosses to the workers by structured clone.
        assert.deepStrictEqual(structuredClone(config), config);
      });
    }
  }
});

interface BadCase {
  desc: string;
  on?: On;
  yaml: string;
  /** Lines below the section's first line. */
  line?: number;
  /** Field below the policy body. */
  field: string;
  what: string | RegExp;
}

const badCases: BadCase[] = [
  { desc: 'unknown section key', yaml: 'rateLimit: { rulez: [] }', field: 'rateLimit.rulez', what: 'unknown field (allowed: type, failureMode, headers, rules, local, global)' },
  { desc: 'unknown section', yaml: 'rateLimits: {}', field: 'rateLimits', what: /^unknown field \(allowed: .*rateLimit, quota, concurrency, loadBalancer, healthCheck, circuitBreaker, retry\)$/ },
  {
    desc: 'unit not a unit or a duration',
    yaml: 'rateLimit: { rules: [{ limit: { requests: 1, unit: Week } }] }',
    field: 'rateLimit.rules[0].limit.unit',
    what: /^expected Second, Minute, Hour, Day or a Gateway API duration/,
  },
  { desc: 'zero requests', yaml: 'rateLimit: { rules: [{ limit: { requests: 0, unit: Second } }] }', field: 'rateLimit.rules[0].limit.requests', what: 'expected integer >= 1' },
  { desc: 'a 0s period', yaml: 'rateLimit: { rules: [{ limit: { requests: 1, unit: 0s } }] }', field: 'rateLimit.rules[0].limit.unit', what: 'the limit period must be longer than 0s' },
  {
    desc: 'header key without a name',
    yaml: 'rateLimit:\n  rules:\n    - key: [{ type: Header }]\n      limit: { requests: 1, unit: Second }',
    line: 2,
    field: 'rateLimit.rules[0].key[0]',
    what: 'a Header key needs a name: { type: Header, name: x-api-key }',
  },
  {
    desc: 'ClientIP key with a name',
    yaml: 'rateLimit: { rules: [{ key: [{ type: ClientIP, name: x }], limit: { requests: 1, unit: Second } }] }',
    field: 'rateLimit.rules[0].key[0].name',
    what: 'a ClientIP key takes no name; remove it',
  },
  {
    desc: 'invalid header name in a key',
    yaml: 'rateLimit: { rules: [{ key: [{ type: Header, name: "x key" }], limit: { requests: 1, unit: Second } }] }',
    field: 'rateLimit.rules[0].key[0].name',
    what: 'invalid header name "x key" (RFC 9110 §5.6.2 token characters only)',
  },
  { desc: 'rateLimit without rules', yaml: 'rateLimit: { type: Global }', field: 'rateLimit', what: /^rateLimit needs its limits: rules: \[/ },
  {
    desc: 'rules and local',
    yaml: 'rateLimit:\n  rules: [{ limit: { requests: 1, unit: Second } }]\n  local: { rules: [{ limit: { requests: 1, unit: Second } }] }',
    line: 2,
    field: 'rateLimit.local',
    what: /^set only one of rules, local, global \(also set: rules\)/,
  },
  {
    desc: 'type contradicts the wrapper',
    yaml: 'rateLimit: { type: Global, local: { rules: [{ limit: { requests: 1, unit: Second } }] } }',
    field: 'rateLimit.type',
    what: 'type Global contradicts `local:`; set type: Local or drop it',
  },
  {
    desc: 'clientSelectors: an Exact header',
    yaml: 'rateLimit: { rules: [{ clientSelectors: [{ headers: [{ name: x-user, value: bob }] }], limit: { requests: 1, unit: Second } }] }',
    field: 'rateLimit.rules[0].clientSelectors[0].headers[0]',
    what: /^only headers of type Distinct .* use key: \[\{ type: Header, name: x-user \}\]/,
  },
  {
    desc: 'clientSelectors: a path match',
    yaml: 'rateLimit: { rules: [{ clientSelectors: [{ path: { value: /x } }], limit: { requests: 1, unit: Second } }] }',
    field: 'rateLimit.rules[0].clientSelectors[0].path',
    what: /^clientSelectors.path is not supported: gatemesh limits by key, not by match/,
  },
  {
    desc: 'clientSelectors: a narrower CIDR',
    yaml: 'rateLimit: { rules: [{ clientSelectors: [{ sourceCIDR: { type: Distinct, value: 10.0.0.0/8 } }], limit: { requests: 1, unit: Second } }] }',
    field: 'rateLimit.rules[0].clientSelectors[0].sourceCIDR',
    what: /^only sourceCIDR \{ type: Distinct, value: 0.0.0.0\/0 or ::\/0 \}/,
  },
  {
    desc: 'key and clientSelectors',
    yaml: 'rateLimit: { rules: [{ key: [{ type: ClientIP }], clientSelectors: [{ sourceCIDR: { type: Distinct, value: ::/0 } }], limit: { requests: 1, unit: Second } }] }',
    field: 'rateLimit.rules[0].clientSelectors',
    what: /^set only one of key, clientSelectors/,
  },
  {
    desc: 'duplicate rule names',
    yaml: 'rateLimit:\n  rules:\n    - { name: a, limit: { requests: 1, unit: Second } }\n    - { name: a, limit: { requests: 2, unit: Second } }',
    line: 3,
    field: 'rateLimit.rules[1].name',
    what: 'duplicate name "a" (also rules[0]); names must be unique within the policy',
  },
  { desc: 'quota window', yaml: 'quota: { rules: [{ limit: { requests: 1, window: Week } }] }', field: 'quota.rules[0].limit.window', what: 'expected one of: Hour, Day, Month' },
  { desc: 'quota alignment', yaml: 'quota: { rules: [{ limit: { requests: 1, window: Day }, alignment: Sliding }] }', field: 'quota.rules[0].alignment', what: 'expected one of: Calendar, Rolling' },
  { desc: 'concurrency without maxInFlight', yaml: 'concurrency: { maxQueue: 5 }', field: 'concurrency.maxInFlight', what: 'required field missing (expected integer 1..2147483647)' },
  { desc: 'a queue with a 0s timeout', yaml: 'concurrency: { maxInFlight: 1, maxQueue: 5, queueTimeout: 0s }', field: 'concurrency.queueTimeout', what: /^a queue with a 0s timeout never lets anyone wait/ },
  { desc: 'queueTimeout not a duration', yaml: 'concurrency: { maxInFlight: 1, queueTimeout: 1.5s }', field: 'concurrency.queueTimeout', what: /^expected a Gateway API duration/ },
  { desc: 'adaptive minLimit above maxInFlight', yaml: 'concurrency: { maxInFlight: 2, adaptive: { minLimit: 3 } }', field: 'concurrency.adaptive.minLimit', what: /^minLimit \(3\) is above maxInFlight \(2\)/ },
  { desc: 'adaptive initialLimit out of range', yaml: 'concurrency: { maxInFlight: 10, adaptive: { initialLimit: 11 } }', field: 'concurrency.adaptive.initialLimit', what: 'initialLimit (11) must be between minLimit (4) and maxInFlight (10)' },
  { desc: 'adaptive smoothing above 1', yaml: 'concurrency: { maxInFlight: 10, adaptive: { smoothing: 2 } }', field: 'concurrency.adaptive.smoothing', what: 'expected a number above 0 and at most 1 (got 2)' },
  { desc: 'adaptive tolerance below 1', yaml: 'concurrency: { maxInFlight: 10, adaptive: { tolerance: 0.5 } }', field: 'concurrency.adaptive.tolerance', what: /^expected a number >= 1/ },
  { desc: 'unknown balancer', on: 'backend', yaml: 'loadBalancer: { type: WeightedRandom }', field: 'loadBalancer.type', what: 'expected one of: RoundRobin, LeastRequest, PeakEWMA, Random, ConsistentHash' },
  { desc: 'ConsistentHash without a key', on: 'backend', yaml: 'loadBalancer: { type: ConsistentHash }', field: 'loadBalancer', what: /^type ConsistentHash needs what to hash: consistentHash: \{ type: SourceIP \}/ },
  {
    desc: 'Header hash without header',
    on: 'backend',
    yaml: 'loadBalancer: { type: ConsistentHash, consistentHash: { type: Header } }',
    field: 'loadBalancer.consistentHash',
    what: 'consistentHash type Header needs header: { name: ... } naming the header to hash',
  },
  {
    desc: 'cookie given for a Header hash',
    on: 'backend',
    yaml: 'loadBalancer: { type: ConsistentHash, consistentHash: { type: Header, header: { name: x }, cookie: { name: c } } }',
    field: 'loadBalancer.consistentHash.cookie',
    what: 'cookie is only read with consistentHash type Cookie (type is Header); remove it',
  },
  {
    desc: 'Maglev table not prime',
    on: 'backend',
    yaml: 'loadBalancer: { type: ConsistentHash, consistentHash: { type: SourceIP, tableSize: 1000 } }',
    field: 'loadBalancer.consistentHash.tableSize',
    what: 'a Maglev table size must be prime (the permutation needs it); 1009 is the next one',
  },
  {
    desc: 'consistentHash on RoundRobin',
    on: 'backend',
    yaml: 'loadBalancer: { type: RoundRobin, consistentHash: { type: SourceIP } }',
    field: 'loadBalancer.consistentHash',
    what: /^consistentHash is only read with type: ConsistentHash \(type is RoundRobin\)/,
  },
  { desc: 'peakEWMA on LeastRequest', on: 'backend', yaml: 'loadBalancer: { type: LeastRequest, peakEWMA: {} }', field: 'loadBalancer.peakEWMA', what: /^peakEWMA is only read with type: PeakEWMA/ },
  { desc: 'health timeout above interval', on: 'backend', yaml: 'healthCheck: { active: { interval: 1s, timeout: 2s } }', field: 'healthCheck.active.timeout', what: /^timeout \(2s\) is longer than interval \(1s\)/ },
  { desc: 'health path without slash', on: 'backend', yaml: 'healthCheck: { active: { http: { path: healthz } } }', field: 'healthCheck.active.http.path', what: 'path must start with "/" (got "healthz")' },
  { desc: 'health method', on: 'backend', yaml: 'healthCheck: { active: { http: { method: FETCH } } }', field: 'healthCheck.active.http.method', what: /^expected one of: GET, HEAD/ },
  { desc: 'TCP checks', on: 'backend', yaml: 'healthCheck: { active: { type: TCP } }', field: 'healthCheck.active.type', what: 'expected "HTTP" (the only active check gatemesh runs)' },
  {
    desc: 'maxEjectionTime below the base',
    on: 'backend',
    yaml: 'healthCheck:\n  passive:\n    baseEjectionTime: 1m\n    maxEjectionTime: 30s',
    line: 3,
    field: 'healthCheck.passive.maxEjectionTime',
    what: 'maxEjectionTime (30s) is shorter than baseEjectionTime (1m); raise it or lower the base',
  },
  { desc: 'panic threshold above 100', on: 'backend', yaml: 'healthCheck: { panicThreshold: 101 }', field: 'healthCheck.panicThreshold', what: 'expected integer <= 100' },
  { desc: 'circuit breaker with no requests', on: 'backend', yaml: 'circuitBreaker: { maxParallelRequests: 0 }', field: 'circuitBreaker.maxParallelRequests', what: 'expected integer >= 1' },
  { desc: 'Envoy\'s own circuit breaker name', on: 'backend', yaml: 'circuitBreaker: { maxRequests: 5 }', field: 'circuitBreaker.maxRequests', what: /^unknown field \(allowed: maxConnections, maxPendingRequests, maxParallelRequests, maxParallelRetries\)$/ },
  {
    desc: 'retriable-status-codes without statuses',
    yaml: 'retry: { retryOn: { triggers: [retriable-status-codes] } }',
    field: 'retry.retryOn.triggers',
    what: 'retriable-status-codes needs the statuses: add retryOn.httpStatusCodes: [503] or drop the trigger',
  },
  {
    desc: 'statuses without retriable-status-codes',
    yaml: 'retry: { retryOn: { triggers: [reset], httpStatusCodes: [503] } }',
    field: 'retry.retryOn.httpStatusCodes',
    what: /^these statuses are retried only with the retriable-status-codes trigger/,
  },
  { desc: 'a trigger gatemesh lacks', yaml: 'retry: { retryOn: { triggers: [refused-stream] } }', field: 'retry.retryOn.triggers[0]', what: /^expected one of: connect-failure, reset, retriable-status-codes, gateway-error, 5xx$/ },
  {
    desc: 'maxInterval below baseInterval',
    yaml: 'retry: { perRetry: { backOff: { baseInterval: 1s, maxInterval: 500ms } } }',
    field: 'retry.perRetry.backOff.maxInterval',
    what: 'maxInterval (500ms) is below baseInterval (1s); raise it (default 10 × baseInterval)',
  },
  { desc: 'too many retries', yaml: 'retry: { numRetries: 11 }', field: 'retry.numRetries', what: 'expected integer <= 10' },
  { desc: 'budget percent above 100', yaml: 'retry: { budget: { percent: 150 } }', field: 'retry.budget.percent', what: 'expected a percentage from 0 to 100 (got 150)' },
  { desc: 'status code out of range', yaml: 'retry: { retryOn: { httpStatusCodes: [200] } }', field: 'retry.retryOn.httpStatusCodes[0]', what: 'expected integer >= 400' },
];

describe('policy errors name file, line and field', () => {
  for (const f of FORMATS) {
    for (const c of badCases) {
      it(`${f.name}: ${c.desc}`, () => {
        const file = writeConfig(f.text(c.yaml, c.on ?? 'route'));
        const { errors } = validateConfig(file);
        assert.equal(errors.length, 1, errors.map((e) => e.message).join('\n'));
        const e = errors[0];
        assert.deepStrictEqual([e.file, e.line, e.field], [file, f.line + (c.line ?? 0), f.field + c.field]);
        if (typeof c.what === 'string') assert.equal(e.what, c.what + f.suffix);
        else {
          assert.ok(e.what.endsWith(f.suffix), e.what);
          assert.match(e.what.slice(0, e.what.length - f.suffix.length), c.what);
        }
        if (f.name === 'native') {
          // Native errors are fatal: the config does not load.
          assert.throws(() => loadConfig(file), (err: unknown) => (err as Error).message.startsWith(`${file}:${e.line}: ${e.field}: `));
        } else {
          // An invalid BackendTrafficPolicy is left out; the rest loads, without the policy.
          const { config } = loadConfig(file);
          assert.equal(only(config).policy, undefined);
          assert.equal(config.backends[f.backend].policy, undefined);
          assert.ok(config.warnings.includes(`error: ${e.message}`));
        }
      });
    }
  }
});
