// BackendTrafficPolicy `retry` and `circuitBreaker` through the real binary, on both front ends,
// with fault-injecting upstreams: retries on connect failure, reset and listed statuses; POST only
// with retryOn.nonIdempotent; backoff timing; the per-try timeout; attempts in the access log; the
// backend's retry budget (upstream hits counted, RB flag); maxParallelRetries and
// maxParallelRequests (503 GATEMESH_ERR_CIRCUIT_OPEN, UO flag).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { closedPort } from '../helpers/servers';
import { fail, faultyUpstream, load, queryFault, sleep, type FaultyUpstream } from '../helpers/faulty-upstream';

let keys = 0;
/** A fresh upstream path per request, so per-path fault counts never leak between cases. */
const key = (prefix: string): string => `${prefix}/k${++keys}`;

const retry = (body: string): string => `{ retry: { ${body} } }`;
const route = (name: string, backend: string, policy: string): string => `  - name: ${name}\n    match: { path: /${name} }\n    backend: ${backend}\n    policy: ${policy}\n`;

for (const fe of FRONTENDS) {
  describe(`retry and circuit breaking [${fe}]`, () => {
    let gw: RunningGateway;
    let f: FaultyUpstream;
    const expectLog: { path: string; check: (l: Record<string, unknown>) => void }[] = [];
    const hitsOf = (p: string): FaultyUpstream["hits"] => f.hits.filter((h) => h.url.split('?')[0] === p);
    const hitsUnder = (prefix: string): number => f.hits.filter((h) => h.url.startsWith(prefix + '/')).length;

    before(async () => {
      f = await faultyUpstream('f');
      const refused = await closedPort();
      const codes = 'retryOn: { triggers: [retriable-status-codes], httpStatusCodes: [503] }';
      gw = await startGateway(
        fe,
        nativeConfig(`routes:
${route('rc', 'two', retry('numRetries: 1, perRetry: { backOff: { baseInterval: 10ms } }'))}${route('rr', 'up', retry('numRetries: 2, perRetry: { backOff: { baseInterval: 10ms } }'))}${route(
          'rs',
          'up',
          retry(`numRetries: 2, ${codes}, perRetry: { backOff: { baseInterval: 10ms } }`),
        )}${route('rp', 'up', retry(`numRetries: 2, retryOn: { triggers: [retriable-status-codes], httpStatusCodes: [503], nonIdempotent: true }, perRetry: { backOff: { baseInterval: 10ms } }`))}${route(
          'rb',
          'up',
          retry(`numRetries: 2, ${codes}, perRetry: { backOff: { baseInterval: 200ms, maxInterval: 2s } }`),
        )}${route('rt', 'up', retry('numRetries: 1, perRetry: { timeout: 200ms, backOff: { baseInterval: 10ms } }'))}${route(
          'budget',
          'bud',
          retry(`numRetries: 3, ${codes}, perRetry: { backOff: { baseInterval: 1ms } }`),
        )}${route('nobudget', 'up', retry(`numRetries: 3, ${codes}, perRetry: { backOff: { baseInterval: 1ms } }`))}${route(
          'cbr',
          'cbr',
          retry(`numRetries: 1, ${codes}, perRetry: { backOff: { baseInterval: 1ms } }`),
        )}${route('cb', 'cb', '{}')}${route('rbudget', 'up', retry(`numRetries: 3, ${codes}, perRetry: { backOff: { baseInterval: 1ms } }, budget: { percent: 20, minRetriesPerSecond: 2, window: 1s }`))}backends:
  - name: up
    endpoints: ["${f.address}"]
  - name: two
    endpoints: ["127.0.0.1:${refused}", "${f.address}"]
  - name: bud
    endpoints: ["${f.address}"]
    policy: { retry: { budget: { percent: 20, minRetriesPerSecond: 2, window: 1s } } }
  - name: cbr
    endpoints: ["${f.address}"]
    policy: { circuitBreaker: { maxParallelRetries: 1 } }
  - name: cb
    endpoints: ["${f.address}"]
    policy: { circuitBreaker: { maxParallelRequests: 2 } }
`),
      );
    });
    after(async () => {
      assert.equal(await gw.stop(), 0);
      await f.close();
    });

    it('connect failure: retried on the next endpoint (attempts 2 in the log)', async () => {
      const paths = Array.from({ length: 4 }, () => key('/rc'));
      const rs = await load(gw.port, 4, 1, (i) => ({ path: paths[i] }));
      for (const r of rs) assert.equal(r.status, 200);
      // Whichever endpoint round robin picks first, every request ends on the live one; at
      // least one tried the refused endpoint first (a retry takes the next round-robin turn).
      const attempts: number[] = [];
      for (const p of paths) {
        expectLog.push({
          path: p,
          check: (l) => {
            assert.equal(l.endpoint, f.address);
            attempts.push(Number(l.attempts));
          },
        });
      }
      expectLog.push({
        path: paths[0],
        check: () => {
          assert.equal(attempts.length, 4);
          assert.ok(attempts.every((a) => a === 1 || a === 2) && attempts.includes(2), `attempts ${attempts.join(',')}`);
        },
      });
    });

    it('reset before the response head: retried', async () => {
      const p = key('/rr');
      const [r] = await load(gw.port, 1, 1, () => ({ path: `${p}?fail=2&mode=reset` }));
      assert.equal(r.status, 200);
      assert.equal(hitsOf(p).length, 3);
      // A reset on a reused keep-alive socket is first retried once by the exchange itself (the
      // idle-close race, not an attempt); the policy's retry makes the second attempt.
      expectLog.push({ path: p, check: (l) => assert.ok(l.attempts === 2 || l.attempts === 3, `attempts ${l.attempts}`) });
    });

    it('listed status 503 is retried; 500 (not listed) is not', async () => {
      const p = key('/rs');
      const [r] = await load(gw.port, 1, 1, () => ({ path: `${p}?fail=2&status=503` }));
      assert.equal(r.status, 200);
      expectLog.push({ path: p, check: (l) => assert.equal(l.attempts, 3) });
      const q = key('/rs');
      const [r2] = await load(gw.port, 1, 1, () => ({ path: `${q}?fail=1&status=500` }));
      assert.equal(r2.status, 500);
      assert.equal(hitsOf(q).length, 1);
      expectLog.push({ path: q, check: (l) => assert.equal(l.attempts, 1) });
    });

    it('numRetries bounds the attempts; the last answer is relayed', async () => {
      const p = key('/rs');
      const [r] = await load(gw.port, 1, 1, () => ({ path: `${p}?fail=9&status=503` }));
      assert.equal(r.status, 503);
      assert.equal(hitsOf(p).length, 3);
    });

    it('POST is not retried unless retryOn.nonIdempotent', async () => {
      const p = key('/rs');
      const [r] = await load(gw.port, 1, 1, () => ({ path: `${p}?fail=1&status=503`, method: 'POST', body: 'x' }));
      assert.equal(r.status, 503);
      assert.equal(hitsOf(p).length, 1);
      const q = key('/rp');
      const [r2] = await load(gw.port, 1, 1, () => ({ path: `${q}?fail=1&status=503`, method: 'POST', body: 'x' }));
      assert.equal(r2.status, 200);
      assert.equal(hitsOf(q).length, 2);
      assert.deepEqual(
        hitsOf(q).map((h) => h.method),
        ['POST', 'POST'],
      );
    });

    it('backoff: the first retry waits at least baseInterval, the second twice that', async () => {
      const p = key('/rb');
      const [r] = await load(gw.port, 1, 1, () => ({ path: `${p}?fail=2&status=503` }));
      assert.equal(r.status, 200);
      const at = hitsOf(p).map((h) => h.at);
      assert.equal(at.length, 3);
      assert.ok(at[1] - at[0] >= 195, `first retry after ${(at[1] - at[0]).toFixed(1)} ms, baseInterval 200ms`);
      assert.ok(at[2] - at[1] >= 395, `second retry after ${(at[2] - at[1]).toFixed(1)} ms`);
      assert.ok(at[2] - at[0] < 1500, 'jitter adds at most 25 %');
    });

    it('per-try timeout: a slow attempt is abandoned and the next one answers', async () => {
      const p = key('/rt');
      const t0 = performance.now();
      const [r] = await load(gw.port, 1, 1, () => ({ path: `${p}?fail=1&mode=slow&delay=3000` }));
      const took = performance.now() - t0;
      assert.equal(r.status, 200);
      assert.ok(took >= 200 && took < 1000, `took ${took.toFixed(0)} ms (per try 200 ms)`);
      expectLog.push({ path: p, check: (l) => assert.equal(l.attempts, 2) });
    });

    it('retry budget: a failing backend gets at most minRetriesPerSecond × window + percent × requests retries', async () => {
      // 20 requests at once to an always-503 backend, numRetries 3: without a budget 80 upstream hits.
      const n = 20;
      const nob = await load(gw.port, n, n, () => ({ path: `${key('/nobudget')}?fail=99&status=503` }));
      assert.ok(nob.every((r) => r.status === 503));
      assert.equal(hitsUnder('/nobudget'), n * 4, 'no budget: every retry made');
      const paths = Array.from({ length: n }, () => key('/budget'));
      const rs = await load(gw.port, n, n, (i) => ({ path: `${paths[i]}?fail=99&status=503` }));
      assert.ok(rs.every((r) => r.status === 503));
      const retries = hitsUnder('/budget') - n;
      // Budget: percent 20, minRetriesPerSecond 2, window 1s → max(2, 0.2 × 20) = 4 retries.
      assert.ok(retries >= 1 && retries <= 2 * 1 + 0.2 * n, `${retries} retries for ${n} requests`);
      const flagged: string[] = [];
      for (const p of paths) expectLog.push({ path: p, check: (l) => void (l.flags === 'RB' && flagged.push(p)) });
      expectLog.push({ path: paths[0], check: () => assert.ok(flagged.length >= n - 4, `${flagged.length} requests flagged RB`) });
    });

    it(
      'retry budget set on the route policy bounds retries too',
      async () => {
        const n = 20;
        await load(gw.port, n, n, () => ({ path: `${key('/rbudget')}?fail=99&status=503` }));
        const retries = hitsUnder('/rbudget') - n;
        assert.ok(retries <= 2 * 1 + 0.2 * n, `${retries} retries for ${n} requests`);
      },
    );

    it('circuit breaker maxParallelRetries 1: one retry in flight at a time, the others answer with their last result', async () => {
      // First attempt 503 at once; the retry answers 200 after 300 ms and holds the only retry slot meanwhile.
      const paths = Array.from({ length: 5 }, () => key('/cbr'));
      const rs = await load(gw.port, 5, 5, (i) => ({ path: `${paths[i]}?fail=1&status=503&okdelay=300` }));
      const statuses = rs.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 503, 503, 503, 503]);
      assert.equal(hitsUnder('/cbr'), 6, 'five first attempts and one retry');
      for (let i = 0; i < 5; i++) {
        const st = rs[i].status;
        expectLog.push({ path: paths[i], check: (l) => assert.equal(l.flags, st === 503 ? 'RB' : undefined) });
      }
      // The slot is given back: the next one retries.
      const p = key('/cbr');
      const [r] = await load(gw.port, 1, 1, () => ({ path: `${p}?fail=1&status=503` }));
      assert.equal(r.status, 200);
    });

    it('a retry slot is given back when the retry never starts (its endpoint held by Retry-After)', async () => {
      // First attempt: 503 with Retry-After, so the only endpoint is held and the retry finds no
      // endpoint (503 NO_HEALTHY_ENDPOINTS). The slot it took must not leak.
      const saved = f.behave;
      f.behave = (req, nth) => (req.url!.includes('ra=1') && nth === 1 ? fail(503, { 'retry-after': '1' }) : queryFault(req, nth));
      const p = key('/cbr');
      const [r] = await load(gw.port, 1, 1, () => ({ path: `${p}?ra=1` }));
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_NO_HEALTHY_ENDPOINTS');
      f.behave = saved;
      await sleep(1100);
      const q = key('/cbr');
      const [r2] = await load(gw.port, 1, 1, () => ({ path: `${q}?fail=1&status=503` }));
      assert.equal(r2.status, 200, 'maxParallelRetries 1 still has its slot');
      assert.equal(hitsOf(q).length, 2);
    });

    it('circuit breaker maxParallelRequests 2: the third request in flight gets 503 GATEMESH_ERR_CIRCUIT_OPEN (UO)', async () => {
      const paths = Array.from({ length: 5 }, () => key('/cb'));
      const rs = await load(gw.port, 5, 5, (i) => ({ path: `${paths[i]}?okdelay=300` }));
      assert.deepEqual(
        rs.map((r) => r.status).sort(),
        [200, 200, 503, 503, 503],
      );
      assert.equal(hitsUnder('/cb'), 2, 'refused requests never reach the upstream');
      for (let i = 0; i < 5; i++) {
        if (rs[i].status !== 503) continue;
        assert.equal(rs[i].headers['x-gatemesh-error'], 'GATEMESH_ERR_CIRCUIT_OPEN');
        assert.match(rs[i].body, /circuit breaker open: cb: maxRequests/);
        expectLog.push({
          path: paths[i],
          check: (l) => {
            assert.equal(l.error, 'GATEMESH_ERR_CIRCUIT_OPEN');
            assert.equal(l.flags, 'UO');
            assert.match(String(l.reason), /circuit breaker open/);
          },
        });
      }
      // Closed again once they finished.
      const more = await load(gw.port, 2, 2, () => ({ path: key('/cb') }));
      assert.deepEqual(
        more.map((r) => r.status),
        [200, 200],
      );
    });

    it('access log: attempts and flags of the cases above', async () => {
      let lines: Record<string, unknown>[] = [];
      const want = new Set(expectLog.map((c) => c.path));
      for (let i = 0; i < 60; i++) {
        lines = await gw.accessLog();
        if ([...want].every((p) => lines.some((l) => String(l.path).startsWith(p + '?') || l.path === p))) break;
        await sleep(50);
      }
      for (const c of expectLog) {
        const line = lines.find((l) => l.path === c.path || String(l.path).startsWith(c.path + '?'));
        assert.ok(line, `access-log line for ${c.path}`);
        c.check(line);
      }
    });
  });
}
