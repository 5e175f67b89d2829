// What went wrong in a run, by kind: "status 400", "socket ECONNRESET", "read errors (wrk)"… → count. The table's `!`
// says which kinds and how many, so a reader can tell a proxy refusing requests from a generator-side hiccup without
// opening the JSON. Only failures are counted here; a clean run has an empty record.

export type Failures = Record<string, number>;

export function addFailure(f: Failures, kind: string, n = 1): void {
  if (n > 0) f[kind] = (f[kind] ?? 0) + n;
}

/** Sums several runs' records (a missing record, from results written before the breakdown existed, adds nothing). */
export function mergeFailures(list: readonly (Failures | undefined)[]): Failures {
  const out: Failures = {};
  for (const f of list) if (f) for (const [k, n] of Object.entries(f)) addFailure(out, k, n);
  return out;
}

export function failureTotal(f: Failures): number {
  let n = 0;
  for (const v of Object.values(f)) n += v;
  return n;
}

/** "21,817 status ≥ 400 (wrk), 21,817 read errors (wrk)", largest first; '' when nothing failed. */
export function describeFailures(f: Failures): string {
  return Object.entries(f)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => `${n.toLocaleString('en')} ${k}`)
    .join(', ');
}
