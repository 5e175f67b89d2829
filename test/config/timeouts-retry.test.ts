// rules[].timeouts and rules[].retry in both config formats: what they compile to, their
// defaults, and the file:line: field messages for values the spec forbids.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig, validateConfig } from '../../src/config';
import { writeConfig } from '../helpers/gateway';

/** Native config whose route block `extra` starts at line 7 (indented as route keys). */
function native(extra: string): string {
  return `listeners:
  - name: web
    port: 0
routes:
  - name: r
    backend: b
${extra}
backends:
  - name: b
    endpoints: ["127.0.0.1:1"]
`;
}

/** Gateway API manifests; the HTTPRoute's `rules` items start at line 19. A second route, `ok`, is valid. */
function manifests(rules: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: gm }
spec: { controllerName: gatemesh.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw }
spec:
  gatewayClassName: gm
  listeners: [{ name: web, port: 0, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: gw }]
  rules:
${rules}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ok }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { value: /ok } }] }]
`;
}

interface Bad {
  desc: string;
  text: string;
  line: number;
  field: string;
  what: RegExp;
}

describe('native: timeouts and retry', () => {
  it('compiles durations to ms and applies retry defaults', () => {
    const file = writeConfig(native(`    timeouts: { request: 5s, backendRequest: 1s }
    retry: { attempts: 2, codes: [503, 502, 503], backoff: 100ms }`));
    const rule = loadConfig(file).config.listeners[0].routes[0].rules[0];
    assert.deepStrictEqual(rule.timeouts, { requestMs: 5000, backendRequestMs: 1000 });
    assert.deepStrictEqual(rule.retry, { attempts: 2, codes: [502, 503], backoffMs: 100 }, 'codes sorted and unique');
    const defaults = loadConfig(writeConfig(native('    retry: {}\n    timeouts: { request: 0s }'))).config.listeners[0].routes[0].rules[0];
    assert.deepStrictEqual(defaults.retry, { attempts: 1, codes: [], backoffMs: 25 });
    assert.deepStrictEqual(defaults.timeouts, { requestMs: 0 }, '"0s" is kept: it disables the timeout');
    const none = loadConfig(writeConfig(native(''))).config.listeners[0].routes[0].rules[0];
    assert.equal(none.timeouts, undefined);
    assert.equal(none.retry, undefined);
  });

  it('backendRequest may be anything when request is 0s (disabled)', () => {
    const { errors } = validateConfig(writeConfig(native('    timeouts: { request: 0s, backendRequest: 10m }')));
    assert.deepStrictEqual(errors, []);
  });

  const bad: Bad[] = [
    { desc: 'duration without a unit', text: '    timeouts:\n      request: 10', line: 8, field: 'routes[0].timeouts.request', what: /^expected a Gateway API duration such as "10s"/ },
    { desc: 'fractional duration', text: '    timeouts:\n      request: 1.5s', line: 8, field: 'routes[0].timeouts.request', what: /GEP-2257/ },
    {
      desc: 'backendRequest longer than request',
      text: '    timeouts:\n      request: 1s\n      backendRequest: 2s',
      line: 9,
      field: 'routes[0].timeouts.backendRequest',
      what: /^backendRequest timeout \(2s\) cannot be longer than request timeout \(1s\); lower backendRequest or raise request$/,
    },
    { desc: 'unknown timeouts key', text: '    timeouts:\n      idle: 1s', line: 8, field: 'routes[0].timeouts.idle', what: /unknown field \(allowed: request, backendRequest\)/ },
    { desc: 'status code below 400', text: '    retry:\n      codes: [503, 200]', line: 8, field: 'routes[0].retry.codes[1]', what: /expected integer >= 400/ },
    { desc: 'status code above 599', text: '    retry:\n      codes: [600]', line: 8, field: 'routes[0].retry.codes[0]', what: /expected integer <= 599/ },
    { desc: 'too many attempts', text: '    retry:\n      attempts: 11', line: 8, field: 'routes[0].retry.attempts', what: /expected integer <= 10/ },
    { desc: 'negative attempts', text: '    retry:\n      attempts: -1', line: 8, field: 'routes[0].retry.attempts', what: /expected integer >= 0/ },
    { desc: 'bad backoff', text: '    retry:\n      backoff: fast', line: 8, field: 'routes[0].retry.backoff', what: /Gateway API duration/ },
    { desc: 'misspelt retry key', text: '    retry:\n      backof: 1s', line: 8, field: 'routes[0].retry.backof', what: /unknown field \(allowed: codes, attempts, backoff\)/ },
  ];
  for (const c of bad) {
    it(`rejects ${c.desc} with file:line: field`, () => {
      const file = writeConfig(native(c.text));
      const { errors } = validateConfig(file);
      assert.equal(errors.length, 1, errors.map((e) => e.message).join('\n'));
      assert.deepStrictEqual([errors[0].file, errors[0].line, errors[0].field], [file, c.line, c.field]);
      assert.match(errors[0].what, c.what);
      assert.throws(() => loadConfig(file), (e: Error) => e.message.startsWith(`${file}:${c.line}: ${c.field}: `));
    });
  }
});

describe('gateway-api: timeouts, retry and rule names', () => {
  it('compiles timeouts and retry of named rules, with no "not implemented" warning', () => {
    const file = writeConfig(manifests(`    - name: canary
      timeouts: { request: 10s, backendRequest: 500ms }
      retry: { attempts: 3, codes: [500, 502, 503, 504], backoff: 1s }
    - name: stable.v1
      retry: { codes: [503] }`));
    const { config } = loadConfig(file);
    const route = config.listeners[0].routes.find((r) => r.name === 'default/r');
    assert.ok(route);
    assert.deepStrictEqual(route.rules.map((r) => [r.name, r.timeouts, r.retry]), [
      ['canary', { requestMs: 10_000, backendRequestMs: 500 }, { attempts: 3, codes: [500, 502, 503, 504], backoffMs: 1000 }],
      ['stable.v1', undefined, { attempts: 1, codes: [503], backoffMs: 25 }],
    ]);
    assert.deepStrictEqual(config.warnings.filter((w) => /timeouts|retry/.test(w)), []);
  });

  const bad: Bad[] = [
    {
      desc: 'backendRequest longer than request',
      text: '    - timeouts:\n        request: 1s\n        backendRequest: 1m',
      line: 21,
      field: 'spec.rules[0].timeouts.backendRequest',
      what: /^backendRequest timeout \(1m\) cannot be longer than request timeout \(1s\).*; HTTPRoute default\/r not loaded$/,
    },
    { desc: 'invalid duration', text: '    - timeouts: { request: soon }', line: 19, field: 'spec.rules[0].timeouts.request', what: /Gateway API duration.*HTTPRoute default\/r not loaded/ },
    { desc: 'retry code out of range', text: '    - retry: { codes: [302] }', line: 19, field: 'spec.rules[0].retry.codes[0]', what: /expected integer >= 400/ },
    {
      desc: 'duplicate rule names',
      text: '    - name: a\n    - name: b\n    - name: a',
      line: 21,
      field: 'spec.rules[2].name',
      what: /^duplicate rule name "a" \(also spec.rules\[0\].name\); rule names must be unique within a route; HTTPRoute default\/r not loaded$/,
    },
    { desc: 'rule name that is not a DNS subdomain', text: '    - name: Canary_1', line: 19, field: 'spec.rules[0].name', what: /lower-case letters, digits/ },
  ];
  for (const c of bad) {
    it(`drops the route on ${c.desc}, naming file:line: field; the rest loads`, () => {
      const file = writeConfig(manifests(c.text));
      const { errors } = validateConfig(file);
      assert.equal(errors.length, 1, errors.map((e) => e.message).join('\n'));
      assert.deepStrictEqual([errors[0].file, errors[0].line, errors[0].field], [file, c.line, c.field]);
      assert.match(errors[0].what, c.what);
      const { config } = loadConfig(file);
      assert.deepStrictEqual(config.listeners[0].routes.map((r) => r.name), ['default/ok']);
      assert.ok(config.warnings.some((w) => w.startsWith(`error: ${file}:${c.line}: ${c.field}: `)));
    });
  }
});
