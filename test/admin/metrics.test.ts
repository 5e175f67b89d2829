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
