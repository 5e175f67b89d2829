// The request-level policies of one rule (or of one backend, for a policy attached to a
// Service), compiled once at config load: rate limits, then quotas, then the concurrency limit.
// `decide` is the whole per-request admission: it answers null (go on; the response headers the
// limits want are queued on the stream) or how to refuse. The concurrency limit is taken by the
// request path itself, because it may queue the request (src/proxy.ts).
import type { ConcurrencyPolicy, RateLimitPolicy, RequestPolicy } from '../config/model';
import { ERR, type ErrorSpec } from '../errors';
import type { KeyInput } from './key';
import { LimitResult } from './limit-result';
import type { PolicyEnv } from './environment';
import { createLimitResults, createRateLimitFields, createRateLimiter, problemBody, retryAfterSeconds, RATE_LIMIT_PROBLEM_CONTENT_TYPE, type RateLimitFields } from './rate-limit/rate-limit';
import { RateLimitVerdict, type RateLimiter } from './rate-limit/types';
import { createQuotaLimiter, QUOTA_ALLOWED, QUOTA_KEY_MISSING, QUOTA_PROBLEM_CONTENT_TYPE, type QuotaLimiter } from './quota';
import { createConcurrencyLimiter, type ConcurrencyLimiter } from './concurrency';
import { policyConcurrencyId } from '../shared/registry';

/** How a policy refuses a request; respondError (src/proxy.ts) sends it. */
export interface PolicyRefusal {
  err: ErrorSpec;
  detail: string;
  body: string | null;
  contentType: string | null;
  /** Extra response headers (Retry-After, RateLimit, quota fields). */
  headers: string[] | null;
  /** Access-log flag: RL, QE, DG or ''. */
  flag: string;
}

/** What decide() needs of the request: its key input, and where response headers and flags go. */
export interface PolicyStream extends KeyInput {
  /** When the request arrived, epoch ms (src/shared/clock.ts): the limits decide at that time, which
   *  spares them a clock read of their own (~60 ns, as much as the decision). */
  readonly epochMs: number;
  policyHeaders: string[] | null;
  flag(f: string): void;
}

export interface RequestPolicyRuntime {
  readonly concurrency: ConcurrencyLimiter | null;
  /** Rate limits then quotas: null when admitted (and charged), else the refusal (nothing charged). */
  decide(stream: PolicyStream): PolicyRefusal | null;
}

class CompiledRequestPolicy implements RequestPolicyRuntime {
  private readonly rl: RateLimiter | null;
  private readonly rlPolicy: RateLimitPolicy | undefined;
  /** Reused per thread: decide() runs to completion before another request's. */
  private readonly rlResults: LimitResult[];
  /** The policy's RateLimit fields (rateLimit.headers), else null. */
  private readonly rlFields: RateLimitFields | null;
  private readonly quota: QuotaLimiter | null;
  private readonly qResults: LimitResult[];

  constructor(
    rateLimit: RateLimitPolicy | undefined,
    p: RequestPolicy | undefined,
    env: PolicyEnv,
    readonly concurrency: ConcurrencyLimiter | null,
  ) {
    this.rlPolicy = rateLimit;
    this.rl = rateLimit === undefined ? null : createRateLimiter(rateLimit, env.rateLimitTable, env.global ?? undefined);
    this.rlResults = rateLimit === undefined ? [] : createLimitResults(rateLimit);
    this.rlFields = rateLimit === undefined || !rateLimit.headers ? null : createRateLimitFields(rateLimit.rules);
    const q = p?.quota;
    this.quota = q === undefined ? null : createQuotaLimiter(q, env.quotaTable);
    this.qResults = q === undefined ? [] : q.rules.map(() => new LimitResult());
  }

  decide(stream: PolicyStream): PolicyRefusal | null {
    const rl = this.rl;
    if (rl !== null) {
      const v = rl.check(stream, this.rlResults, stream.epochMs);
      if (v !== RateLimitVerdict.Allowed) return this.rateLimitRefusal(v);
      for (let i = 0; i < this.rlResults.length; i++) if (this.rlResults[i].degraded) {
        stream.flag('DG');
        break;
      }
    }
    const quota = this.quota;
    if (quota !== null) {
      const v = quota.check(stream, this.qResults);
      if (v === QUOTA_KEY_MISSING) {
        this.refundRateLimits(stream);
        return refusal(ERR.LIMIT_KEY_MISSING, `quota policy ${quota.policy}`, null, null, null, '');
      }
      if (v !== QUOTA_ALLOWED) {
        this.refundRateLimits(stream);
        const headers: string[] = [];
        quota.quotaHeaders(v, this.qResults, headers);
        return refusal(ERR.QUOTA_EXCEEDED, `quota policy ${quota.policy}`, quota.quotaProblemBody(v, this.qResults), QUOTA_PROBLEM_CONTENT_TYPE, headers, 'QE');
      }
      quota.quotaHeaders(v, this.qResults, (stream.policyHeaders ??= []));
    }
    const fields = this.rlFields;
    if (fields !== null) stream.policyHeaders = fields.append(this.rlResults, this.rlPolicy!.legacyHeaders, stream.policyHeaders);
    return null;
  }

  /**
   * A quota refused a request the rate limits had charged: the charges go back (a refused request
   * is charged nowhere), and its RateLimit headers show the limits as they are after the refund.
   */
  private refundRateLimits(stream: PolicyStream): void {
    const rl = this.rl;
    if (rl === null) return;
    rl.refundLast(this.rlResults);
    const fields = this.rlFields;
    if (fields !== null) stream.policyHeaders = fields.append(this.rlResults, this.rlPolicy!.legacyHeaders, stream.policyHeaders);
  }

  private rateLimitRefusal(v: number): PolicyRefusal {
    const p = this.rlPolicy!;
    if (v === RateLimitVerdict.KeyMissing) return refusal(ERR.LIMIT_KEY_MISSING, `rate limit policy ${p.policy}`, null, null, null, '');
    if (v === RateLimitVerdict.Unavailable) return refusal(ERR.RATE_LIMIT_UNAVAILABLE, `rate limit policy ${p.policy}`, null, null, null, 'DG');
    const r = this.rlResults[v];
    const secs = retryAfterSeconds(r.retryAfterMs);
    const headers = ['retry-after', String(secs)];
    if (this.rlFields !== null) this.rlFields.append(this.rlResults, p.legacyHeaders, headers);
    const rule = p.rules[v].name;
    return refusal(ERR.RATE_LIMITED, `policy ${p.policy}, limit ${rule}`, problemBody(p.policy, rule, secs), RATE_LIMIT_PROBLEM_CONTENT_TYPE, headers, 'RL');
  }
}

function refusal(err: ErrorSpec, detail: string, body: string | null, contentType: string | null, headers: string[] | null, flag: string): PolicyRefusal {
  return { err, detail, body, contentType, headers, flag };
}

function concurrencyFor(c: ConcurrencyPolicy | undefined, env: PolicyEnv): ConcurrencyLimiter | null {
  if (c === undefined) return null;
  // One limit per policy: every rule it is attached to shares the buffer (src/shared/registry.ts).
  return createConcurrencyLimiter(c, env.shared[policyConcurrencyId(c)], env.thread, env.threads);
}

/** A rule's request-level policies, or null when it has none that act per request. */
export function createRequestPolicy(p: RequestPolicy, env: PolicyEnv): RequestPolicyRuntime | null {
  if (p.rateLimit === undefined && p.quota === undefined && p.concurrency === undefined) return null;
  return new CompiledRequestPolicy(p.rateLimit, p, env, concurrencyFor(p.concurrency, env));
}

/** A rate limit attached to a Service (checked once the request is routed to that backend). */
export function createBackendRequestPolicy(rateLimit: RateLimitPolicy, env: PolicyEnv): RequestPolicyRuntime {
  return new CompiledRequestPolicy(rateLimit, undefined, env, null);
}
