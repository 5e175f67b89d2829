// Native YAML format: the compiled model, every error with its exact file:line: field, warnings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, validateConfig } from '../../src/config';
import type { Listener, Route, RouteMatch, RouteRule } from '../../src/config';
import { fixture } from './fixtures';

const prefix = (value: string): RouteMatch => ({ path: { type: 'PathPrefix', value }, headers: [], queryParams: [] });

test('native: valid file compiles to the model', () => {
  const file = fixture('native-valid.yaml');
  const { config, demoBackends } = loadConfig(file);
  const apiRule: RouteRule = {
    matches: [
      {
        path: { type: 'PathPrefix', value: '/api' },
        method: 'GET',
        headers: [
          { type: 'Exact', name: 'x-env', value: 'canary' },
          { type: 'RegularExpression', name: 'x-ver', value: '^v[0-9]+$' },
        ],
        queryParams: [
          { type: 'Exact', name: 'debug', value: '1' },
          { type: 'RegularExpression', name: 'id', value: '^[0-9]+$' },
        ],
      },
      { path: { type: 'Exact', value: '/healthz' }, headers: [], queryParams: [] },
      { path: { type: 'RegularExpression', value: '^/v[0-9]+$' }, headers: [], queryParams: [] },
    ],
    backendRefs: [
      { backend: 'api', weight: 3 },
      { backend: 'canary', weight: 0 },
    ],
  };
  const api = (hostnames: string[]): Route => ({ name: 'api', hostnames, rules: [apiRule], source: { file, line: 10 } });
  const expected: Listener[] = [
    {
      name: 'web',
      address: '0.0.0.0',
      port: 0,
      protocol: 'HTTP',
      routes: [
        api(['api.example.com', '*.example.com']),
        { name: 'root', hostnames: [], rules: [{ matches: [prefix('/')], backendRefs: [{ backend: 'demo', weight: 1 }] }], source: { file, line: 26 } },
      ],
    },
    {
      name: 'site',
      address: '127.0.0.1',
      port: 18080,
      protocol: 'HTTP',
      hostname: '*.example.com',
      routes: [
        api(['api.example.com', '*.example.com']),
        {
          name: 'single',
          hostnames: ['*.example.com'],
          rules: [{ matches: [prefix('/single')], backendRefs: [{ backend: null, weight: 1, invalidReason: 'BackendNotFound' }] }],
          source: { file, line: 29 },
        },
      ],
    },
  ];
  assert.deepStrictEqual(config.listeners, expected);
  assert.deepStrictEqual(config.backends, {
    api: {
      name: 'api',
      endpoints: [
        { address: '127.0.0.1', port: 3000 },
        { address: '::1', port: 3001 },
        { address: 'localhost', port: 3002 },
      ],
    },
    canary: { name: 'canary', endpoints: [] },
    demo: { name: 'demo', endpoints: [] },
  });
  assert.deepStrictEqual(demoBackends, ['demo']);
  assert.deepStrictEqual(config.sources, [file]);
  assert.deepStrictEqual(config.warnings, [
    `${file}:33: routes[2].backend: no backend named "ghost"; requests to route "single" that pick it get 500 (BackendNotFound)`,
  ]);
});

test('native: several documents in one file form one config', () => {
  const { config } = loadConfig(fixture('multi-doc-native.yaml'));
  assert.equal(config.listeners.length, 1);
  assert.deepStrictEqual(config.listeners[0].routes.map((r) => r.rules[0].backendRefs), [[{ backend: 'b', weight: 1 }]]);
  assert.deepStrictEqual(config.backends.b.endpoints, [{ address: '127.0.0.1', port: 1 }]);
});

test('native: missing backend and hostname mismatch are warnings, not errors', () => {
  const file = fixture('native-warnings.yaml');
  const { config } = loadConfig(file);
  assert.deepStrictEqual(config.listeners.map((l) => [l.name, l.routes.map((r) => r.name)]), [['web', []], ['any', ['api']]]);
  assert.deepStrictEqual(config.listeners[1].routes[0].rules[0].backendRefs, [{ backend: null, weight: 1, invalidReason: 'BackendNotFound' }]);
  assert.deepStrictEqual(config.warnings, [
    `${file}:10: routes[0].backend: no backend named "missing"; requests to route "api" that pick it get 500 (BackendNotFound)`,
    `${file}:9: route "api": no hostname in common with listener "web" (hostname www.example.com); not attached to it`,
  ]);
  assert.deepStrictEqual(validateConfig(file).errors, []);
});

interface ErrorCase {
  desc: string;
  file: string;
  line: number;
  field: string;
  /** Exact text after `field: `, or a prefix when `prefix` is set (engine-worded messages). */
  what: string;
  prefix?: boolean;
  /** Total number of errors validateConfig reports (default 1). */
  count?: number;
}

const D = 'native-errors/';
const errorCases: ErrorCase[] = [
  { desc: 'negative weight', file: 'weight-negative.yaml', line: 8, field: 'routes[0].backends[0].weight', what: 'expected integer >= 0' },
  { desc: 'fractional weight', file: 'weight-fraction.yaml', line: 8, field: 'routes[0].backends[0].weight', what: 'expected integer 0..1000000' },
  { desc: 'port above 65535', file: 'port-too-big.yaml', line: 3, field: 'listeners[0].port', what: 'expected integer <= 65535' },
  { desc: 'port not a number', file: 'port-string.yaml', line: 3, field: 'listeners[0].port', what: 'expected integer 0..65535' },
  {
    desc: 'unknown listener key',
    file: 'unknown-listener-key.yaml',
    line: 4,
    field: 'listeners[0].prot',
    what: 'unknown field (allowed: name, port, address, hostname, policy, policies)',
  },
  { desc: 'unknown top-level key', file: 'unknown-top-key.yaml', line: 4, field: 'route', what: 'unknown field (allowed: listeners, routes, backends, policies)' },
  {
    desc: 'unknown key in a single (non-list) match',
    file: 'unknown-match-key.yaml',
    line: 7,
    field: 'routes[0].match.paht',
    what: 'unknown field (allowed: path, pathExact, pathRegex, method, headers, headersRegex, query, queryRegex)',
  },
  { desc: 'missing listener name', file: 'missing-name.yaml', line: 4, field: 'listeners[1].name', what: 'required field missing (expected a non-empty string)' },
  { desc: 'duplicate listener', file: 'dup-listener.yaml', line: 4, field: 'listeners[1].name', what: 'duplicate listener name "web" (first at {dir}dup-listener.yaml:2); listener names must be unique' },
  { desc: 'duplicate route', file: 'dup-route.yaml', line: 7, field: 'routes[1].name', what: 'duplicate route name "api" (first at {dir}dup-route.yaml:5); route names must be unique' },
  { desc: 'duplicate backend', file: 'dup-backend.yaml', line: 7, field: 'backends[1].name', what: 'duplicate backend name "api" (first at {dir}dup-backend.yaml:5); backend names must be unique' },
  { desc: 'backend and backends', file: 'backend-and-backends.yaml', line: 5, field: 'routes[0]', what: 'set exactly one of `backend: <name>` or `backends: [{ name, weight }]`' },
  { desc: 'neither backend nor backends', file: 'no-backends.yaml', line: 5, field: 'routes[0]', what: 'set exactly one of `backend: <name>` or `backends: [{ name, weight }]`' },
  { desc: 'empty backends list', file: 'empty-backends.yaml', line: 6, field: 'routes[0].backends', what: 'expected a non-empty list' },
  { desc: 'endpoints and builtin', file: 'endpoints-and-builtin.yaml', line: 5, field: 'backends[0]', what: 'set exactly one of `endpoints: ["host:port", ...]` or `builtin: demo`' },
  { desc: 'unknown builtin', file: 'builtin-unknown.yaml', line: 6, field: 'backends[0].builtin', what: 'expected "demo" (the only built-in upstream)' },
  {
    desc: 'IPv6 endpoint without brackets',
    file: 'endpoint-ipv6-no-brackets.yaml',
    line: 8,
    field: 'backends[0].endpoints[1]',
    what: 'IPv6 addresses need brackets, e.g. "[::1]:8080"; expected "host:port", "ipv4:port" or "[ipv6]:port" with port 1..65535',
  },
  { desc: 'endpoint port 0', file: 'endpoint-port-zero.yaml', line: 6, field: 'backends[0].endpoints[0]', what: 'expected "host:port", "ipv4:port" or "[ipv6]:port" with port 1..65535' },
  { desc: 'route names an unknown listener', file: 'route-unknown-listener.yaml', line: 6, field: 'routes[0].listeners[1]', what: 'no listener named "admin" (known: web)' },
  { desc: 'path and pathExact', file: 'two-paths.yaml', line: 8, field: 'routes[0].match[0].pathExact', what: 'set only one of path, pathExact, pathRegex (also set: path)' },
  { desc: 'path without leading slash', file: 'path-no-slash.yaml', line: 8, field: 'routes[0].match[1].path', what: 'path must start with "/" (got "api")' },
  { desc: 'invalid path regex', file: 'bad-regex.yaml', line: 7, field: 'routes[0].match[0].pathRegex', what: 'invalid regular expression:', prefix: true },
  { desc: 'unknown method', file: 'bad-method.yaml', line: 7, field: 'routes[0].match[0].method', what: 'expected one of: GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH' },
  { desc: 'header name with a space', file: 'bad-header-name.yaml', line: 8, field: 'routes[0].match[0].headers["x env"]', what: 'invalid header name "x env" (RFC 9110 §5.6.2 token characters only)' },
  { desc: 'query value not a string', file: 'header-value-number.yaml', line: 8, field: 'routes[0].match[0].query.debug', what: 'expected a string' },
  { desc: 'invalid route hostname', file: 'bad-hostname.yaml', line: 8, field: 'routes[0].hostnames[1]', what: 'expected a hostname like', prefix: true },
  { desc: 'listener address not an IP', file: 'listener-address-name.yaml', line: 4, field: 'listeners[0].address', what: 'expected an IP address to bind, such as 0.0.0.0 (all interfaces) or 127.0.0.1 (got "localhost")' },
  { desc: 'YAML syntax error', file: 'yaml-syntax.yaml', line: 5, field: '(yaml)', what: '', prefix: true, count: 2 },
  { desc: 'duplicate YAML key', file: 'yaml-duplicate-key.yaml', line: 4, field: '(yaml)', what: 'Map keys must be unique' },
  { desc: 'top level is a list', file: 'not-a-mapping.yaml', line: 2, field: '(document)', what: 'expected a mapping with listeners, routes and backends' },
  {
    desc: 'two listeners on the same port and hostname',
    file: 'listener-conflict.yaml',
    line: 4,
    field: 'listeners[1]',
    what: 'listener "b" has the same address, port and hostname as listener "a" ({dir}listener-conflict.yaml:2); change the port or give them different hostnames',
  },
  { desc: 'no listeners at all', file: 'no-listeners.yaml', line: 1, field: 'listeners', what: 'no listeners to serve:', prefix: true },
];

for (const c of errorCases) {
  test(`native error: ${c.desc}`, () => {
    const file = fixture(D + c.file);
    const what = c.what.replace('{dir}', fixture(D));
    const { errors } = validateConfig(file);
    assert.equal(errors.length, c.count ?? 1, errors.map((e) => e.message).join('\n'));
    const e = errors[0];
    assert.ok(e instanceof ConfigError);
    assert.deepStrictEqual([e.file, e.line, e.field], [file, c.line, c.field]);
    if (c.prefix) assert.ok(e.what.startsWith(what), e.what);
    else assert.equal(e.what, what);
    assert.equal(e.message, `${file}:${c.line}: ${c.field}: ${e.what}`);
    // loadConfig refuses the same file with the same first error.
    assert.throws(() => loadConfig(file), (err: unknown) => err instanceof ConfigError && err.file === file && err.line === c.line && err.field === c.field);
  });
}
