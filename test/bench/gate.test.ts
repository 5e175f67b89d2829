import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { checkGenerators, gateProxies, plannedGenerators } from '../../bench/gate';
import { parseArgs } from '../../bench/harness/args';
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

test('checkGenerators: an autocannon run against a paced baseline is refused with the way out; a match passes', () => {
  const ratios = { 'small-get': { 'gatemesh-uws': { nginx: { p99: 1, throughput: 1 } } } };
  assert.throws(
    () => checkGenerators({ ratios }, { 'small-get': 'autocannon' }, '/x/baseline.json'),
    (e: Error) =>
      /another open-loop generator than this run \(small-get: baseline paced, this run autocannon\)/.test(e.message) &&
      /npm run bench:gate -- --update/.test(e.message) &&
      /--open-loop-generator paced/.test(e.message),
  );
  checkGenerators({ ratios, openLoopGenerators: { 'small-get': 'autocannon' } }, { 'small-get': 'autocannon' }, '/x/baseline.json');
});

const BASE = { 'small-get': { 'gatemesh-uws': { nginx: { p99: 1, throughput: 1 } } }, 'post-4k': { 'gatemesh-uws': { nginx: { p99: 1, throughput: 1 } } } };

const plans: { desc: string; argv: string[]; base: Record<string, 'paced' | 'autocannon'> | null | undefined; want: Record<string, string> }[] = [
  { desc: 'quick, a baseline taken with autocannon', argv: ['--quick'], base: { 'small-get': 'autocannon' }, want: { 'small-get': 'autocannon' } },
  // Its baseline's p99 was paced: measured paced, like with like, until --update moves it.
  { desc: 'a baseline without the field (paced) keeps paced', argv: ['--quick'], base: undefined, want: { 'small-get': 'paced' } },
  {
    desc: 'full, a mixed baseline: each scenario as its baseline; no baseline entry: auto (the probe decides); new-conn paced',
    argv: [],
    base: { 'small-get': 'autocannon', 'post-4k': 'paced' },
    want: { 'small-get': 'autocannon', 'post-4k': 'paced', 'new-conn': 'paced', 'routes-10k': 'auto', policies: 'auto' },
  },
  { desc: '--update (no baseline): auto', argv: ['--quick'], base: null, want: { 'small-get': 'auto' } },
  { desc: 'asked for: as asked (checkGenerators then refuses a mismatch)', argv: ['--quick', '--open-loop-generator', 'paced'], base: { 'small-get': 'autocannon' }, want: { 'small-get': 'paced' } },
  // auto by name is the default: it never overrides what the baseline's p99 was taken with.
  { desc: 'auto asked for: the baseline\'s where it has one', argv: ['--quick', '--open-loop-generator', 'auto'], base: { 'small-get': 'autocannon' }, want: { 'small-get': 'autocannon' } },
];

for (const c of plans) {
  test(`plannedGenerators: ${c.desc}`, () => {
    const b = c.base === null ? null : { ratios: BASE, ...(c.base ? { openLoopGenerators: c.base } : {}) };
    assert.deepEqual(plannedGenerators(parseArgs(c.argv, true), b), c.want);
  });
}

test('the committed baseline: a default gate run (quick and full) compares like with like; quick small-get is paced', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const b = require(path.join(ROOT, 'bench', 'baseline.json'));
  for (const argv of [['--quick'], []]) {
    const planned = plannedGenerators(parseArgs(argv, true), b);
    checkGenerators(b, planned, 'bench/baseline.json');
  }
  assert.equal(plannedGenerators(parseArgs(['--quick'], true), b)['small-get'], 'paced');
});
