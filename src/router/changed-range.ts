// The changed middle of a list that a reload replaced: the same elements (===) at its start and at
// its end are kept as they are; only the range between is looked at again. Shared by the
// incremental route table (route-table.ts buildChanged) and the reload delta's encoder and decoder
// (src/reload/config-delta.ts), which must agree on it: a reload that changes one route of 10,000
// then costs that route, not a pass over all of them (bench/reload.ts). Runs at config load only.

/** `next[start, nextEnd)` replaced `prev[start, prevEnd)`; `prev[i]` is `next[i]` for i < start,
 *  and `prev[i - nextEnd + prevEnd]` is `next[i]` for i ≥ nextEnd. */
export interface ChangedRange {
  /** Length of the common start. */
  start: number;
  /** End (exclusive) of the replaced range in `prev`. */
  prevEnd: number;
  /** End (exclusive) of the replacing range in `next`. */
  nextEnd: number;
}

/**
 * The range of `next` that differs from `prev`, after the longest common start and then the
 * longest common end that does not overlap it (so a list that only grew or shrank has an empty
 * range on one side). Elements are compared by identity.
 */
export function changedRange<T>(prev: readonly T[], next: readonly T[]): ChangedRange {
  const n = next.length;
  const m = prev.length;
  let p = 0;
  while (p < n && p < m && next[p] === prev[p]) p++;
  let s = 0;
  while (s < n - p && s < m - p && next[n - 1 - s] === prev[m - 1 - s]) s++;
  return { start: p, prevEnd: m - s, nextEnd: n - s };
}
