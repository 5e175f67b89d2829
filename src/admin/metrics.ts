// Admin /metrics: the shared counters in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): `# HELP` and `# TYPE` once per
// family, then `name{labels} value` lines; durations in seconds, as Prometheus' naming guide says.
import type { Stats } from '../stats';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function renderMetrics(s: Stats): string {
  return (
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
