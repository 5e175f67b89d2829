import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GatewayConfig } from '../../src/config/model';
import { createHash } from 'node:crypto';
import { canonicalJson, configHash } from '../../src/reload/config-hash';

function cfg(prefix: string, line: number, keyOrder: 'ab' | 'ba'): GatewayConfig {
  const backend = keyOrder === 'ab' ? { name: 'b', endpoints: [{ address: '127.0.0.1', port: 1 }] } : { endpoints: [{ port: 1, address: '127.0.0.1' }], name: 'b' };
  return {
    listeners: [{ name: 'web', address: '0.0.0.0', port: 80, protocol: 'HTTP', routes: [{ name: 'r', hostnames: [], source: { file: 'x.yaml', line }, rules: [{ matches: [{ path: { type: 'PathPrefix', value: prefix }, headers: [], queryParams: [] }], backendRefs: [{ backend: 'b', weight: 1 }] }] }] }],
    backends: { b: backend },
    sources: [`/etc/${line}.yaml`],
    warnings: [`w${line}`],
  };
}

describe('config hash', () => {
  it('canonical JSON sorts keys at every level and drops undefined', () => {
    const cases: [unknown, string][] = [
      [{ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } }, '{"a":{"d":[1,{"x":1,"y":2}]},"b":1}'],
      [[undefined, null, 'é'], '[null,null,"é"]'],
      ['s', '"s"'],
    ];
    for (const [value, want] of cases) assert.equal(canonicalJson(value), want);
  });

  it('names what is served: not key order, files, lines or warnings', () => {
    const h = configHash(cfg('/a', 1, 'ab'));
    assert.match(h, /^[0-9a-f]{64}$/);
    assert.equal(configHash(cfg('/a', 7, 'ba')), h);
    assert.notEqual(configHash(cfg('/b', 1, 'ab')), h);
  });

  it('is the sha256 of the canonical JSON with routes and backends replaced by their digests', () => {
    const sha = (t: string): string => createHash('sha256').update(t).digest('hex');
    const two = cfg('/a', 1, 'ab');
    two.listeners.push({ ...two.listeners[0], name: 'api', hostname: 'x.example.com', routes: [...two.listeners[0].routes, ...cfg('/b', 2, 'ba').listeners[0].routes] });
    two.listeners.push({ ...two.listeners[0], name: 'none', routes: [] });
    for (const c of [cfg('/a', 1, 'ab'), two]) {
      const plain = {
        listeners: c.listeners.map((l) => ({ ...l, routes: l.routes.map((r) => sha(canonicalJson(r))) })),
        backends: Object.fromEntries(Object.entries(c.backends).map(([n, b]) => [n, sha(canonicalJson(b))])),
      };
      assert.equal(configHash(c), sha(canonicalJson(plain)));
    }
  });
});
