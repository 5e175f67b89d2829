import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMON_HELP, parseArgs, UsageError } from '../../bench/harness/args';
import { settingsFor } from '../../bench/run';

const cases: { desc: string; argv: string[]; want: 'auto' | 'paced' | 'autocannon' }[] = [
  // Absent from the args (the gate then follows its baseline), auto in the run's settings.
  { desc: 'auto by default', argv: ['--quick'], want: 'auto' },
  { desc: 'auto asked for', argv: ['--open-loop-generator', 'auto'], want: 'auto' },
  { desc: 'paced as a separate value', argv: ['--open-loop-generator', 'paced', '--no-micro'], want: 'paced' },
  { desc: 'autocannon as a separate value', argv: ['--open-loop-generator', 'autocannon', '--no-micro'], want: 'autocannon' },
  { desc: 'paced with =', argv: ['--open-loop-generator=paced'], want: 'paced' },
  { desc: 'the last one wins', argv: ['--open-loop-generator=autocannon', '--open-loop-generator', 'paced'], want: 'paced' },
];

for (const c of cases) {
  test(`--open-loop-generator: ${c.desc}`, () => {
    const a = parseArgs(c.argv, false);
    assert.equal(a.openLoopGenerator, c.argv.some((x) => x.startsWith('--open-loop-generator')) ? c.want : undefined);
    // It reaches the run's settings, which go into the results JSON.
    assert.equal(settingsFor(a).openLoopGenerator, c.want);
  });
}

const refused: { desc: string; argv: string[]; gate: boolean; message: RegExp }[] = [
  { desc: 'an unknown generator', argv: ['--open-loop-generator', 'wrk2'], gate: false, message: /wrk2: expected one of auto, autocannon, paced/ },
  { desc: 'no value', argv: ['--open-loop-generator'], gate: false, message: /needs a value/ },
  { desc: 'an unknown generator in the gate', argv: ['--open-loop-generator=wrk'], gate: true, message: /wrk: expected one of auto, autocannon, paced/ },
];

for (const c of refused) {
  test(`--open-loop-generator refused: ${c.desc}`, () => {
    assert.throws(
      () => parseArgs(c.argv, c.gate),
      (e: unknown) => e instanceof UsageError && c.message.test(e.message),
    );
  });
}

test('the gate takes the option too (it refuses a baseline of another generator, gate.ts); unset, it follows the baseline', () => {
  assert.equal(parseArgs([], true).openLoopGenerator, undefined);
  assert.equal(parseArgs(['--quick', '--open-loop-generator', 'paced'], true).openLoopGenerator, 'paced');
  assert.match(COMMON_HELP, /--open-loop-generator G .*auto \(default: autocannon where a probe .* else paced\)/s);
});
