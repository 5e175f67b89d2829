// src/env.ts: what the environment turns into: the defaults README's table documents, and the
// settings uws cannot carry out.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_CONFIG_PATH } from '../src/config/load';
import { readSettings, type Settings } from '../src/env';

/** README.md's "Environment variables" table: variable name → its `default` cell, as written. */
function readmeDefaults(): Map<string, string> {
  const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Environment variables'));
  const table = section.slice(0, section.indexOf('\n## '));
  const out = new Map<string, string>();
  for (const line of table.split('\n')) {
    const m = /^\| `(GATEMESH_[A-Z_]+)` \| (.*?) \| /.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/**
 * Each variable of README's table: its default cell verbatim, and the Settings field and value
 * that cell means. The cell is checked against README and the value against readSettings({}), so
 * a default changed on one side only fails here (src/env.ts: "keep them in step").
 */
const DEFAULTS: { name: string; readme: string; field: keyof Settings; value: unknown }[] = [
  // Unset here; the CLI falls back to DEFAULT_CONFIG_PATH (checked below).
  { name: 'GATEMESH_CONFIG', readme: '`examples/gatemesh.yaml`', field: 'config', value: undefined },
  { name: 'GATEMESH_FRONTEND', readme: '`auto`', field: 'frontend', value: 'auto' },
  { name: 'GATEMESH_THREADS', readme: 'number of cores', field: 'threads', value: os.availableParallelism() },
  { name: 'GATEMESH_ADMIN_ADDR', readme: '`127.0.0.1:9901`', field: 'adminAddr', value: '127.0.0.1:9901' },
  { name: 'GATEMESH_DRAIN_TIMEOUT_MS', readme: '`30000`', field: 'drainTimeoutMs', value: 30000 },
  { name: 'GATEMESH_MAX_HEADER_BYTES', readme: '`16384`', field: 'maxHeaderBytes', value: 16384 },
  { name: 'GATEMESH_MAX_URI_BYTES', readme: '`8192`', field: 'maxUriBytes', value: 8192 },
  { name: 'GATEMESH_MAX_BODY_BYTES', readme: '`0` (unlimited)', field: 'maxBodyBytes', value: 0 },
  { name: 'GATEMESH_HEADERS_TIMEOUT_MS', readme: '`10000`', field: 'headersTimeoutMs', value: 10000 },
  { name: 'GATEMESH_IDLE_TIMEOUT_MS', readme: '`60000`', field: 'idleTimeoutMs', value: 60000 },
  { name: 'GATEMESH_MAX_CONNECTIONS', readme: '`0` (unlimited)', field: 'maxConnections', value: 0 },
  { name: 'GATEMESH_SEND_TIMEOUT_MS', readme: '`60000`', field: 'sendTimeoutMs', value: 60000 },
  { name: 'GATEMESH_TUNNEL_IDLE_TIMEOUT_MS', readme: '`3600000`', field: 'tunnelIdleTimeoutMs', value: 3600000 },
  { name: 'GATEMESH_UPSTREAM_CONNECT_TIMEOUT_MS', readme: '`5000`', field: 'upstreamConnectTimeoutMs', value: 5000 },
  { name: 'GATEMESH_UPSTREAM_TIMEOUT_MS', readme: '`30000`', field: 'upstreamTimeoutMs', value: 30000 },
  { name: 'GATEMESH_UPSTREAM_MAX_CONNECTIONS', readme: '`1024`', field: 'upstreamMaxConnections', value: 1024 },
  { name: 'GATEMESH_UPSTREAM_IDLE_TIMEOUT_MS', readme: '`60000`', field: 'upstreamIdleTimeoutMs', value: 60000 },
  { name: 'GATEMESH_TRUSTED_PROXIES', readme: '(none)', field: 'trustedProxies', value: [] },
  { name: 'GATEMESH_ACCESS_LOG', readme: '`on`', field: 'accessLog', value: 'on' },
  { name: 'GATEMESH_ACCESS_LOG_BUFFER_BYTES', readme: '`16777216`', field: 'accessLogBufferBytes', value: 16777216 },
  { name: 'GATEMESH_LOG_LEVEL', readme: '`info`', field: 'logLevel', value: 'info' },
  { name: 'GATEMESH_DEBUG_DELAY_MS', readme: '`0`', field: 'debugDelayMs', value: 0 },
  { name: 'GATEMESH_RATELIMIT_MAX_KEYS', readme: '`65536`', field: 'rateLimitMaxKeys', value: 65536 },
  { name: 'GATEMESH_REDIS_URL', readme: '(none)', field: 'redisUrl', value: undefined },
  { name: 'GATEMESH_REDIS_INSTANCES', readme: '`1`', field: 'redisInstances', value: 1 },
  { name: 'GATEMESH_REDIS_LEASE_MAX', readme: '`1000`', field: 'redisLeaseMax', value: 1000 },
  { name: 'GATEMESH_REDIS_LEASE_TTL_MS', readme: '`1000`', field: 'redisLeaseTtlMs', value: 1000 },
  { name: 'GATEMESH_REDIS_TIMEOUT_MS', readme: '`250`', field: 'redisTimeoutMs', value: 250 },
  { name: 'GATEMESH_QUOTA_DB', readme: '`gatemesh-quotas.db`', field: 'quotaDb', value: 'gatemesh-quotas.db' },
  { name: 'GATEMESH_QUOTA_MAX_KEYS', readme: '`65536`', field: 'quotaMaxKeys', value: 65536 },
  { name: 'GATEMESH_QUOTA_SYNC_MS', readme: '`1000`', field: 'quotaSyncMs', value: 1000 },
];

describe('readSettings: defaults', () => {
  it('README lists exactly these variables, with these defaults', () => {
    const readme = readmeDefaults();
    assert.deepEqual([...readme.keys()].sort(), DEFAULTS.map((d) => d.name).sort());
    for (const d of DEFAULTS) assert.equal(readme.get(d.name), d.readme, d.name);
  });

  it('an empty environment gives every default README states', () => {
    const s = readSettings({});
    for (const d of DEFAULTS) assert.deepEqual(s[d.field], d.value, `${d.name} (${d.field})`);
    assert.deepEqual(s.uwsUnsupported, []);
    // GATEMESH_CONFIG's default is applied by the CLI (src/cli.ts), not by readSettings.
    assert.equal(path.relative(path.resolve(__dirname, '../..'), DEFAULT_CONFIG_PATH), path.join('examples', 'gatemesh.yaml'));
  });

  it('an empty value counts as unset', () => {
    const empty = Object.fromEntries(DEFAULTS.map((d) => [d.name, '']));
    assert.deepEqual(readSettings(empty), readSettings({}));
  });
});

describe('readSettings: uwsUnsupported', () => {
  it('is empty when the variables are unset or say what uws does anyway', () => {
    assert.deepEqual(readSettings({}).uwsUnsupported, []);
    assert.deepEqual(
      readSettings({ GATEMESH_HEADERS_TIMEOUT_MS: '10000', GATEMESH_IDLE_TIMEOUT_MS: ' 10000 ', GATEMESH_MAX_CONNECTIONS: '0' }).uwsUnsupported,
      [],
    );
  });

  it('lists each explicit timeout other than 10 s and a connection limit', () => {
    assert.deepEqual(readSettings({ GATEMESH_IDLE_TIMEOUT_MS: '60000' }).uwsUnsupported, ['GATEMESH_IDLE_TIMEOUT_MS=60000']);
    assert.deepEqual(
      readSettings({ GATEMESH_HEADERS_TIMEOUT_MS: '500', GATEMESH_IDLE_TIMEOUT_MS: '2000', GATEMESH_MAX_CONNECTIONS: '3' }).uwsUnsupported,
      ['GATEMESH_HEADERS_TIMEOUT_MS=500', 'GATEMESH_IDLE_TIMEOUT_MS=2000', 'GATEMESH_MAX_CONNECTIONS=3'],
    );
  });

  it('still refuses a malformed value before anything else', () => {
    assert.throws(() => readSettings({ GATEMESH_IDLE_TIMEOUT_MS: 'soon' }), /GATEMESH_IDLE_TIMEOUT_MS=soon: expected a whole number/);
  });
});
