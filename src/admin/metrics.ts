// Admin /metrics: the shared counters in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): `# HELP` and `# TYPE` once per
// family, then `name{labels} value` lines; durations in seconds, as Prometheus' naming guide says.
import type { Stats } from '../stats';
import type { RateLimitTableStats } from '../policy/rate-limit/key-table';
import type { ConcurrencyStat } from '../shared/policy-host';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function renderMetrics(s: Stats, rl?: RateLimitTableStats, concurrency: ConcurrencyStat[] = []): string {
  return (
    renderRateLimit(rl) +
    renderConcurrency(concurrency) +
    '# HELP gatemesh_requests_total Requests finished, any status.\n' +
    '# TYPE gatemesh_requests_total counter\n' +
    `gatemesh_requests_total ${s.requests}\n` +
    '# HELP gatemesh_errors_total Requests answered with a gateway-generated error (GATEMESH_ERR_*).\n' +
    '# TYPE gatemesh_errors_total counter\n' +
    `gatemesh_errors_total ${s.errors}\n` +
    '# HELP gatemesh_client_aborts_total Requests whose client went away before the response was complete.\n' +
    '# TYPE gatemesh_client_aborts_total counter\n' +
    `gatemesh_client_aborts_total ${s.clientAborts}\n` +
    '# HELP gatemesh_config_reloads_total Config reloads, by result: applied on every thread, or rejected (old config kept).\n' +
    '# TYPE gatemesh_config_reloads_total counter\n' +
    `gatemesh_config_reloads_total{result="applied"} ${s.reloadsApplied}\n` +
    `gatemesh_config_reloads_total{result="rejected"} ${s.reloadsRejected}\n` +
    '# HELP gatemesh_config_apply_seconds Duration of the last applied reload, from the change being noticed to every thread serving it.\n' +
    '# TYPE gatemesh_config_apply_seconds gauge\n' +
    `gatemesh_config_apply_seconds ${s.lastApplyMs / 1000}\n` +
    '# HELP gatemesh_config_version Version of the applied config (1 = loaded at start-up, +1 per applied reload).\n' +
    '# TYPE gatemesh_config_version gauge\n' +
    `gatemesh_config_version ${s.configVersion}\n`
  );
}

/** The local rate-limit table (src/policy/rate-limit/key-table.ts): its keys, idle keys evicted, and
 *  new keys refused because their probe window was full of active keys. */
function renderRateLimit(rl: RateLimitTableStats | undefined): string {
  if (rl === undefined) return '';
  return (
    '# HELP gatemesh_ratelimit_keys Keys held in the local rate-limit table (all limits, all threads).\n' +
    '# TYPE gatemesh_ratelimit_keys gauge\n' +
    `gatemesh_ratelimit_keys ${rl.keys}\n` +
    '# HELP gatemesh_ratelimit_table_capacity Slots of the local rate-limit table (GATEMESH_RATELIMIT_MAX_KEYS, rounded up to a power of two).\n' +
    '# TYPE gatemesh_ratelimit_table_capacity gauge\n' +
    `gatemesh_ratelimit_table_capacity ${rl.capacity}\n` +
    '# HELP gatemesh_ratelimit_evictions_total Idle keys evicted from the local rate-limit table to make room.\n' +
    '# TYPE gatemesh_ratelimit_evictions_total counter\n' +
    `gatemesh_ratelimit_evictions_total ${rl.evictions}\n` +
    '# HELP gatemesh_ratelimit_overflows_total Requests of new keys refused because the table had no idle slot for them.\n' +
    '# TYPE gatemesh_ratelimit_overflows_total counter\n' +
    `gatemesh_ratelimit_overflows_total ${rl.overflows}\n`
  );
}

/** Label value escaping of the text format: backslash, double quote and line feed. */
function labelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : '\\' + c));
}

/** Concurrency limits (src/policy/concurrency/): the limit now (adaptive ones move), in flight, queued. */
function renderConcurrency(cs: ConcurrencyStat[]): string {
  if (cs.length === 0) return '';
  const families: [string, string, (c: ConcurrencyStat) => number][] = [
    ['gatemesh_concurrency_limit', 'Concurrency limit now (maxInFlight, or the adaptive limit), all threads.', (c) => c.limit],
    ['gatemesh_concurrency_in_flight', 'Requests holding a slot of the concurrency limit, all threads.', (c) => c.inFlight],
    ['gatemesh_concurrency_queued', 'Requests waiting for a slot of the concurrency limit, all threads.', (c) => c.queued],
  ];
  let out = '';
  for (const [name, help, value] of families) {
    out += `# HELP ${name} ${help}\n# TYPE ${name} gauge\n`;
    for (const c of cs) out += `${name}{scope="${c.scope}",name="${labelValue(c.name)}"} ${value(c)}\n`;
  }
  return out;
}
