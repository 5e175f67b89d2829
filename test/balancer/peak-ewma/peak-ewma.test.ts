// PeakEWMA: the estimate jumps to a slower sample at once, follows faster ones with the weight
// 1 − e^(−Δt/decay), decays while unsampled, and P2C over estimate × (in flight + 1) moves traffic
// away from a slow endpoint and back once it has recovered. A fake clock drives the maths.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { balancerSharedBytes, createBalancer, setup } from '../../../src/balancer';
import { createPeakEwmaBalancer, DEFAULT_RTT_MS } from '../../../src/balancer/peak-ewma/peak-ewma';
import { availability, endpoints, seeded, tally } from '../helpers';

const T0 = 1_700_000_000_000;
const POLICY = { type: 'PeakEWMA', decayMs: 10_000, defaultRttMs: 30 } as const;

function fixture(n: number, seed = 1, policy: typeof POLICY | null = POLICY) {
  const clock = { t: T0 };
  const s = setup(endpoints(new Array(n).fill(1)), 0, 1, null, seeded(seed));
  const sab = new SharedArrayBuffer(balancerSharedBytes(POLICY, n, 1));
  const b = createPeakEwmaBalancer(s, policy, sab, () => clock.t);
  return { b, clock, sab };
}

const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) < 1e-6 * Math.max(1, want), `${what}: ${got} vs ${want}`);

describe('PeakEWMA estimate', () => {
  const E = Math.E;
  const cases: { desc: string; steps: { dtMs: number; rttMs: number }[]; readAfterMs: number; want: number }[] = [
    { desc: 'no sample yet: the default RTT', steps: [], readAfterMs: 0, want: 30 },
    { desc: 'no sample yet, one decay later: it decays too (Linkerd)', steps: [], readAfterMs: 10_000, want: 30 / E },
    { desc: 'a slower sample is taken at once (peak)', steps: [{ dtMs: 1, rttMs: 500 }], readAfterMs: 0, want: 500 },
    { desc: 'a faster sample right after moves it a little', steps: [{ dtMs: 1, rttMs: 500 }, { dtMs: 100, rttMs: 100 }], readAfterMs: 0, want: 500 * Math.exp(-0.01) + 100 * (1 - Math.exp(-0.01)) },
    { desc: 'a faster sample one decay later moves it 63 %', steps: [{ dtMs: 1, rttMs: 500 }, { dtMs: 10_000, rttMs: 100 }], readAfterMs: 0, want: 500 / E + 100 * (1 - 1 / E) },
    { desc: 'unsampled for one decay: 1/e of the last estimate', steps: [{ dtMs: 1, rttMs: 200 }], readAfterMs: 10_000, want: 200 / E },
    { desc: 'peak after decay: back up at once', steps: [{ dtMs: 1, rttMs: 200 }, { dtMs: 50_000, rttMs: 150 }], readAfterMs: 0, want: 150 * (1 - Math.exp(-5)) + 200 * Math.exp(-5) },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const { b, clock } = fixture(1);
      for (const s of c.steps) {
        clock.t += s.dtMs;
        b.onStart(0);
        b.onEnd(0, s.rttMs);
      }
      near(b.estimate(0, clock.t + c.readAfterMs), c.want, c.desc);
    });
  }

  it('the estimate is shared: a sample on one thread is read by another', () => {
    const sab = new SharedArrayBuffer(balancerSharedBytes(POLICY, 2, 2));
    const clock = { t: T0 };
    const a = createPeakEwmaBalancer(setup(endpoints([1, 1]), 0, 2, null, Math.random), POLICY, sab, () => clock.t);
    const b = createPeakEwmaBalancer(setup(endpoints([1, 1]), 1, 2, null, Math.random), POLICY, sab, () => clock.t);
    a.onStart(1);
    a.onEnd(1, 400);
    near(b.estimate(1, clock.t), 400, 'thread 1 reads thread 0 sample');
  });

  it('a failure with latency < 0 releases the slot but is no sample', () => {
    const { b, clock } = fixture(2);
    b.onStart(0);
    b.onEnd(0, -1);
    near(b.estimate(0, clock.t), DEFAULT_RTT_MS, 'still the default');
    near(b.cost(0, clock.t), DEFAULT_RTT_MS, 'in flight back to 0');
  });

  const torn: { desc: string; rtt: number; stamp: number }[] = [
    { desc: 'NaN', rtt: NaN, stamp: T0 },
    { desc: 'negative', rtt: -5, stamp: T0 },
    { desc: 'absurd (> 1 h)', rtt: 1e300, stamp: T0 },
    { desc: 'stamp NaN', rtt: 5, stamp: NaN },
  ];
  for (const c of torn) {
    it(`a corrupt record (${c.desc}) reads as "no sample", never as a poisoned cost`, () => {
      const { b, clock, sab } = fixture(1);
      const d = new Float64Array(sab, balancerSharedBytes({ type: 'LeastRequest' }, 1, 1));
      d[0] = c.rtt;
      d[1] = c.stamp;
      near(b.estimate(0, clock.t), DEFAULT_RTT_MS, c.desc);
      b.onStart(0);
      b.onEnd(0, 50); // and the next sample repairs it
      near(b.estimate(0, clock.t), 50, 'repaired');
    });
  }

  it('rejects a non-positive decay', () => {
    const s = setup(endpoints([1]), 0, 1, null, Math.random);
    assert.throws(() => createPeakEwmaBalancer(s, { ...POLICY, decayMs: 0 }, new SharedArrayBuffer(balancerSharedBytes(POLICY, 1, 1))), /decay/);
  });
});

describe('PeakEWMA balancing', () => {
  /**
   * Open loop on the fake clock: one request per ms, each holding its endpoint for that endpoint's
   * latency (± 50 % jitter) before onEnd, so in-flight counts build up as they would for real.
   */
  function run(b: ReturnType<typeof fixture>['b'], clock: { t: number }, latency: number[], requests: number): number[] {
    const counts = new Array<number>(latency.length).fill(0);
    const rnd = seeded(11);
    let pending: { end: number; i: number; ms: number }[] = [];
    for (let k = 0; k < requests; k++) {
      clock.t += 1;
      pending = pending.filter((p) => (p.end <= clock.t ? (b.onEnd(p.i, p.ms), false) : true));
      const i = b.pick(null, -1);
      counts[i]++;
      b.onStart(i);
      const ms = latency[i] * (0.5 + rnd());
      pending.push({ end: clock.t + ms, i, ms });
    }
    for (const p of pending) b.onEnd(p.i, p.ms);
    return counts;
  }

  it('shifts traffic away from a slow endpoint', () => {
    const { b, clock } = fixture(3);
    const counts = run(b, clock, [10, 10, 200], 10_000);
    assert.ok(counts[2] / 10_000 < 0.02, `slow endpoint got ${counts[2]}`);
  });

  it('tries it again after its estimate decays, and keeps it once it is fast', () => {
    const { b, clock } = fixture(3);
    run(b, clock, [10, 10, 200], 5_000);
    clock.t += 60_000; // idle a minute: 200 ms decays below the others' 10 ms
    const counts = run(b, clock, [10, 10, 10], 9_000);
    assert.ok(counts[2] / 9_000 > 0.2, `recovered endpoint got ${counts[2]}`);
  });

  it('pick (which compares costs without reading the clock) agrees with cost() at any common now', () => {
    const { b, clock } = fixture(2, 12);
    const rnd = seeded(13);
    for (let round = 0; round < 300; round++) {
      // Random histories: samples at random times, random in-flight counts.
      for (let k = 0; k < 3; k++) {
        clock.t += rnd() * 20_000;
        const i = rnd() < 0.5 ? 0 : 1;
        b.onStart(i);
        b.onEnd(i, rnd() * 300);
      }
      const held = [Math.floor(rnd() * 4), Math.floor(rnd() * 4)];
      held.forEach((h, i) => {
        for (let k = 0; k < h; k++) b.onStart(i);
      });
      const later = clock.t + rnd() * 30_000;
      const c0 = b.cost(0, later);
      const c1 = b.cost(1, later);
      if (Math.abs(c0 - c1) > 1e-9 * Math.max(c0, c1)) {
        const want = c1 < c0 ? 1 : 0;
        for (let k = 0; k < 5; k++) assert.equal(b.pick(null, -1), want, `costs ${c0} / ${c1}`);
      }
      held.forEach((h, i) => {
        for (let k = 0; k < h; k++) b.onEnd(i, -1);
      });
    }
  });

  it('with equal latencies, in-flight requests decide', () => {
    const { b, clock } = fixture(2);
    run(b, clock, [20, 20], 100);
    for (let k = 0; k < 3; k++) b.onStart(0);
    assert.deepEqual(tally(b, 2, 100).counts, [0, 100]);
  });

  it('latency × (in flight + 1): a 2× slower idle endpoint beats a busy fast one', () => {
    const { b, clock } = fixture(2);
    run(b, clock, [10, 20], 50);
    for (let k = 0; k < 4; k++) b.onStart(0); // cost 10 × 5 = 50 > 20 × 1
    assert.deepEqual(tally(b, 2, 100).counts, [0, 100]);
  });

  it('skips unusable endpoints, -1 when none is usable, avoid honoured', () => {
    const av = availability([1]);
    const b = createBalancer(POLICY, endpoints([1, 1, 1]), undefined, 0, 1, av, seeded(3));
    const { counts } = tally(b, 3, 500);
    assert.equal(counts[1], 0);
    for (let k = 0; k < 50; k++) assert.equal(b.pick(null, 0), 2);
    av.down.add(0).add(2);
    assert.equal(b.pick(null, -1), -1);
  });

  it('through createBalancer on the real clock: a slow endpoint is avoided', () => {
    const b = createBalancer(POLICY, endpoints([1, 1]), undefined, 0, 1, null, seeded(4));
    b.onStart(0);
    b.onEnd(0, 300);
    b.onStart(1);
    b.onEnd(1, 3);
    assert.deepEqual(tally(b, 2, 100).counts, [0, 100]);
  });
});
