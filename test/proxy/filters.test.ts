// HTTPRoute filters end to end (src/filters/ wired in src/proxy.ts) through the real binary, on
// both front ends, from native YAML and from Gateway API manifests: header modifiers on rules and
// backendRefs, URLRewrite and RequestRedirect with the spec's edge cases, mirrors that never
// delay or fail the main request, CORS preflight and actual requests.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { closedPort, echoUpstream, httpUpstream, rawRequest, request } from '../helpers/servers';

type Echo = Awaited<ReturnType<typeof echoUpstream>>;
type Recorder = Awaited<ReturnType<typeof httpUpstream>>;

/** The echo upstream's view of the request. */
function seen(body: string): { url: string; headers: Record<string, string>; rawHeaders: string[]; body: string } {
  return JSON.parse(body);
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  for (let t = 0; t < ms && !cond(); t += 10) await new Promise((r) => setTimeout(r, 10));
}

for (const fe of FRONTENDS) {
  describe(`filters, native YAML [${fe}]`, () => {
    let gw: RunningGateway;
    let echo: Echo;
    let other: Recorder;
    let mirror: Recorder;
    let slowMirror: Recorder;

    before(async () => {
      echo = await echoUpstream();
      other = await httpUpstream((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': 'other' });
        res.end('other');
      });
      mirror = await httpUpstream((_req, res) => {
        res.writeHead(500);
        res.end('mirror answers are ignored');
      });
      slowMirror = await httpUpstream((_req, res) => setTimeout(() => res.end('late'), 2000));
      const refused = await closedPort();
      gw = await startGateway(
        fe,
        nativeConfig(`routes:
  - name: hdr
    match: { path: /hdr }
    backend: echo
    requestHeaders: { set: { x-set: new }, add: { x-add: added }, remove: [x-remove] }
    responseHeaders: { set: { x-resp: set }, add: { x-resp-add: a }, remove: [x-drop] }
  - name: rw-trailing
    match: { path: /strip/ }
    backend: echo
    rewrite: { prefix: / , hostname: internal.example }
  - name: rw-prefix
    match: { path: /api/v1 }
    backend: echo
    rewrite: { prefix: /v2/ }
  - name: rw-full
    match: { path: /full }
    backend: echo
    rewrite: { path: /replaced }
  - name: to-https
    match: { path: /secure }
    redirect: { scheme: https }
  - name: to-port80
    match: { path: /port80 }
    redirect: { hostname: example.org, port: 80, statusCode: 301 }
  - name: to-host
    match: { path: /moved }
    redirect: { hostname: example.org, prefix: /new, statusCode: 308 }
  - name: mirrored
    match: { path: /mirrored }
    backend: echo
    mirror: [{ backend: mirror }, { backend: slow }, { backend: refused }]
  - name: per-backend
    match: { path: /per-backend }
    backends:
      - name: echo
        requestHeaders: { set: { x-picked: echo } }
        responseHeaders: { set: { x-picked: echo } }
      - name: other
        responseHeaders: { set: { x-picked: other } }
  - name: cors
    match: { path: /cors }
    backend: echo
    cors:
      allowOrigins: ["https://www.foo.com", "https://*.bar.com"]
      allowMethods: [GET, PUT]
      allowHeaders: [x-header-1]
      exposeHeaders: [x-header-3]
      allowCredentials: true
      maxAge: 3600
  - name: cors-down
    match: { path: /cors-down }
    backend: refused
    responseHeaders: { set: { x-resp: set } }
    cors:
      allowOrigins: ["https://www.foo.com"]
      allowMethods: [GET]
backends:
  - name: echo
    endpoints: ["127.0.0.1:${echo.port}"]
  - name: other
    endpoints: ["127.0.0.1:${other.port}"]
  - name: mirror
    endpoints: ["127.0.0.1:${mirror.port}"]
  - name: slow
    endpoints: ["127.0.0.1:${slowMirror.port}"]
  - name: refused
    endpoints: ["127.0.0.1:${refused}"]
`),
        { GATEMESH_UPSTREAM_TIMEOUT_MS: '5000' },
      );
    });
    after(async () => {
      assert.equal(await gw.stop(), 0);
      await Promise.all([echo.close(), other.close(), mirror.close(), slowMirror.close()]);
    });

    it('RequestHeaderModifier sets, adds and removes request headers; ResponseHeaderModifier edits the response', async () => {
      const r = await request(gw.port, { path: '/hdr', headers: { 'x-set': 'old', 'x-add': 'first', 'x-remove': 'gone', 'x-keep': 'k' } });
      assert.equal(r.status, 200);
      const s = seen(r.body);
      assert.equal(s.headers['x-set'], 'new');
      assert.equal(s.headers['x-add'], 'first, added');
      assert.equal(s.headers['x-remove'], undefined);
      assert.equal(s.headers['x-keep'], 'k');
      assert.equal(r.headers['x-resp'], 'set');
      assert.equal(r.headers['x-resp-add'], 'a');
    });

    it('ResponseHeaderModifier removes an upstream header', async () => {
      const up = await httpUpstream((_req, res) => {
        res.writeHead(200, { 'x-drop': 'secret', 'content-length': '2' });
        res.end('ok');
      });
      const g2 = await startGateway(fe, nativeConfig(`routes:
  - name: r
    backend: up
    responseHeaders: { remove: [X-Drop] }
backends:
  - name: up
    endpoints: ["127.0.0.1:${up.port}"]
`));
      try {
        const r = await request(g2.port, { path: '/' });
        assert.equal(r.status, 200);
        assert.equal(r.body, 'ok');
        assert.equal(r.headers['x-drop'], undefined);
      } finally {
        await g2.stop();
        await up.close();
      }
    });

    it('URLRewrite: prefix with a trailing slash replaced by "/", on a longer path and on the full path; hostname', async () => {
      const a = seen((await request(gw.port, { path: '/strip/x/y?q=1', headers: { host: 'gw.example' } })).body);
      assert.equal(a.url, '/x/y?q=1');
      assert.equal(a.headers.host, 'internal.example');
      assert.equal(a.headers['x-forwarded-host'], 'gw.example', 'X-Forwarded-Host keeps the client Host');
      assert.equal(seen((await request(gw.port, { path: '/strip' })).body).url, '/');
      assert.equal(seen((await request(gw.port, { path: '/strip/' })).body).url, '/');
    });

    it('URLRewrite: ReplacePrefixMatch keeps the rest of the path, element-wise', async () => {
      assert.equal(seen((await request(gw.port, { path: '/api/v1/users' })).body).url, '/v2/users');
      assert.equal(seen((await request(gw.port, { path: '/api/v1' })).body).url, '/v2');
      const miss = await request(gw.port, { path: '/api/v1x' });
      assert.equal(miss.status, 404, '/api/v1x is not under the prefix /api/v1');
    });

    it('URLRewrite: ReplaceFullPath', async () => {
      assert.equal(seen((await request(gw.port, { path: '/full/a/b?z=2' })).body).url, '/replaced?z=2');
    });

    it('RequestRedirect: scheme https drops the port (443 is https\'s default)', async () => {
      const r = await request(gw.port, { path: '/secure/page?x=1', headers: { host: 'shop.example:8080' } });
      assert.equal(r.status, 302);
      assert.equal(r.headers.location, 'https://shop.example/secure/page?x=1');
      assert.equal(r.body, '');
    });

    it('RequestRedirect: port 80 on http is left out; 301', async () => {
      const r = await request(gw.port, { path: '/port80' });
      assert.equal(r.status, 301);
      assert.equal(r.headers.location, 'http://example.org/port80');
    });

    it('RequestRedirect: scheme and port unset keep the listener port (here from Host: the listener port is OS-picked); prefix; 308', async () => {
      const r = await request(gw.port, { path: '/moved/a/b', headers: { host: `127.0.0.1:${gw.port}` } });
      assert.equal(r.status, 308);
      assert.equal(r.headers.location, `http://example.org:${gw.port}/new/a/b`);
    });

    it('RequestRedirect answers a POST without forwarding it', async () => {
      const r = await request(gw.port, { method: 'POST', path: '/secure', body: 'payload', headers: { host: 'a.example' } });
      assert.equal(r.status, 302);
      assert.equal(r.headers.location, 'https://a.example/secure');
    });

    it('RequestMirror: every mirror gets a copy; a slow (2 s) and a refused mirror neither delay nor fail the request', async () => {
      mirror.requests.length = 0;
      const t0 = performance.now();
      const r = await request(gw.port, { path: '/mirrored/a?b=1', headers: { 'x-trace': 't1' } });
      const ms = performance.now() - t0;
      assert.equal(r.status, 200);
      assert.equal(seen(r.body).url, '/mirrored/a?b=1');
      assert.ok(ms < 1000, `main response took ${ms.toFixed(0)} ms with a mirror sleeping 2 s`);
      await until(() => mirror.requests.length >= 1);
      assert.equal(mirror.requests.length, 1);
      assert.equal(mirror.requests[0].url, '/mirrored/a?b=1');
      assert.equal(mirror.requests[0].headers['x-trace'], 't1');
      await until(() => slowMirror.requests.length >= 1);
      assert.equal(slowMirror.requests.length, 1, 'the slow mirror got its copy too (and answers 2 s later)');
    });

    it('RequestMirror: a small POST body is mirrored in full', async () => {
      mirror.requests.length = 0;
      const body = 'm'.repeat(10000);
      const r = await request(gw.port, { method: 'POST', path: '/mirrored/post', body, headers: { 'content-type': 'text/plain' } });
      assert.equal(r.status, 200);
      assert.equal(seen(r.body).body.length, 10000);
      await until(() => mirror.requests.length >= 1);
      assert.equal(mirror.requests[0].method, 'POST');
      assert.equal(mirror.requests[0].body.toString(), body);
    });

    it('RequestMirror: many requests stay fast while the slow mirror piles up', async () => {
      slowMirror.requests.length = 0;
      const t0 = performance.now();
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => request(gw.port, { path: `/mirrored/${i}` })));
      assert.ok(rs.every((r) => r.status === 200));
      assert.ok(performance.now() - t0 < 1500, 'twenty requests were not held up by their mirrors');
    });

    it('backendRef filters apply only when that backendRef is picked', async () => {
      const picked = new Map<string, number>();
      for (let i = 0; i < 6; i++) {
        const r = await request(gw.port, { path: '/per-backend' });
        assert.equal(r.status, 200);
        const p = String(r.headers['x-picked']);
        picked.set(p, (picked.get(p) ?? 0) + 1);
        if (p === 'echo') assert.equal(seen(r.body).headers['x-picked'], 'echo', 'echo got its request header');
        else {
          assert.equal(p, 'other');
          assert.equal(r.headers['x-upstream'], 'other');
          assert.equal(r.body, 'other');
        }
      }
      assert.deepEqual([...picked.keys()].sort(), ['echo', 'other']);
    });

    it('CORS preflight from an allowed origin is answered by the gateway', async () => {
      const r = await request(gw.port, {
        method: 'OPTIONS',
        path: '/cors',
        headers: { origin: 'https://xpto.www.bar.com', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-header-1' },
      });
      assert.equal(r.status, 200);
      assert.equal(r.body, '');
      assert.equal(r.headers['access-control-allow-origin'], 'https://xpto.www.bar.com');
      assert.equal(r.headers['access-control-allow-methods'], 'GET, PUT');
      assert.equal(r.headers['access-control-allow-headers'], 'x-header-1');
      assert.equal(r.headers['access-control-expose-headers'], 'x-header-3');
      assert.equal(r.headers['access-control-allow-credentials'], 'true');
      assert.equal(r.headers['access-control-max-age'], '3600');
    });

    it('CORS preflight from another origin gets no CORS headers and is not forwarded', async () => {
      const before = echo.requests.length;
      const r = await request(gw.port, { method: 'OPTIONS', path: '/cors', headers: { origin: 'https://foobar.com', 'access-control-request-method': 'GET' } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], undefined);
      assert.equal(r.headers['access-control-allow-methods'], undefined);
      assert.equal(echo.requests.length, before, 'the preflight never reached the upstream');
    });

    it('CORS actual request: the response carries Access-Control-Allow-Origin for allowed origins only', async () => {
      const ok = await request(gw.port, { path: '/cors', headers: { origin: 'https://www.foo.com' } });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers['access-control-allow-origin'], 'https://www.foo.com');
      assert.equal(ok.headers['access-control-allow-credentials'], 'true');
      assert.equal(ok.headers['access-control-expose-headers'], 'x-header-3');
      assert.equal(seen(ok.body).url, '/cors');
      const no = await request(gw.port, { path: '/cors', headers: { origin: 'https://foobar.com' } });
      assert.equal(no.status, 200);
      assert.equal(no.headers['access-control-allow-origin'], undefined);
    });

    it('gateway-generated errors pass through the response filters too (CORS, ResponseHeaderModifier)', async () => {
      const r = await request(gw.port, { path: '/cors-down', headers: { origin: 'https://www.foo.com' } });
      assert.equal(r.status, 502);
      assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_UPSTREAM_CONNECT');
      assert.equal(r.headers['access-control-allow-origin'], 'https://www.foo.com', 'a browser can read the error');
      assert.equal(r.headers['x-resp'], 'set');
    });

    it('routes without filters are untouched (headers, path, Host)', async () => {
      const r = await rawRequest(gw.port, 'GET /per-backend HTTP/1.1\r\nHost: plain.example\r\nConnection: close\r\n\r\n');
      assert.equal(r.status, 200);
    });

    it('the access log names the filter answers', async () => {
      const log = await gw.accessLog((ls) => ls.some((l) => l.path === '/port80'));
      const redirect = log.find((l) => l.path === '/port80');
      assert.ok(redirect, 'redirect logged');
      assert.equal(redirect.status, 301);
      assert.equal(redirect.reason, 'redirect 301');
      assert.equal(redirect.endpoint, '-');
    });
  });

  describe(`filters, Gateway API manifests [${fe}]`, () => {
    let gw: RunningGateway;
    let echo: Echo;
    let mirror: Recorder;
    let listenerPort: number;

    before(async () => {
      echo = await echoUpstream();
      mirror = await httpUpstream((_req, res) => res.end('ignored'));
      listenerPort = await closedPort();
      const svc = (name: string, port: number): string => `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: app }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: app, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
endpoints: [{ addresses: ["127.0.0.1"] }]
ports: [{ name: http, port: ${port} }]
`;
      gw = await startGateway(
        fe,
        `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: gm }
spec: { controllerName: gatemesh.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: app }
spec:
  gatewayClassName: gm
  addresses: [{ value: 127.0.0.1 }]
  listeners: [{ name: web, port: ${listenerPort}, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: filters, namespace: app }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /strip-prefix } }]
      filters:
        - type: URLRewrite
          urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: / } }
      backendRefs: [{ name: echo, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /prefix/rewrite-path-and-modify-headers } }]
      filters:
        - type: URLRewrite
          urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /prefix } }
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{ name: X-Header-Set, value: set-overwrites-values }]
            add: [{ name: X-Header-Add-Append, value: header-val-2 }]
            remove: [X-Header-Remove]
      backendRefs: [{ name: echo, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /original-prefix } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix } }
    - matches: [{ path: { type: PathPrefix, value: /scheme-nil-and-port-nil } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { hostname: example.org }
    - matches: [{ path: { type: PathPrefix, value: /scheme-https-and-port-nil } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { scheme: https, hostname: example.org }
    - matches: [{ path: { type: PathPrefix, value: /mirror } }]
      filters:
        - type: RequestMirror
          requestMirror: { backendRef: { name: mirror, port: 80 } }
      backendRefs:
        - name: echo
          port: 80
          filters:
            - type: RequestHeaderModifier
              requestHeaderModifier: { add: [{ name: x-backend-filter, value: echo }] }
            - type: ResponseHeaderModifier
              responseHeaderModifier: { add: [{ name: x-response-filter, value: echo }] }
    - matches: [{ path: { type: PathPrefix, value: /cors-2 } }]
      filters:
        - type: CORS
          cors: { allowOrigins: ["https://www.foo.com"], allowMethods: ["*"] }
      backendRefs: [{ name: echo, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /ext } }]
      filters:
        - type: ExtensionRef
          extensionRef: { group: example.net, kind: Thing, name: t }
      backendRefs: [{ name: echo, port: 80 }]
${svc('echo', echo.port)}${svc('mirror', mirror.port)}`,
      );
    });
    after(async () => {
      assert.equal(await gw.stop(), 0);
      await Promise.all([echo.close(), mirror.close()]);
    });

    it('ReplacePrefixMatch "/" of the full path and of a longer path (conformance HTTPRouteRewritePath)', async () => {
      assert.equal(seen((await request(gw.port, { path: '/strip-prefix/three' })).body).url, '/three');
      assert.equal(seen((await request(gw.port, { path: '/strip-prefix' })).body).url, '/');
    });

    it('URLRewrite together with RequestHeaderModifier', async () => {
      const r = await request(gw.port, {
        path: '/prefix/rewrite-path-and-modify-headers/yes',
        headers: { 'X-Header-Set': 'original', 'X-Header-Add-Append': 'header-val-1', 'X-Header-Remove': 'x' },
      });
      const s = seen(r.body);
      assert.equal(s.url, '/prefix/yes');
      assert.equal(s.headers['x-header-set'], 'set-overwrites-values');
      assert.equal(s.headers['x-header-add-append'], 'header-val-1, header-val-2');
      assert.equal(s.headers['x-header-remove'], undefined);
    });

    it('RequestRedirect ReplacePrefixMatch keeps the listener port (configured port, Host without one)', async () => {
      const r = await request(gw.port, { path: '/original-prefix/lemon', headers: { host: 'gw.example' } });
      assert.equal(r.status, 302);
      assert.equal(r.headers.location, `http://gw.example:${listenerPort}/replacement-prefix/lemon`);
    });

    it('RequestRedirect: scheme and port unset → the listener port; scheme https → 443, left out', async () => {
      const a = await request(gw.port, { path: '/scheme-nil-and-port-nil', headers: { host: 'gw.example' } });
      assert.equal(a.headers.location, `http://example.org:${listenerPort}/scheme-nil-and-port-nil`);
      const b = await request(gw.port, { path: '/scheme-https-and-port-nil' });
      assert.equal(b.headers.location, 'https://example.org/scheme-https-and-port-nil');
    });

    it('RequestMirror to a Service, and backendRef filters', async () => {
      const r = await request(gw.port, { path: '/mirror/x' });
      assert.equal(r.status, 200);
      assert.equal(seen(r.body).headers['x-backend-filter'], 'echo');
      assert.equal(r.headers['x-response-filter'], 'echo');
      await until(() => mirror.requests.length >= 1);
      assert.equal(mirror.requests[0].url, '/mirror/x');
    });

    it('CORS allowMethods "*" without credentials (conformance cors-wildcard-methods)', async () => {
      const r = await request(gw.port, { method: 'OPTIONS', path: '/cors-2', headers: { origin: 'https://www.foo.com', 'access-control-request-method': 'POST' } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], 'https://www.foo.com');
      assert.ok(['POST', '*'].includes(String(r.headers['access-control-allow-methods'])));
      assert.equal(r.headers['access-control-allow-credentials'], undefined);
    });

    it('an ExtensionRef filter that resolves to nothing fails its requests with 500 (never skipped)', async () => {
      const r = await request(gw.port, { path: '/ext' });
      assert.equal(r.status, 500);
      assert.match(r.body, /filter ExtensionRef is not supported/);
      assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_INTERNAL');
    });
  });
}
