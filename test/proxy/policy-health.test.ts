// BackendTrafficPolicy healthCheck through the real binary, on both front ends, with
// fault-injecting upstreams: active checks (thresholds, a flapping check, once per process with 4
// worker threads), passive outlier detection (consecutive 5xx, ejection time growing per
// ejection, maxEjectionPercent), the panic threshold, Retry-After holds on 429/503, and the
// 503 GATEMESH_ERR_NO_HEALTHY_ENDPOINTS answer (body and access log) when no endpoint is usable.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { alternating, fail, faultyUpstreams, load, OK, shares, sleep, until, type FaultyUpstream, type LoadResult } from '../helpers/faulty-upstream';

const list = (u: FaultyUpstream[]): string => `[${u.map((x) => `"${x.address}"`).join(', ')}]`;
const route = (name: string, backend = name): string => `  - name: ${name}\n    match: { path: /${name} }\n    backend: ${backend}\n`;
const backend = (name: string, u: FaultyUpstream[], policy?: string): string =>
  `  - name: ${name}\n    endpoints: ${list(u)}\n${policy === undefined ? '' : `    policy: ${policy}\n`}`;

/** Active check every 200 ms, 100 ms timeout; thresholds and panic as given. */
const active = (unhealthy: number, healthy: number, panic?: number): string =>
  `{ healthCheck: { active: { http: { path: /healthz }, interval: 200ms, timeout: 100ms, unhealthyThreshold: ${unhealthy}, healthyThreshold: ${healthy} }${
    panic === undefined ? '' : `, panicThreshold: ${panic}`
  } } }`;

/** Passive outlier detection: 3 consecutive 5xx eject for 600 ms × n. */
const passive = (maxPct: number): string =>
  `{ healthCheck: { passive: { consecutive5XxErrors: 3, baseEjectionTime: 600ms, maxEjectionTime: 10s, maxEjectionPercent: ${maxPct} } } }`;

const ok = (rs: LoadResult[]): void => {
  for (const r of rs) assert.equal(r.status, 200, `${r.status} ${r.body}`);
};

/** Waits until upstream `x` has answered `n` more health checks than it had at the call. */
async function checksPass(x: FaultyUpstream, n: number): Promise<void> {
  const target = x.healthHits.length + n;
  assert.ok(await until(() => x.healthHits.length >= target, 3000), `${x.name}: ${n} more checks in 3 s`);
}

/** Polls the access log for a line matching `pred` (the log is flushed about once a second). */
async function logLine(gw: RunningGateway, pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (let i = 0; i < 60; i++) {
    const line = (await gw.accessLog()).find(pred);
    if (line !== undefined) return line;
    await sleep(50);
  }
  assert.fail('no matching access-log line');
}

for (const fe of FRONTENDS) {
  describe(`health [${fe}]`, () => {
    let gw: RunningGateway;
    let hc: FaultyUpstream[];
    let fl: FaultyUpstream[];
    let pn: FaultyUpstream[];
    let dd: FaultyUpstream[];
    let od: FaultyUpstream[];
    let mx: FaultyUpstream[];
    let ra: FaultyUpstream[];
    let all: FaultyUpstream[];

    before(async () => {
      [hc, fl, pn, dd, od, mx, ra] = await Promise.all([
        faultyUpstreams('hc', 3),
        faultyUpstreams('fl', 2),
        faultyUpstreams('pn', 3),
        faultyUpstreams('dd', 2),
        faultyUpstreams('od', 3),
        faultyUpstreams('mx', 3),
        faultyUpstreams('ra', 2),
      ]);
      all = [hc, fl, pn, dd, od, mx, ra].flat();
      gw = await startGateway(
        fe,
        nativeConfig(`routes:
${route('hc')}${route('fl')}${route('pn')}${route('dd')}${route('od')}${route('mx')}${route('ra503')}${route('ra429')}${route('raoff')}${route('held')}backends:
${backend('hc', hc, active(3, 2))}${backend('fl', fl, active(2, 2))}${backend('pn', pn, active(1, 1))}${backend('dd', dd, active(1, 1, 0))}${backend(
          'od',
          od,
          passive(34),
        )}${backend('mx', mx, passive(34))}${backend('ra503', ra)}${backend('ra429', ra)}${backend('raoff', ra, '{ healthCheck: { honorRetryAfter: false } }')}${backend(
          'held',
          ra,
        )}`),
      );
    });
    after(async () => {
      assert.equal(await gw.stop(), 0);
      await Promise.all(all.map((x) => x.close()));
    });

    it('active: an endpoint failing its check is taken out after unhealthyThreshold, and back after healthyThreshold passes', async () => {
      ok(await load(gw.port, 30, 1, () => ({ path: '/hc' })));
      assert.equal(hc[1].hits.length, 10, 'all three healthy at first');
      hc[1].health = () => fail(503);
      // unhealthyThreshold 3: after one failed check the endpoint still gets traffic.
      await checksPass(hc[1], 1);
      hc[1].reset();
      ok(await load(gw.port, 15, 1, () => ({ path: '/hc' })));
      assert.ok(hc[1].hits.length >= 1, 'one failure is below the threshold');
      // Three failures (plus one for a check in flight at the change): out.
      await checksPass(hc[1], 3);
      hc[1].reset();
      ok(await load(gw.port, 60, 1, () => ({ path: '/hc' })));
      assert.equal(hc[1].hits.length, 0, 'no traffic to an unhealthy endpoint');
      assert.ok(hc[0].hits.length >= 25 && hc[2].hits.length >= 25);
      // healthyThreshold 2: one pass is not enough...
      hc[1].health = () => OK;
      await checksPass(hc[1], 1);
      hc[1].reset();
      ok(await load(gw.port, 15, 1, () => ({ path: '/hc' })));
      assert.equal(hc[1].hits.length, 0, 'one passing check is below healthyThreshold 2');
      // ...two are (plus one for the check in flight).
      await checksPass(hc[1], 2);
      hc[1].reset();
      ok(await load(gw.port, 30, 1, () => ({ path: '/hc' })));
      assert.ok(hc[1].hits.length >= 5, `back in rotation: ${hc[1].hits.length} of 30`);
    });

    it('active: a flapping check (fail, pass, fail, ...) never reaches unhealthyThreshold 2', async () => {
      fl[1].health = alternating(fail(500), OK);
      await checksPass(fl[1], 4);
      fl[1].reset();
      ok(await load(gw.port, 20, 1, () => ({ path: '/fl' })));
      assert.equal(fl[1].hits.length, 10, 'still in rotation');
      // A flapping endpoint whose failures come in pairs is taken out.
      fl[1].health = () => fail(500);
      await checksPass(fl[1], 3);
      fl[1].reset();
      ok(await load(gw.port, 20, 1, () => ({ path: '/fl' })));
      assert.equal(fl[1].hits.length, 0);
    });

    it('panic threshold: with fewer than 50 % healthy, traffic is spread over all endpoints again', async () => {
      pn[1].health = () => fail(503);
      await checksPass(pn[1], 2);
      for (const x of pn) x.reset();
      ok(await load(gw.port, 30, 1, () => ({ path: '/pn' })));
      assert.equal(pn[1].hits.length, 0, '2 of 3 healthy (67 %): the unhealthy one gets nothing');
      pn[2].health = () => fail(503);
      await checksPass(pn[2], 2);
      for (const x of pn) x.reset();
      ok(await load(gw.port, 30, 1, () => ({ path: '/pn' })));
      for (const x of pn) assert.equal(x.hits.length, 10, `1 of 3 healthy (33 % < 50 %): panic, ${x.name} gets its share`);
      pn[1].health = () => OK;
      pn[2].health = () => OK;
    });

    it('no usable endpoint (all failing checks, panic off): 503 GATEMESH_ERR_NO_HEALTHY_ENDPOINTS with the reason', async () => {
      for (const x of dd) x.health = () => fail(500);
      await Promise.all(dd.map((x) => checksPass(x, 2)));
      const [r] = await load(gw.port, 1, 1, () => ({ path: '/dd/x1' }));
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_NO_HEALTHY_ENDPOINTS');
      assert.match(r.body, /no healthy endpoint.*: dd$/m);
      assert.equal(dd[0].hits.length + dd[1].hits.length, 0);
      const line = await logLine(gw, (l) => l.path === '/dd/x1');
      assert.equal(line.status, 503);
      assert.equal(line.error, 'GATEMESH_ERR_NO_HEALTHY_ENDPOINTS');
      assert.match(String(line.reason), /no healthy endpoint.*: dd$/);
      assert.equal(line.flags, 'UH');
      // One passes again: served.
      dd[0].health = () => OK;
      await checksPass(dd[0], 2);
      ok(await load(gw.port, 4, 1, () => ({ path: '/dd' })));
    });

    it('passive: 3 consecutive 5xx eject an endpoint for baseEjectionTime, the next ejection lasts twice as long', async () => {
      od[1].behave = () => fail(500);
      // Round robin: od1 answers every third request; its third 500 ejects it.
      const first = await load(gw.port, 9, 1, () => ({ path: '/od' }));
      assert.equal(first.filter((r) => r.status === 500).length, 3);
      const ejectedAt = od[1].hits[2].at;
      od[1].reset();
      ok(await load(gw.port, 30, 1, () => ({ path: '/od' })));
      assert.equal(od[1].hits.length, 0, 'ejected: the other two carry the traffic');
      // 600 ms base: back after it, fails 3 more times, ejected again for 2 × 600 ms.
      await sleep(Math.max(0, ejectedAt + 700 - performance.now()));
      const back = await load(gw.port, 30, 1, () => ({ path: '/od' }));
      assert.equal(od[1].hits.length, 3, 'back after baseEjectionTime, ejected again after 3 more 5xx');
      assert.equal(back.filter((r) => r.status === 500).length, 3);
      const again = od[1].hits[2].at;
      od[1].reset();
      await sleep(Math.max(0, again + 800 - performance.now()));
      ok(await load(gw.port, 30, 1, () => ({ path: '/od' })));
      assert.equal(od[1].hits.length, 0, 'second ejection: still out after 800 ms (1200 ms)');
      od[1].behave = () => OK;
      await sleep(Math.max(0, again + 1300 - performance.now()));
      ok(await load(gw.port, 30, 1, () => ({ path: '/od' })));
      assert.equal(od[1].hits.length, 10, 'back after 2 × baseEjectionTime');
    });

    it('passive: maxEjectionPercent 34 of 3 endpoints ejects one, never two', async () => {
      mx[1].behave = () => fail(500);
      mx[2].behave = () => fail(500);
      const rs = await load(gw.port, 60, 1, () => ({ path: '/mx' }));
      const tail = shares(rs.slice(30));
      const out = ['mx1', 'mx2'].filter((n) => (tail[n] ?? 0) === 0);
      assert.equal(out.length, 1, `exactly one failing endpoint ejected: last 30 went ${JSON.stringify(tail)}`);
      assert.ok((tail.mx0 ?? 0) >= 10);
    });

    it('Retry-After on 503 and 429 holds that endpoint back for that long', async () => {
      for (const x of ra) x.reset();
      ra[1].behave = (req, nth) => (nth > 1 ? OK : req.url!.startsWith('/ra429') ? fail(429, { 'retry-after': '1' }) : fail(503, { 'retry-after': '1' }));
      const h503 = await load(gw.port, 2, 1, () => ({ path: '/ra503' }));
      const h429 = await load(gw.port, 2, 1, () => ({ path: '/ra429' }));
      const heldAt = performance.now();
      assert.deepEqual(
        [...h503, ...h429].map((r) => r.status).sort(),
        [200, 200, 429, 503],
        'round robin: ra1 answered each backend once, with its 503 / 429',
      );
      ra[1].reset();
      for (const p of ['/ra503', '/ra429']) ok(await load(gw.port, 20, 1, () => ({ path: p })));
      assert.equal(ra[1].hits.length, 0, 'held: ra0 gets everything');
      // honorRetryAfter: false: the same answer holds nothing.
      ra[1].behave = (_req, nth) => (nth > 1 ? OK : fail(503, { 'retry-after': '1' }));
      const off = await load(gw.port, 10, 1, () => ({ path: '/raoff' }));
      assert.deepEqual(shares(off), { ra0: 5, ra1: 5 }, 'not held when honorRetryAfter is false');
      ra[1].behave = () => OK;
      ra[1].reset();
      await sleep(Math.max(0, heldAt + 1150 - performance.now()));
      for (const p of ['/ra503', '/ra429']) ok(await load(gw.port, 20, 1, () => ({ path: p })));
      assert.ok(ra[1].hits.length >= 10, `released after 1 s: ${ra[1].hits.length} of 40`);
    });

    it('every endpoint held by Retry-After: 503 GATEMESH_ERR_NO_HEALTHY_ENDPOINTS (holds apply even in panic)', async () => {
      for (const x of ra) x.behave = (req) => (req.url!.startsWith('/held') ? fail(503, { 'retry-after': '2' }) : OK);
      const rs = await load(gw.port, 3, 1, (i) => ({ path: `/held/n${i}` }));
      assert.deepEqual(
        rs.map((r) => r.status),
        [503, 503, 503],
      );
      assert.equal(rs[0].upstream !== '' && rs[1].upstream !== '', true, 'the first two are the upstreams\' own 503s');
      assert.equal(rs[2].upstream, '');
      assert.equal(rs[2].headers['x-gatemesh-error'], 'GATEMESH_ERR_NO_HEALTHY_ENDPOINTS');
      assert.match(rs[2].body, /: held$/m);
      const line = await logLine(gw, (l) => l.path === '/held/n2');
      assert.equal(line.error, 'GATEMESH_ERR_NO_HEALTHY_ENDPOINTS');
      assert.equal(line.flags, 'UH');
      for (const x of ra) x.behave = () => OK;
    });
  });

  describe(`active health checks with 4 worker threads [${fe}]`, () => {
    let gw: RunningGateway;
    let t: FaultyUpstream[];

    before(async () => {
      t = await faultyUpstreams('t', 2);
      gw = await startGateway(
        fe,
        nativeConfig(`routes:\n${route('t')}backends:\n${backend('t', t, active(1, 1, 0))}`),
        { GATEMESH_THREADS: '4' },
      );
    });
    after(async () => {
      assert.equal(await gw.stop(), 0);
      await Promise.all(t.map((x) => x.close()));
    });

    it('each endpoint is checked once per interval (once per process, not per thread)', async () => {
      await sleep(300);
      for (const x of t) x.reset();
      await sleep(1000);
      // 200 ms ± 10 % jitter: 4 to 6 checks in 1 s per endpoint; per thread it would be ~20.
      for (const x of t) assert.ok(x.healthHits.length >= 3 && x.healthHits.length <= 7, `${x.name}: ${x.healthHits.length} checks in 1 s`);
    });

    it('every thread sees the verdict: an unhealthy endpoint gets no request on any connection', async () => {
      t[1].health = () => fail(503);
      await checksPass(t[1], 2);
      for (const x of t) x.reset();
      // A new connection per request spreads them over the worker threads.
      ok(await load(gw.port, 60, 8, () => ({ path: '/t' }), true));
      assert.equal(t[1].hits.length, 0);
      assert.equal(t[0].hits.length, 60);
    });
  });
}
