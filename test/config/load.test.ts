// loadConfig / validateConfig entry points: files vs directories, mixed formats, error
// aggregation, the default config and the shipped examples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { AggregateConfigError, ConfigError, DEFAULT_CONFIG_PATH, loadConfig, validateConfig } from '../../src/config';
import { fixture, REPO_ROOT } from './fixtures';

test('load: a directory mixing native files and manifests', () => {
  const dir = fixture('mixed-dir');
  const { config } = loadConfig(dir);
  // Only *.yaml / *.yml directly in the directory, sorted; README.txt and nested/ are ignored.
  assert.deepStrictEqual(config.sources, ['10-native.yaml', '20-gateway.yml', '30-native-backends.yaml'].map((f) => path.join(dir, f)));
  assert.deepStrictEqual(config.listeners.map((l) => [l.name, l.routes.map((r) => r.name)]), [
    ['web', ['local']], // native routes default to native listeners only
    ['default/gw/web', ['default/r']],
  ]);
  // A native route may name a native backend defined in another file of the directory.
  assert.deepStrictEqual(config.listeners[0].routes[0].rules[0].backendRefs, [{ backend: 'local', weight: 1 }]);
  assert.deepStrictEqual(config.backends, {
    local: { name: 'local', endpoints: [{ address: '127.0.0.1', port: 9000 }] },
    'default/svc:80': { name: 'default/svc:80', endpoints: [{ address: '127.0.0.1', port: 8080 }] },
  });
  assert.deepStrictEqual(config.warnings, []);
});

test('load: several fatal errors throw one AggregateConfigError, sorted by line', () => {
  const file = fixture('two-errors.yaml');
  assert.throws(
    () => loadConfig(file),
    (err: unknown) => {
      assert.ok(err instanceof AggregateConfigError);
      assert.ok(err instanceof ConfigError);
      assert.deepStrictEqual(err.errors.map((e) => [e.line, e.field]), [[3, 'listeners[0].port'], [7, 'routes[0].timeout']]);
      assert.deepStrictEqual([err.file, err.line, err.field], [file, 3, 'listeners[0].port']);
      // The allowed-key list grows with route features (timeouts, retry, filters): check its start.
      assert.ok(
        err.message.startsWith(`${file}:3: listeners[0].port: expected integer >= 0\n${file}:7: routes[0].timeout: unknown field (allowed: name, listeners, hostnames, match, backend, backends, timeouts, retry`),
        err.message,
      );
      return true;
    },
  );
});

test('load: an invalid Service is dropped and its backendRef resolves to nothing', () => {
  const file = fixture('k8s-bad-service.yaml');
  const { config } = loadConfig(file);
  assert.deepStrictEqual(config.listeners[0].routes[0].rules[0].backendRefs, [{ backend: null, weight: 1, invalidReason: 'BackendNotFound' }]);
  assert.equal(config.warnings[0], `error: ${file}:20: spec.prots: unknown field (allowed: ports, type, externalName, selector, clusterIP, clusterIPs, externalIPs, externalTrafficPolicy, internalTrafficPolicy, healthCheckNodePort, ipFamilies, ipFamilyPolicy, loadBalancerClass, loadBalancerIP, loadBalancerSourceRanges, allocateLoadBalancerNodePorts, publishNotReadyAddresses, sessionAffinity, sessionAffinityConfig, trafficDistribution); Service default/svc not loaded`);
  assert.deepStrictEqual(validateConfig(file).errors.map((e) => [e.line, e.field]), [[20, 'spec.prots']]);
});

interface EntryCase {
  desc: string;
  target: string;
  file: string;
  line: number;
  field: string;
  what: string;
}

const entryCases: EntryCase[] = [
  { desc: 'missing path', target: 'does-not-exist.yaml', file: 'does-not-exist.yaml', line: 1, field: '(file)', what: 'cannot read: ENOENT' },
  { desc: 'directory without YAML files', target: 'empty-dir', file: 'empty-dir', line: 1, field: '(directory)', what: 'no *.yaml or *.yml files in this directory' },
  {
    desc: 'same address, port and hostname across formats',
    target: 'conflict-dir',
    file: 'conflict-dir/b.yaml',
    line: 15,
    field: 'spec.listeners[1]',
    what: 'listener "default/gw/web" has the same address, port and hostname as listener "web" ({a}:2); change the port or give them different hostnames',
  },
];

for (const c of entryCases) {
  test(`load error: ${c.desc}`, () => {
    const expected = `${fixture(c.file)}:${c.line}: ${c.field}: ${c.what.replace('{a}', fixture('conflict-dir/a.yaml'))}`;
    assert.throws(() => loadConfig(fixture(c.target)), (err: unknown) => err instanceof ConfigError && err.message === expected);
    assert.deepStrictEqual(validateConfig(fixture(c.target)).errors.map((e) => e.message), [expected]);
  });
}

test('load: DEFAULT_CONFIG_PATH is examples/gatemesh.yaml: web on 8080, "/" to the demo backend', () => {
  assert.equal(DEFAULT_CONFIG_PATH, path.join(REPO_ROOT, 'examples/gatemesh.yaml'));
  const { config, demoBackends } = loadConfig(DEFAULT_CONFIG_PATH);
  assert.deepStrictEqual(demoBackends, ['demo']);
  assert.deepStrictEqual(config.listeners.map((l) => [l.name, l.address, l.port]), [['web', '0.0.0.0', 8080]]);
  const rule = config.listeners[0].routes[0].rules[0];
  assert.deepStrictEqual(rule.matches.map((m) => m.path), [{ type: 'PathPrefix', value: '/' }]);
  assert.deepStrictEqual(rule.backendRefs, [{ backend: 'demo', weight: 1 }]);
  assert.deepStrictEqual(config.backends, { demo: { name: 'demo', endpoints: [] } });
  assert.deepStrictEqual(config.warnings, []);
});

test('load: shipped examples load without errors or warnings', () => {
  const cases = [
    { desc: 'native.yaml', target: 'examples/native.yaml', listeners: ['web', 'public'] },
    { desc: 'gateway-api/', target: 'examples/gateway-api', listeners: ['infra/edge/http', 'infra/edge/internal'] },
  ];
  for (const c of cases) {
    const result = validateConfig(path.join(REPO_ROOT, c.target));
    assert.deepStrictEqual(result, { errors: [], warnings: [] }, c.desc);
    const { config } = loadConfig(path.join(REPO_ROOT, c.target));
    assert.deepStrictEqual(config.listeners.map((l) => l.name), c.listeners, c.desc);
  }
  const { config } = loadConfig(path.join(REPO_ROOT, 'examples/gateway-api'));
  assert.deepStrictEqual(config.backends['products/catalog:8080'].endpoints, [{ address: 'fd00::30', port: 9000 }]);
  assert.deepStrictEqual(config.backends['infra/grafana:3000'].endpoints, []);
});

test('load: the model is plain data that survives structuredClone', () => {
  const { config } = loadConfig(fixture('k8s-happy'));
  assert.deepStrictEqual(structuredClone(config), config);
});
