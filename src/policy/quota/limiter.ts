// The worker-side quota decision: per request, each rule of a QuotaPolicy reads its key, finds
// the key's counter in the shared table and, under that slot's lock, charges it if the window
// has room. Exact across threads (one lock per key), nothing allocated besides the key string.
// A refused request is not charged: rules charged before the refusing one are refunded.
//
// Headers follow Kong's rate-limiting plugin, which is what users moving quotas off Kong already
// parse: `X-RateLimit-Limit-<Window>` / `X-RateLimit-Remaining-<Window>` per window (Hour, Day,
// Month) and one `RateLimit-Reset` (seconds) for the quota closest to running out. The IETF draft
// fields (`RateLimit-Policy`, `RateLimit`) stay with the rate limiter (src/policy/rate-limit/), so
// a route with both never sends two meanings under one name. A 429 adds `Retry-After` (RFC 9110
// §10.2.3) and an RFC 9457 problem body naming the quota and when it resets.
import type { QuotaPolicy, QuotaRule } from '../../config/model';
import { ERR } from '../../errors';
import { nowMs } from '../../shared/clock';
import { compileKey, type KeyInput, type KeyReader } from '../key';
import type { LimitResult } from '../limit-result';
import { FIND_FULL, H_FULL, hashKey, hashOut, hashSeed, QuotaTableView, S_HEAD, S_TOTAL, S_TOUCH } from './table';
import { calendarEnd, isRolling, quotaKind, ROLLING_BUCKETS } from './window';

/** check(): every rule had room (each was charged once). */
export const QUOTA_ALLOWED = -1;
/** check(): a rule with onMissingKey Reject found no key: 400 GATEMESH_ERR_LIMIT_KEY_MISSING. Nothing charged. */
export const QUOTA_KEY_MISSING = -2;
// check() ≥ 0: the index of the rule whose quota ran out: 429 GATEMESH_ERR_QUOTA_EXCEEDED. Nothing charged.

export const QUOTA_PROBLEM_CONTENT_TYPE = 'application/problem+json';
/** RFC 9457 §3.1.1 `type` of the 429 body. */
export const QUOTA_PROBLEM_TYPE = 'https://gatemesh.io/problems/quota-exceeded';

const MISSING_SKIP = 0;
const MISSING_SHARED = 1;
const MISSING_REJECT = 2;

/** Retry-After when even the overflow key found no slot: the store's next cleanup frees some. */
const TABLE_FULL_RETRY_MS = 1000;

export interface QuotaLimiter {
  readonly policy: string;
  /**
   * Decides one request against every rule, filling `results[i]` (one LimitResult per rule,
   * reused; `limit` 0 = the rule did not apply: its key was missing and onMissingKey is Skip).
   * Returns QUOTA_ALLOWED, QUOTA_KEY_MISSING, or the index of the exhausted rule.
   */
  check(input: KeyInput, results: LimitResult[]): number;
  /**
   * Appends the quota headers for `verdict` (check()'s return) to a flat [name, value, ...] list:
   * per window the applied rule with the least remaining as X-RateLimit-Limit-<Window> and
   * X-RateLimit-Remaining-<Window>, then RateLimit-Reset (seconds) — only when the policy's
   * `headers` is on — and, when refused, Retry-After (seconds, always).
   */
  quotaHeaders(verdict: number, results: LimitResult[], out: string[]): void;
  /** The RFC 9457 application/problem+json body of the 429 for rule `verdict` (≥ 0). */
  quotaProblemBody(verdict: number, results: LimitResult[]): string;
  /** Retry-After seconds for rule `verdict` (≥ 0): ceil(retryAfterMs / 1000), at least 1. */
  retryAfterSeconds(verdict: number, results: LimitResult[]): number;
}

export interface QuotaLimiterOptions {
  /** Clock, epoch ms; default src/shared/clock.ts nowMs (tests pass a fixed one). */
  now?: () => number;
}

interface CompiledRule {
  readonly rule: QuotaRule;
  readonly kind: number;
  readonly rolling: boolean;
  readonly limit: number;
  readonly read: KeyReader;
  readonly missing: number;
  readonly seed1: number;
  readonly seed2: number;
  /** Hash of the key all keyless requests share (onMissingKey Shared). */
  readonly sharedHi: number;
  readonly sharedLo: number;
  /** Hash of the key requests share when the table is full. */
  readonly overflowHi: number;
  readonly overflowLo: number;
  /** Calendar: end of window `endId`, cached (months need civil-date maths). */
  endId: number;
  endMs: number;
  /** `{"type":...,"limit":N,"window":...,` up to the per-request fields. */
  readonly problemHead: string;
  readonly detailHead: string;
}

const WINDOW_GROUPS: readonly QuotaRule['window'][] = ['Hour', 'Day', 'Month'];

/**
 * Rule id: what the 64-bit slot hash starts from, and so what persisted counts belong to. It
 * names the policy, the rule and its window, so a renamed quota or a changed window starts from
 * zero while a changed `requests` keeps the count (as Kong's counters do).
 */
export function quotaRuleId(policy: string, rule: QuotaRule): string {
  return `${policy}\u0000${rule.name}\u0000${rule.window}\u0000${rule.alignment}`;
}

export function createQuotaLimiter(policy: QuotaPolicy, table: SharedArrayBuffer, opts: QuotaLimiterOptions = {}): QuotaLimiter {
  if (policy.rules.length === 0) throw new RangeError(`quota policy ${policy.policy}: no rules`);
  const names = new Set<string>();
  const rules: CompiledRule[] = policy.rules.map((rule, i) => {
    const where = `quota policy ${policy.policy}: rules[${i}] (${rule.name})`;
    if (!Number.isInteger(rule.requests) || rule.requests < 1 || rule.requests > 0x7fffffff) {
      throw new RangeError(`${where}: requests must be an integer from 1 to 2147483647, got ${rule.requests}`);
    }
    if (names.has(rule.name)) throw new RangeError(`${where}: duplicate quota name; give each rule its own name`);
    names.add(rule.name);
    const kind = quotaKind(rule.window, rule.alignment);
    const [seed1, seed2] = hashSeed(quotaRuleId(policy.policy, rule));
    hashKey(seed1, seed2, '\u0000missing');
    const sharedHi = hashOut[0];
    const sharedLo = hashOut[1];
    hashKey(seed1, seed2, '\u0000overflow');
    const alignment = rule.alignment === 'Rolling' ? 'rolling' : 'calendar, UTC';
    return {
      rule,
      kind,
      rolling: isRolling(kind),
      limit: rule.requests,
      read: compileKey(rule.key),
      missing: rule.onMissingKey === 'Reject' ? MISSING_REJECT : rule.onMissingKey === 'Shared' ? MISSING_SHARED : MISSING_SKIP,
      seed1,
      seed2,
      sharedHi,
      sharedLo,
      overflowHi: hashOut[0],
      overflowLo: hashOut[1],
      endId: -1,
      endMs: 0,
      problemHead:
        `{"type":"${QUOTA_PROBLEM_TYPE}","title":"Quota exceeded","status":${ERR.QUOTA_EXCEEDED.status},` +
        `"code":"${ERR.QUOTA_EXCEEDED.code}","policy":${JSON.stringify(policy.policy)},"quota":${JSON.stringify(rule.name)},` +
        `"limit":${rule.requests},"window":"${rule.window}","alignment":"${rule.alignment}",`,
      detailHead: `quota ${rule.name} of policy ${policy.policy} allows ${rule.requests} requests per ${rule.window.toLowerCase()} (${alignment}); it resets at `,
    };
  });
  return new Limiter(policy, rules, new QuotaTableView(table), opts.now ?? nowMs);
}

class Limiter implements QuotaLimiter {
  readonly policy: string;
  private readonly headers: boolean;
  private readonly n: number;
  /** Per request scratch: each rule's key, and where its charge went (for refunds). */
  private readonly keys: (string | null)[];
  private readonly slot: Int32Array;
  private readonly at: Int32Array;
  private readonly hi: Int32Array;
  private readonly lo: Int32Array;
  /** Per window group (Hour, Day, Month): header names and member rule indices. */
  private readonly groupLimitName: string[] = [];
  private readonly groupRemainingName: string[] = [];
  private readonly groupRules: number[][] = [];
  /** The instant of the last check(): the problem body's reset time is relative to it. */
  private lastNow = 0;

  constructor(
    policy: QuotaPolicy,
    private readonly rules: CompiledRule[],
    private readonly table: QuotaTableView,
    private readonly now: () => number,
  ) {
    this.policy = policy.policy;
    this.headers = policy.headers;
    const n = rules.length;
    this.n = n;
    this.keys = new Array<string | null>(n).fill(null);
    this.slot = new Int32Array(n).fill(-1);
    this.at = new Int32Array(n);
    this.hi = new Int32Array(n);
    this.lo = new Int32Array(n);
    for (const w of WINDOW_GROUPS) {
      const members: number[] = [];
      for (let i = 0; i < n; i++) if (rules[i].rule.window === w) members.push(i);
      if (members.length === 0) continue;
      this.groupLimitName.push(`X-RateLimit-Limit-${w}`);
      this.groupRemainingName.push(`X-RateLimit-Remaining-${w}`);
      this.groupRules.push(members);
    }
  }

  check(input: KeyInput, results: LimitResult[]): number {
    const rules = this.rules;
    const n = this.n;
    const keys = this.keys;
    // Keys first: a Reject rule refuses before anything is charged.
    for (let i = 0; i < n; i++) {
      const k = rules[i].read(input);
      if (k === null && rules[i].missing === MISSING_REJECT) {
        for (let j = 0; j < i; j++) keys[j] = null;
        return QUOTA_KEY_MISSING;
      }
      keys[i] = k;
    }
    const now = this.now();
    this.lastNow = now;
    for (let i = 0; i < n; i++) {
      const r = rules[i];
      const res = results[i];
      res.reset();
      const k = keys[i];
      keys[i] = null;
      this.slot[i] = -1;
      if (k === null) {
        if (r.missing === MISSING_SKIP) continue;
        this.hi[i] = r.sharedHi;
        this.lo[i] = r.sharedLo;
      } else {
        hashKey(r.seed1, r.seed2, k);
        this.hi[i] = hashOut[0];
        this.lo[i] = hashOut[1];
      }
      if (!this.decide(i, r, res, now)) {
        // Rules after the refusing one were not consulted: no headers for them (limit 0).
        for (let j = i + 1; j < n; j++) {
          keys[j] = null;
          results[j].reset();
        }
        this.refundBefore(i, results);
        return i;
      }
    }
    return QUOTA_ALLOWED;
  }

  /** One rule: find or insert the key's slot, charge it if the window has room. */
  private decide(i: number, r: CompiledRule, res: LimitResult, now: number): boolean {
    const table = this.table;
    const i32 = table.i32;
    let hi = this.hi[i];
    let lo = this.lo[i];
    let s: number;
    for (;;) {
      s = table.find(hi, lo, r.kind, true, false);
      if (s === FIND_FULL) {
        // Table full: this key shares the rule's overflow key (one quota for all keys without a
        // slot) rather than going unlimited. Reserved inserts may use up to 3/4 of the capacity.
        Atomics.add(i32, H_FULL, 1);
        hi = r.overflowHi;
        lo = r.overflowLo;
        s = table.find(hi, lo, r.kind, true, true);
        if (s < 0) {
          res.allowed = false;
          res.limit = r.limit;
          res.remaining = 0;
          res.resetMs = TABLE_FULL_RETRY_MS;
          res.retryAfterMs = TABLE_FULL_RETRY_MS;
          return false;
        }
      }
      table.lock(s);
      if (table.owns(s, hi, lo)) break;
      table.unlock(s);
    }
    i32[s + S_TOUCH] = 1;
    const cur = table.advance(s, r.kind, now);
    const total = i32[s + S_TOTAL];
    res.limit = r.limit;
    if (total >= r.limit) {
      const wait = r.rolling ? table.rollingWaitMs(s, r.kind, total - r.limit + 1, now) : this.windowEnd(r, cur) - now;
      const reset = r.rolling ? table.rollingResetMs(s, r.kind, now) : wait;
      table.unlock(s);
      res.allowed = false;
      res.remaining = 0;
      res.retryAfterMs = wait;
      res.resetMs = reset;
      return false;
    }
    table.charge(s, r.kind);
    const head = i32[s + S_HEAD];
    const reset = r.rolling ? table.rollingResetMs(s, r.kind, now) : this.windowEnd(r, cur) - now;
    table.unlock(s);
    this.slot[i] = s;
    this.at[i] = head;
    this.hi[i] = hi;
    this.lo[i] = lo;
    res.remaining = r.limit - total - 1;
    res.resetMs = reset;
    return true;
  }

  private windowEnd(r: CompiledRule, id: number): number {
    if (r.endId !== id) {
      r.endId = id;
      r.endMs = calendarEnd(r.kind, id);
    }
    return r.endMs;
  }

  /** Rule `failed` refused: take back the charges of the rules before it. */
  private refundBefore(failed: number, results: LimitResult[]): void {
    const table = this.table;
    for (let j = 0; j < failed; j++) {
      const s = this.slot[j];
      if (s < 0) continue;
      table.lock(s);
      if (table.owns(s, this.hi[j], this.lo[j])) table.refund(s, this.rules[j].kind, this.at[j]);
      table.unlock(s);
      this.slot[j] = -1;
      const res = results[j];
      if (res.remaining < res.limit) res.remaining++;
    }
  }

  quotaHeaders(verdict: number, results: LimitResult[], out: string[]): void {
    if (verdict === QUOTA_KEY_MISSING) return;
    if (this.headers) {
      let least = -1;
      const groups = this.groupRules;
      for (let g = 0; g < groups.length; g++) {
        const members = groups[g];
        let pick = -1;
        for (let m = 0; m < members.length; m++) {
          const i = members[m];
          const res = results[i];
          if (res.limit === 0) continue;
          if (pick < 0 || res.remaining < results[pick].remaining) pick = i;
        }
        if (pick < 0) continue;
        const res = results[pick];
        out.push(this.groupLimitName[g], String(res.limit), this.groupRemainingName[g], String(res.remaining));
        if (least < 0 || res.remaining < results[least].remaining) least = pick;
      }
      if (verdict >= 0) least = verdict;
      if (least >= 0) {
        const res = results[least];
        out.push('RateLimit-Reset', String(Math.ceil((verdict >= 0 ? res.retryAfterMs : res.resetMs) / 1000)));
      }
    }
    if (verdict >= 0) out.push('Retry-After', String(this.retryAfterSeconds(verdict, results)));
  }

  retryAfterSeconds(verdict: number, results: LimitResult[]): number {
    return Math.max(1, Math.ceil(results[verdict].retryAfterMs / 1000));
  }

  quotaProblemBody(verdict: number, results: LimitResult[]): string {
    const r = this.rules[verdict];
    const secs = this.retryAfterSeconds(verdict, results);
    // The exact instant (a calendar window's boundary), and the seconds rounded up as Retry-After.
    const resetAt = new Date(Math.round(this.lastNow + results[verdict].retryAfterMs)).toISOString();
    const detail = `${r.detailHead}${resetAt} (in ${secs} s)`;
    return `${r.problemHead}"detail":${JSON.stringify(detail)},"resetAt":"${resetAt}","resetSeconds":${secs}}`;
  }
}

/** Rolling sub-buckets per window, re-exported for docs and tests. */
export const QUOTA_ROLLING_BUCKETS = ROLLING_BUCKETS;
