// The adaptive concurrency limit (concurrency.adaptive, Netflix concurrency-limits' Gradient2;
// src/policy/concurrency/gradient.ts) through the real binary, on both front ends, with 2 worker
// threads sharing one limit (native-free serves from 1 thread on Node < 22.12: no reusePort).
// A closed loop of 16 keep-alive clients runs against a route with maxInFlight 20 (the ceiling)
// and no queue while the upstream's latency goes fast → slow → fast:
//   fast (1 ms):   the limit stays at its ceiling: no refusals, and when the upstream turns slow
//                  all 16 clients are admitted at once (the limit is ≥ 16);
//   slow (150 ms): the limit falls (gradient 0.5 per window, towards minLimit): the
//                  upstream holds clearly fewer than 16, and the gateway answers the rest 503
//                  GATEMESH_ERR_CONCURRENCY_LIMITED at once;
//   fast again:    the limit grows back (+smoothing × queueSize per window): the refusals stop,
//                  and a second slow probe admits all 16 at once again.
// The gradient needs its long-RTT warm-up (10 windows) to end before the latency rises, so the
// first fast phase lasts 15+ windows of 100 ms. The slow phase stops after ~25 windows: the long
// RTT (an EWMA over 600 windows) slowly adopts the new latency, and from ~80 windows on Gradient2
// lets the limit climb back towards the ceiling. The limit is read from the upstream's in-flight
// timeline and the 503s, and from admin /metrics (gatemesh_concurrency_limit) at the phase ends.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { faultyUpstream, slow, watchInflight, type Fault, type FaultyUpstream } from '../helpers/faulty-upstream';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { closedLoop, listeningRecord, sleep, type LoopSample } from '../helpers/policy';

const CLIENTS = 16;
const MAX_IN_FLIGHT = 20;
const FAST = slow(1);
const SLOW_MS = 150;
const SLOW = slow(SLOW_MS);
/** Phase lengths, ms. */
const WARM = 1500;
const HIGH = 3000;
const RECOVER = 3500;
const PROBE = 400;
/** The part of a phase its end-state assertions look at, ms: the slow phase's, the recovery's. */
const HIGH_TAIL = 500;
const TAIL = 800;
/** Refusals allowed where the limit should be at its ceiling: a noisy window (a GC pause, a CPU
 *  stall) can cut it once or twice; the slow phase's tail refuses most requests. */
const NOISE = 0.02;
/** Right after a switch to slow, the first slow requests are all in flight within this, ms. */
const HEAD = 300;

const CONFIG = (port: number): string =>
  nativeConfig(`routes:
  - name: adaptive
    match: { path: /a }
    backend: up
    policy:
      concurrency:
        maxInFlight: ${MAX_IN_FLIGHT}
        adaptive: { minLimit: 2, initialLimit: ${MAX_IN_FLIGHT}, window: 100ms }
backends:
  - name: up
    endpoints: ["127.0.0.1:${port}"]
`);

/** gatemesh_concurrency_limit of the route's policy, from admin /metrics. */
function metricLimit(adminPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: adminPort, path: '/metrics' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          const m = /^gatemesh_concurrency_limit\{scope="policy",name="route\/adaptive"\} (\d+)$/m.exec(body);
          if (m === null) reject(new Error(`no concurrency limit in /metrics:\n${body}`));
          else resolve(Number(m[1]));
        });
      })
      .on('error', reject);
  });
}

interface Timeline {
  /** gatemesh_concurrency_limit at the end of the fast, slow and recovery phases. */
  limits: number[];
  samples: LoopSample[];
  inflight: { at: number; n: number }[];
  /** performance.now() at each switch: [start, →slow, →fast, →slow probe, end]. */
  marks: number[];
}

const between = (t: Timeline, from: number, to: number) => ({
  replies: t.samples.filter((s) => s.at >= from && s.at < to),
  maxInflight: Math.max(0, ...t.inflight.filter((p) => p.at >= from && p.at < to).map((p) => p.n)),
});

/** Per 100 ms: `t+ms ok/refused/upstream-peak`, for assertion messages. */
function describeTimeline(t: Timeline): string {
  const t0 = t.marks[0];
  const rows: string[] = [];
  for (let from = t0; from < t.marks[t.marks.length - 1]; from += 100) {
    const b = between(t, from, from + 100);
    const ok = b.replies.filter((s) => s.status === 200).length;
    const no = b.replies.length - ok;
    rows.push(`${Math.round(from - t0)}:${ok}/${no}/${b.maxInflight}`);
  }
  return `phases at ${t.marks.map((m) => Math.round(m - t0)).join(',')} ms; per 100 ms ok/refused/upstream-peak: ${rows.join(' ')}`;
}

for (const fe of FRONTENDS) {
  describe(`adaptive concurrency limit [${fe}]`, () => {
    let up: FaultyUpstream;
    let gw: RunningGateway;
    let fault: Fault = FAST;
    let t: Timeline;

    before(async () => {
      up = await faultyUpstream('up');
      up.behave = () => fault;
      gw = await startGateway(fe, CONFIG(up.port), { GATEMESH_THREADS: '2', GATEMESH_ACCESS_LOG: 'off' });
      // One run of fast → slow → fast → slow probe; the tests below read its phases.
      const watch = watchInflight(up, 5);
      const loop = closedLoop(gw.port, CLIENTS, '/a', 5);
      const marks = [performance.now()];
      const phase = async (f: Fault, ms: number): Promise<void> => {
        fault = f;
        marks.push(performance.now());
        await sleep(ms);
      };
      const limits: number[] = [];
      await sleep(WARM);
      limits.push(await metricLimit(gw.adminPort));
      await phase(SLOW, HIGH);
      limits.push(await metricLimit(gw.adminPort));
      await phase(FAST, RECOVER);
      limits.push(await metricLimit(gw.adminPort));
      await phase(SLOW, PROBE);
      marks.push(performance.now());
      const samples = await loop.stop();
      t = { limits, samples, inflight: watch.stop(), marks };
    });
    after(async () => {
      await gw.stop();
      await up.close();
    });

    it('serves from 2 threads (native-free: 1 below Node 22.12) and answers every request 200 or 503 CONCURRENCY_LIMITED', (ctx) => {
      ctx.diagnostic(describeTimeline(t));
      // native-free binds one port from one thread only on Node < 22.12 (no reusePort).
      const rec = listeningRecord(gw);
      assert.equal(rec.frontend, fe);
      assert.ok(rec.threads === 2 || (fe === 'native-free' && rec.threads === 1), JSON.stringify(rec));
      const errors = t.samples.filter((s) => s.status === 0).length;
      assert.equal(errors, 0, 'every request was answered');
      const odd = t.samples.filter((s) => s.status !== 200 && !(s.status === 503 && s.error === 'GATEMESH_ERR_CONCURRENCY_LIMITED'));
      assert.equal(odd.length, 0, `only 200 or 503 CONCURRENCY_LIMITED: ${JSON.stringify(odd.slice(0, 5))}`);
    });

    it('with a fast upstream keeps the limit at its ceiling: (next to) nothing refused, all 16 clients admitted at once', () => {
      const [start, toSlow] = t.marks;
      const warm = between(t, start, toSlow).replies;
      const refused = warm.filter((s) => s.status === 503).length;
      assert.ok(warm.length > 500, `only ${warm.length} replies in the fast phase; ${describeTimeline(t)}`);
      assert.ok(refused <= warm.length * NOISE, `${refused} of ${warm.length} refused; ${describeTimeline(t)}`);
      // The first slow requests find the limit where the fast phase left it: every client in flight.
      const head = between(t, toSlow, toSlow + HEAD);
      assert.equal(head.maxInflight, CLIENTS, describeTimeline(t));
      assert.ok(t.limits[0] >= CLIENTS, `/metrics limit ${t.limits[0]} after the fast phase`);
    });

    it('when latency rises, lowers the limit: fewer in flight at the upstream, the rest refused 503 at once', () => {
      const [, toSlow, toFast] = t.marks;
      const tail = between(t, toFast - HIGH_TAIL, toFast);
      // Gradient 0.5 per window (~150 ms: 10 samples of 150 ms) from 20 heads for 8 (smoothing 0.2,
      // queueSize 4): 12 after ~10 windows, about 9 after 20. 16 at once would mean the limit never
      // moved, or each thread kept its own (with 8 clients each, a thread's limit of 20 would be
      // app-limited, peak < limit / 2, and never move).
      assert.ok(tail.maxInflight <= 12, `upstream held ${tail.maxInflight} at once; ${describeTimeline(t)}`);
      assert.ok(tail.maxInflight >= 2, `adaptive.minLimit is 2; ${describeTimeline(t)}`);
      const refused = tail.replies.filter((s) => s.status === 503);
      assert.ok(refused.length >= 20, `${refused.length} refused in the last ${HIGH_TAIL} ms; ${describeTimeline(t)}`);
      assert.ok(refused.length > tail.replies.length / 2, `most requests refused: ${refused.length} of ${tail.replies.length}`);
      for (const r of refused) assert.equal(r.error, 'GATEMESH_ERR_CONCURRENCY_LIMITED');
      // At once, not after the upstream's 150 ms (the median: one stalled event loop is not the point).
      const ms = refused.map((r) => r.ms).sort((a, b) => a - b);
      assert.ok(ms[ms.length >> 1] < SLOW_MS / 5, `median refusal took ${ms[ms.length >> 1]} ms`);
      // Shrunk, not shut: the slow phase kept serving all along.
      const served = between(t, toSlow, toFast).replies.filter((s) => s.status === 200);
      assert.ok(served.length > 100, `${served.length} served while slow; ${describeTimeline(t)}`);
      // The admin sees the same limit the threads enforce.
      assert.ok(t.limits[1] <= 12 && t.limits[1] >= 2, `/metrics limit ${t.limits[1]} at the end of the slow phase`);
    });

    it('when latency returns to normal, raises the limit again: refusals stop, all 16 admitted at once', () => {
      const [, , toFast, toProbe, end] = t.marks;
      const tail = between(t, toProbe - TAIL, toProbe).replies;
      assert.ok(tail.length > 200, `only ${tail.length} replies; ${describeTimeline(t)}`);
      const refused = tail.filter((s) => s.status === 503).length;
      assert.ok(refused <= tail.length * NOISE, `${refused} of ${tail.length} refused in the last ${TAIL} ms of recovery; ${describeTimeline(t)}`);
      // Refusals happened early in the recovery (the limit was still low) and then stopped.
      const early = between(t, toFast, toFast + 300).replies.filter((s) => s.status === 503).length;
      assert.ok(early > 0, `none refused right after latency fell: was the limit ever low? ${describeTimeline(t)}`);
      // The slow probe: every client in flight at once again, so the limit is back to ≥ 16.
      const probe = between(t, toProbe, Math.min(end, toProbe + HEAD));
      assert.equal(probe.maxInflight, CLIENTS, describeTimeline(t));
      assert.ok(t.limits[2] >= CLIENTS, `/metrics limit ${t.limits[2]} after recovery`);
    });
  });
}
