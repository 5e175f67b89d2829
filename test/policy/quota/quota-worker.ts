// Worker thread for threads.test.ts: decides `rounds` × keys requests on the shared quota table
// and reports how many each key got through. Starts when the main thread releases the barrier,
// so every thread contends at once.
import { parentPort, workerData } from 'node:worker_threads';

import type { QuotaPolicy } from '../../../src/config/model';
import { createQuotaLimiter, QUOTA_ALLOWED } from '../../../src/policy/quota';
import { input, results } from './fixtures';

interface Job {
  table: SharedArrayBuffer;
  barrier: SharedArrayBuffer;
  policy: QuotaPolicy;
  keys: string[];
  rounds: number;
  now: number;
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'table' in workerData) {
  const job = workerData as Job;
  const q = createQuotaLimiter(job.policy, job.table, { now: () => job.now });
  const res = results(job.policy.rules.length);
  const inputs = job.keys.map((k) => input(k));
  const allowed = new Array<number>(job.keys.length).fill(0);
  const gate = new Int32Array(job.barrier);
  Atomics.add(gate, 1, 1);
  Atomics.wait(gate, 0, 0);
  for (let r = 0; r < job.rounds; r++) {
    for (let k = 0; k < inputs.length; k++) if (q.check(inputs[k], res) === QUOTA_ALLOWED) allowed[k]++;
  }
  parentPort.postMessage(allowed);
}
