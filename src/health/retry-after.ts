// Retry-After (RFC 9110 §10.2.3): `delay-seconds` or an HTTP-date, read from an upstream's 429/503
// so the endpoint can be held back. Parsed only on those responses, so clarity beats speed here.

const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';
// RFC 9110 §5.6.7, the three forms a recipient MUST accept:
//   IMF-fixdate   Sun, 06 Nov 1994 08:49:37 GMT
//   rfc850-date   Sunday, 06-Nov-94 08:49:37 GMT   (obsolete)
//   asctime-date  Sun Nov  6 08:49:37 1994          (obsolete)
const IMF = /^[A-Z][a-z]{2}, (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC850 = /^[A-Z][a-z]{5,8}, (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME = /^[A-Z][a-z]{2} ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/** Epoch ms of an HTTP-date, or NaN. */
export function parseHttpDate(text: string, now: number): number {
  let day: string, mon: string, year: number, hh: string, mm: string, ss: string;
  let m = IMF.exec(text);
  if (m !== null) {
    [, day, mon, , hh, mm, ss] = m;
    year = Number(m[3]);
  } else if ((m = RFC850.exec(text)) !== null) {
    [, day, mon, , hh, mm, ss] = m;
    // §5.6.7: a two-digit year more than 50 years in the future is the most recent past year
    // with the same last two digits.
    const thisYear = new Date(now).getUTCFullYear();
    year = Math.floor(thisYear / 100) * 100 + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
  } else if ((m = ASCTIME.exec(text)) !== null) {
    [, mon, day, hh, mm, ss] = m;
    year = Number(m[6]);
  } else {
    return NaN;
  }
  const month = MONTHS.indexOf(mon);
  if (month < 0 || month % 3 !== 0) return NaN;
  const d = Number(day.trim());
  const t = Date.UTC(year, month / 3, d, Number(hh), Number(mm), Number(ss));
  // Reject what Date.UTC would roll over (31 Feb, 25:00): the fields must come back unchanged.
  const back = new Date(t);
  if (back.getUTCDate() !== d || back.getUTCHours() !== Number(hh) || back.getUTCMinutes() !== Number(mm) || back.getUTCSeconds() !== Number(ss)) return NaN;
  return t;
}

/**
 * ms to wait from `now` (epoch ms) per a Retry-After value; 0 for a date in the past or "0";
 * -1 when the value is neither form (ignored, as RFC 9110 lets a recipient do with an invalid field).
 */
export function parseRetryAfter(value: string, now: number): number {
  const v = value.trim();
  if (v.length === 0) return -1;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = parseHttpDate(v, now);
  if (Number.isNaN(at)) return -1;
  return at > now ? at - now : 0;
}
