// One simulated gatemesh process for cluster.test.ts (forked with GM_GLOBAL_LIMIT_CHILD=1; does
// nothing otherwise, so the test runner may load it harmlessly). It runs `threads` backends (one
// per simulated worker thread, each with its own connection), waits for "go", hammers one key
// until the deadline, and reports what passed.
import { createGlobalBackend, type GlobalBackendHandle } from '../../../src/policy/global-limit';
import { LimitResult } from '../../../src/policy/limit-result';
import { nowMs } from '../../../src/shared/clock';
import { captureLogger, tick } from './helpers';

export interface ChildSpec {
  url: string;
  key: string;
  requests: number;
  periodMs: number;
  instances: number;
  threads: number;
}

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'done'; takes: number; allowed: number; fetches: number; borrowed: number; firstMs: number; lastMs: number };

async function child(): Promise<void> {
  const spec = JSON.parse(process.env.GM_GLOBAL_LIMIT_SPEC!) as ChildSpec;
  const backends: GlobalBackendHandle[] = [];
  for (let i = 0; i < spec.threads; i++) {
    backends.push(createGlobalBackend({
        url: spec.url,
        logger: captureLogger().logger,
        instances: spec.instances,
        threads: spec.threads,
        // A loaded test machine must not turn a slow reply into an outage (failure-open passes are outside the bound).
        commandTimeoutMs: 3000,
      }),);
  }
  for (const b of backends) if (!(await b.whenAvailable(5000))) throw new Error('child: Redis not available');
  process.send!({ type: 'ready' } satisfies ChildMessage);
  const go = await new Promise<{ untilMs: number }>((resolve) => process.once('message', (m) => resolve(m as { untilMs: number })));
  const out = new LimitResult();
  let takes = 0;
  let allowed = 0;
  let firstMs = 0;
  let lastMs = 0;
  while (nowMs() < go.untilMs) {
    for (let i = 0; i < 20; i++) {
      // Round robin over the simulated threads, as a kernel spreading connections would.
      const now = nowMs();
      backends[takes % backends.length].take(1, spec.key, spec.requests, spec.periodMs, now, out);
      takes++;
      // A pass while the store counts as down is the caller's failureMode, not the lease's: not counted.
      if (out.allowed && !out.degraded) {
        allowed++;
        if (firstMs === 0) firstMs = now;
        lastMs = now;
      }
    }
    await tick();
  }
  const fetches = backends.reduce((s, b) => s + b.stats.fetches, 0);
  const borrowed = backends.reduce((s, b) => s + b.stats.borrowed, 0);
  process.send!({ type: 'done', takes, allowed, fetches, borrowed, firstMs, lastMs } satisfies ChildMessage);
  for (const b of backends) await b.close();
  process.disconnect();
}

if (process.env.GM_GLOBAL_LIMIT_CHILD === '1') {
  child().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
