// The incremental manifest compile (hot reload) must load exactly what a fresh load does, over
// random sequences of edits to a directory of Gateway API manifests: route files changed, added,
// removed, the Gateway or Services changed, duplicates across files, invalid routes, routes
// mixed into a base file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadConfig, type LoadResult } from '../../src/config/load';
import { createConfigCache } from '../../src/config/manifest-memo';
import { tempDir } from '../helpers/gateway';

const CLASS = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: gm }
spec: { controllerName: gatemesh.io/gateway-controller }
`;
const gateway = (hostname: string, second: boolean) => `${CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  gatewayClassName: gm
  listeners:
    - { name: web, port: 8080, protocol: HTTP${hostname ? `, hostname: "${hostname}"` : ''} }
${second ? '    - { name: api, port: 8081, protocol: HTTP }\n' : ''}`;
const services = (port: number) => `apiVersion: v1
kind: Service
metadata: { name: svc, namespace: default }
spec: { ports: [{ port: 80, targetPort: ${port} }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: svc-1, namespace: default, labels: { kubernetes.io/service-name: svc } }
addressType: IPv4
ports: [{ port: ${port} }]
endpoints: [{ addresses: ["10.0.0.1"] }]
`;
const route = (name: string, host: string, p: string, backend: string, section?: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: default }
spec:
  parentRefs: [{ name: gw${section ? `, sectionName: ${section}` : ''} }]
  hostnames: ["${host}"]
  rules:
    - matches: [{ path: { type: PathPrefix, value: ${p} } }]
      backendRefs: [{ name: ${backend}, port: 80 }]
`;

const routeArb = fc
  .record({
    name: fc.constantFrom('r1', 'r2', 'r3', 'r4', 'r5', 'r6'),
    host: fc.constantFrom('a.example.com', '*.example.com', 'b.test', 'bad_host!'),
    path: fc.constantFrom('/', '/a', '/b/c'),
    backend: fc.constantFrom('svc', 'missing'),
    section: fc.constantFrom(undefined, 'web', 'api'),
  })
  .map((r) => route(r.name, r.host, r.path, r.backend, r.section));
const UNKNOWN = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n';

const fileTextArb = fc.oneof(
  { weight: 6, arbitrary: fc.array(routeArb, { minLength: 1, maxLength: 3 }).map((docs) => docs.join('---\n')) },
  { weight: 1, arbitrary: fc.tuple(routeArb, fc.constant(UNKNOWN)).map((docs) => docs.join('---\n')) },
);
const editArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('routes' as const), file: fc.constantFrom('r-a.yaml', 'r-b.yaml', 'r-c.yaml'), text: fileTextArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), file: fc.constantFrom('r-a.yaml', 'r-b.yaml', 'r-c.yaml') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('gateway' as const), host: fc.constantFrom('', '*.example.com', 'a.example.com'), second: fc.boolean(), withRoute: fc.option(routeArb) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('services' as const), port: fc.constantFrom(8080, 9090) }) },
);

function outcome(load: () => LoadResult): { config?: unknown; warnings?: string[]; error?: string } {
  try {
    const { config } = load();
    return { config: { listeners: config.listeners, backends: config.backends }, warnings: [...config.warnings].sort() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

describe('incremental manifest compile', () => {
  it('loads what a fresh load does over random edit sequences', () => {
    fc.assert(
      fc.property(fc.array(editArb, { minLength: 1, maxLength: 8 }), (edits) => {
        const dir = tempDir();
        fs.writeFileSync(path.join(dir, '00-gateway.yaml'), gateway('', true));
        fs.writeFileSync(path.join(dir, '01-services.yaml'), services(8080));
        fs.writeFileSync(path.join(dir, 'r-a.yaml'), route('r1', 'a.example.com', '/', 'svc'));
        const cache = createConfigCache();
        const check = (step: string): void => {
          const got = outcome(() => loadConfig(dir, cache));
          cache.files.endLoad();
          assert.deepEqual(got, outcome(() => loadConfig(dir)), step);
        };
        check('initial');
        for (const e of edits) {
          if (e.kind === 'routes') fs.writeFileSync(path.join(dir, e.file), e.text);
          else if (e.kind === 'remove') fs.rmSync(path.join(dir, e.file), { force: true });
          else if (e.kind === 'gateway') fs.writeFileSync(path.join(dir, '00-gateway.yaml'), gateway(e.host, e.second) + (e.withRoute ? '---\n' + e.withRoute : ''));
          else fs.writeFileSync(path.join(dir, '01-services.yaml'), services(e.port));
          check(JSON.stringify(e));
        }
        fs.rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 60, seed: 0x10ad },
    );
  });

  it('hands back the same Route objects for files it did not recompile', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, '00-gateway.yaml'), gateway('', false));
    fs.writeFileSync(path.join(dir, '01-services.yaml'), services(8080));
    fs.writeFileSync(path.join(dir, 'r-a.yaml'), route('r1', 'a.example.com', '/a', 'svc'));
    fs.writeFileSync(path.join(dir, 'r-b.yaml'), route('r2', 'b.test', '/b', 'svc'));
    const cache = createConfigCache();
    const first = loadConfig(dir, cache).config.listeners[0].routes;
    cache.files.endLoad();
    fs.writeFileSync(path.join(dir, 'r-b.yaml'), route('r2', 'b.test', '/changed', 'svc'));
    const second = loadConfig(dir, cache).config.listeners[0].routes;
    cache.files.endLoad();
    assert.equal(second[0], first[0]);
    assert.notEqual(second[1], first[1]);
    assert.equal(second[1].rules[0].matches[0].path.value, '/changed');
  });
});
