// The concurrency limiter across real worker_threads sharing one SharedArrayBuffer: a slot freed
// on one thread admits a waiter queued on another promptly (Atomics.waitAsync on the generation
// word), the queue bound is global, and under a stress of 4 threads the in-flight count never
// passes the limit and no wake-up is lost.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { ConcurrencyPolicy } from '../../../src/config/model';
import { ERR, type ErrorSpec } from '../../../src/errors';
import { concurrencySharedBytes, createConcurrencyLimiter, type ConcurrencyWaiter } from '../../../src/policy/concurrency/concurrency';
import { nowMs } from '../../../src/shared/clock';

const MODULE = path.resolve(__dirname, '../../../src/policy/concurrency/concurrency.js');
const CLOCK = path.resolve(__dirname, '../../../src/shared/clock.js');

// The worker side: one limiter (thread `thread` of `threads`) driven by messages.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createConcurrencyLimiter } = require(workerData.module);
const { nowMs } = require(workerData.clock);
const l = createConcurrencyLimiter(workerData.policy, workerData.sab, workerData.thread, workerData.threads);
function waiter(id) {
  return {
    onAdmitted() { parentPort.postMessage({ ev: 'admitted', id, at: nowMs() }); },
    onRejected(e) { parentPort.postMessage({ ev: 'rejected', id, code: e.code, at: nowMs() }); },
  };
}
function stress(m) {
  const probe = new Int32Array(m.probe);
  let started = 0, done = 0, violations = 0, rejected = 0, admitted = 0;
  const check = () => { if (done === m.total) parentPort.postMessage({ ev: 'stress', violations, rejected, admitted }); };
  const run = () => {
    admitted++;
    if (Atomics.add(probe, 0, 1) + 1 > m.limit) violations++;
    setTimeout(() => { Atomics.sub(probe, 0, 1); l.release(-1); done++; check(); next(); }, Math.random() < 0.5 ? 0 : 1);
  };
  const next = () => {
    if (started >= m.total) return;
    started++;
    const w = { onAdmitted: run, onRejected() { rejected++; done++; check(); next(); } };
    if (l.acquire(w)) run();
  };
  for (let i = 0; i < m.concurrency; i++) next();
}
parentPort.on('message', (m) => {
  if (m.op === 'acquire') parentPort.postMessage({ ev: 'acquired', id: m.id, ok: l.acquire(waiter(m.id)) });
  else if (m.op === 'release') { const at = nowMs(); l.release(-1); parentPort.postMessage({ ev: 'released', at }); }
  else if (m.op === 'stress') stress(m);
});
parentPort.postMessage({ ev: 'ready' });
`;

interface Event {
  ev: string;
  id?: number;
  ok?: boolean;
  at?: number;
  code?: string;
  violations?: number;
  rejected?: number;
  admitted?: number;
}

/** A worker thread holding one limiter; `next(ev)` resolves with the next event of that kind. */
class Peer {
  readonly worker: Worker;
  private readonly events: Event[] = [];
  private readonly pending: { ev: string; id?: number; resolve: (e: Event) => void }[] = [];

  constructor(policy: ConcurrencyPolicy, sab: SharedArrayBuffer, thread: number, threads: number) {
    this.worker = new Worker(WORKER, { eval: true, workerData: { module: MODULE, clock: CLOCK, policy, sab, thread, threads } });
    this.worker.on('message', (e: Event) => {
      const i = this.pending.findIndex((p) => p.ev === e.ev && (p.id === undefined || p.id === e.id));
      if (i >= 0) this.pending.splice(i, 1)[0].resolve(e);
      else this.events.push(e);
    });
  }

  next(ev: string, id?: number, ms = 5000): Promise<Event> {
    const i = this.events.findIndex((e) => e.ev === ev && (id === undefined || e.id === id));
    if (i >= 0) return Promise.resolve(this.events.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${ev} event within ${ms} ms`)), ms);
      this.pending.push({ ev, id, resolve: (e) => (clearTimeout(t), resolve(e)) });
    });
  }

  send(m: object): void {
    this.worker.postMessage(m);
  }

  /** Events of a kind received and not consumed. */
  count(ev: string): number {
    return this.events.filter((e) => e.ev === ev).length;
  }
}

class Waiter implements ConcurrencyWaiter {
  admittedAt = -1;
  rejected: ErrorSpec[] = [];
  onAdmitted(): void {
    this.admittedAt = nowMs();
  }
  onRejected(err: ErrorSpec): void {
    this.rejected.push(err);
  }
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 1));
  }
}

const peers: Peer[] = [];
after(async () => {
  await Promise.all(peers.map((p) => p.worker.terminate()));
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

describe('concurrency limit across worker threads', () => {
  const policy: ConcurrencyPolicy = { policy: 'test/x', maxInFlight: 1, maxQueue: 2, queueTimeoutMs: 5000 };

  it('a slot freed on thread B admits a waiter queued on thread A within 50 ms (and back)', async () => {
    const sab = new SharedArrayBuffer(concurrencySharedBytes(policy, 2));
    const main = createConcurrencyLimiter(policy, sab, 0, 2);
    const peer = new Peer(policy, sab, 1, 2);
    peers.push(peer);
    await peer.next('ready');
    const toMain: number[] = [];
    const toWorker: number[] = [];
    for (let round = 0; round < 10; round++) {
      // B holds the slot, A waits; B releases.
      peer.send({ op: 'acquire', id: round });
      assert.equal((await peer.next('acquired', round)).ok, true);
      const w = new Waiter();
      assert.equal(main.acquire(w), false);
      peer.send({ op: 'release' });
      const released = await peer.next('released');
      await until(() => w.admittedAt >= 0);
      toMain.push(w.admittedAt - released.at!);
      // A holds the slot, B waits; A releases.
      peer.send({ op: 'acquire', id: 100 + round });
      assert.equal((await peer.next('acquired', 100 + round)).ok, false);
      const t0 = nowMs();
      main.release(-1);
      const admitted = await peer.next('admitted', 100 + round);
      toWorker.push(admitted.at! - t0);
      peer.send({ op: 'release' });
      await peer.next('released');
    }
    assert.equal(main.inFlight, 0);
    assert.equal(main.queued, 0);
    const worst = Math.max(...toMain, ...toWorker);
    console.log(`cross-thread wake: B→A median ${median(toMain).toFixed(2)} ms, A→B median ${median(toWorker).toFixed(2)} ms, worst ${worst.toFixed(2)} ms`);
    assert.ok(worst < 50, `wake-up took ${worst} ms`);
  });

  it('the queue bound is global: waiters on B fill it, an arrival on A is refused at once', async () => {
    const sab = new SharedArrayBuffer(concurrencySharedBytes(policy, 2));
    const main = createConcurrencyLimiter(policy, sab, 0, 2);
    const peer = new Peer(policy, sab, 1, 2);
    peers.push(peer);
    await peer.next('ready');
    assert.equal(main.acquire(new Waiter()), true);
    for (const id of [1, 2]) {
      peer.send({ op: 'acquire', id });
      assert.equal((await peer.next('acquired', id)).ok, false);
    }
    assert.equal(peer.count('rejected'), 0);
    assert.equal(main.queued, 2);
    const w = new Waiter();
    assert.equal(main.acquire(w), false);
    assert.deepStrictEqual(w.rejected, [ERR.CONCURRENCY_LIMITED]);
    // Drain: B's waiters are admitted in order as slots free.
    main.release(-1);
    await peer.next('admitted', 1);
    peer.send({ op: 'release' });
    await peer.next('admitted', 2);
    peer.send({ op: 'release' });
    await peer.next('released');
    await peer.next('released');
    assert.equal(main.inFlight, 0);
    assert.equal(main.queued, 0);
  });

  it('4 threads, limit 5: never more than 5 in flight, every queued request admitted (no lost wake-up)', async () => {
    const p: ConcurrencyPolicy = { policy: 'test/stress', maxInFlight: 5, maxQueue: 40, queueTimeoutMs: 10000 };
    const threads = 4;
    const sab = new SharedArrayBuffer(concurrencySharedBytes(p, threads));
    const probe = new SharedArrayBuffer(4);
    const ps: Peer[] = [];
    for (let t = 0; t < threads; t++) ps.push(new Peer(p, sab, t, threads));
    peers.push(...ps);
    await Promise.all(ps.map((x) => x.next('ready')));
    const total = 300;
    const started = performance.now();
    for (const x of ps) x.send({ op: 'stress', probe, limit: p.maxInFlight, total, concurrency: 10 });
    const results = await Promise.all(ps.map((x) => x.next('stress', undefined, 20000)));
    const ms = performance.now() - started;
    console.log(`stress: ${threads * total} requests through limit 5 in ${ms.toFixed(0)} ms`);
    for (const r of results) {
      assert.equal(r.violations, 0, 'in flight never over the limit');
      assert.equal(r.rejected, 0, 'no queue timeout, no overflow: the queue holds every waiter');
      assert.equal(r.admitted, total);
    }
    const view = createConcurrencyLimiter(p, sab, 0, threads);
    assert.equal(view.inFlight, 0);
    assert.equal(view.queued, 0);
  });
});
