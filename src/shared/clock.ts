// One clock for state shared between threads. performance.now() has a per-thread origin (each
// worker's starts at 0 when it boots), so a timestamp written by one thread means nothing to
// another; timeOrigin + now() is wall-clock epoch ms on every thread, yet advances monotonically
// within a thread. Shared state stores times from this clock (or offsets from a base written
// into the SharedArrayBuffer by the main thread when it creates it).

import { performance } from 'node:perf_hooks';

const origin = performance.timeOrigin;

/** Epoch milliseconds, fractional (µs resolution), comparable across threads. */
export function nowMs(): number {
  return origin + performance.now();
}
