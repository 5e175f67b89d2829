// LeastRequest: of two distinct random usable endpoints, the one with fewer requests in flight
// (summed over every thread's slot) wins; onEnd gives the slot back; unusable endpoints are skipped.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { balancerSharedBytes, clearThreadInFlight, createBalancer, readInFlight } from '../../../src/balancer';
import { availability, endpoints, seeded, tally } from '../helpers';

const LR = { type: 'LeastRequest' } as const;

describe('LeastRequest picks the less loaded of two', () => {
  const cases: { desc: string; loads: number[]; check: (share: number[]) => void }[] = [
    { desc: 'two endpoints, one busy: always the idle one', loads: [5, 0], check: (s) => assert.equal(s[1], 1) },
    {
      desc: 'three endpoints 0/5/10: the busiest never wins, the idlest wins whenever drawn (2/3)',
      loads: [0, 5, 10],
      check: (s) => {
        assert.equal(s[2], 0);
        assert.ok(Math.abs(s[0] - 2 / 3) < 0.02, `idle share ${s[0]}`);
        assert.ok(Math.abs(s[1] - 1 / 3) < 0.02, `middle share ${s[1]}`);
      },
    },
    {
      desc: 'equal loads: uniform',
      loads: [3, 3, 3, 3],
      check: (s) => s.forEach((x) => assert.ok(Math.abs(x - 0.25) < 0.02, `share ${x}`)),
    },
    {
      desc: 'one busy of four: never picked (any other candidate is less loaded)',
      loads: [0, 0, 9, 0],
      check: (s) => assert.equal(s[2], 0),
    },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const b = createBalancer(LR, endpoints(c.loads.map(() => 1)), undefined, 0, 1, null, seeded(1));
      c.loads.forEach((l, i) => {
        for (let k = 0; k < l; k++) b.onStart(i);
      });
      const picks = 6000;
      const { counts, none } = tally(b, c.loads.length, picks);
      assert.equal(none, 0);
      c.check(counts.map((x) => x / picks));
    });
  }

  it('onEnd releases: loads back to equal give a uniform spread again', () => {
    const b = createBalancer(LR, endpoints([1, 1]), undefined, 0, 1, null, seeded(2));
    for (let k = 0; k < 4; k++) b.onStart(0);
    assert.deepEqual(tally(b, 2, 200).counts, [0, 200]);
    for (let k = 0; k < 4; k++) b.onEnd(0, 10);
    const { counts } = tally(b, 2, 2000);
    assert.ok(counts[0] > 800 && counts[1] > 800, `${counts}`);
  });

  it('a closed loop (start on pick, end later) keeps loads balanced', () => {
    const n = 5;
    const b = createBalancer(LR, endpoints(new Array(n).fill(1)), undefined, 0, 1, null, seeded(3));
    const open: number[] = [];
    const rnd = seeded(4);
    let maxSpread = 0;
    for (let k = 0; k < 20_000; k++) {
      const i = b.pick(null, -1);
      b.onStart(i);
      open.push(i);
      if (open.length > 40) b.onEnd(open.splice(Math.floor(rnd() * open.length), 1)[0], 1);
      const buf = open.reduce((acc, x) => (acc[x]++, acc), new Array<number>(n).fill(0));
      maxSpread = Math.max(maxSpread, Math.max(...buf) - Math.min(...buf));
    }
    // 40 in flight over 5 endpoints: P2C keeps them within a few of 8 each.
    assert.ok(maxSpread <= 8, `spread ${maxSpread}`);
  });

  it('weights bias which two are drawn', () => {
    const b = createBalancer(LR, endpoints([3, 1, 1, 1]), undefined, 0, 1, null, seeded(5));
    const { counts } = tally(b, 4, 12_000);
    assert.ok(counts[0] > counts[1] * 1.5, `${counts}`);
  });
});

describe('LeastRequest availability', () => {
  it('skips unusable endpoints even when they are the least loaded', () => {
    const av = availability([2]);
    const b = createBalancer(LR, endpoints([1, 1, 1]), undefined, 0, 1, av, seeded(6));
    b.onStart(0);
    b.onStart(1);
    const { counts } = tally(b, 3, 1000);
    assert.equal(counts[2], 0);
    assert.equal(counts[0] + counts[1], 1000);
  });

  it('all unusable → -1; one usable → it', () => {
    const av = availability([0, 1, 2]);
    const b = createBalancer(LR, endpoints([1, 1, 1]), undefined, 0, 1, av, seeded(7));
    assert.equal(b.pick(null, -1), -1);
    av.down.delete(1);
    assert.deepEqual(tally(b, 3, 50).counts, [0, 50, 0]);
  });

  it('mostly ejected backend: the exact fallback still draws uniformly over the usable ones', () => {
    const av = availability([0, 1, 2, 3, 4, 5, 6, 7]);
    const b = createBalancer(LR, endpoints(new Array(10).fill(1)), undefined, 0, 1, av, seeded(8));
    const { counts } = tally(b, 10, 4000);
    assert.ok(counts[8] > 1800 && counts[9] > 1800, `${counts}`);
  });

  it('avoid: another endpoint while one is usable, else the avoided one', () => {
    const av = availability();
    const b = createBalancer(LR, endpoints([1, 1, 1]), undefined, 0, 1, av, seeded(9));
    b.onStart(1);
    b.onStart(1);
    for (let k = 0; k < 100; k++) assert.notEqual(b.pick(null, 0), 0);
    av.down.add(1);
    av.down.add(2);
    assert.equal(b.pick(null, 0), 0);
  });
});

describe('LeastRequest shared buffer', () => {
  it('one padded row per thread; readInFlight sums the rows', () => {
    const n = 3;
    const threads = 4;
    const bytes = balancerSharedBytes(LR, n, threads);
    assert.equal(bytes, threads * (64 + 64));
    const sab = new SharedArrayBuffer(bytes);
    const bs = [0, 1, 2, 3].map((t) => createBalancer(LR, endpoints([1, 1, 1]), sab, t, threads, null));
    bs.forEach((b, t) => {
      for (let k = 0; k <= t; k++) b.onStart(2);
    });
    assert.equal(readInFlight(sab, n, threads, 2), 1 + 2 + 3 + 4);
    bs[3].onEnd(2, 5);
    assert.equal(readInFlight(sab, n, threads, 2), 9);
    // Each thread wrote only its own row, 128 bytes apart.
    const view = new Int32Array(sab);
    assert.deepEqual([view[2], view[32 + 2], view[64 + 2], view[96 + 2]], [1, 2, 3, 3]);
    // A replaced worker's row is cleared, nobody else's.
    clearThreadInFlight(sab, n, threads, 1);
    assert.equal(readInFlight(sab, n, threads, 2), 7);
  });
});
