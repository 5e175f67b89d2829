// What every micro-benchmark (bench/micro/*.ts) measures with: batch calibration, the median of
// rounds, and a GC counter. GC entries reach the observer asynchronously: `settle()` before reading
// it, so earlier GCs (a forced one, a compile, a peer's garbage) are not counted against a run.
import { PerformanceObserver } from 'node:perf_hooks';

/**
 * Operations per round so that one round takes about `roundMs`: grows the batch 4× until a run
 * takes ≥ 20 ms (or 2^26 ops), then scales. `nsPerOp(ops)` runs `ops` operations and returns ns/op.
 */
export function calibrateOps(nsPerOp: (ops: number) => number, roundMs: number, minOps: number): number {
  let ops = minOps;
  for (;;) {
    const ns = nsPerOp(ops) * ops;
    if (ns >= 20e6 || ops >= 1 << 26) return Math.max(minOps, Math.round((ops * roundMs * 1e6) / Math.max(ns, 1)));
    ops *= 4;
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

let gcs = 0;
let observer: PerformanceObserver | null = null;

/** GCs seen since the process started observing (the first call starts it). */
export function gcCount(): number {
  if (observer === null) {
    observer = new PerformanceObserver((list) => {
      gcs += list.getEntries().length;
    });
    observer.observe({ entryTypes: ['gc'] });
  }
  return gcs;
}

/** Stops observing, so the process can exit. */
export function stopGcCount(): void {
  if (observer !== null) observer.disconnect();
  observer = null;
}

export const settle = (): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, 50));

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

/** `--quick` is what bench/harness/micro.ts passes for a short run. */
export const QUICK = process.argv.includes('--quick');
/** Measured rounds (`--rounds`): 9, quick 5. */
export const ROUNDS = arg('--rounds', QUICK ? 5 : 9);
/** Target length of one round, ms (`--round-ms`): 150, quick 40. */
export const ROUND_MS = arg('--round-ms', QUICK ? 40 : 150);
