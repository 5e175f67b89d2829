// The access-log line: valid JSON with pino's leading keys, every field, strings escaped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessLine, type AccessRecord } from '../src/log';

const cases: { desc: string; rec: AccessRecord }[] = [
  {
    desc: 'a plain 200',
    rec: { method: 'GET', path: '/a', route: 'r/rule0', endpoint: '127.0.0.1:80', status: 200, bytes: 5, bytes_in: 0, duration_ms: 1.25, upstream_ms: 0.5, attempts: 1, client: '127.0.0.1' },
  },
  {
    desc: 'an error with reason and flags, strings needing escapes',
    rec: {
      method: 'GET',
      path: '/q"uote\\\\back\u0001',
      route: '-',
      endpoint: '-',
      status: 429,
      bytes: 0,
      bytes_in: 0,
      duration_ms: 0.1,
      upstream_ms: -1,
      attempts: 0,
      client: '::1',
      error: 'GATEMESH_ERR_RATE_LIMITED',
      reason: 'rate limit exceeded: policy "p"',
      flags: 'RL',
    },
  },
  {
    desc: 'no attempts field',
    rec: { method: 'PUT', path: '/', route: 'x', endpoint: '-', status: 404, bytes: 0, bytes_in: 3, duration_ms: 0, upstream_ms: -1, client: '10.0.0.1' },
  },
];

for (const c of cases) {
  test(`access line: ${c.desc}`, () => {
    const line = accessLine(c.rec);
    assert.ok(line.endsWith('}\n'));
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.equal(parsed.level, 30);
    assert.ok(!Number.isNaN(Date.parse(parsed.time as string)));
    assert.deepEqual(Object.keys(parsed).slice(0, 2), ['level', 'time']);
    const { level: _l, time: _t, ...rest } = parsed;
    assert.deepEqual(rest, JSON.parse(JSON.stringify(c.rec)));
  });
}
