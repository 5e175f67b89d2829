// Response-head deadlines (src/upstream/deadlines.ts): one timer per duration, entries expire in
// order, a removed entry never expires, a moved entry expires at its new deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addDeadline, removeDeadline, type DeadlineEntry } from '../../src/upstream/deadlines';

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class Entry implements DeadlineEntry {
  deadlineAt = -1;
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlList: DeadlineEntry['dlList'] = null;
  at = -1;
  armedAt = -1;
  ms = 0;
  constructor(
    readonly name: string,
    readonly log: string[],
    readonly t0: number,
  ) {}
  expire(): void {
    this.at = performance.now() - this.t0;
    this.log.push(this.name);
  }
}

interface Step {
  /** ms after the start */
  at: number;
  add?: [string, number];
  remove?: string;
}

const cases: { desc: string; steps: Step[]; waitMs: number; expired: string[] }[] = [
  { desc: 'one entry expires after its duration', steps: [{ at: 0, add: ['a', 40] }], waitMs: 120, expired: ['a'] },
  { desc: 'same duration: insertion order', steps: [{ at: 0, add: ['a', 40] }, { at: 10, add: ['b', 40] }, { at: 20, add: ['c', 40] }], waitMs: 150, expired: ['a', 'b', 'c'] },
  { desc: 'a removed entry never expires, the next one still does', steps: [{ at: 0, add: ['a', 40] }, { at: 5, add: ['b', 40] }, { at: 10, remove: 'a' }], waitMs: 120, expired: ['b'] },
  { desc: 'the last entry removed: nothing expires', steps: [{ at: 0, add: ['a', 30] }, { at: 5, remove: 'a' }], waitMs: 80, expired: [] },
  { desc: 'different durations keep separate lists', steps: [{ at: 0, add: ['slow', 90] }, { at: 0, add: ['fast', 30] }], waitMs: 160, expired: ['fast', 'slow'] },
  { desc: 'an entry added after the list emptied waits its full duration', steps: [{ at: 0, add: ['a', 40] }, { at: 5, remove: 'a' }, { at: 25, add: ['b', 40] }], waitMs: 140, expired: ['b'] },
  { desc: 're-adding moves the deadline', steps: [{ at: 0, add: ['a', 40] }, { at: 20, add: ['a', 60] }], waitMs: 150, expired: ['a'] },
];

for (const c of cases) {
  test(`deadlines: ${c.desc}`, async () => {
    const log: string[] = [];
    const t0 = performance.now();
    const entries = new Map<string, Entry>();
    let now = 0;
    for (const s of c.steps) {
      if (s.at > now) await delay(s.at - (performance.now() - t0));
      now = s.at;
      if (s.add !== undefined) {
        const [name, ms] = s.add;
        let e = entries.get(name);
        if (e === undefined) entries.set(name, (e = new Entry(name, log, t0)));
        e.armedAt = performance.now() - t0;
        e.ms = ms;
        addDeadline(e, ms);
      }
      if (s.remove !== undefined) removeDeadline(entries.get(s.remove)!);
    }
    await delay(c.waitMs - (performance.now() - t0));
    assert.deepEqual(log, c.expired);
    for (const name of c.expired) {
      const e = entries.get(name)!;
      // The module allows a timer to fire up to 1 ms early (libuv's millisecond clock).
      assert.ok(e.at - e.armedAt >= e.ms - 1.5, `${name} expired ${(e.at - e.armedAt).toFixed(1)} ms after arming, not ${e.ms}`);
    }
    for (const e of entries.values()) assert.equal(e.dlList, null, 'an expired or removed entry is in no list');
  });
}

test('deadlines: an entry can re-arm itself from expire()', async () => {
  let fired = 0;
  const e: DeadlineEntry = {
    deadlineAt: -1,
    dlPrev: null,
    dlNext: null,
    dlList: null,
    expire() {
      if (++fired < 3) addDeadline(e, 15);
    },
  };
  addDeadline(e, 15);
  await delay(150);
  assert.equal(fired, 3);
});
