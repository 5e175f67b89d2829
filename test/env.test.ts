// src/env.ts: what the environment turns into, here the settings uws cannot carry out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readSettings } from '../src/env';

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
