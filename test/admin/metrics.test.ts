// Admin /metrics text: the rate-limit table families (keys, capacity, evictions, overflows).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMetrics } from '../../src/admin/metrics';
import type { Stats } from '../../src/stats';
import { createRateLimitTable, rateLimitTableStats, RateLimitTable, tableLimit } from '../../src/policy/rate-limit/key-table';
import { LimitResult } from '../../src/policy/limit-result';

const stats = { requests: 3, errors: 1, clientAborts: 0, reloadsApplied: 0, reloadsRejected: 0, lastApplyMs: 0, configVersion: 1, inflight: 0 } as unknown as Stats;

test('metrics: rate-limit table families from a real table', () => {
  const sab = createRateLimitTable(64);
  const table = new RateLimitTable(sab);
  const lim = tableLimit(7, 10, 1000);
  const out = new LimitResult();
  const now = Date.now();
  table.take(lim, 'a', now, out);
  table.take(lim, 'b', now, out);
  const text = renderMetrics(stats, rateLimitTableStats(sab));
  assert.match(text, /^gatemesh_ratelimit_keys 2$/m);
  assert.match(text, /^gatemesh_ratelimit_table_capacity 64$/m);
  assert.match(text, /^gatemesh_ratelimit_evictions_total 0$/m);
  assert.match(text, /^gatemesh_ratelimit_overflows_total 0$/m);
  assert.match(text, /^# TYPE gatemesh_ratelimit_evictions_total counter$/m);
  assert.match(text, /^gatemesh_requests_total 3$/m);
});

test('metrics: without table stats the families are absent', () => {
  assert.doesNotMatch(renderMetrics(stats), /gatemesh_ratelimit_/);
});

test('metrics: concurrency limits as gauges per policy or backend, label values escaped', () => {
  const text = renderMetrics(stats, undefined, [
    { scope: 'policy', name: 'route/a', maxInFlight: 20, maxQueue: 0, adaptive: true, limit: 9, inFlight: 7, queued: 0 },
    { scope: 'backend', name: 'b"\\x', maxInFlight: 5, maxQueue: 2, adaptive: false, limit: 5, inFlight: 5, queued: 2 },
  ]);
  assert.match(text, /^# TYPE gatemesh_concurrency_limit gauge$/m);
  assert.match(text, /^gatemesh_concurrency_limit\{scope="policy",name="route\/a"\} 9$/m);
  assert.match(text, /^gatemesh_concurrency_in_flight\{scope="policy",name="route\/a"\} 7$/m);
  assert.match(text, /^gatemesh_concurrency_queued\{scope="backend",name="b\\"\\\\x"\} 2$/m);
  assert.doesNotMatch(renderMetrics(stats), /gatemesh_concurrency_/);
});
