// The concurrency limiter on one thread (and two limiters on one buffer standing for two
// threads): admit, queue, reject, FIFO, no barging, queue timeout, cancel, the global queue
// bound, the adaptive limit, and option checks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConcurrencyPolicy } from '../../../src/config/model';
import { ERR, type ErrorSpec } from '../../../src/errors';
import {
  concurrencySharedBytes,
  createConcurrencyLimiter,
  type ConcurrencyWaiter,
} from '../../../src/policy/concurrency/concurrency';

class Waiter implements ConcurrencyWaiter {
  admitted = 0;
  rejected: ErrorSpec[] = [];
  at = 0;
  constructor(
    readonly id: number = 0,
    private readonly log: number[] = [],
  ) {}
  onAdmitted(): void {
    this.admitted++;
    this.at = performance.now();
    this.log.push(this.id);
  }
  onRejected(err: ErrorSpec): void {
    this.rejected.push(err);
    this.at = performance.now();
  }
  get settled(): number {
    return this.admitted + this.rejected.length;
  }
}

function policy(p: Partial<ConcurrencyPolicy>): ConcurrencyPolicy {
  return { policy: 'test/limit', maxInFlight: 2, maxQueue: 0, queueTimeoutMs: 1000, ...p };
}

/** Resolves once `cond` holds (checked every ms), or rejects after `ms`. */
async function until(cond: () => boolean, ms = 1000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('createConcurrencyLimiter: admit, queue, reject', () => {
  const cases: {
    desc: string;
    maxInFlight: number;
    maxQueue: number;
    n: number;
    want: { admitted: number; queued: number; rejected: number };
  }[] = [
    { desc: 'under the limit: all admitted', maxInFlight: 3, maxQueue: 0, n: 3, want: { admitted: 3, queued: 0, rejected: 0 } },
    { desc: 'no queue: past the limit rejected at once', maxInFlight: 2, maxQueue: 0, n: 5, want: { admitted: 2, queued: 0, rejected: 3 } },
    { desc: 'queue holds the overflow up to maxQueue', maxInFlight: 2, maxQueue: 2, n: 6, want: { admitted: 2, queued: 2, rejected: 2 } },
    { desc: 'limit 1, big queue', maxInFlight: 1, maxQueue: 100, n: 10, want: { admitted: 1, queued: 9, rejected: 0 } },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const l = createConcurrencyLimiter(policy({ maxInFlight: c.maxInFlight, maxQueue: c.maxQueue }), undefined, 0, 1);
      const ws: Waiter[] = [];
      let admitted = 0;
      for (let i = 0; i < c.n; i++) {
        const w = new Waiter(i);
        ws.push(w);
        if (l.acquire(w)) admitted++;
      }
      const rejected = ws.filter((w) => w.rejected.length > 0);
      assert.equal(admitted, c.want.admitted);
      assert.equal(l.inFlight, c.want.admitted);
      assert.equal(l.queued, c.want.queued);
      assert.equal(rejected.length, c.want.rejected);
      assert.equal(l.limited, c.want.rejected);
      for (const w of rejected) assert.deepStrictEqual(w.rejected, [ERR.CONCURRENCY_LIMITED]);
      assert.equal(l.limit, c.maxInFlight);
      // Leave nothing behind (queue timers).
      for (const w of ws) l.cancel(w);
      assert.equal(l.queued, 0);
    });
  }

  it('release frees a slot for the next arrival', () => {
    const l = createConcurrencyLimiter(policy({ maxInFlight: 1 }), undefined, 0, 1);
    assert.equal(l.acquire(new Waiter()), true);
    const w = new Waiter();
    assert.equal(l.acquire(w), false);
    assert.equal(w.rejected[0], ERR.CONCURRENCY_LIMITED);
    l.release(-1);
    assert.equal(l.inFlight, 0);
    assert.equal(l.acquire(new Waiter()), true);
  });
});

describe('queue order and wake-up', () => {
  it('admits queued waiters in FIFO order as slots free', async () => {
    const log: number[] = [];
    const l = createConcurrencyLimiter(policy({ maxInFlight: 1, maxQueue: 10 }), undefined, 0, 1);
    assert.equal(l.acquire(new Waiter(0, log)), true);
    const ws = [1, 2, 3, 4, 5].map((i) => new Waiter(i, log));
    for (const w of ws) assert.equal(l.acquire(w), false);
    for (let i = 0; i < ws.length; i++) {
      l.release(-1);
      await until(() => ws[i].admitted === 1);
      // Exactly one per release.
      assert.equal(l.inFlight, 1);
      assert.equal(ws.filter((w) => w.admitted).length, i + 1);
    }
    assert.deepStrictEqual(log, [1, 2, 3, 4, 5]);
    assert.equal(l.queued, 0);
  });

  it('several slots freed at once go to the oldest waiters', async () => {
    const log: number[] = [];
    const l = createConcurrencyLimiter(policy({ maxInFlight: 3, maxQueue: 10 }), undefined, 0, 1);
    for (let i = 0; i < 3; i++) l.acquire(new Waiter(-1));
    const ws = [1, 2, 3, 4, 5].map((i) => new Waiter(i, log));
    for (const w of ws) l.acquire(w);
    l.release(-1);
    l.release(-1);
    await until(() => log.length === 2);
    await new Promise((r) => setTimeout(r, 5));
    assert.deepStrictEqual(log, [1, 2]);
    assert.equal(l.queued, 3);
    for (const w of ws) l.cancel(w);
  });

  it('a new arrival does not barge past a queued waiter', async () => {
    const log: number[] = [];
    const l = createConcurrencyLimiter(policy({ maxInFlight: 1, maxQueue: 10 }), undefined, 0, 1);
    l.acquire(new Waiter(0, log));
    const first = new Waiter(1, log);
    l.acquire(first);
    l.release(-1); // a slot is free, the wake is not processed yet
    const late = new Waiter(2, log);
    assert.equal(l.acquire(late), false, 'queued behind, not admitted');
    await until(() => first.admitted === 1);
    assert.equal(late.settled, 0);
    l.release(-1);
    await until(() => late.admitted === 1);
    assert.deepStrictEqual(log, [1, 2]);
  });
});

describe('queue timeout', () => {
  it('rejects a waiter with QUEUE_TIMEOUT after queueTimeoutMs', async () => {
    const l = createConcurrencyLimiter(policy({ maxInFlight: 1, maxQueue: 4, queueTimeoutMs: 40 }), undefined, 0, 1);
    l.acquire(new Waiter());
    const w1 = new Waiter(1);
    const t0 = performance.now();
    l.acquire(w1);
    await new Promise((r) => setTimeout(r, 20));
    const w2 = new Waiter(2);
    const t2 = performance.now();
    l.acquire(w2);
    await until(() => w1.settled === 1);
    assert.deepStrictEqual(w1.rejected, [ERR.QUEUE_TIMEOUT]);
    assert.equal(w2.settled, 0, 'the younger waiter has time left');
    const waited1 = w1.at - t0;
    assert.ok(waited1 >= 38 && waited1 < 250, `waited ${waited1} ms`);
    await until(() => w2.settled === 1);
    assert.deepStrictEqual(w2.rejected, [ERR.QUEUE_TIMEOUT]);
    const waited2 = w2.at - t2;
    assert.ok(waited2 >= 38 && waited2 < 250, `waited ${waited2} ms`);
    assert.equal(l.queued, 0);
    assert.equal(l.timedOut, 2);
    assert.equal(l.inFlight, 1);
  });

  it('a waiter admitted before its deadline is not timed out later', async () => {
    const l = createConcurrencyLimiter(policy({ maxInFlight: 1, maxQueue: 4, queueTimeoutMs: 30 }), undefined, 0, 1);
    l.acquire(new Waiter());
    const w = new Waiter();
    l.acquire(w);
    l.release(-1);
    await until(() => w.settled === 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(w.admitted, 1);
    assert.equal(w.rejected.length, 0);
  });
});

describe('cancel', () => {
  it('removes a queued waiter: no callback, the next in line gets the slot', async () => {
    const log: number[] = [];
    const l = createConcurrencyLimiter(policy({ maxInFlight: 1, maxQueue: 10, queueTimeoutMs: 200 }), undefined, 0, 1);
    l.acquire(new Waiter(0, log));
    const ws = [1, 2, 3, 4].map((i) => new Waiter(i, log));
    for (const w of ws) l.acquire(w);
    l.cancel(ws[1]);
    l.cancel(ws[2]);
    l.cancel(new Waiter(99)); // unknown: no-op
    assert.equal(l.queued, 2);
    l.release(-1);
    await until(() => log.length === 1);
    l.release(-1);
    await until(() => log.length === 2);
    assert.deepStrictEqual(log, [1, 4]);
    await new Promise((r) => setTimeout(r, 230));
    assert.equal(ws[1].settled + ws[2].settled, 0, 'cancelled waiters are never called back');
  });

  it('a cancelled place can be taken again (the queue bound counts live waiters)', () => {
    const l = createConcurrencyLimiter(policy({ maxInFlight: 1, maxQueue: 2 }), undefined, 0, 1);
    l.acquire(new Waiter());
    const a = new Waiter(1);
    const b = new Waiter(2);
    l.acquire(a);
    l.acquire(b);
    l.cancel(a);
    const c = new Waiter(3);
    assert.equal(l.acquire(c), false);
    assert.equal(c.rejected.length, 0, 'queued, not rejected');
    assert.equal(l.queued, 2);
    l.cancel(b);
    l.cancel(c);
    assert.equal(l.queued, 0);
  });
});

describe('two threads on one buffer', () => {
  const p = policy({ maxInFlight: 1, maxQueue: 2, queueTimeoutMs: 500 });
  it('the queue bound and the in-flight limit are global', () => {
    const sab = new SharedArrayBuffer(concurrencySharedBytes(p, 2));
    const t0 = createConcurrencyLimiter(p, sab, 0, 2);
    const t1 = createConcurrencyLimiter(p, sab, 1, 2);
    assert.equal(t0.acquire(new Waiter()), true);
    const q = [new Waiter(1), new Waiter(2)];
    for (const w of q) assert.equal(t1.acquire(w), false);
    assert.equal(t0.queued, 2);
    assert.equal(t1.inFlight, 1);
    const over = new Waiter(3);
    assert.equal(t0.acquire(over), false);
    assert.deepStrictEqual(over.rejected, [ERR.CONCURRENCY_LIMITED]);
    for (const w of q) t1.cancel(w);
  });

  it("a release on one limiter admits the other's waiter", async () => {
    const sab = new SharedArrayBuffer(concurrencySharedBytes(p, 2));
    const t0 = createConcurrencyLimiter(p, sab, 0, 2);
    const t1 = createConcurrencyLimiter(p, sab, 1, 2);
    t0.acquire(new Waiter());
    const w = new Waiter();
    t1.acquire(w);
    t0.release(-1);
    await until(() => w.admitted === 1, 200);
    assert.equal(t0.inFlight, 1);
    assert.equal(t0.queued, 0);
  });
});

describe('adaptive limit', () => {
  const p = policy({
    maxInFlight: 100,
    maxQueue: 0,
    adaptive: { minLimit: 4, initialLimit: 50, tolerance: 2, smoothing: 0.2, windowMs: 100 },
  });

  it('falls when latency rises, climbs back when it recovers; one limit for all threads', () => {
    let now = 1_000_000;
    const clock = (): number => now;
    const sab = new SharedArrayBuffer(concurrencySharedBytes(p, 2));
    const t0 = createConcurrencyLimiter(p, sab, 0, 2, clock);
    const t1 = createConcurrencyLimiter(p, sab, 1, 2, clock);
    assert.equal(t0.limit, 50);
    const w = new Waiter();
    /** One window of full load: fill the limit (half on each thread), then finish all at `latency` ms. */
    function windows(n: number, latency: number): number {
      for (let k = 0; k < n; k++) {
        const limit = t0.limit;
        let a0 = 0;
        let a1 = 0;
        for (let i = 0; i < limit; i++) {
          if (i % 2 === 0 ? t0.acquire(w) : t1.acquire(w)) i % 2 === 0 ? a0++ : a1++;
        }
        assert.equal(a0 + a1, limit, 'the limit is what is admitted');
        now += p.adaptive!.windowMs;
        for (let i = 0; i < a0; i++) t0.release(latency);
        for (let i = 0; i < a1; i++) t1.release(latency);
        assert.equal(t0.limit, t1.limit);
      }
      return t0.limit;
    }
    const warm = windows(30, 10);
    assert.ok(warm > 50, `steady 10 ms under full load raises the limit (${warm})`);
    const slow = windows(30, 100);
    assert.ok(slow < warm / 3, `latency ×10 lowers it (${warm} → ${slow})`);
    assert.ok(slow >= 4, 'not below minLimit');
    const recovered = windows(60, 10);
    assert.ok(recovered > slow + 20, `recovery raises it (${slow} → ${recovered})`);
    assert.ok(recovered <= 100);
  });

  it('does not move without enough samples, nor when the limit is not used', () => {
    let now = 5_000_000;
    const l = createConcurrencyLimiter(p, undefined, 0, 1, () => now);
    const w = new Waiter();
    // 5 samples per window: under the 10 a window needs.
    for (let k = 0; k < 5; k++) {
      l.acquire(w);
      now += 100;
      l.release(500);
    }
    assert.equal(l.limit, 50);
    // Many samples but only 1 in flight at a time (app-limited): no change either way.
    for (let k = 0; k < 200; k++) {
      l.acquire(w);
      now += 10;
      l.release(k < 100 ? 500 : 1);
    }
    assert.equal(l.limit, 50);
  });

  it('a lowered limit holds new requests back until in-flight falls under it', () => {
    let now = 1_000;
    const q = policy({ ...p, adaptive: { ...p.adaptive!, initialLimit: 40 } });
    const l = createConcurrencyLimiter(q, undefined, 0, 1, () => now);
    const w = new Waiter();
    // Learn a 10 ms baseline under full load.
    for (let k = 0; k < 12; k++) {
      for (let i = 0; i < l.limit; i++) l.acquire(w);
      const n = l.inFlight;
      now += 100;
      for (let i = 0; i < n; i++) l.release(10);
    }
    const before = l.limit;
    for (let i = 0; i < before; i++) assert.equal(l.acquire(w), true);
    now += 100;
    l.release(1000); // closes the window: its mean is past the tolerance
    assert.ok(l.limit < before - 1, `${before} → ${l.limit}`);
    assert.equal(l.inFlight, before - 1, 'requests already in flight are not cut');
    const extra = new Waiter();
    assert.equal(l.acquire(extra), false);
    assert.deepStrictEqual(extra.rejected, [ERR.CONCURRENCY_LIMITED]);
  });
});

describe('options', () => {
  const cases: { desc: string; p: Partial<ConcurrencyPolicy>; threads?: number; thread?: number; match: RegExp }[] = [
    { desc: 'maxInFlight 0', p: { maxInFlight: 0 }, match: /maxInFlight/ },
    { desc: 'negative queue', p: { maxQueue: -1 }, match: /maxQueue/ },
    { desc: 'queue without timeout', p: { maxQueue: 5, queueTimeoutMs: 0 }, match: /queueTimeoutMs/ },
    { desc: 'thread out of range', p: {}, threads: 2, thread: 2, match: /thread 2/ },
    {
      desc: 'minLimit above maxInFlight',
      p: { maxInFlight: 3, adaptive: { minLimit: 4, initialLimit: 4, tolerance: 2, smoothing: 0.2, windowMs: 1000 } },
      match: /minLimit/,
    },
    {
      desc: 'smoothing 0',
      p: { adaptive: { minLimit: 1, initialLimit: 2, tolerance: 2, smoothing: 0, windowMs: 1000 } },
      match: /smoothing/,
    },
  ];
  for (const c of cases) {
    it(`rejects ${c.desc}`, () => {
      assert.throws(() => createConcurrencyLimiter(policy(c.p), undefined, c.thread ?? 0, c.threads ?? 1), c.match);
    });
  }
  it('rejects a shared buffer sized for fewer threads', () => {
    const p = policy({ adaptive: { minLimit: 1, initialLimit: 2, tolerance: 2, smoothing: 0.2, windowMs: 1000 } });
    const sab = new SharedArrayBuffer(concurrencySharedBytes(p, 2));
    assert.throws(() => createConcurrencyLimiter(p, sab, 0, 4), /needs/);
  });
  it('sizes the buffer: fixed limits need no per-thread lines', () => {
    assert.equal(concurrencySharedBytes(policy({}), 8), 128);
    const p = policy({ adaptive: { minLimit: 1, initialLimit: 2, tolerance: 2, smoothing: 0.2, windowMs: 1000 } });
    assert.equal(concurrencySharedBytes(p, 4), 192 + 4 * 64);
  });
});
