// The balancer entry point: shared-buffer sizes per policy, dispatch by policy type (undefined =
// RoundRobin), and the checks createBalancer makes before any request.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { balancerSharedBytes, createBalancer } from '../../src/balancer';
import type { LoadBalancerPolicy } from '../../src/config/model';
import { endpoints, tally } from './helpers';

const EWMA: LoadBalancerPolicy = { type: 'PeakEWMA', decayMs: 10_000, defaultRttMs: 30 };

describe('balancerSharedBytes', () => {
  const cases: { desc: string; policy: LoadBalancerPolicy | undefined; n: number; threads: number; want: number }[] = [
    { desc: 'default (RoundRobin): per-thread cursor only', policy: undefined, n: 10, threads: 4, want: 0 },
    { desc: 'RoundRobin', policy: { type: 'RoundRobin' }, n: 10, threads: 4, want: 0 },
    { desc: 'Random', policy: { type: 'Random' }, n: 10, threads: 4, want: 0 },
    { desc: 'ConsistentHash', policy: { type: 'ConsistentHash', algorithm: 'Maglev', hashOn: { type: 'ClientIP' }, tableSize: 65537 }, n: 10, threads: 4, want: 0 },
    { desc: 'LeastRequest, 10 endpoints, 4 threads: 4 rows of (64 + 64 gap)', policy: { type: 'LeastRequest' }, n: 10, threads: 4, want: 4 * 128 },
    { desc: 'LeastRequest, 17 endpoints (68 B → 128 + 64 gap)', policy: { type: 'LeastRequest' }, n: 17, threads: 2, want: 2 * 192 },
    { desc: 'PeakEWMA: rows + 80 B per endpoint', policy: EWMA, n: 10, threads: 4, want: 4 * 128 + 10 * 80 },
    { desc: 'no endpoints: nothing', policy: { type: 'LeastRequest' }, n: 0, threads: 4, want: 0 },
  ];
  for (const c of cases) it(c.desc, () => assert.equal(balancerSharedBytes(c.policy, c.n, c.threads), c.want));
});

describe('createBalancer', () => {
  it('undefined policy is smooth weighted round robin', () => {
    assert.deepEqual(tally(createBalancer(undefined, endpoints([2, 1]), undefined, 0, 1, null), 2, 6).seq, [0, 1, 0, 0, 1, 0]);
  });

  const all: LoadBalancerPolicy[] = [
    { type: 'RoundRobin' },
    { type: 'LeastRequest' },
    EWMA,
    { type: 'Random' },
    { type: 'ConsistentHash', algorithm: 'Maglev', hashOn: { type: 'ClientIP' }, tableSize: 65537 },
    { type: 'ConsistentHash', algorithm: 'RingHash', hashOn: { type: 'ClientIP' }, tableSize: 0 },
  ];
  for (const p of all) {
    it(`${p.type}${'algorithm' in p ? ' ' + p.algorithm : ''}: private buffer when none is given; onStart/onEnd accepted; empty backend → -1`, () => {
      const b = createBalancer(p, endpoints([1, 1, 1]), undefined, 0, 1, null);
      const i = b.pick(null, -1);
      assert.ok(i >= 0 && i < 3);
      b.onStart(i);
      b.onEnd(i, 12);
      assert.equal(createBalancer(p, [], undefined, 0, 1, null).pick(null, -1), -1);
    });
  }

  const bad: { desc: string; run: () => unknown; msg: RegExp }[] = [
    { desc: 'thread ≥ threads', run: () => createBalancer(undefined, endpoints([1]), undefined, 2, 2, null), msg: /thread 2 of 2/ },
    { desc: 'threads 0', run: () => createBalancer(undefined, endpoints([1]), undefined, 0, 0, null), msg: /thread/ },
    {
      desc: 'buffer sized for another thread count',
      run: () => createBalancer({ type: 'LeastRequest' }, endpoints([1, 1]), new SharedArrayBuffer(balancerSharedBytes({ type: 'LeastRequest' }, 2, 2)), 0, 4, null),
      msg: /needs 512: allocate it with balancerSharedBytes/,
    },
    { desc: 'unknown type', run: () => createBalancer({ type: 'Nope' } as unknown as LoadBalancerPolicy, endpoints([1]), undefined, 0, 1, null), msg: /unknown loadBalancer type Nope/ },
    { desc: 'NaN weight', run: () => createBalancer(undefined, endpoints([NaN]), undefined, 0, 1, null), msg: /weight/ },
  ];
  for (const c of bad) it(`rejects ${c.desc}`, () => assert.throws(c.run, c.msg));

  it('IPv6 endpoints are named [addr]:port (hashing identity)', () => {
    const p: LoadBalancerPolicy = { type: 'ConsistentHash', algorithm: 'Maglev', hashOn: { type: 'ClientIP' }, tableSize: 65537 };
    const b = createBalancer(p, [{ address: '2001:db8::1', port: 80 }, { address: '2001:db8::2', port: 80 }], undefined, 0, 1, null);
    assert.ok(b.pick(null, -1) >= 0);
  });
});
