import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BENCH_HELP, parseArgs, UsageError } from '../../bench/harness/args';
import { settingsFor } from '../../bench/run';

const cases: { desc: string; argv: string[]; want: 'paced' | 'autocannon' }[] = [
  { desc: 'paced by default', argv: ['--quick'], want: 'paced' },
  { desc: 'autocannon as a separate value', argv: ['--open-loop-generator', 'autocannon', '--no-micro'], want: 'autocannon' },
  { desc: 'paced with =', argv: ['--open-loop-generator=paced'], want: 'paced' },
  { desc: 'the last one wins', argv: ['--open-loop-generator=autocannon', '--open-loop-generator', 'paced'], want: 'paced' },
];

for (const c of cases) {
  test(`--open-loop-generator: ${c.desc}`, () => {
    const a = parseArgs(c.argv, false);
    assert.equal(a.openLoopGenerator, c.want);
    // It reaches the run's settings, which go into the results JSON.
    assert.equal(settingsFor(a).openLoopGenerator, c.want);
  });
}

const refused: { desc: string; argv: string[]; gate: boolean; message: RegExp }[] = [
  { desc: 'an unknown generator', argv: ['--open-loop-generator', 'wrk2'], gate: false, message: /wrk2: expected one of paced, autocannon/ },
  { desc: 'no value', argv: ['--open-loop-generator'], gate: false, message: /needs a value/ },
  // The gate's baseline ratios were measured with the paced generator.
  { desc: 'in the gate', argv: ['--open-loop-generator', 'autocannon'], gate: true, message: /gate measures with the paced generator/ },
];

for (const c of refused) {
  test(`--open-loop-generator refused: ${c.desc}`, () => {
    assert.throws(
      () => parseArgs(c.argv, c.gate),
      (e: unknown) => e instanceof UsageError && c.message.test(e.message),
    );
  });
}

test('the gate still defaults to paced, and the bench usage text documents the option', () => {
  assert.equal(parseArgs([], true).openLoopGenerator, 'paced');
  assert.match(BENCH_HELP, /--open-loop-generator G .*paced \(default.*autocannon/s);
});
