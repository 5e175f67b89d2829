// Response-head deadlines of upstream exchanges: one timer per distinct timeout per thread
// instead of a Timeout object per request (the shape of Node's own timer lists: entries with the
// same duration expire in insertion order, so one list per duration needs only its head checked).
// Measured on the small-GET bench (uws, 1 connection, callgrind): the per-request setTimeout/
// clearTimeout here plus the pool's per-request socket.setTimeout were ~6 % of the worker's instructions.

import { performance } from 'node:perf_hooks';

/** Something with a deadline; the fields are owned by this module (intrusive list: no allocation). */
export interface DeadlineEntry {
  /** performance.now() at which expire() is due; -1 while not in a list. */
  deadlineAt: number;
  dlPrev: DeadlineEntry | null;
  dlNext: DeadlineEntry | null;
  dlList: DeadlineList | null;
  /** Called once when the deadline passed (the entry is already removed). */
  expire(): void;
}

class DeadlineList {
  head: DeadlineEntry | null = null;
  tail: DeadlineEntry | null = null;
  timer: NodeJS.Timeout | null = null;
  /** When the armed timer fires (performance.now() ms). */
  timerAt = 0;

  constructor(readonly ms: number) {}
}

const lists = new Map<number, DeadlineList>();

/** Arm `e` to expire `ms` after `now` (ms > 0; performance.now() unless the caller has it). An entry already armed is moved. */
export function addDeadline(e: DeadlineEntry, ms: number, now = performance.now()): void {
  if (e.dlList !== null) removeDeadline(e);
  let list = lists.get(ms);
  if (list === undefined) {
    list = new DeadlineList(ms);
    lists.set(ms, list);
  }
  const at = now + ms;
  e.deadlineAt = at;
  e.dlList = list;
  e.dlNext = null;
  e.dlPrev = list.tail;
  if (list.tail === null) list.head = e;
  else list.tail.dlNext = e;
  list.tail = e;
  // The timer is left armed when its list empties (disarming would cost a clearTimeout per
  // request at low concurrency); a timer due later than this entry cannot exist (same duration).
  if (list.timer === null) arm(list, at, ms);
}

/** Disarm `e` (no-op when not armed). */
export function removeDeadline(e: DeadlineEntry): void {
  const list = e.dlList;
  if (list === null) return;
  if (e.dlPrev === null) list.head = e.dlNext;
  else e.dlPrev.dlNext = e.dlNext;
  if (e.dlNext === null) list.tail = e.dlPrev;
  else e.dlNext.dlPrev = e.dlPrev;
  e.dlPrev = null;
  e.dlNext = null;
  e.dlList = null;
  e.deadlineAt = -1;
}

function arm(list: DeadlineList, at: number, delay: number): void {
  list.timerAt = at;
  // Unref'd: an exchange in flight always has a socket (or a pool connect) keeping the loop alive.
  list.timer = setTimeout(fire, delay < 1 ? 1 : delay, list);
  list.timer.unref();
}

function fire(list: DeadlineList): void {
  list.timer = null;
  // Node may run a timer up to ~1 ms before performance.now() reaches its due time.
  const now = performance.now() + 1;
  for (let e = list.head; e !== null && e.deadlineAt <= now; e = list.head) {
    removeDeadline(e);
    e.expire();
  }
  const head = list.head;
  if (head !== null && list.timer === null) arm(list, head.deadlineAt, head.deadlineAt - performance.now());
}
