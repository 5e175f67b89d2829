// Retry-After values (RFC 9110 §10.2.3) and the three HTTP-date forms (§5.6.7), as a table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseHttpDate, parseRetryAfter } from '../../src/health/retry-after';

// Tue, 14 Nov 2023 22:13:20 GMT
const NOW = 1_700_000_000_000;

const cases: { desc: string; value: string; ms: number }[] = [
  { desc: 'delay-seconds', value: '120', ms: 120_000 },
  { desc: 'zero seconds', value: '0', ms: 0 },
  { desc: 'surrounding whitespace (OWS)', value: '  7 ', ms: 7000 },
  { desc: 'IMF-fixdate in the future', value: 'Tue, 14 Nov 2023 22:13:50 GMT', ms: 30_000 },
  { desc: 'IMF-fixdate in the past', value: 'Tue, 14 Nov 2023 22:00:00 GMT', ms: 0 },
  { desc: 'rfc850-date (two-digit year)', value: 'Tuesday, 14-Nov-23 22:14:20 GMT', ms: 60_000 },
  { desc: 'asctime-date, one-digit day padded with a space', value: 'Fri Dec  1 00:00:00 2023', ms: Date.UTC(2023, 11, 1) - NOW },
  { desc: 'negative number', value: '-1', ms: -1 },
  { desc: 'fraction', value: '1.5', ms: -1 },
  { desc: 'empty', value: '', ms: -1 },
  { desc: 'two values joined', value: '5, 10', ms: -1 },
  { desc: 'date not in GMT', value: 'Tue, 14 Nov 2023 22:13:50 PST', ms: -1 },
  { desc: 'impossible date (31 Feb)', value: 'Sat, 31 Feb 2024 00:00:00 GMT', ms: -1 },
  { desc: 'unknown month', value: 'Tue, 14 Foo 2023 22:13:50 GMT', ms: -1 },
  { desc: 'ISO 8601 is not an HTTP-date', value: '2023-11-14T22:13:50Z', ms: -1 },
];

describe('parseRetryAfter', () => {
  for (const c of cases) it(c.desc, () => assert.equal(parseRetryAfter(c.value, NOW), c.ms));

  it('rfc850 two-digit years more than 50 years ahead are in the past century', () => {
    assert.equal(new Date(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).getUTCFullYear(), 1994);
    assert.equal(new Date(parseHttpDate('Sunday, 06-Nov-70 08:49:37 GMT', NOW)).getUTCFullYear(), 2070);
    assert.equal(new Date(parseHttpDate('Sunday, 06-Nov-74 08:49:37 GMT', NOW)).getUTCFullYear(), 1974);
  });

  it('toUTCString output round-trips', () => {
    const at = NOW + 3_600_000;
    assert.equal(parseRetryAfter(new Date(at).toUTCString(), NOW), 3_600_000);
  });
});
