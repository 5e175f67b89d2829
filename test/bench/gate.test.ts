import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { gateProxies } from '../../bench/gate';
import { hasCommand } from '../../bench/harness/processes';
import { ROOT } from '../../bench/harness/paths';

const built = existsSync(path.join(ROOT, 'dist', 'src', 'cli.js'));

test('gateProxies (--baseline-dir): direct, the baseline build, both gatemesh front ends; no -nopolicy row', { skip: !built && 'gatemesh not built' }, () => {
  const g = gateProxies({ baselineDir: ROOT });
  assert.deepEqual(
    g.proxies.map((p) => p.name),
    ['direct', 'baseline-uws', 'baseline-native-free', 'gatemesh-uws', 'gatemesh-native-free'],
  );
  assert.deepEqual(g.reference, ['baseline-uws', 'baseline-native-free']);
  // Every one of them runs in every scenario (the gate's "did not run" check expects them all).
  for (const p of g.proxies) assert.equal(p.tables, undefined, p.name);
});

test('gateProxies (peer): nginx and both gatemesh front ends; no -nopolicy row', { skip: (!built || !hasCommand('nginx')) && 'needs nginx and a build' }, () => {
  const g = gateProxies({ proxies: ['nginx'] });
  assert.deepEqual(
    g.proxies.map((p) => p.name),
    ['direct', 'nginx', 'gatemesh-uws', 'gatemesh-native-free'],
  );
  assert.deepEqual(g.reference, ['nginx']);
});
