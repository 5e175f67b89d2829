// The health buffer itself: sizing, the sweep, serial time arithmetic past 2^31 ms, and copying an
// endpoint's state into a rebuilt buffer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HealthPolicy } from '../../src/config/model';
import { createEndpointHealth, healthSharedBytes, initHealthShared, sweepHealthShared } from '../../src/health';
import { ACTIVE_UNHEALTHY, F_EJECTED, F_HELD, S_EJECTED_UNTIL, S_EJECTIONS, S_HELD_UNTIL, S_STATE, copyEndpointState, setActiveState, slot } from '../../src/health/shared';

const T0 = 1_700_000_000_000;

function pol(base = 1000, pct = 100): HealthPolicy {
  return {
    passive: { consecutive5xx: 1, consecutiveGatewayErrors: 0, baseEjectionTimeMs: base, maxEjectionTimeMs: 300_000, maxEjectionPercent: pct },
    panicThresholdPercent: 0,
    honorRetryAfter: true,
  };
}

function setup(n: number, p = pol()) {
  const clock = { now: T0 };
  const sab = new SharedArrayBuffer(healthSharedBytes(p, n));
  initHealthShared(sab, n, () => clock.now);
  const h = createEndpointHealth(p, n, sab, () => clock.now);
  return { clock, sab, h, view: new Int32Array(sab) };
}

describe('health shared buffer', () => {
  it('sizes: 32-byte header plus 32 bytes per endpoint; 0 without endpoints', () => {
    assert.equal(healthSharedBytes(pol(), 5), 32 + 5 * 32);
    assert.equal(healthSharedBytes(pol(), 0), 0);
    assert.throws(() => initHealthShared(new SharedArrayBuffer(32), 5), /too small/);
  });

  it('the sweep clears expired ejections and holds, keeps live ones, and decays the multiplier', () => {
    const { clock, sab, h, view } = setup(3);
    h.onResult(0, 500, false); // ejected 1000 ms
    h.onRetryAfter(1, 429, '5');
    h.onResult(2, 500, false);
    clock.now += 1500;
    sweepHealthShared(sab, 1000, clock.now);
    assert.equal(Atomics.load(view, slot(0) + S_EJECTED_UNTIL), 0, 'expired ejection cleared');
    assert.equal(Atomics.load(view, slot(0) + S_STATE), 0, 'and its STATE bit: back on the one-load fast path');
    assert.equal(Atomics.load(view, slot(1) + S_STATE), F_HELD, 'the live hold keeps its bit');
    assert.equal(Atomics.load(view, slot(2) + S_EJECTED_UNTIL), 0);
    assert.notEqual(Atomics.load(view, slot(1) + S_HELD_UNTIL), 0, 'live hold kept');
    // 1500 ms after the start = 500 ms after the ejection ended: no decay step yet.
    assert.equal(Atomics.load(view, slot(0) + S_EJECTIONS), 1);
    clock.now += 500;
    sweepHealthShared(sab, 1000, clock.now);
    assert.equal(Atomics.load(view, slot(0) + S_EJECTIONS), 0, 'one base time un-ejected forgives one ejection');
    clock.now += 5000;
    sweepHealthShared(sab, 1000, clock.now);
    assert.equal(Atomics.load(view, slot(1) + S_HELD_UNTIL), 0, 'expired hold cleared');
    assert.equal(Atomics.load(view, slot(1) + S_STATE), 0);
    assert.deepEqual([h.usable(0), h.usable(1), h.usable(2)], [true, true, true]);
  });

  it('the sweep and the lazy decay agree (a decay step taken by the sweep is not taken twice)', () => {
    const { clock, sab, h } = setup(1);
    h.onResult(0, 500, false); // k=1, ends T0+1000
    clock.now += 1000;
    h.onResult(0, 500, false); // k=2, 2000 ms, ends T0+3000
    clock.now += 2000 + 1500; // 1.5 base times un-ejected
    sweepHealthShared(sab, 1000, clock.now);
    assert.equal(h.snapshot()[0].ejections, 1);
    clock.now += 400; // 1.9 base times: still one step
    assert.equal(h.snapshot()[0].ejections, 1);
    clock.now += 100; // 2 base times
    assert.equal(h.snapshot()[0].ejections, 0);
  });

  it('times keep working when the Int32 clock wraps (25+ days of uptime)', () => {
    const { clock, h } = setup(2, pol(60_000));
    // Land 30 s before the offset passes 2^31 ms (base is T0 - 1000).
    clock.now = T0 - 1000 + 2 ** 31 - 30_000;
    h.onResult(0, 500, false); // ejected across the wrap
    h.onRetryAfter(1, 503, '120');
    assert.deepEqual([h.usable(0), h.usable(1)], [false, false]);
    assert.equal(h.snapshot()[0].ejectedUntil - clock.now, 60_000);
    clock.now += 59_999;
    assert.deepEqual([h.usable(0), h.usable(1)], [false, false]);
    clock.now += 1;
    assert.deepEqual([h.usable(0), h.usable(1)], [true, false]);
    clock.now += 60_000;
    assert.deepEqual([h.usable(0), h.usable(1)], [true, true]);
    assert.equal(h.ejectedCount(), 0);
  });

  it('copyEndpointState moves verdict, ejection, hold and multiplier into a buffer with another base', () => {
    const a = setup(2);
    a.h.onResult(1, 500, false);
    a.h.onRetryAfter(1, 429, '9');
    setActiveState(a.view, 1, ACTIVE_UNHEALTHY);
    a.clock.now += 100;
    // The rebuilt buffer (three endpoints now) has a later base.
    const p = pol();
    const sab = new SharedArrayBuffer(healthSharedBytes(p, 3));
    initHealthShared(sab, 3, () => a.clock.now);
    copyEndpointState(a.sab, 1, sab, 2, a.clock.now);
    const b = createEndpointHealth(p, 3, sab, () => a.clock.now);
    const s = b.snapshot()[2];
    assert.equal(s.healthy, false);
    assert.equal(s.ejectedUntil - a.clock.now, 900);
    assert.equal(s.heldUntil - a.clock.now, 8900);
    assert.equal(s.ejections, 1);
    assert.deepEqual([b.usable(0), b.usable(1), b.usable(2)], [true, true, false]);
    assert.equal(Atomics.load(new Int32Array(sab), slot(2) + S_STATE), ACTIVE_UNHEALTHY | F_EJECTED | F_HELD);
  });

  it('an ejection clears expired ejections and holds of every endpoint it scans', () => {
    const { clock, h, view } = setup(3);
    h.onResult(0, 500, false);
    h.onRetryAfter(1, 503, '1');
    assert.equal(Atomics.load(view, slot(0) + S_STATE), F_EJECTED);
    clock.now += 1000;
    h.onResult(2, 500, false);
    assert.deepEqual([0, 1, 2].map((i) => Atomics.load(view, slot(i) + S_STATE)), [0, 0, F_EJECTED]);
  });
});
