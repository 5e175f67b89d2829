// GEP-2257 durations: what parses, to how many ms, and what is refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from '../../src/config/duration';

describe('parseDuration (GEP-2257)', () => {
  const good: { desc: string; text: string; ms: number }[] = [
    { desc: 'seconds', text: '10s', ms: 10_000 },
    { desc: 'milliseconds', text: '500ms', ms: 500 },
    { desc: 'minutes', text: '1m', ms: 60_000 },
    { desc: 'hours', text: '2h', ms: 7_200_000 },
    { desc: 'zero (disables a timeout)', text: '0s', ms: 0 },
    { desc: 'compound', text: '1m30s', ms: 90_000 },
    { desc: 'four parts', text: '1h2m3s4ms', ms: 3_723_004 },
    { desc: 'parts add up as in Go', text: '1s1s', ms: 2000 },
    { desc: 'five digits', text: '99999ms', ms: 99_999 },
    { desc: 'leading zeros', text: '007s', ms: 7000 },
  ];
  for (const c of good) it(`accepts ${c.desc}: ${c.text}`, () => assert.equal(parseDuration(c.text), c.ms));

  const bad: { desc: string; text: string }[] = [
    { desc: 'empty', text: '' },
    { desc: 'no unit', text: '10' },
    { desc: 'fraction (Go allows it, GEP-2257 does not)', text: '1.5s' },
    { desc: 'microseconds', text: '10us' },
    { desc: 'days', text: '1d' },
    { desc: 'six digits', text: '100000ms' },
    { desc: 'five parts', text: '1h1m1s1ms1s' },
    { desc: 'negative', text: '-1s' },
    { desc: 'space', text: '1 s' },
    { desc: 'upper-case unit', text: '1S' },
  ];
  for (const c of bad) {
    it(`refuses ${c.desc}: ${JSON.stringify(c.text)}`, () => {
      const r = parseDuration(c.text);
      assert.equal(typeof r, 'string');
      assert.match(r as string, /Gateway API duration/);
      assert.ok((r as string).includes(JSON.stringify(c.text)), 'the message quotes the value');
    });
  }
});

describe('formatDuration', () => {
  for (const [ms, text] of [[0, '0s'], [500, '500ms'], [1500, '1s500ms'], [90_000, '1m30s'], [3_600_000, '1h']] as const) {
    it(`${ms} ms → ${text}`, () => {
      assert.equal(formatDuration(ms), text);
      assert.equal(parseDuration(text), ms, 'round-trips');
    });
  }
});
