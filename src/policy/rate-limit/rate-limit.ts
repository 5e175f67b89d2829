// The worker-side rate-limit decision: per request, each rule of a RateLimitPolicy reads its key
// and takes one request from that key's GCRA bucket, in the shared key table (Local mode,
// src/policy/rate-limit/key-table.ts) or through the GlobalBackend (Global mode, Redis). All rules
// must allow; a refused request is charged nowhere (rules charged before the refusing one are
// refunded). Built once per policy and thread at config load; check() allocates nothing.
//
// Response fields: the IETF draft-ietf-httpapi-ratelimit-headers-10 (27 September 2025) §3/§4
// `RateLimit-Policy: "name";q=L;w=S` and `RateLimit: "name";r=R;t=T`, optionally the de facto
// X-RateLimit-Limit/-Remaining/-Reset, and for a 429 an RFC 9457 problem body (the draft's §5.1
// quota-exceeded type) plus Retry-After (RFC 9110 §10.2.3, delay-seconds).
import type { RateLimitPolicy, RateLimitRule } from '../../config/model';
import { nowMs } from '../../shared/clock';
import { flat } from '../../shared/flat-string';
import { compileKey, type KeyInput, type KeyReader } from '../key';
import { LimitResult } from '../limit-result';
import { RateLimitTable, tableLimit, type TableLimit } from './key-table';
import { RateLimitVerdict, type GlobalBackend, type RateLimiter } from './types';

export { RateLimitVerdict, type GlobalBackend, type RateLimiter } from './types';

/**
 * The key every keyless request of an onMissingKey Shared rule is charged to. compileKey() can
 * only produce it for a composite key whose two parts are both present and empty.
 */
export const SHARED_KEY = '\u0000';

export const RATE_LIMIT_PROBLEM_CONTENT_TYPE = 'application/problem+json';
/** draft-ietf-httpapi-ratelimit-headers-10 §5.1 problem type (RFC 9457 §3.1.1 `type`). */
export const RATE_LIMIT_PROBLEM_TYPE = 'https://iana.org/assignments/http-problem-types#quota-exceeded';

const MISSING_SKIP = 0;
const MISSING_SHARED = 1;
const MISSING_REJECT = 2;

export interface RateLimiterOptions {
  /** Clock, epoch ms; default src/shared/clock.ts nowMs (shared by all threads). Tests inject one. */
  now?: () => number;
}

/**
 * The 32-bit id of a limit: a hash of policy name, rule name, requests and period, so a reload
 * that keeps a limit keeps its buckets and a changed limit starts from fresh ones.
 */
export function rateLimitId(policy: string, rule: RateLimitRule): number {
  const s = `${policy}\u0000${rule.name}\u0000${rule.requests}\u0000${rule.periodMs}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 0;
}

/** One reusable LimitResult per rule, for a thread to pass to check() on every request. */
export function createLimitResults(policy: RateLimitPolicy): LimitResult[] {
  return policy.rules.map(() => new LimitResult());
}

/**
 * Compiles `policy` for one thread. `table` is the process's createRateLimitTable() buffer
 * (Local mode); `global` is required in Global mode. Throws on an invalid rule.
 */
export function createRateLimiter(
  policy: RateLimitPolicy,
  table: SharedArrayBuffer,
  global?: GlobalBackend,
  options: RateLimiterOptions = {},
): RateLimiter {
  if (policy.rules.length === 0) throw new Error(`rate limit policy ${policy.policy}: no rules`);
  if (policy.mode === 'Global' && global === undefined) {
    throw new Error(`rate limit policy ${policy.policy}: mode Global needs the Redis backend (set GATEMESH_REDIS_URL)`);
  }
  return new CompiledRateLimiter(policy, policy.mode === 'Global' ? null : tableView(table), global ?? null, options.now ?? nowMs);
}

const views = new WeakMap<SharedArrayBuffer, RateLimitTable>();

function tableView(sab: SharedArrayBuffer): RateLimitTable {
  let v = views.get(sab);
  if (v === undefined) {
    v = new RateLimitTable(sab);
    views.set(sab, v);
  }
  return v;
}

class CompiledRateLimiter implements RateLimiter {
  private readonly n: number;
  private readonly readers: KeyReader[];
  private readonly missing: Int32Array;
  private readonly ids: Int32Array;
  private readonly limits: TableLimit[];
  private readonly closed: boolean;
  /** Per rule, this request's key (null: the rule does not apply) and where it was charged. */
  private readonly keys: (string | null)[];
  private readonly slots: Int32Array;
  private readonly hashA: Int32Array;
  private readonly hashB: Int32Array;

  constructor(
    readonly policy: RateLimitPolicy,
    private readonly table: RateLimitTable | null,
    private readonly global: GlobalBackend | null,
    private readonly now: () => number,
  ) {
    const rules = policy.rules;
    this.n = rules.length;
    this.readers = rules.map((r) => compileKey(r.key));
    this.missing = Int32Array.from(rules, (r) =>
      r.onMissingKey === 'Reject' ? MISSING_REJECT : r.onMissingKey === 'Shared' ? MISSING_SHARED : MISSING_SKIP,
    );
    this.ids = Int32Array.from(rules, (r) => rateLimitId(policy.policy, r));
    this.limits = rules.map((r, i) => {
      try {
        return tableLimit(this.ids[i], r.requests, r.periodMs);
      } catch (err) {
        throw new Error(`rate limit policy ${policy.policy}, rule ${r.name}: ${(err as Error).message}`);
      }
    });
    this.closed = policy.failureMode === 'closed';
    this.keys = rules.map(() => null);
    this.slots = new Int32Array(this.n);
    this.hashA = new Int32Array(this.n);
    this.hashB = new Int32Array(this.n);
  }

  check(input: KeyInput, results: LimitResult[], now?: number): number {
    const n = this.n;
    const keys = this.keys;
    // Keys first: a Reject must not leave earlier rules charged.
    for (let i = 0; i < n; i++) {
      let k = this.readers[i](input);
      if (k === null) {
        const m = this.missing[i];
        if (m === MISSING_REJECT) {
          for (let j = 0; j < n; j++) results[j].reset();
          return RateLimitVerdict.KeyMissing;
        }
        if (m === MISSING_SHARED) k = SHARED_KEY;
      }
      keys[i] = k;
    }
    const t = now === undefined ? this.now() : now;
    return this.table !== null ? this.checkLocal(results, t) : this.checkGlobal(results, t);
  }

  refundLast(results: LimitResult[]): void {
    const keys = this.keys;
    if (this.table !== null) {
      for (let j = 0; j < this.n; j++) {
        if (keys[j] === null || results[j].limit === 0) continue;
        this.table.refund(this.limits[j], this.slots[j], this.hashA[j], this.hashB[j]);
        refunded(results[j]);
      }
      return;
    }
    const g = this.global as GlobalBackend;
    const rules = this.policy.rules;
    for (let j = 0; j < this.n; j++) {
      const kj = keys[j];
      // A degraded (failureMode open) or skipped rule charged nothing.
      if (kj === null || results[j].limit === 0 || results[j].degraded) continue;
      g.refund(this.ids[j], kj, rules[j].requests, rules[j].periodMs);
      refunded(results[j]);
    }
  }

  private checkLocal(results: LimitResult[], now: number): number {
    const table = this.table as RateLimitTable;
    const keys = this.keys;
    for (let i = 0; i < this.n; i++) {
      const res = results[i];
      res.reset();
      const k = keys[i];
      if (k === null) continue;
      const slot = table.take(this.limits[i], k, now, res);
      if (slot < 0) {
        for (let j = 0; j < i; j++) {
          if (keys[j] === null) continue;
          table.refund(this.limits[j], this.slots[j], this.hashA[j], this.hashB[j]);
          refunded(results[j]);
        }
        for (let j = i + 1; j < this.n; j++) results[j].reset();
        return i;
      }
      this.slots[i] = slot;
      this.hashA[i] = table.last[0];
      this.hashB[i] = table.last[1];
    }
    return RateLimitVerdict.Allowed;
  }

  private checkGlobal(results: LimitResult[], now: number): number {
    const g = this.global as GlobalBackend;
    const keys = this.keys;
    const rules = this.policy.rules;
    if (!g.available) {
      if (this.closed) {
        for (let i = 0; i < this.n; i++) results[i].reset();
        return RateLimitVerdict.Unavailable;
      }
      // failureMode open: let it through, flagged for the access log; no headers (limit 0).
      for (let i = 0; i < this.n; i++) {
        results[i].reset();
        if (keys[i] !== null) results[i].degraded = true;
      }
      return RateLimitVerdict.Allowed;
    }
    for (let i = 0; i < this.n; i++) {
      const res = results[i];
      res.reset();
      const k = keys[i];
      if (k === null) continue;
      const r = rules[i];
      g.take(this.ids[i], k, r.requests, r.periodMs, now, res);
      if (!res.allowed) {
        for (let j = 0; j < i; j++) {
          const kj = keys[j];
          if (kj === null) continue;
          g.refund(this.ids[j], kj, rules[j].requests, rules[j].periodMs);
          refunded(results[j]);
        }
        for (let j = i + 1; j < this.n; j++) results[j].reset();
        return i;
      }
    }
    return RateLimitVerdict.Allowed;
  }
}

/** A rule charged then refunded: its result shows the request as not taken. */
function refunded(r: LimitResult): void {
  if (r.remaining < r.limit) r.remaining++;
}

// --- Response fields -------------------------------------------------------------------------

/**
 * The rate-limit response fields of one policy (its rules) on one thread: the static parts of
 * each rule's items built once, and the last field values built, reused while the numbers in them
 * repeat (a key far from its limit answers r=L-1, t=1 request after request), flat, in a list
 * literal when the request has none yet. Callgrind, uws, policies-nolog, instructions per request:
 * 39,339 → 38,318 with rateLimitHeaders building both values per response (their ropes then walked
 * again by the front end's copy: ~350 of it) and pushing onto `[]` (a grow, ~100).
 */
export class RateLimitFields {
  /** Per rule: `"name";q=L;w=S` (RateLimit-Policy member). */
  private readonly policyItems: string[] = [];
  /** Per rule: `"name";r=` (start of the RateLimit member). */
  private readonly limitItems: string[] = [];
  /** Per rule, the numbers the built values show: limit, remaining, reset (whole seconds); -1 before any. */
  private readonly shown: Float64Array;
  /** The rule the X-RateLimit-* values show; -1 before any. */
  private best = -1;
  private policy = '';
  private limit = '';
  private xLimit = '';
  private xRemaining = '';
  private xReset = '';

  constructor(private readonly rules: readonly RateLimitRule[]) {
    for (const r of rules) {
      const name = sfString(r.name);
      // §3.1.3: w is whole seconds, sub-second precision is not supported. A period that is not
      // whole seconds is advertised as the quota over the next whole number of seconds.
      const w = Math.max(1, Math.ceil(r.periodMs / 1000));
      const q = w * 1000 === r.periodMs ? r.requests : Math.floor((r.requests * w * 1000) / r.periodMs);
      this.policyItems.push(flat(`${name};q=${q};w=${w}`));
      this.limitItems.push(flat(`${name};r=`));
    }
    this.shown = new Float64Array(rules.length * 3).fill(-1);
  }

  /**
   * Appends the fields for one response to a flat [name, value, ...] list, or to a new list when
   * `out` is null; returns the list. One RateLimit-Policy and one RateLimit listing every rule
   * that applied (results[i].limit > 0), and when `legacy` X-RateLimit-Limit / -Remaining / -Reset
   * (seconds) of the rule closest to its limit (fewest remaining, then the longest reset).
   * Appends nothing when no rule applied.
   */
  append(results: readonly LimitResult[], legacy: boolean, out: string[] | null): string[] | null {
    const shown = this.shown;
    let changed = false;
    let best = -1;
    for (let i = 0; i < this.rules.length; i++) {
      const r = results[i];
      const reset = seconds(r.resetMs);
      const j = i * 3;
      if (shown[j] !== r.limit || shown[j + 1] !== r.remaining || shown[j + 2] !== reset) {
        shown[j] = r.limit;
        shown[j + 1] = r.remaining;
        shown[j + 2] = reset;
        changed = true;
      }
      if (r.limit === 0) continue;
      if (best < 0 || r.remaining < results[best].remaining || (r.remaining === results[best].remaining && r.resetMs > results[best].resetMs)) best = i;
    }
    if (best < 0) return out;
    if (changed || best !== this.best) this.build(results, best);
    if (out === null) {
      // A literal of the right length: pushing onto [] grows it (~100 instructions).
      if (!legacy) return ['RateLimit-Policy', this.policy, 'RateLimit', this.limit];
      return ['RateLimit-Policy', this.policy, 'RateLimit', this.limit, 'X-RateLimit-Limit', this.xLimit, 'X-RateLimit-Remaining', this.xRemaining, 'X-RateLimit-Reset', this.xReset];
    }
    out.push('RateLimit-Policy', this.policy, 'RateLimit', this.limit);
    if (legacy) out.push('X-RateLimit-Limit', this.xLimit, 'X-RateLimit-Remaining', this.xRemaining, 'X-RateLimit-Reset', this.xReset);
    return out;
  }

  private build(results: readonly LimitResult[], best: number): void {
    let policy = '';
    let limit = '';
    for (let i = 0; i < this.rules.length; i++) {
      const r = results[i];
      if (r.limit === 0) continue;
      const item = this.limitItems[i] + r.remaining + ';t=' + seconds(r.resetMs);
      if (policy === '') {
        policy = this.policyItems[i];
        limit = item;
      } else {
        policy = policy + ', ' + this.policyItems[i];
        limit = limit + ', ' + item;
      }
    }
    // Flat: the front end copies each value out once per response; a rope is walked node by node.
    this.policy = flat(policy);
    this.limit = flat(limit);
    this.best = best;
    const b = results[best];
    this.xLimit = String(b.limit);
    this.xRemaining = String(b.remaining);
    this.xReset = String(seconds(b.resetMs));
  }
}

export function createRateLimitFields(rules: readonly RateLimitRule[]): RateLimitFields {
  return new RateLimitFields(rules);
}

const fieldsByRules = new WeakMap<readonly RateLimitRule[], RateLimitFields>();

/** RateLimitFields.append for `policyRules`, kept per rules array (the request path holds its own). */
export function rateLimitHeaders(policyRules: readonly RateLimitRule[], results: readonly LimitResult[], legacy: boolean, out: string[]): void {
  let fields = fieldsByRules.get(policyRules);
  if (fields === undefined) {
    fields = new RateLimitFields(policyRules);
    fieldsByRules.set(policyRules, fields);
  }
  fields.append(results, legacy, out);
}

/** An RFC 8941 §3.3.3 sf-string: printable ASCII, `"` and `\` escaped; anything else becomes `_`. */
function sfString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += '\\' + s[i];
    else if (c >= 0x20 && c <= 0x7e) out += s[i];
    else out += '_';
  }
  return out + '"';
}

/** Whole seconds for delay-seconds fields (rounded up, so a client never comes back early). */
function seconds(ms: number): number {
  return ms > 0 ? Math.ceil(ms / 1000) : 0;
}

/** Retry-After (RFC 9110 §10.2.3) in whole seconds: rounded up, at least 1. */
export function retryAfterSeconds(retryAfterMs: number): number {
  const s = Math.ceil(retryAfterMs / 1000);
  return s >= 1 ? s : 1;
}

/**
 * The RFC 9457 application/problem+json body of a 429: the draft's quota-exceeded type with its
 * `violated-policies` member (the rule's name, as in RateLimit-Policy), a detail naming the
 * policy and rule, and `retry-after` (seconds, as the Retry-After field).
 */
export function problemBody(policyName: string, ruleName: string, retryAfterSeconds: number): string {
  return JSON.stringify({
    type: RATE_LIMIT_PROBLEM_TYPE,
    title: 'Too Many Requests',
    status: 429,
    detail: `rate limit "${ruleName}" of policy "${policyName}" exceeded; retry in ${retryAfterSeconds} s`,
    'violated-policies': [ruleName],
    'retry-after': retryAfterSeconds,
  });
}
