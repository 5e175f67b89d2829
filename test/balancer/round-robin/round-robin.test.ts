// RoundRobin: smooth weighted round robin matches the weights within 1 % over 10,000 picks, spreads
// each endpoint's picks (no bursts), is plain round robin for equal weights, skips unusable
// endpoints without handing their turn to one neighbour, and stays accurate across threads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBalancer, type Balancer } from '../../../src/balancer';
import { availability, endpoints, seeded, tally } from '../helpers';

const PICKS = 10_000;

/** Largest |picks so far − exact share so far| over every prefix of `seq`, in picks. */
function maxPrefixDeviation(seq: number[], weights: number[]): number {
  const total = weights.reduce((a, b) => a + b, 0);
  const c = new Array<number>(weights.length).fill(0);
  let worst = 0;
  seq.forEach((i, p) => {
    c[i]++;
    for (let j = 0; j < weights.length; j++) worst = Math.max(worst, Math.abs(c[j] - ((p + 1) * weights[j]) / total));
  });
  return worst;
}

/** Longest run of consecutive picks of each endpoint. */
function longestRuns(seq: number[], n: number): number[] {
  const runs = new Array<number>(n).fill(0);
  let run = 0;
  seq.forEach((i, p) => {
    run = p > 0 && seq[p - 1] === i ? run + 1 : 1;
    runs[i] = Math.max(runs[i], run);
  });
  return runs;
}

/** Within 1 % of the expected count (or one pick, for an endpoint expected < 100 times). */
function assertShares(counts: number[], weights: number[], picks: number, what: string): void {
  const total = weights.reduce((a, b) => a + b, 0);
  counts.forEach((c, i) => {
    const want = (picks * weights[i]) / total;
    assert.ok(Math.abs(c - want) <= Math.max(1, 0.01 * want), `${what}: endpoint ${i} got ${c}, want ${want.toFixed(1)} ± 1 %`);
  });
}

describe('RoundRobin weights', () => {
  const cases: { desc: string; weights: number[] }[] = [
    { desc: 'equal weights', weights: [1, 1, 1] },
    { desc: '5:1:1 (nginx example)', weights: [5, 1, 1] },
    { desc: '3:2:1', weights: [3, 2, 1] },
    { desc: '1:2:3:4', weights: [1, 2, 3, 4] },
    { desc: '100:1', weights: [100, 1] },
    { desc: '7:7:7:1', weights: [7, 7, 7, 1] },
    { desc: 'one heavy among light ones', weights: [1, 1, 1, 100] },
    { desc: '50:30:20:1:1', weights: [50, 30, 20, 1, 1] },
    { desc: 'fractional weights', weights: [0.5, 1.5, 2.25] },
  ];
  for (const c of cases) {
    it(`${c.desc}: shares within 1 % over ${PICKS} picks, smooth`, () => {
      const b = createBalancer({ type: 'RoundRobin' }, endpoints(c.weights), undefined, 0, 1, null);
      const { counts, none, seq } = tally(b, c.weights.length, PICKS);
      assert.equal(none, 0);
      assertShares(counts, c.weights, PICKS, c.desc);
      // Smooth: at every point of the sequence each endpoint is within one pick of its share, and
      // no endpoint runs longer than ceil(weight / smallest weight).
      assert.ok(maxPrefixDeviation(seq, c.weights) < 1, `prefix deviation ${maxPrefixDeviation(seq, c.weights)}`);
      const min = Math.min(...c.weights);
      longestRuns(seq, c.weights.length).forEach((r, i) => assert.ok(r <= Math.ceil(c.weights[i] / min), `endpoint ${i} ran ${r} in a row`));
    });
  }

  it('the smoothness checks reject a bursty weighted round robin (a a a a a b c)', () => {
    const bursty: number[] = [];
    for (let k = 0; k < 100; k++) bursty.push(0, 0, 0, 0, 0, 1, 2);
    assert.ok(maxPrefixDeviation(bursty, [5, 1, 1]) >= 1);
  });

  it('nginx sequence for 5:1:1', () => {
    const b = createBalancer(undefined, endpoints([5, 1, 1]), undefined, 0, 1, null);
    assert.deepEqual(tally(b, 3, 7).seq, [0, 0, 1, 0, 2, 0, 0]);
  });

  it('equal weights: plain round robin in order', () => {
    const b = createBalancer(undefined, endpoints([2, 2, 2]), undefined, 0, 1, null);
    assert.deepEqual(tally(b, 3, 7).seq, [0, 1, 2, 0, 1, 2, 0]);
  });

  it('default weight is 1; weight 0 is never picked', () => {
    const b = createBalancer(undefined, endpoints([undefined, 0, 3]), undefined, 0, 1, null);
    const { counts } = tally(b, 3, 4000);
    assert.deepEqual(counts, [1000, 0, 3000]);
  });

  it('every weight 0 counts as equal weights', () => {
    const b = createBalancer(undefined, endpoints([0, 0]), undefined, 0, 1, null);
    assert.deepEqual(tally(b, 2, 4).counts, [2, 2]);
  });

  it('rejects a negative weight, naming the endpoint', () => {
    assert.throws(() => createBalancer(undefined, endpoints([1, -2]), undefined, 0, 1, null), /10\.0\.0\.1:8080: weight/);
  });
});

describe('RoundRobin availability', () => {
  const cases: { desc: string; weights: number[]; down: number[] }[] = [
    { desc: 'equal weights, one down: its turn is spread, not handed to its neighbour', weights: [1, 1, 1, 1], down: [1] },
    { desc: 'equal weights, two down', weights: [1, 1, 1, 1, 1], down: [0, 3] },
    { desc: 'weighted, heavy one down', weights: [5, 1, 1], down: [0] },
    { desc: 'weighted, light one down', weights: [5, 2, 1], down: [2] },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const av = availability(c.down);
      const b = createBalancer(undefined, endpoints(c.weights), undefined, 0, 1, av);
      const { counts, none } = tally(b, c.weights.length, PICKS);
      assert.equal(none, 0);
      for (const d of c.down) assert.equal(counts[d], 0, `down endpoint ${d} picked`);
      assertShares(counts, c.weights.map((w, i) => (av.down.has(i) ? 0 : w)), PICKS, c.desc);
    });
  }

  it('all unusable → -1, and picks resume when one comes back', () => {
    const av = availability([0, 1, 2]);
    for (const w of [[1, 1, 1], [3, 2, 1]]) {
      const b = createBalancer(undefined, endpoints(w), undefined, 0, 1, av);
      assert.equal(b.pick(null, -1), -1);
      av.down.delete(2);
      assert.equal(b.pick(null, -1), 2);
      av.down.add(2);
    }
  });

  it('no endpoints → -1', () => {
    assert.equal(createBalancer(undefined, [], undefined, 0, 1, null).pick(null, -1), -1);
  });

  it('avoid: a retry gets another endpoint while one is usable, else the same one', () => {
    for (const w of [[1, 1, 1], [4, 2, 1]]) {
      const av = availability();
      const b = createBalancer(undefined, endpoints(w), undefined, 0, 1, av);
      for (let k = 0; k < 100; k++) {
        const first = b.pick(null, -1);
        assert.notEqual(b.pick(null, first), first);
      }
      av.down.add(1);
      av.down.add(2);
      assert.equal(b.pick(null, 0), 0, 'only the avoided endpoint is usable');
    }
  });
});

describe('RoundRobin across threads (per-thread state)', () => {
  const cases: { desc: string; weights: number[]; threads: number }[] = [
    { desc: '4 threads, 5:1:1', weights: [5, 1, 1], threads: 4 },
    { desc: '8 threads, 1:2:3:4', weights: [1, 2, 3, 4], threads: 8 },
    { desc: '8 threads, equal', weights: [1, 1, 1], threads: 8 },
  ];
  for (const c of cases) {
    it(`${c.desc}: the union of the threads' picks is within 1 %`, () => {
      const bs: Balancer[] = [];
      for (let t = 0; t < c.threads; t++) bs.push(createBalancer(undefined, endpoints(c.weights), undefined, t, c.threads, null));
      const rnd = seeded(7);
      const counts = new Array<number>(c.weights.length).fill(0);
      for (let k = 0; k < PICKS; k++) counts[bs[Math.floor(rnd() * c.threads)].pick(null, -1)]++;
      assertShares(counts, c.weights, PICKS, c.desc);
    });
  }

  it("threads start at different points of the cycle (their first picks are spread)", () => {
    const firsts = [0, 1, 2, 3].map((t) => createBalancer(undefined, endpoints([1, 1, 1, 1]), undefined, t, 4, null).pick(null, -1));
    assert.deepEqual(firsts, [0, 1, 2, 3]);
  });
});
