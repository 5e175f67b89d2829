// Where the bench finds the repo, its templates and its compiled scripts, wherever it is started from.
import path from 'node:path';

/** Repo root: this file compiles to dist/bench/harness/paths.js. */
export const ROOT = path.resolve(__dirname, '..', '..', '..');
/** Peer config templates are read from source (bench/peers/), never written there. */
export const PEERS_SRC = path.join(ROOT, 'bench', 'peers');
/** Compiled bench scripts (upstream, Node peers, micro-benchmarks). */
export const BENCH_DIST = path.join(ROOT, 'dist', 'bench');
export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
export const BASELINE_FILE = path.join(ROOT, 'bench', 'baseline.json');
