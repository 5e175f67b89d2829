// Worker-side endpoint health as a table of scenarios on an injected clock: each case is a policy,
// an endpoint count and a script of upstream results, Retry-After headers, active-check verdicts,
// clock moves and expectations.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HealthPolicy } from '../../src/config/model';
import { createEndpointHealth, healthSharedBytes, initHealthShared } from '../../src/health';
import { ACTIVE_HEALTHY, ACTIVE_PENDING, ACTIVE_UNHEALTHY, setActiveState } from '../../src/health/shared';

const T0 = 1_700_000_000_000;

interface P {
  c5xx?: number;
  cgw?: number;
  base?: number;
  max?: number;
  pct?: number;
  panic?: number;
  holds?: boolean;
  active?: boolean;
  passive?: boolean;
}

function policy(p: P): HealthPolicy {
  return {
    active: p.active ? { path: '/', method: 'GET', intervalMs: 3000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 3, expectedStatuses: [200] } : undefined,
    passive:
      p.passive === false
        ? undefined
        : { consecutive5xx: p.c5xx ?? 5, consecutiveGatewayErrors: p.cgw ?? 0, baseEjectionTimeMs: p.base ?? 30_000, maxEjectionTimeMs: p.max ?? 300_000, maxEjectionPercent: p.pct ?? 10 },
    panicThresholdPercent: p.panic ?? 0,
    honorRetryAfter: p.holds ?? true,
  };
}

type Step =
  | { wait: number }
  | { fail: number; times?: number; status?: number }
  | { gw: number; times?: number }
  | { ok: number; status?: number }
  | { retryAfter: number; status?: number; value: string | ((now: number) => string) }
  | { active: number; state: 'healthy' | 'unhealthy' | 'pending' }
  | { usable: string }
  | { ejected: number }
  | { panic: boolean }
  /** Ejection / hold left on endpoint i, ms from now (0 = none), and its multiplier. */
  | { left: number; ejectedMs?: number; heldMs?: number; ejections?: number };

interface Case {
  desc: string;
  p: P;
  n: number;
  steps: Step[];
}

// `usable` is one character per endpoint: 'x' usable, '.' not.
const cases: Case[] = [
  {
    desc: '5 consecutive 5xx eject for the base time, then the endpoint comes back',
    p: { c5xx: 5, base: 30_000 },
    n: 10,
    steps: [{ fail: 0, times: 4 }, { usable: 'xxxxxxxxxx' }, { fail: 0 }, { usable: '.xxxxxxxxx' }, { ejected: 1 }, { left: 0, ejectedMs: 30_000, ejections: 1 }, { wait: 29_999 }, { usable: '.xxxxxxxxx' }, { wait: 1 }, { usable: 'xxxxxxxxxx' }, { ejected: 0 }],
  },
  {
    desc: 'a success breaks the run',
    p: { c5xx: 3 },
    n: 2,
    steps: [{ fail: 0, times: 2 }, { ok: 0 }, { fail: 0, times: 2 }, { usable: 'xx' }, { fail: 0 }, { usable: '.x' }],
  },
  {
    desc: 'a 4xx is a success for outlier detection',
    p: { c5xx: 3 },
    n: 2,
    steps: [{ fail: 0, times: 2 }, { ok: 0, status: 404 }, { fail: 0, times: 2 }, { usable: 'xx' }, { ok: 0, status: 429 }, { fail: 0, times: 2 }, { usable: 'xx' }],
  },
  {
    desc: 'connect failures count as 5xx (local-origin errors)',
    p: { c5xx: 2 },
    n: 2,
    steps: [{ gw: 1, times: 2 }, { usable: 'x.' }],
  },
  {
    desc: 'consecutive gateway errors alone (5xx off)',
    p: { c5xx: 0, cgw: 3 },
    n: 2,
    steps: [{ fail: 0, times: 10, status: 500 }, { usable: 'xx' }, { fail: 0, times: 2, status: 503 }, { usable: 'xx' }, { gw: 0 }, { usable: '.x' }],
  },
  {
    desc: 'a 500 breaks a gateway-error run',
    p: { c5xx: 0, cgw: 3 },
    n: 2,
    steps: [{ gw: 0, times: 2 }, { fail: 0, status: 500 }, { fail: 0, times: 2, status: 504 }, { usable: 'xx' }, { fail: 0, status: 502 }, { usable: '.x' }],
  },
  {
    desc: 'ejection n lasts n × base, capped at maxEjectionTimeMs',
    p: { c5xx: 1, base: 1000, max: 2500 },
    n: 1,
    steps: [
      { fail: 0 }, { left: 0, ejectedMs: 1000, ejections: 1 }, { wait: 1000 }, { usable: 'x' },
      { fail: 0 }, { left: 0, ejectedMs: 2000, ejections: 2 }, { wait: 2000 },
      { fail: 0 }, { left: 0, ejectedMs: 2500, ejections: 3 }, { wait: 2500 },
      { fail: 0 }, { left: 0, ejectedMs: 2500 },
    ],
  },
  {
    desc: 'the multiplier decays one step per base time spent un-ejected',
    p: { c5xx: 1, base: 1000, max: 60_000 },
    n: 1,
    steps: [
      { fail: 0 }, { wait: 1000 }, { fail: 0 }, { wait: 2000 }, { fail: 0 }, { left: 0, ejectedMs: 3000, ejections: 3 },
      { wait: 3000 }, { left: 0, ejections: 3 }, { wait: 999 }, { left: 0, ejections: 3 }, { wait: 1 }, { left: 0, ejections: 2 },
      { fail: 0 }, { left: 0, ejectedMs: 3000, ejections: 3 }, { wait: 3000 + 10_000 }, { left: 0, ejections: 0 },
      { fail: 0 }, { left: 0, ejectedMs: 1000, ejections: 1 },
    ],
  },
  {
    desc: 'maxEjectionPercent 10 of 10 endpoints: one ejected, the second refused',
    p: { c5xx: 5, pct: 10 },
    n: 10,
    steps: [{ fail: 0, times: 5 }, { fail: 1, times: 5 }, { ejected: 1 }, { usable: '.xxxxxxxxx' }],
  },
  {
    desc: 'maxEjectionPercent 50 of 4: two ejected, the third refused',
    p: { c5xx: 1, pct: 50 },
    n: 4,
    steps: [{ fail: 0 }, { fail: 1 }, { fail: 2 }, { ejected: 2 }, { usable: '..xx' }],
  },
  {
    desc: 'maxEjectionPercent 0 still lets one endpoint be ejected (as Envoy)',
    p: { c5xx: 1, pct: 0 },
    n: 3,
    steps: [{ fail: 2 }, { fail: 0 }, { usable: 'xx.' }, { ejected: 1 }],
  },
  {
    desc: 'a refused endpoint needs a full new run once room frees up',
    p: { c5xx: 5, pct: 10, base: 1000 },
    n: 10,
    steps: [{ fail: 0, times: 5 }, { fail: 1, times: 5 }, { wait: 1000 }, { ejected: 0 }, { fail: 1, times: 4 }, { ejected: 0 }, { fail: 1 }, { usable: 'x.xxxxxxxx' }],
  },
  {
    desc: 'an ejected endpoint is not ejected again while ejected',
    p: { c5xx: 2, base: 1000 },
    n: 2,
    steps: [{ fail: 0, times: 2 }, { wait: 500 }, { fail: 0, times: 10 }, { left: 0, ejectedMs: 500, ejections: 1 }],
  },
  {
    desc: 'panic: below 50 % healthy every endpoint is usable, and it ends with the first ejection',
    p: { c5xx: 1, pct: 100, panic: 50, base: 1000 },
    n: 4,
    steps: [
      { fail: 0 }, { wait: 500 }, { fail: 1 }, { usable: '..xx' }, { panic: false },
      { fail: 2 }, { usable: 'xxxx' }, { panic: true }, { ejected: 3 },
      { wait: 499 }, { usable: 'xxxx' }, { wait: 1 }, { usable: 'x..x' }, { panic: false },
    ],
  },
  {
    desc: 'panic from active checks; pending endpoints count as unhealthy',
    p: { active: true, passive: false, panic: 50 },
    n: 4,
    steps: [
      { active: 0, state: 'unhealthy' }, { active: 1, state: 'pending' }, { usable: '..xx' },
      { active: 2, state: 'unhealthy' }, { usable: 'xxxx' }, { panic: true },
      { active: 0, state: 'healthy' }, { usable: 'x..x' },
    ],
  },
  {
    desc: 'panic threshold 0 turns panic off',
    p: { active: true, passive: false, panic: 0 },
    n: 3,
    steps: [{ active: 0, state: 'unhealthy' }, { active: 1, state: 'unhealthy' }, { active: 2, state: 'unhealthy' }, { usable: '...' }, { panic: false }],
  },
  {
    desc: 'Retry-After delay-seconds holds the endpoint that long',
    p: { passive: false },
    n: 2,
    steps: [{ retryAfter: 1, status: 429, value: '2' }, { usable: 'x.' }, { left: 1, heldMs: 2000 }, { wait: 1999 }, { usable: 'x.' }, { wait: 1 }, { usable: 'xx' }, { left: 1, heldMs: 0 }],
  },
  {
    desc: 'Retry-After HTTP-date (IMF-fixdate) on a 503',
    p: { passive: false },
    n: 1,
    steps: [{ retryAfter: 0, status: 503, value: (now) => new Date(now + 5000).toUTCString() }, { left: 0, heldMs: 5000 }, { wait: 4999 }, { usable: '.' }, { wait: 1 }, { usable: 'x' }],
  },
  {
    desc: 'Retry-After obsolete asctime date',
    p: { passive: false },
    n: 1,
    // T0 = Tue, 14 Nov 2023 22:13:20 GMT
    steps: [{ retryAfter: 0, status: 503, value: 'Tue Nov 14 22:13:30 2023' }, { left: 0, heldMs: 10_000 }],
  },
  {
    desc: 'Retry-After is capped at 300 s',
    p: { passive: false },
    n: 1,
    steps: [{ retryAfter: 0, status: 429, value: '86400' }, { left: 0, heldMs: 300_000 }],
  },
  {
    desc: 'Retry-After ignored: on a 500, invalid, in the past, or holds turned off',
    p: { passive: false },
    n: 4,
    steps: [
      { retryAfter: 0, status: 500, value: '10' },
      { retryAfter: 1, status: 429, value: 'soon' },
      { retryAfter: 2, status: 503, value: 'Sun, 06 Nov 1994 08:49:37 GMT' },
      { retryAfter: 3, status: 429, value: '-5' },
      { usable: 'xxxx' },
    ],
  },
  {
    desc: 'the later of two holds wins',
    p: { passive: false },
    n: 1,
    steps: [{ retryAfter: 0, status: 429, value: '10' }, { retryAfter: 0, status: 429, value: '2' }, { left: 0, heldMs: 10_000 }, { wait: 5000 }, { retryAfter: 0, status: 429, value: '20' }, { left: 0, heldMs: 20_000 }],
  },
  {
    desc: 'held endpoints are not unhealthy for panic, and stay held in panic',
    p: { active: true, passive: false, panic: 50 },
    n: 3,
    steps: [
      { retryAfter: 0, status: 429, value: '30' }, { retryAfter: 1, status: 429, value: '30' }, { usable: '..x' }, { panic: false },
      { active: 1, state: 'unhealthy' }, { active: 2, state: 'unhealthy' }, { panic: true }, { usable: '..x' },
      { wait: 30_000 }, { usable: 'xxx' },
    ],
  },
];

function run(c: Case): void {
  let now = T0;
  const clock = () => now;
  const pol = policy(c.p);
  const sab = new SharedArrayBuffer(healthSharedBytes(pol, c.n));
  initHealthShared(sab, c.n, clock);
  const h = createEndpointHealth(pol, c.n, sab, clock);
  const view = new Int32Array(sab);
  for (const [k, step] of c.steps.entries()) {
    const at = `step ${k} ${JSON.stringify(step)}`;
    if ('wait' in step) now += step.wait;
    else if ('fail' in step) for (let j = 0; j < (step.times ?? 1); j++) h.onResult(step.fail, step.status ?? 500, false);
    else if ('gw' in step) for (let j = 0; j < (step.times ?? 1); j++) h.onResult(step.gw, 0, true);
    else if ('ok' in step) h.onResult(step.ok, step.status ?? 200, false);
    else if ('retryAfter' in step) h.onRetryAfter(step.retryAfter, step.status ?? 429, typeof step.value === 'string' ? step.value : step.value(now));
    else if ('active' in step) {
      // What the main-thread checker writes.
      setActiveState(view, step.active, step.state === 'healthy' ? ACTIVE_HEALTHY : step.state === 'pending' ? ACTIVE_PENDING : ACTIVE_UNHEALTHY);
    } else if ('usable' in step) {
      let got = '';
      for (let i = 0; i < c.n; i++) got += h.usable(i) ? 'x' : '.';
      assert.equal(got, step.usable, at);
    } else if ('ejected' in step) assert.equal(h.ejectedCount(), step.ejected, at);
    else if ('panic' in step) assert.equal(h.panicking(), step.panic, at);
    else {
      const s = h.snapshot()[step.left];
      if (step.ejectedMs !== undefined) assert.equal(s.ejectedUntil === 0 ? 0 : s.ejectedUntil - now, step.ejectedMs, `${at} ejectedUntil`);
      if (step.heldMs !== undefined) assert.equal(s.heldUntil === 0 ? 0 : s.heldUntil - now, step.heldMs, `${at} heldUntil`);
      if (step.ejections !== undefined) assert.equal(s.ejections, step.ejections, `${at} ejections`);
    }
  }
}

describe('endpoint health (injected clock)', () => {
  for (const c of cases) it(c.desc, () => run(c));
});

describe('endpoint health: construction', () => {
  it('needs no buffer and is always usable when nothing can make an endpoint unusable', () => {
    const pol: HealthPolicy = { panicThresholdPercent: 50, honorRetryAfter: false };
    assert.equal(healthSharedBytes(pol, 3), 0);
    const h = createEndpointHealth(pol, 3, undefined);
    h.onResult(0, 500, false);
    h.onRetryAfter(0, 429, '10');
    assert.deepEqual([h.usable(0), h.usable(1), h.usable(2)], [true, true, true]);
    assert.equal(h.snapshot().length, 3);
  });

  it('holds default to on: no health policy still gets a buffer and honours Retry-After', () => {
    assert.equal(healthSharedBytes(undefined, 2), (8 + 2 * 8) * 4);
    assert.equal(healthSharedBytes(undefined, 0), 0);
    const h = createEndpointHealth(undefined, 2, undefined);
    h.onRetryAfter(1, 503, '60');
    assert.deepEqual([h.usable(0), h.usable(1)], [true, false]);
    // No outlier detection without a passive block.
    for (let j = 0; j < 100; j++) h.onResult(0, 500, false);
    assert.equal(h.usable(0), true);
  });

  it('refuses a buffer that was not initialised or is sized for another endpoint count', () => {
    const pol = policy({});
    const sab = new SharedArrayBuffer(healthSharedBytes(pol, 3));
    assert.throws(() => createEndpointHealth(pol, 3, sab), /initHealthShared/);
    initHealthShared(sab, 3);
    assert.throws(() => createEndpointHealth(pol, 4, sab), /does not fit 4 endpoints/);
    assert.doesNotThrow(() => createEndpointHealth(pol, 3, sab));
  });

  it('two views of one buffer (two threads) see each other', () => {
    let now = T0;
    const clock = () => now;
    const pol = policy({ c5xx: 2 });
    const sab = new SharedArrayBuffer(healthSharedBytes(pol, 2));
    initHealthShared(sab, 2, clock);
    const a = createEndpointHealth(pol, 2, sab, clock);
    const b = createEndpointHealth(pol, 2, sab, clock);
    a.onResult(0, 500, false);
    b.onResult(0, 500, false);
    assert.equal(a.usable(0), false);
    assert.equal(b.usable(0), false);
    b.onRetryAfter(1, 429, '1');
    assert.equal(a.usable(1), false);
    now += 1000;
    assert.equal(a.usable(1), true);
  });
});
