// ConsistentHash (Maglev, RingHash): a key sticks to one endpoint; adding or removing one of N
// endpoints moves ≤ 1.3/N of 100k keys; an unusable endpoint's keys move and nobody else's;
// every PolicyKey kind is read; a request without the key gets a random endpoint.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { balancerSharedBytes, createBalancer, type Balancer } from '../../../src/balancer';
import { fmix32, hashString, HASH_SPACE } from '../../../src/balancer/consistent-hash/hash';
import { buildMaglevTable, isPrime } from '../../../src/balancer/consistent-hash/maglev';
import { buildRing, ringSearch } from '../../../src/balancer/consistent-hash/ring-hash';
import type { LoadBalancerPolicy, PolicyKey } from '../../../src/config/model';
import { availability, endpoints, endpointsById, keyInput, seeded, tally } from '../helpers';

type Algorithm = 'Maglev' | 'RingHash';
const ALGORITHMS: Algorithm[] = ['Maglev', 'RingHash'];
const KEYS = 100_000;

function policy(algorithm: Algorithm, hashOn: PolicyKey = { type: 'Header', name: 'x-user' }, tableSize = 0): LoadBalancerPolicy {
  return { type: 'ConsistentHash', algorithm, hashOn, tableSize };
}

/** Endpoint id (not index) for each of `count` keys `user-<k>`. */
function mapKeys(algorithm: Algorithm, ids: number[], count = KEYS): Int32Array {
  const b = createBalancer(policy(algorithm), endpointsById(ids), undefined, 0, 1, null);
  const input = keyInput(['x-user', '']);
  const out = new Int32Array(count);
  for (let k = 0; k < count; k++) {
    input.head.headers[1] = `user-${k}`;
    out[k] = ids[b.pick(input, -1)];
  }
  return out;
}

function moved(a: Int32Array, b: Int32Array): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) m++;
  return m;
}

describe('ConsistentHash: keys moved when one of N endpoints is removed or added', () => {
  for (const algorithm of ALGORITHMS) {
    for (const n of [5, 10, 50]) {
      const ids = Array.from({ length: n }, (_, i) => i);
      const cases: { desc: string; after: number[] }[] = [
        { desc: 'remove the first', after: ids.slice(1) },
        { desc: 'remove a middle one', after: ids.filter((i) => i !== n >> 1) },
        { desc: 'remove the last', after: ids.slice(0, -1) },
        { desc: 'add one', after: [...ids, n] },
        { desc: 'add one at the front of the list', after: [n, ...ids] },
      ];
      const before = mapKeys(algorithm, ids);
      for (const c of cases) {
        it(`${algorithm}, N=${n}, ${c.desc}: ≤ 1.3/N of ${KEYS} keys move`, () => {
          const m = moved(before, mapKeys(algorithm, c.after));
          assert.ok(m <= (1.3 * KEYS) / n, `${m} keys moved, ${((m / KEYS) * n).toFixed(3)}/N`);
          // And about 1/N did move (a table that ignored the change would pass the bound).
          assert.ok(m >= (0.7 * KEYS) / (n + 1), `only ${m} keys moved`);
        });
      }
    }
  }
});

describe('ConsistentHash: stickiness and spread', () => {
  for (const algorithm of ALGORITHMS) {
    it(`${algorithm}: the same key always gets the same endpoint; keys spread evenly`, () => {
      const n = 10;
      const b = createBalancer(policy(algorithm), endpoints(new Array(n).fill(1)), undefined, 0, 1, null);
      const input = keyInput(['x-user', '']);
      const counts = new Array<number>(n).fill(0);
      for (let k = 0; k < 20_000; k++) {
        input.head.headers[1] = `session-${k}`;
        const i = b.pick(input, -1);
        counts[i]++;
        assert.equal(b.pick(input, -1), i);
      }
      // Maglev's table splits within ~1 %; a 1024-point ring within a few %; plus sampling noise.
      counts.forEach((c) => assert.ok(Math.abs(c - 2000) < 0.15 * 2000, `share ${c} of 20000`));
    });

    it(`${algorithm}: weights give proportional shares`, () => {
      const b = createBalancer(policy(algorithm), endpoints([2, 1, 1]), undefined, 0, 1, null);
      const input = keyInput(['x-user', '']);
      const counts = [0, 0, 0];
      for (let k = 0; k < 20_000; k++) {
        input.head.headers[1] = `w-${k}`;
        counts[b.pick(input, -1)]++;
      }
      assert.ok(Math.abs(counts[0] / 20_000 - 0.5) < 0.04, `${counts}`);
      assert.ok(Math.abs(counts[1] / 20_000 - 0.25) < 0.04, `${counts}`);
    });

    it(`${algorithm}: config order does not matter, only the endpoint set`, () => {
      const ids = [3, 1, 4, 0, 2];
      const a = mapKeys(algorithm, [0, 1, 2, 3, 4], 5000);
      const b = mapKeys(algorithm, ids, 5000);
      assert.equal(moved(a, b), 0);
    });
  }
});

describe('ConsistentHash: key kinds', () => {
  const cases: { desc: string; hashOn: PolicyKey; inputs: (v: string) => ReturnType<typeof keyInput> }[] = [
    { desc: 'ClientIP (socket peer)', hashOn: { type: 'ClientIP' }, inputs: (v) => keyInput([], '', `198.51.100.${v}`) },
    { desc: 'Header', hashOn: { type: 'Header', name: 'X-Tenant' }, inputs: (v) => keyInput(['x-tenant', `t${v}`]) },
    { desc: 'Cookie', hashOn: { type: 'Cookie', name: 'sid' }, inputs: (v) => keyInput(['cookie', `theme=dark; sid=${v}; x=1`]) },
    { desc: 'QueryParam', hashOn: { type: 'QueryParam', name: 'user' }, inputs: (v) => keyInput([], `a=1&user=${v}`) },
  ];
  for (const algorithm of ALGORITHMS) {
    for (const c of cases) {
      it(`${algorithm} on ${c.desc}: sticky per value, different values spread`, () => {
        const b = createBalancer(policy(algorithm, c.hashOn), endpoints([1, 1, 1, 1]), undefined, 0, 1, null, seeded(31));
        const seen = new Set<number>();
        for (let v = 0; v < 64; v++) {
          const i = b.pick(c.inputs(String(v)), -1);
          seen.add(i);
          for (let r = 0; r < 5; r++) assert.equal(b.pick(c.inputs(String(v)), -1), i);
        }
        assert.equal(seen.size, 4);
      });
    }
    it(`${algorithm}: a request without the key (or no input) gets a random endpoint`, () => {
      const b = createBalancer(policy(algorithm, { type: 'Header', name: 'x-user' }), endpoints([1, 1, 1, 1]), undefined, 0, 1, null, seeded(32));
      const { counts, none } = tally(b, 4, 4000, keyInput(['other', 'x']));
      assert.equal(none, 0);
      counts.forEach((c) => assert.ok(c > 800, `${counts}`));
      const { counts: c2 } = tally(b, 4, 4000, null);
      c2.forEach((c) => assert.ok(c > 800, `${c2}`));
    });
  }
});

describe('ConsistentHash: availability', () => {
  for (const algorithm of ALGORITHMS) {
    it(`${algorithm}: an unusable endpoint's keys move, spread over the others; no other key moves`, () => {
      const n = 8;
      const av = availability();
      const b = createBalancer(policy(algorithm), endpoints(new Array(n).fill(1)), undefined, 0, 1, av);
      const input = keyInput(['x-user', '']);
      const before: number[] = [];
      for (let k = 0; k < 20_000; k++) {
        input.head.headers[1] = `k${k}`;
        before.push(b.pick(input, -1));
      }
      av.down.add(3);
      const gained = new Array<number>(n).fill(0);
      for (let k = 0; k < 20_000; k++) {
        input.head.headers[1] = `k${k}`;
        const i = b.pick(input, -1);
        assert.notEqual(i, 3);
        if (before[k] !== 3) assert.equal(i, before[k], `key k${k} moved from ${before[k]} to ${i}`);
        else gained[i]++;
      }
      const lost = before.filter((i) => i === 3).length;
      // Rehashed keys land uniformly: each other endpoint takes about lost/(n−1) of them.
      gained.forEach((g, i) => i !== 3 && assert.ok(g > (0.6 * lost) / (n - 1), `endpoint ${i} took ${g} of ${lost}`));
      av.down.delete(3);
      input.head.headers[1] = 'k0';
      assert.equal(b.pick(input, -1), before[0], 'back when usable again');
    });

    it(`${algorithm}: almost all unusable (walk limit, exact fallback) still sticky; all unusable → -1`, () => {
      const n = 40;
      const av = availability(Array.from({ length: n - 1 }, (_, i) => i));
      const b = createBalancer(policy(algorithm), endpoints(new Array(n).fill(1)), undefined, 0, 1, av);
      const input = keyInput(['x-user', 'someone']);
      assert.equal(b.pick(input, -1), n - 1);
      av.down.delete(5);
      const i = b.pick(input, -1);
      assert.ok(i === 5 || i === n - 1);
      assert.equal(b.pick(input, -1), i);
      for (let k = 0; k < n; k++) av.down.add(k);
      assert.equal(b.pick(input, -1), -1);
      assert.equal(b.pick(null, -1), -1);
    });

    it(`${algorithm}: avoid gives a retry another endpoint (the same one each time), or the avoided one if alone`, () => {
      const av = availability();
      const b = createBalancer(policy(algorithm), endpoints([1, 1, 1]), undefined, 0, 1, av);
      const input = keyInput(['x-user', 'retry-me']);
      const first = b.pick(input, -1);
      const second = b.pick(input, first);
      assert.notEqual(second, first);
      assert.equal(b.pick(input, first), second);
      for (let k = 0; k < 3; k++) if (k !== first) av.down.add(k);
      assert.equal(b.pick(input, first), first);
    });
  }
});

describe('ConsistentHash: tables and config', () => {
  it('Maglev table: full, every endpoint within 1 % of M/N slots', () => {
    const names = endpointsById([0, 1, 2, 3, 4, 5, 6]).map((e) => `${e.address}:${e.port}`);
    const t = buildMaglevTable(names, new Float64Array(7).fill(1), 65537);
    const counts = new Array<number>(7).fill(0);
    for (const x of t) counts[x]++;
    counts.forEach((c) => assert.ok(Math.abs(c - 65537 / 7) < 0.01 * (65537 / 7), `${counts}`));
  });

  it('ring: points ascending, ringSearch finds the first point at or after h and wraps', () => {
    const ring = buildRing(['a:1', 'b:1'], new Float64Array([1, 1]), 64);
    assert.equal(ring.points.length, 64);
    for (let j = 1; j < ring.points.length; j++) assert.ok(ring.points[j - 1] <= ring.points[j]);
    assert.equal(ringSearch(ring, 0), 0);
    assert.equal(ringSearch(ring, ring.points[10]), 10);
    assert.equal(ringSearch(ring, ring.points[10] + 1), 11);
    assert.equal(ringSearch(ring, HASH_SPACE - 1), ring.points[63] === HASH_SPACE - 1 ? 63 : 0);
  });

  it('ring: the bucket index finds what a plain binary search finds', () => {
    for (const size of [1, 7, 100, 5000]) {
      const ring = buildRing(['a:1', 'b:1', 'c:1'], new Float64Array([1, 2, 1]), size);
      const p = ring.points;
      const rnd = seeded(size);
      for (let k = 0; k < 5000; k++) {
        const h = k < 3 * p.length ? p[k % p.length] - (k % 3 === 0 ? 1 : 0) + (k % 3 === 2 ? 1 : 0) : Math.floor(rnd() * HASH_SPACE);
        if (h < 0 || h >= HASH_SPACE) continue;
        let want = p.findIndex((x) => x >= h);
        if (want < 0) want = 0;
        assert.equal(ringSearch(ring, h), want, `size ${size}, h ${h}`);
      }
    }
  });

  it('hash: 30-bit, deterministic, seeds independent, last character avalanches', () => {
    assert.equal(hashString('user-1', 0), hashString('user-1', 0));
    assert.notEqual(hashString('user-1', 0), hashString('user-1', 1));
    let bits = 0;
    for (let k = 0; k < 1000; k++) {
      const h = hashString(`user-${k}a`, 0);
      assert.ok(Number.isInteger(h) && h >= 0 && h < HASH_SPACE);
      bits += popcount(h ^ hashString(`user-${k}b`, 0));
    }
    assert.ok(Math.abs(bits / 1000 - 15) < 1, `${bits / 1000} bits flip of 30`);
    assert.equal(fmix32(0), 0);
  });

  const bad: { desc: string; p: LoadBalancerPolicy; msg: RegExp }[] = [
    { desc: 'Maglev table size not prime', p: policy('Maglev', undefined, 65536), msg: /prime/ },
    { desc: 'Maglev table smaller than the endpoints', p: policy('Maglev', undefined, 3), msg: /prime between/ },
    { desc: 'ring too large', p: policy('RingHash', undefined, 1e9), msg: /up to/ },
  ];
  for (const c of bad) it(`rejects ${c.desc}`, () => assert.throws(() => createBalancer(c.p, endpoints([1, 1, 1, 1]), undefined, 0, 1, null), c.msg));

  it('isPrime', () => assert.deepEqual([2, 3, 4, 9, 65537, 65536, 5000011, 1].map(isPrime), [true, true, false, false, true, false, true, false]));

  it('keeps no shared state; picks on an empty backend → -1', () => {
    assert.equal(balancerSharedBytes(policy('Maglev'), 10, 4), 0);
    const b: Balancer = createBalancer(policy('RingHash'), [], undefined, 0, 1, null);
    assert.equal(b.pick(keyInput(['x-user', 'a']), -1), -1);
  });
});

function popcount(x: number): number {
  let c = 0;
  for (x >>>= 0; x !== 0; x &= x - 1) c++;
  return c;
}
