// performance.now() read once per synchronous section of the request path, not once per use.
//
// Why: on these machines a clock read costs ~50 ns (performance.now() brand-checks its receiver,
// then calls clock_gettime; process.hrtime() and Date.now() cost the same), and a small proxied
// GET read it five times: arrival, upstream start, response head, the pool's idle stamp and the
// end. The request path runs in two synchronous sections per request: the front end's request
// callback (arrival → upstream request written) and one upstream read (response head → body →
// end, for a response that fits one read). Inside a section every reader gets the section's first
// reading, as nginx reads its clock once per event-loop turn (ngx_time_update): a timestamp is
// early by the microseconds the section has run so far, and durations lose nothing that a log
// line with µs precision would show.
//
// Outside a section sectionNow() is performance.now() itself, so a caller that is not under an
// entry point (a timer, a queued request resumed later) is never handed a stale time. Sections
// nest: an inner one takes a fresh reading, and when it closes the outer one reads afresh.
import { performance } from 'node:perf_hooks';

let open = false;
let cached = -1;

/** performance.now(), the same value for the rest of an open section. */
export function sectionNow(): number {
  if (!open) return performance.now();
  if (cached < 0) cached = performance.now();
  return cached;
}

/** Opens a section: call at a callback's entry, with closeSection() in a finally. */
export function openSection(): void {
  open = true;
  cached = -1;
}

export function closeSection(): void {
  open = false;
  cached = -1;
}
