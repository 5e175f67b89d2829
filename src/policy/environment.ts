// What a worker thread's policies are built over: its thread number, the process-wide tables in
// SharedArrayBuffers (rate-limit keys, quota counters), the Redis backend for Global limits, and
// the request-level concurrency buffers of the current config. Set by src/worker.ts at start-up
// and before each config apply; code that compiles policies without a worker (tests, tools)
// gets a private single-thread environment.
import type { PolicyShared } from '../shared/registry';
import type { GlobalBackend } from './rate-limit/types';
import { createRateLimitTable } from './rate-limit/key-table';
import { createQuotaTable } from './quota';

export interface PolicyEnv {
  thread: number;
  threads: number;
  /** GATEMESH_RATELIMIT_MAX_KEYS slots, shared by every thread (main thread made it). */
  rateLimitTable: SharedArrayBuffer;
  /** GATEMESH_QUOTA_MAX_KEYS slots; the main thread persists it (SQLite or Redis). */
  quotaTable: SharedArrayBuffer;
  /** Global rate limits' store (GATEMESH_REDIS_URL), or null. */
  global: GlobalBackend | null;
  /** Request-level concurrency buffers by policyConcurrencyId. */
  shared: PolicyShared;
}

let current: PolicyEnv | null = null;

export function setPolicyEnv(env: PolicyEnv): void {
  current = env;
}

export function policyEnv(): PolicyEnv {
  if (current === null) {
    current = { thread: 0, threads: 1, rateLimitTable: createRateLimitTable(4096), quotaTable: createQuotaTable(4096), global: null, shared: {} };
  }
  return current;
}
