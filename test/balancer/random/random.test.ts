// Random: draws are uniform (or in proportion to weight) over the usable endpoints.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { balancerSharedBytes, createBalancer } from '../../../src/balancer';
import { availability, endpoints, seeded, tally } from '../helpers';

const RANDOM = { type: 'Random' } as const;
const PICKS = 60_000;

describe('Random', () => {
  const cases: { desc: string; weights: number[]; down: number[] }[] = [
    { desc: 'six equal endpoints: uniform', weights: [1, 1, 1, 1, 1, 1], down: [] },
    { desc: 'weights 4:2:1:1', weights: [4, 2, 1, 1], down: [] },
    { desc: 'one of five down: uniform over the other four', weights: [1, 1, 1, 1, 1], down: [2] },
    { desc: 'seven of ten down (exact fallback path)', weights: new Array(10).fill(1), down: [0, 1, 2, 3, 5, 6, 8] },
    { desc: 'weighted with the heavy one down', weights: [6, 1, 2], down: [0] },
  ];
  for (const c of cases) {
    it(`${c.desc}: every share within 5 % of its expectation`, () => {
      const av = availability(c.down);
      const b = createBalancer(RANDOM, endpoints(c.weights), undefined, 0, 1, av, seeded(21));
      const { counts, none } = tally(b, c.weights.length, PICKS);
      assert.equal(none, 0);
      const eff = c.weights.map((w, i) => (av.down.has(i) ? 0 : w));
      const total = eff.reduce((a, x) => a + x, 0);
      counts.forEach((got, i) => {
        const want = (PICKS * eff[i]) / total;
        assert.ok(Math.abs(got - want) <= 0.05 * want + (want === 0 ? 0 : 1), `endpoint ${i}: ${got} vs ${want}`);
      });
    });
  }

  it('all unusable → -1', () => {
    const b = createBalancer(RANDOM, endpoints([1, 1]), undefined, 0, 1, availability([0, 1]), seeded(22));
    assert.equal(b.pick(null, -1), -1);
    assert.equal(createBalancer(RANDOM, [], undefined, 0, 1, null).pick(null, -1), -1);
  });

  it('avoid: never the avoided endpoint while another is usable', () => {
    const av = availability();
    const b = createBalancer(RANDOM, endpoints([1, 1, 1]), undefined, 0, 1, av, seeded(23));
    const { counts } = tally(b, 3, 3000, null, 1);
    assert.equal(counts[1], 0);
    av.down.add(0).add(2);
    assert.equal(b.pick(null, 1), 1);
  });

  it('keeps no shared state', () => assert.equal(balancerSharedBytes(RANDOM, 10, 8), 0));
});
