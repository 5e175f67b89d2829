// Local rate limits (BackendTrafficPolicy rateLimit, src/policy/rate-limit/) through the real
// binary, on both front ends: 429 + Retry-After + problem+json naming policy and rule, the draft
// RateLimit-Policy / RateLimit fields and the legacy X-RateLimit-*, every key type (ClientIP with
// X-Forwarded-For behind GATEMESH_TRUSTED_PROXIES, Header, QueryParam, Route), onMissingKey
// Skip / Shared / Reject, several rules on one route, refused requests not charged, the access
// log's error code and RL flag; the accuracy test (4 threads, 200 clients, exactly L pass); and
// a hot reload that changes a limit while requests keep flowing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, tempDir, type RunningGateway } from '../helpers/gateway';
import { get, hammer, listeningRecord, readAccessLog, sleep, slowUpstream } from '../helpers/policy';
import { replaceFile, waitForVersion } from '../helpers/reload';

type Upstream = Awaited<ReturnType<typeof slowUpstream>>;

const ROUTES = (port: number): string =>
  nativeConfig(`routes:
  - name: rl
    match: { path: /rl }
    backend: up
    policy:
      rateLimit:
        headers: { legacy: true }
        rules:
          - name: per-ip
            key: [{ type: ClientIP }]
            limit: { requests: 3, unit: Minute }
  - name: xff
    match: { path: /xff }
    backend: up
    policy:
      rateLimit:
        rules:
          - name: per-client
            key: [{ type: ClientIP }]
            limit: { requests: 1, unit: Minute }
  - name: hdr
    match: { path: /hdr }
    backend: up
    policy:
      rateLimit:
        rules:
          - name: per-key
            key: [{ type: Header, name: x-api-key }]
            limit: { requests: 1, unit: Minute }
  - name: qp
    match: { path: /qp }
    backend: up
    policy:
      rateLimit:
        rules:
          - name: per-param
            key: [{ type: QueryParam, name: key }]
            onMissingKey: Shared
            limit: { requests: 1, unit: Minute }
  - name: route
    match: { path: /route }
    backend: up
    policy:
      rateLimit:
        rules:
          - key: [{ type: Route }]
            limit: { requests: 2, unit: Minute }
  - name: rej
    match: { path: /rej }
    backend: up
    policy:
      rateLimit:
        rules:
          - name: must-have-key
            key: [{ type: Header, name: x-api-key }]
            onMissingKey: Reject
            limit: { requests: 5, unit: Minute }
  - name: multi
    match: { path: /multi }
    backend: up
    policy:
      rateLimit:
        rules:
          - name: route-wide
            key: [{ type: Route }]
            limit: { requests: 3, unit: Minute }
          - name: per-key
            key: [{ type: Header, name: x-k }]
            limit: { requests: 1, unit: Minute }
  - name: refill
    match: { path: /refill }
    backend: up
    policy:
      rateLimit:
        rules:
          - name: burst
            limit: { requests: 3, unit: 1s }
backends:
  - name: up
    endpoints: ["127.0.0.1:${port}"]
`);

/** Statuses of `n` requests sent one after another. */
async function statuses(port: number, p: string, n: number, headers: Record<string, string> = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await get(port, p, headers)).status);
  return out;
}

for (const fe of FRONTENDS) {
  describe(`rate limits, local [${fe}]`, () => {
    let up: Upstream;
    let gw: RunningGateway;

    before(async () => {
      up = await slowUpstream();
      // 127.0.0.1 (the test client) is a trusted proxy: ClientIP is the rightmost other XFF hop.
      gw = await startGateway(fe, ROUTES(up.port), { GATEMESH_TRUSTED_PROXIES: '127.0.0.1/32' });
    });
    after(async () => {
      await gw.stop();
      await up.close();
    });

    it('answers 429 past the limit with Retry-After, problem+json naming policy and rule, and RateLimit fields', async () => {
      const allowed: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await get(gw.port, '/rl');
        assert.equal(r.status, 200, r.body);
        assert.equal(r.headers['ratelimit-policy'], '"per-ip";q=3;w=60');
        assert.match(String(r.headers.ratelimit), new RegExp(`^"per-ip";r=${2 - i};t=\\d+$`));
        // legacy: true
        assert.equal(r.headers['x-ratelimit-limit'], '3');
        assert.equal(r.headers['x-ratelimit-remaining'], String(2 - i));
        assert.match(String(r.headers['x-ratelimit-reset']), /^\d+$/);
        allowed.push(String(r.headers.ratelimit));
      }
      const r = await get(gw.port, '/rl');
      assert.equal(r.status, 429);
      assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_RATE_LIMITED');
      assert.equal(r.headers['content-type'], 'application/problem+json');
      const retry = Number(r.headers['retry-after']);
      // GCRA, 3/min: the next token is 20 s away.
      assert.ok(retry >= 1 && retry <= 20, String(r.headers['retry-after']));
      const body = JSON.parse(r.body) as Record<string, unknown>;
      assert.equal(body.status, 429);
      assert.deepEqual(body['violated-policies'], ['per-ip']);
      assert.equal(body['retry-after'], retry);
      assert.match(String(body.detail), /"per-ip" of policy "route\/rl"/);
      assert.match(String(r.headers.ratelimit), /^"per-ip";r=0;t=\d+$/);
      assert.equal(r.headers['x-ratelimit-remaining'], '0');
      assert.equal(up.requests.filter((q) => q.url === '/rl').length, 3, 'the refused request never reached the upstream');
    });

    it('keys ClientIP on the rightmost untrusted X-Forwarded-For hop behind a trusted proxy', async () => {
      const xff = (v: string) => ({ 'x-forwarded-for': v });
      assert.equal((await get(gw.port, '/xff', xff('10.0.0.1'))).status, 200);
      assert.equal((await get(gw.port, '/xff', xff('10.0.0.1'))).status, 429);
      // 127.0.0.1 is trusted, so 10.0.0.1 is still the client; a spoofed left hop does not help.
      assert.equal((await get(gw.port, '/xff', xff('10.0.0.1, 127.0.0.1'))).status, 429);
      assert.equal((await get(gw.port, '/xff', xff('1.2.3.4, 10.0.0.1'))).status, 429);
      assert.equal((await get(gw.port, '/xff', xff('10.0.0.2'))).status, 200);
      // No XFF: the (trusted) socket peer itself is the client, a key of its own.
      assert.equal((await get(gw.port, '/xff')).status, 200);
      assert.equal((await get(gw.port, '/xff')).status, 429);
    });

    it('keys on a header; Skip lets keyless requests through without RateLimit fields', async () => {
      const a = { 'x-api-key': 'a' };
      assert.deepEqual(await statuses(gw.port, '/hdr', 2, a), [200, 429]);
      assert.deepEqual(await statuses(gw.port, '/hdr', 2, { 'x-api-key': 'b' }), [200, 429]);
      // Header names are case-insensitive, values are not.
      assert.equal((await get(gw.port, '/hdr', { 'X-API-Key': 'A' })).status, 200);
      for (let i = 0; i < 3; i++) {
        const r = await get(gw.port, '/hdr');
        assert.equal(r.status, 200);
        assert.equal(r.headers['ratelimit-policy'], undefined);
        assert.equal(r.headers.ratelimit, undefined);
      }
    });

    it('keys on a query parameter; Shared puts keyless requests in one bucket', async () => {
      assert.deepEqual(await statuses(gw.port, '/qp?key=a', 2), [200, 429]);
      assert.equal((await get(gw.port, '/qp?other=1&key=b')).status, 200);
      // Query parameter names are case-sensitive: KEY is not key.
      assert.deepEqual(await statuses(gw.port, '/qp?KEY=a', 2), [200, 429]);
      assert.equal((await get(gw.port, '/qp')).status, 429, 'the keyless bucket was used by ?KEY=a');
    });

    it('keys on the route: every client shares one bucket; the default rule name is <policy>/limit<i>', async () => {
      assert.equal((await get(gw.port, '/route', { 'x-api-key': 'x' })).status, 200);
      const second = await get(gw.port, '/route?q=1');
      assert.equal(second.status, 200);
      assert.equal(second.headers['ratelimit-policy'], '"route/route/limit0";q=2;w=60');
      assert.equal(second.headers['x-ratelimit-limit'], undefined, 'legacy headers are off by default');
      const r = await get(gw.port, '/route', { 'x-forwarded-for': '10.9.9.9' });
      assert.equal(r.status, 429);
      assert.deepEqual((JSON.parse(r.body) as Record<string, unknown>)['violated-policies'], ['route/route/limit0']);
    });

    it('onMissingKey Reject answers 400 GATEMESH_ERR_LIMIT_KEY_MISSING', async () => {
      const r = await get(gw.port, '/rej');
      assert.equal(r.status, 400);
      assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_LIMIT_KEY_MISSING');
      assert.match(r.body, /must-have-key|route\/rej/);
      assert.equal((await get(gw.port, '/rej', { 'x-api-key': 'k' })).status, 200);
      assert.equal(up.requests.filter((q) => q.url === '/rej').length, 1);
    });

    it('checks every rule of a route; a request refused by one rule is not charged to the others', async () => {
      const k = (v: string) => ({ 'x-k': v });
      const first = await get(gw.port, '/multi', k('a'));
      assert.equal(first.status, 200);
      assert.equal(first.headers['ratelimit-policy'], '"route-wide";q=3;w=60, "per-key";q=1;w=60');
      assert.match(String(first.headers.ratelimit), /^"route-wide";r=2;t=\d+, "per-key";r=0;t=\d+$/);
      // Refused by per-key: route-wide (checked first and charged) is refunded.
      const refused = await get(gw.port, '/multi', k('a'));
      assert.equal(refused.status, 429);
      assert.deepEqual((JSON.parse(refused.body) as Record<string, unknown>)['violated-policies'], ['per-key']);
      assert.match(String(refused.headers.ratelimit), /"route-wide";r=2;/);
      assert.equal((await get(gw.port, '/multi', k('b'))).status, 200);
      assert.equal((await get(gw.port, '/multi', k('c'))).status, 200, 'route-wide still had 1 left: the refused request was refunded');
      const full = await get(gw.port, '/multi', k('d'));
      assert.equal(full.status, 429);
      assert.deepEqual((JSON.parse(full.body) as Record<string, unknown>)['violated-policies'], ['route-wide']);
      // Refused by route-wide: per-key d was not charged (route-wide is checked first), so d is
      // still limited only by route-wide; nothing else to see until the window moves.
    });

    it('does not charge refused requests: after the window refills exactly the limit passes again', async () => {
      assert.deepEqual(await statuses(gw.port, '/refill', 3), [200, 200, 200]);
      // A burst of refused requests: charged, they would push the bucket's refill into the future.
      const burst = await Promise.all(Array.from({ length: 20 }, () => get(gw.port, '/refill')));
      assert.ok(burst.every((r) => r.status === 429), burst.map((r) => r.status).join(','));
      await sleep(1100);
      const again = await statuses(gw.port, '/refill', 6);
      assert.deepEqual(again, [200, 200, 200, 429, 429, 429]);
      assert.equal(up.requests.filter((q) => q.url === '/refill').length, 6);
    });

    it('logs a refused request with its error code, reason and the RL flag', async () => {
      await gw.stop();
      const log = readAccessLog(gw);
      const refused = log.filter((l) => l.path === '/rl' && l.status === 429);
      assert.equal(refused.length, 1, JSON.stringify(log.filter((l) => l.path === '/rl')));
      assert.equal(refused[0].error, 'GATEMESH_ERR_RATE_LIMITED');
      assert.equal(refused[0].flags, 'RL');
      assert.match(String(refused[0].reason), /route\/rl.*per-ip/);
      assert.equal(refused[0].attempts, 0);
      const ok = log.filter((l) => l.path === '/rl' && l.status === 200);
      assert.equal(ok.length, 3);
      assert.ok(ok.every((l) => l.flags === undefined && l.error === undefined));
      const missing = log.find((l) => l.path === '/rej' && l.status === 400);
      assert.equal(missing?.error, 'GATEMESH_ERR_LIMIT_KEY_MISSING');
    });
  });

  describe(`rate limit accuracy [${fe}]`, () => {
    it('4 threads, 200 concurrent keep-alive clients, L = 300/hour on one key: exactly L pass', async () => {
      const up = await slowUpstream();
      const L = 300;
      const gw = await startGateway(
        fe,
        nativeConfig(`routes:
  - name: acc
    backend: up
    policy:
      rateLimit:
        rules:
          - name: tenant
            key: [{ type: Header, name: x-tenant }]
            limit: { requests: ${L}, unit: Hour }
backends:
  - name: up
    endpoints: ["127.0.0.1:${up.port}"]
`),
        { GATEMESH_THREADS: '4', GATEMESH_ACCESS_LOG: 'off' },
      );
      try {
        const rec = listeningRecord(gw);
        // native-free before Node 22.12 cannot share a port between threads and says so.
        if (fe === 'uws') assert.equal(rec.threads, 4);
        else assert.ok(rec.threads === 4 || (rec.threads === 1 && /serving from 1 thread instead of 4/.test(gw.stderr())), gw.stderr());
        const res = await hammer([gw.port], 200, 3, '/acc', { 'x-tenant': 'acme' });
        assert.equal(res.errors, 0);
        assert.equal(res.statuses.get(200), L, JSON.stringify([...res.statuses]));
        assert.equal(res.statuses.get(429), 600 - L, JSON.stringify([...res.statuses]));
        assert.equal(up.state.served, L);
      } finally {
        await gw.stop();
        await up.close();
      }
    });
  });

  describe(`rate limit hot reload [${fe}]`, () => {
    it('applies a changed limit from the config file without dropping a request', async () => {
      const up = await slowUpstream();
      const text = (limit: number, extra = '') => `listeners:
  - name: web
    port: 0
    address: 127.0.0.1
routes:
  - name: free
    match: { path: /free }
    backend: up
  - name: lim
    match: { path: /lim }
    backend: up
    policy:
      rateLimit:
        rules:
          - name: per-key
            key: [{ type: Header, name: x-k }]
            limit: { requests: ${limit}, unit: Minute }
${extra}backends:
  - name: up
    endpoints: ["127.0.0.1:${up.port}"]
`;
      const file = path.join(tempDir(), 'gatemesh.yaml');
      fs.writeFileSync(file, text(2));
      const gw = await startGateway(fe, '', { GATEMESH_THREADS: '2' }, file);
      // Background traffic on keep-alive connections through both reloads: every request must
      // get an answer (200, or 429 on the limited route), none a socket error or a 5xx.
      let stop = false;
      const seen = new Map<number, number>();
      let errors = 0;
      const load = async (p: string): Promise<void> => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
          while (!stop) {
            try {
              const r = await get(gw.port, p, { 'x-k': 'bg' }, agent);
              seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
            } catch {
              errors++;
            }
          }
        } finally {
          agent.destroy();
        }
      };
      const loads = [load('/free'), load('/free'), load('/lim'), load('/lim')];
      try {
        const t = { 'x-k': 't' };
        assert.deepEqual(await statuses(gw.port, '/lim', 3, t), [200, 200, 429]);
        // A reload that leaves the limit alone keeps its buckets.
        replaceFile(file, text(2, '  - name: other\n    match: { path: /other }\n    backend: up\n'));
        await waitForVersion(gw, 2);
        assert.equal((await get(gw.port, '/lim', t)).status, 429);
        // A changed limit: new buckets with the new size.
        replaceFile(file, text(5));
        await waitForVersion(gw, 3);
        const after = await get(gw.port, '/lim', t);
        assert.equal(after.status, 200);
        assert.equal(after.headers['ratelimit-policy'], '"per-key";q=5;w=60');
        assert.deepEqual(await statuses(gw.port, '/lim', 5, t), [200, 200, 200, 200, 429]);
      } finally {
        stop = true;
        await Promise.all(loads);
        await gw.stop();
        await up.close();
      }
      assert.equal(errors, 0, `socket errors during reload; statuses ${JSON.stringify([...seen])}`);
      assert.deepEqual([...seen.keys()].sort(), [200, 429], JSON.stringify([...seen]));
      assert.ok((seen.get(200) ?? 0) > 20, JSON.stringify([...seen]));
    });
  });
}
