// Quotas (BackendTrafficPolicy quota, src/policy/quota/) through the real binary, on both front
// ends: Kong-style X-RateLimit-Limit-<Window> / -Remaining-<Window> and RateLimit-Reset, the 429
// problem body naming the quota and its reset, Retry-After, several windows on one route with
// refused requests not charged, onMissingKey Reject, the access log's QE flag, and persistence:
// counts in the SQLite store (GATEMESH_QUOTA_DB) survive a graceful stop and restart even when
// the periodic sync never ran (the stop flushes).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, tempDir, type RunningGateway } from '../helpers/gateway';
import { get, readAccessLog, slowUpstream } from '../helpers/policy';

type Upstream = Awaited<ReturnType<typeof slowUpstream>>;

const CONFIG = (port: number): string =>
  nativeConfig(`routes:
  - name: q
    match: { path: /q }
    backend: up
    policy:
      quota:
        rules:
          - name: hourly
            key: [{ type: Header, name: x-k }]
            limit: { requests: 3, window: Hour }
  - name: two
    match: { path: /two }
    backend: up
    policy:
      quota:
        rules:
          - name: per-hour
            key: [{ type: Header, name: x-k }]
            limit: { requests: 10, window: Hour }
          - name: per-day
            key: [{ type: Header, name: x-k }]
            limit: { requests: 2, window: Day }
  - name: rej
    match: { path: /rej }
    backend: up
    policy:
      quota:
        rules:
          - name: keyed
            key: [{ type: Header, name: x-k }]
            onMissingKey: Reject
            limit: { requests: 100, window: Month }
  - name: roll
    match: { path: /roll }
    backend: up
    policy:
      quota:
        rules:
          - name: rolling-day
            alignment: Rolling
            limit: { requests: 2, window: Day }
  - name: persist
    match: { path: /persist }
    backend: up
    policy:
      quota:
        rules:
          - name: daily
            key: [{ type: Header, name: x-k }]
            limit: { requests: 5, window: Day }
  - name: rlq
    match: { path: /rlq }
    backend: up
    policy:
      rateLimit:
        rules:
          - name: hourly-rate
            key: [{ type: Header, name: x-k }]
            limit: { requests: 10, unit: Hour }
      quota:
        rules:
          - name: tiny
            key: [{ type: Header, name: x-k }]
            limit: { requests: 2, window: Day }
backends:
  - name: up
    endpoints: ["127.0.0.1:${port}"]
`);

/** The next UTC hour boundary after `ms`. */
function nextHour(ms: number): number {
  return Math.floor(ms / 3600000) * 3600000 + 3600000;
}

for (const fe of FRONTENDS) {
  describe(`quotas [${fe}]`, () => {
    let up: Upstream;
    let gw: RunningGateway;
    let db: string;
    // The periodic sync is an hour away: only the graceful stop can have persisted counts.
    const env = (): Record<string, string> => ({ GATEMESH_QUOTA_DB: db, GATEMESH_QUOTA_SYNC_MS: '3600000' });

    before(async () => {
      up = await slowUpstream();
      db = path.join(tempDir(), 'quotas.db');
      gw = await startGateway(fe, CONFIG(up.port), env());
    });
    after(async () => {
      await gw.stop();
      await up.close();
    });

    it('sends Kong-style quota headers and a 429 naming the quota and its reset, with Retry-After', async () => {
      const k = { 'x-k': 'a' };
      for (let i = 0; i < 3; i++) {
        const r = await get(gw.port, '/q', k);
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-ratelimit-limit-hour'], '3');
        assert.equal(r.headers['x-ratelimit-remaining-hour'], String(2 - i));
        const reset = Number(r.headers['ratelimit-reset']);
        assert.ok(reset >= 1 && reset <= 3600, String(r.headers['ratelimit-reset']));
        assert.equal(r.headers['ratelimit-policy'], undefined, 'the draft fields belong to rateLimit');
      }
      const now = Date.now();
      const r = await get(gw.port, '/q', k);
      assert.equal(r.status, 429);
      assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_QUOTA_EXCEEDED');
      assert.equal(r.headers['content-type'], 'application/problem+json');
      assert.equal(r.headers['x-ratelimit-remaining-hour'], '0');
      const body = JSON.parse(r.body) as Record<string, unknown>;
      assert.equal(body.status, 429);
      assert.equal(body.policy, 'route/q');
      assert.equal(body.quota, 'hourly');
      assert.equal(body.limit, 3);
      assert.equal(body.window, 'Hour');
      // Calendar alignment: the window ends at the next UTC hour.
      assert.equal(body.resetAt, new Date(nextHour(now)).toISOString());
      const expected = Math.ceil((nextHour(now) - now) / 1000);
      assert.ok(Math.abs(Number(body.resetSeconds) - expected) <= 2, `${String(body.resetSeconds)} vs ${expected}`);
      assert.equal(r.headers['retry-after'], String(body.resetSeconds));
      assert.match(String(body.detail), /quota hourly of policy route\/q/);
      // Another key has its own quota.
      assert.equal((await get(gw.port, '/q', { 'x-k': 'b' })).status, 200);
      assert.equal(up.requests.filter((q) => q.url === '/q').length, 4);
    });

    it('reports every window; a request refused by one quota is not charged to the others', async () => {
      const k = { 'x-k': 'w' };
      for (let i = 0; i < 2; i++) {
        const r = await get(gw.port, '/two', k);
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-ratelimit-limit-hour'], '10');
        assert.equal(r.headers['x-ratelimit-remaining-hour'], String(9 - i));
        assert.equal(r.headers['x-ratelimit-limit-day'], '2');
        assert.equal(r.headers['x-ratelimit-remaining-day'], String(1 - i));
      }
      for (let i = 0; i < 3; i++) {
        const r = await get(gw.port, '/two', k);
        assert.equal(r.status, 429);
        assert.equal((JSON.parse(r.body) as Record<string, unknown>).quota, 'per-day');
        assert.equal(r.headers['x-ratelimit-remaining-hour'], '8', 'the hourly quota was refunded');
      }
    });

    it('a request refused by the quota gives back its rate-limit charge', async () => {
      const k = { 'x-k': 'rq' };
      for (let i = 0; i < 2; i++) {
        const r = await get(gw.port, '/rlq', k);
        assert.equal(r.status, 200);
        assert.match(String(r.headers['ratelimit']), new RegExp(`"hourly-rate";r=${9 - i};`));
      }
      for (let i = 0; i < 3; i++) {
        const r = await get(gw.port, '/rlq', k);
        assert.equal(r.status, 429);
        assert.equal((JSON.parse(r.body) as Record<string, unknown>).quota, 'tiny');
        // Charged and refunded: the rate limit still has 8 left, not 7 - i.
        assert.match(String(r.headers['ratelimit']), /"hourly-rate";r=8;/, String(r.headers['ratelimit']));
      }
    });

    it('onMissingKey Reject answers 400 GATEMESH_ERR_LIMIT_KEY_MISSING', async () => {
      const r = await get(gw.port, '/rej');
      assert.equal(r.status, 400);
      assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_LIMIT_KEY_MISSING');
      assert.equal((await get(gw.port, '/rej', { 'x-k': '1' })).status, 200);
    });

    it('a Rolling quota on the route key refuses past its limit', async () => {
      assert.equal((await get(gw.port, '/roll')).status, 200);
      assert.equal((await get(gw.port, '/roll', { 'x-k': 'other' })).status, 200);
      const r = await get(gw.port, '/roll');
      assert.equal(r.status, 429);
      const body = JSON.parse(r.body) as Record<string, unknown>;
      assert.equal(body.alignment, 'Rolling');
      assert.equal(body.quota, 'rolling-day');
      assert.ok(Number(r.headers['retry-after']) >= 1 && Number(r.headers['retry-after']) <= 86400);
    });

    it('keeps counts across a graceful stop and restart (SQLite store)', async () => {
      const k = { 'x-k': 'p' };
      for (let i = 0; i < 3; i++) {
        const r = await get(gw.port, '/persist', k);
        assert.equal(r.status, 200, r.body);
        assert.equal(r.headers['x-ratelimit-remaining-day'], String(4 - i));
      }
      const code = await gw.stop();
      assert.equal(code, 0, gw.stderr());

      // The stopped gateway's access log: the quota refusals carry QE.
      const log = readAccessLog(gw);
      const refused = log.filter((l) => l.error === 'GATEMESH_ERR_QUOTA_EXCEEDED');
      assert.equal(refused.length, 8, JSON.stringify(refused)); // /q 1, /two 3, /rlq 3, /roll 1
      for (const l of refused) {
        assert.equal(l.status, 429);
        assert.equal(l.flags, 'QE');
        assert.match(String(l.reason), /quota policy route\/(q|two|rlq|roll)/);
      }

      gw = await startGateway(fe, CONFIG(up.port), env());
      const loaded = gw.stderr().split('\n').find((l) => l.includes('quota counts loaded'));
      assert.ok(loaded !== undefined && /"backend":"sqlite"/.test(loaded), gw.stderr());
      const r4 = await get(gw.port, '/persist', k);
      assert.equal(r4.status, 200, r4.body);
      assert.equal(r4.headers['x-ratelimit-remaining-day'], '1', `counting continued from 3; log:\n${gw.stderr()}`);
      assert.equal((await get(gw.port, '/persist', k)).status, 200);
      const r6 = await get(gw.port, '/persist', k);
      assert.equal(r6.status, 429);
      assert.equal((JSON.parse(r6.body) as Record<string, unknown>).quota, 'daily');
      // The other quotas came back too: key a of /q is still exhausted.
      assert.equal((await get(gw.port, '/q', { 'x-k': 'a' })).status, 429);
    });
  });
}
