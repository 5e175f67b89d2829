// Gateway API Duration (GEP-2257): "a strict subset of the syntax parsed by Golang
// time.ParseDuration", pattern ^([0-9]{1,5}(h|m|s|ms)){1,4}$ ("10s", "500ms", "1m30s", "0s").
// Used by HTTPRoute timeouts and retry backoff in both config formats.

/** The CRD's validation pattern (apis/v1/shared_types.go, type Duration). */
export const DURATION_PATTERN = '^([0-9]{1,5}(h|m|s|ms)){1,4}$';

const WHOLE = new RegExp(DURATION_PATTERN);
const PART = /([0-9]{1,5})(ms|h|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** What a schema error says about a bad duration (the schemas' `expected`). */
export const DURATION_EXPECTED =
  'a Gateway API duration such as "10s", "500ms" or "1m30s" (GEP-2257: 1 to 4 parts of 1-5 digits, each followed by h, m, s or ms)';

/**
 * Milliseconds of a GEP-2257 duration, or a problem message. Parts add up as in Go
 * (`1s500ms` = 1500); `0s` is 0, which HTTPRoute timeouts read as "disabled".
 */
export function parseDuration(text: string): number | string {
  if (!WHOLE.test(text)) return `expected ${DURATION_EXPECTED} (got ${JSON.stringify(text)})`;
  let ms = 0;
  PART.lastIndex = 0;
  for (let m = PART.exec(text); m !== null; m = PART.exec(text)) ms += Number(m[1]) * UNIT_MS[m[2]];
  return ms;
}

/** Shortest GEP-2257 form of `ms` for display: 0 → "0s", 1500 → "1s500ms", 90000 → "1m30s". */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let out = '';
  let rest = Math.round(ms);
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
