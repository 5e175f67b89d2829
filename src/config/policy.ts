// Traffic policies, both formats: one policy body (policy-schema.ts) → model sections with every
// default applied and the cross-field rules checked; then the attachment maths shared by the
// manifest and native compilers (policy-gateway-api.ts, policy-native.ts): per section the most
// specific attachment wins, backend-level sections reach the backends their routes reference,
// and conflicts go to the oldest policy. Reference: README.md, "Traffic policies".
import { isDeepStrictEqual } from 'node:util';
import type {
  AdaptiveConcurrency,
  Backend,
  BackendPolicy,
  CircuitBreaker,
  ConcurrencyPolicy,
  HealthPolicy,
  LoadBalancerPolicy,
  MissingKeyAction,
  PolicyKey,
  QuotaPolicy,
  RateLimitPolicy,
  RateLimitRule,
  RequestPolicy,
  RetryBudget,
  RetryTrigger,
  RouteRetry,
  RouteRule,
} from './model';
import type * as P from './policy-schema';
import { parseDuration } from './duration';
import { headerNameProblem, HTTP_METHODS } from './match-check';
import { DEFAULT_RETRY_ATTEMPTS, DEFAULT_RETRY_BACKOFF_MS } from './timeouts-retry';

/** Reports one problem at a path below the policy body (e.g. ['rateLimit', 'rules', 0, 'limit']). */
export type Problem = (path: (string | number)[], what: string) => void;

export type Section = 'rateLimit' | 'quota' | 'concurrency' | 'retry' | 'loadBalancer' | 'healthCheck' | 'circuitBreaker';
export const SECTIONS: readonly Section[] = ['rateLimit', 'quota', 'concurrency', 'retry', 'loadBalancer', 'healthCheck', 'circuitBreaker'];
/** Sections that configure a backend, whatever the policy is attached to. */
export const BACKEND_SECTIONS = ['loadBalancer', 'healthCheck', 'circuitBreaker'] as const;
export type BackendSection = (typeof BACKEND_SECTIONS)[number];

// Defaults (model.ts states each; the numbers live here once).
const UNIT_MS = { Second: 1000, Minute: 60_000, Hour: 3_600_000, Day: 86_400_000 } as const;
/** Maglev lookup table size: Envoy's default, a prime. */
export const DEFAULT_MAGLEV_TABLE = 65_537;
/** Maglev table for backends of more than 50 endpoints (a prime; 1.08/N keys moved at N = 50). */
export const MAGLEV_LARGE_TABLE = 655_373;
/** Ring hash: this many ring points per endpoint (Ketama-style). */
export const RING_POINTS_PER_ENDPOINT = 1024;

/** A `retry` section, before it meets the rule's own HTTPRoute retry. */
export interface PolicyRetry {
  attempts: number;
  codes: number[];
  backoffMs: number;
  /** Only when set (`perRetry.backOff.maxInterval`); else 10 × the backoff in effect. */
  backoffMaxMs?: number;
  /** Only when set; else connect-failure, reset (+ retriable-status-codes with codes). */
  triggers?: RetryTrigger[];
  nonIdempotent: boolean;
  perTryTimeoutMs?: number;
  budget?: RetryBudget;
  /** The section asks for retries: something besides `budget` is set, or nothing at all (`retry: {}`). */
  perRoute: boolean;
}

/** One policy, compiled: what each section it sets means in the model. */
export interface CompiledPolicy {
  /** `namespace/name` (Kubernetes) or the native policy name (`route/<name>` for an inline one). */
  id: string;
  /** For messages: `BackendTrafficPolicy shop/limits` or `policy "limits"`. */
  label: string;
  /** Where the policy is (its document, or the native entry), for messages. */
  file: string;
  line: number;
  /** Conflict order: the lower wins (oldest creationTimestamp, then namespace/name; native: declaration order). */
  rank: number;
  rateLimit?: RateLimitPolicy;
  quota?: QuotaPolicy;
  concurrency?: ConcurrencyPolicy;
  retry?: PolicyRetry;
  /** RingHash without tableSize gets 1024 × endpoints per backend (materializeLoadBalancer). */
  loadBalancer?: LoadBalancerPolicy & { autoTable?: true };
  healthCheck?: HealthPolicy;
  circuitBreaker?: CircuitBreaker;
}

export type PolicyHead = Pick<CompiledPolicy, 'id' | 'label' | 'file' | 'line' | 'rank'>;

/** Compiles a policy body; problems go to `bad` (the result is then not to be used). */
export function compilePolicy(head: PolicyHead, body: P.PolicyBody, bad: Problem): CompiledPolicy {
  const out: CompiledPolicy = { ...head };
  const sub = (prefix: (string | number)[]): Problem => (path, what) => bad([...prefix, ...path], what);
  if (body.rateLimit !== undefined) out.rateLimit = compileRateLimit(head.id, body.rateLimit, sub(['rateLimit']));
  if (body.quota !== undefined) out.quota = compileQuota(head.id, body.quota, sub(['quota']));
  if (body.concurrency !== undefined) out.concurrency = compileConcurrency(head.id, body.concurrency, sub(['concurrency']));
  if (body.retry !== undefined) out.retry = compileRetrySection(body.retry, sub(['retry']));
  if (body.loadBalancer !== undefined) out.loadBalancer = compileLoadBalancer(body.loadBalancer, sub(['loadBalancer']));
  if (body.healthCheck !== undefined) out.healthCheck = compileHealth(body.healthCheck, sub(['healthCheck']));
  if (body.circuitBreaker !== undefined) out.circuitBreaker = compileCircuitBreaker(body.circuitBreaker);
  return out;
}

export function sectionsOf(p: CompiledPolicy): Section[] {
  return SECTIONS.filter((s) => p[s] !== undefined);
}

/** Milliseconds of an optional duration field, or `fallback`; a bad one is reported. */
function ms(text: string | undefined, fallback: number, path: (string | number)[], bad: Problem): number {
  if (text === undefined) return fallback;
  const v = parseDuration(text);
  if (typeof v === 'string') {
    bad(path, v);
    return fallback;
  }
  return v;
}

function positive(value: number, path: (string | number)[], bad: Problem, what: string): void {
  if (value <= 0) bad(path, `${what} must be longer than 0s`);
}

// --- keys ----------------------------------------------------------------------------------------

/** `key` (or Envoy Gateway `clientSelectors`) → model key; default one shared key (Route). */
function compileKeyParts(
  rule: { key?: P.KeyPart[]; clientSelectors?: P.RateLimitRule['clientSelectors'] },
  bad: Problem,
): PolicyKey[] {
  if (rule.key !== undefined && rule.clientSelectors !== undefined) {
    bad(['clientSelectors'], 'set only one of key, clientSelectors (clientSelectors is Envoy Gateway\'s form of key)');
  }
  if (rule.clientSelectors !== undefined) return selectorKey(rule.clientSelectors, bad);
  if (rule.key === undefined) return [{ type: 'Route' }];
  return rule.key.map((part, i) => {
    const at = ['key', i];
    if (part.type === 'Header' || part.type === 'QueryParam') {
      if (part.name === undefined) {
        bad(at, `a ${part.type} key needs a name: { type: ${part.type}, name: ${part.type === 'Header' ? 'x-api-key' : 'api_key'} }`);
        return { type: 'Route' };
      }
      if (part.type === 'Header') {
        const p = headerNameProblem(part.name);
        if (p) bad([...at, 'name'], p);
        return { type: 'Header', name: part.name.toLowerCase() };
      }
      return { type: 'QueryParam', name: part.name };
    }
    if (part.name !== undefined) bad([...at, 'name'], `a ${part.type} key takes no name; remove it`);
    return { type: part.type };
  });
}

const ANY_CIDR = new Set(['0.0.0.0/0', '::/0']);

/** Envoy Gateway clientSelectors → key parts; only the selectors that name a key are supported. */
function selectorKey(selectors: NonNullable<P.RateLimitRule['clientSelectors']>, bad: Problem): PolicyKey[] {
  const out: PolicyKey[] = [];
  selectors.forEach((s, i) => {
    const at = ['clientSelectors', i];
    for (const f of ['methods', 'path'] as const) {
      if (s[f] !== undefined) {
        bad([...at, f], `clientSelectors.${f} is not supported: gatemesh limits by key, not by match; ` +
          `attach the policy to an HTTPRoute rule that matches these requests (sectionName) instead`);
      }
    }
    (s.headers ?? []).forEach((h, j) => {
      if ((h.type ?? 'Exact') !== 'Distinct' || h.value !== undefined || h.invert !== undefined) {
        bad([...at, 'headers', j], 'only headers of type Distinct (one bucket per value) are supported; use ' +
          `key: [{ type: Header, name: ${h.name} }], and match header values in the HTTPRoute rule`);
        return;
      }
      const p = headerNameProblem(h.name);
      if (p) bad([...at, 'headers', j, 'name'], p);
      out.push({ type: 'Header', name: h.name.toLowerCase() });
    });
    if (s.sourceCIDR !== undefined) {
      if ((s.sourceCIDR.type ?? 'Exact') !== 'Distinct' || !ANY_CIDR.has(s.sourceCIDR.value)) {
        bad([...at, 'sourceCIDR'], 'only sourceCIDR { type: Distinct, value: 0.0.0.0/0 or ::/0 } (one bucket per client IP) ' +
          'is supported; use key: [{ type: ClientIP }]');
      } else if (!out.some((k) => k.type === 'ClientIP')) {
        out.push({ type: 'ClientIP' });
      }
    }
    if (s.headers === undefined && s.sourceCIDR === undefined && s.methods === undefined && s.path === undefined) {
      bad(at, 'an empty client selector; set headers or sourceCIDR, or use key');
    }
  });
  return out.length > 0 ? out : [{ type: 'Route' }];
}

function uniqueNames(names: string[], path: (i: number) => (string | number)[], bad: Problem): void {
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    const first = seen.get(n);
    if (first !== undefined) bad(path(i), `duplicate name "${n}" (also rules[${first}]); names must be unique within the policy`);
    else seen.set(n, i);
  });
}

// --- rateLimit -----------------------------------------------------------------------------------

function compileRateLimit(id: string, spec: P.RateLimit, bad: Problem): RateLimitPolicy {
  const given = (['rules', 'local', 'global'] as const).filter((k) => spec[k] !== undefined);
  let mode: RateLimitPolicy['mode'] = spec.type ?? 'Local';
  let rulesPath: (string | number)[] = ['rules'];
  let rules: P.RateLimitRule[] = [];
  if (given.length === 0) {
    bad([], 'rateLimit needs its limits: rules: [{ key: [{ type: ClientIP }], limit: { requests: 100, unit: Second } }]');
  } else if (given.length > 1) {
    bad([given[1]], `set only one of rules, local, global (also set: ${given[0]}); gatemesh runs one rate-limit mode per policy, ` +
      'so use two policies for a local and a global limit');
  } else if (given[0] === 'rules') {
    rules = spec.rules ?? [];
  } else {
    const wrapped = given[0] === 'local' ? 'Local' : 'Global';
    if (spec.type !== undefined && spec.type !== wrapped) bad(['type'], `type ${spec.type} contradicts \`${given[0]}:\`; set type: ${wrapped} or drop it`);
    mode = wrapped;
    rulesPath = [given[0], 'rules'];
    rules = spec[given[0]]?.rules ?? [];
  }
  const out: RateLimitRule[] = rules.map((r, i) => {
    const at = [...rulesPath, i];
    const rb: Problem = (path, what) => bad([...at, ...path], what);
    let periodMs = 0;
    const unit = r.limit.unit;
    if (unit in UNIT_MS) periodMs = UNIT_MS[unit as keyof typeof UNIT_MS];
    else {
      periodMs = ms(unit, 0, ['limit', 'unit'], rb);
      positive(periodMs, ['limit', 'unit'], rb, 'the limit period');
    }
    return {
      name: r.name ?? `${id}/limit${i}`,
      key: compileKeyParts(r, rb),
      onMissingKey: (r.onMissingKey ?? 'Skip') as MissingKeyAction,
      requests: r.limit.requests,
      periodMs,
    };
  });
  uniqueNames(out.map((r) => r.name), (i) => [...rulesPath, i, 'name'], bad);
  return {
    policy: id,
    mode,
    rules: out,
    failureMode: spec.failureMode ?? 'open',
    headers: spec.headers?.draft ?? true,
    legacyHeaders: spec.headers?.legacy ?? false,
  };
}

// --- quota ---------------------------------------------------------------------------------------

function compileQuota(id: string, spec: P.Quota, bad: Problem): QuotaPolicy {
  const rules = spec.rules.map((r, i) => {
    const rb: Problem = (path, what) => bad(['rules', i, ...path], what);
    return {
      name: r.name ?? `${id}/quota${i}`,
      key: compileKeyParts(r, rb),
      onMissingKey: (r.onMissingKey ?? 'Skip') as MissingKeyAction,
      requests: r.limit.requests,
      window: r.limit.window,
      alignment: r.alignment ?? 'Calendar',
    };
  });
  uniqueNames(rules.map((r) => r.name), (i) => ['rules', i, 'name'], bad);
  return { policy: id, rules, headers: spec.headers ?? true };
}

// --- concurrency ---------------------------------------------------------------------------------

function compileConcurrency(id: string, spec: P.Concurrency, bad: Problem): ConcurrencyPolicy {
  const maxQueue = spec.maxQueue ?? 0;
  const queueTimeoutMs = ms(spec.queueTimeout, 1000, ['queueTimeout'], bad);
  if (maxQueue > 0 && queueTimeoutMs === 0) {
    bad(['queueTimeout'], 'a queue with a 0s timeout never lets anyone wait; set queueTimeout (default 1s) or maxQueue: 0');
  }
  const out: ConcurrencyPolicy = { policy: id, maxInFlight: spec.maxInFlight, maxQueue, queueTimeoutMs };
  const a = spec.adaptive;
  if (a !== undefined) {
    const max = spec.maxInFlight;
    const minLimit = a.minLimit ?? Math.min(4, max);
    if (minLimit > max) bad(['adaptive', 'minLimit'], `minLimit (${minLimit}) is above maxInFlight (${max}), the adaptive ceiling; lower it`);
    const initialLimit = a.initialLimit ?? Math.min(Math.max(Math.min(20, max), minLimit), max);
    if (a.initialLimit !== undefined && (initialLimit < minLimit || initialLimit > max)) {
      bad(['adaptive', 'initialLimit'], `initialLimit (${initialLimit}) must be between minLimit (${minLimit}) and maxInFlight (${max})`);
    }
    const tolerance = a.tolerance ?? 2;
    if (!(tolerance >= 1)) bad(['adaptive', 'tolerance'], `expected a number >= 1 (RTT may grow to tolerance × the minimum RTT; got ${tolerance})`);
    const smoothing = a.smoothing ?? 0.2;
    if (!(smoothing > 0 && smoothing <= 1)) bad(['adaptive', 'smoothing'], `expected a number above 0 and at most 1 (got ${smoothing})`);
    const windowMs = ms(a.window, 1000, ['adaptive', 'window'], bad);
    positive(windowMs, ['adaptive', 'window'], bad, 'the sample window');
    const adaptive: AdaptiveConcurrency = { minLimit, initialLimit, tolerance, smoothing, windowMs };
    out.adaptive = adaptive;
  }
  return out;
}

// --- loadBalancer --------------------------------------------------------------------------------

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

function nextPrime(n: number): number {
  let p = n + 1;
  while (!isPrime(p)) p++;
  return p;
}

const HASH_FIELD = { Header: 'header', Cookie: 'cookie', QueryParam: 'queryParam' } as const;

function compileLoadBalancer(spec: P.LoadBalancer, bad: Problem): CompiledPolicy['loadBalancer'] {
  if (spec.type !== 'ConsistentHash' && spec.consistentHash !== undefined) {
    bad(['consistentHash'], `consistentHash is only read with type: ConsistentHash (type is ${spec.type}); remove it or change the type`);
  }
  if (spec.type !== 'PeakEWMA' && spec.peakEWMA !== undefined) {
    bad(['peakEWMA'], `peakEWMA is only read with type: PeakEWMA (type is ${spec.type}); remove it or change the type`);
  }
  switch (spec.type) {
    case 'RoundRobin':
    case 'LeastRequest':
    case 'Random':
      return { type: spec.type };
    case 'PeakEWMA': {
      // Linkerd's defaults: decay 10 s, default RTT 30 ms.
      const decayMs = ms(spec.peakEWMA?.decay, 10_000, ['peakEWMA', 'decay'], bad);
      const defaultRttMs = ms(spec.peakEWMA?.defaultRTT, 30, ['peakEWMA', 'defaultRTT'], bad);
      positive(decayMs, ['peakEWMA', 'decay'], bad, 'decay');
      positive(defaultRttMs, ['peakEWMA', 'defaultRTT'], bad, 'defaultRTT');
      return { type: 'PeakEWMA', decayMs, defaultRttMs };
    }
    case 'ConsistentHash': {
      const ch = spec.consistentHash;
      if (ch === undefined) {
        bad([], 'type ConsistentHash needs what to hash: consistentHash: { type: SourceIP } (or Header with header: { name }, ' +
          'Cookie with cookie: { name }, QueryParam with queryParam: { name })');
        return { type: 'ConsistentHash', algorithm: 'Maglev', hashOn: { type: 'ClientIP' }, tableSize: DEFAULT_MAGLEV_TABLE };
      }
      for (const [t, f] of Object.entries(HASH_FIELD)) {
        if (ch[f] !== undefined && ch.type !== t) bad(['consistentHash', f], `${f} is only read with consistentHash type ${t} (type is ${ch.type}); remove it`);
      }
      let hashOn: PolicyKey = { type: 'ClientIP' };
      if (ch.type !== 'SourceIP') {
        const f = HASH_FIELD[ch.type];
        const named = ch[f];
        if (named === undefined) {
          bad(['consistentHash'], `consistentHash type ${ch.type} needs ${f}: { name: ... } naming the ${ch.type === 'QueryParam' ? 'query parameter' : ch.type.toLowerCase()} to hash`);
        } else if (ch.type === 'Header') {
          const p = headerNameProblem(named.name);
          if (p) bad(['consistentHash', 'header', 'name'], p);
          hashOn = { type: 'Header', name: named.name.toLowerCase() };
        } else {
          hashOn = { type: ch.type, name: named.name };
        }
      }
      const algorithm = ch.algorithm ?? 'Maglev';
      if (algorithm === 'Maglev') {
        if (ch.tableSize === undefined) return { type: 'ConsistentHash', algorithm, hashOn, tableSize: DEFAULT_MAGLEV_TABLE, autoTable: true };
        const tableSize = ch.tableSize;
        if (!isPrime(tableSize)) {
          bad(['consistentHash', 'tableSize'], `a Maglev table size must be prime (the permutation needs it); ${nextPrime(tableSize)} is the next one`);
        }
        return { type: 'ConsistentHash', algorithm, hashOn, tableSize };
      }
      if (ch.tableSize !== undefined) return { type: 'ConsistentHash', algorithm, hashOn, tableSize: ch.tableSize };
      return { type: 'ConsistentHash', algorithm, hashOn, tableSize: RING_POINTS_PER_ENDPOINT, autoTable: true };
    }
  }
}

/** The backend's load balancer: RingHash without tableSize gets 1024 ring points per endpoint. */
export function materializeLoadBalancer(lb: NonNullable<CompiledPolicy['loadBalancer']>, endpoints: number): LoadBalancerPolicy {
  if (lb.type !== 'ConsistentHash') return lb;
  const { autoTable, ...rest } = lb;
  if (!autoTable) return rest;
  // Maglev moves up to ~1.3/N keys per endpoint change while N stays well below the table size
  // (measured: 65537 holds it to 50 endpoints, 1.64/N at 100); a larger prime past that.
  if (rest.algorithm === 'Maglev') return { ...rest, tableSize: endpoints > 50 ? MAGLEV_LARGE_TABLE : DEFAULT_MAGLEV_TABLE };
  return { ...rest, tableSize: RING_POINTS_PER_ENDPOINT * Math.max(1, endpoints) };
  return rest;
}

// --- healthCheck ---------------------------------------------------------------------------------

function compileHealth(spec: P.HealthCheck, bad: Problem): HealthPolicy {
  const out: HealthPolicy = { panicThresholdPercent: spec.panicThreshold ?? 50, honorRetryAfter: spec.honorRetryAfter ?? true };
  const a = spec.active;
  if (a !== undefined) {
    const at = (...p: (string | number)[]) => ['active', ...p];
    const path = a.http?.path ?? '/';
    if (!path.startsWith('/')) bad(at('http', 'path'), `path must start with "/" (got ${JSON.stringify(path)})`);
    const method = (a.http?.method ?? 'GET').toUpperCase();
    if (!(HTTP_METHODS as readonly string[]).includes(method)) bad(at('http', 'method'), `expected one of: ${HTTP_METHODS.join(', ')}`);
    // Envoy Gateway's defaults: every 3 s, 1 s timeout, 1 pass to heal, 3 failures to eject.
    const intervalMs = ms(a.interval, 3000, at('interval'), bad);
    const timeoutMs = ms(a.timeout, 1000, at('timeout'), bad);
    positive(intervalMs, at('interval'), bad, 'interval');
    positive(timeoutMs, at('timeout'), bad, 'timeout');
    if (timeoutMs > intervalMs) {
      bad(at('timeout'), `timeout (${a.timeout ?? '1s'}) is longer than interval (${a.interval ?? '3s'}): checks would overlap; lower timeout or raise interval`);
    }
    out.active = {
      path,
      method,
      intervalMs,
      timeoutMs,
      healthyThreshold: a.healthyThreshold ?? 1,
      unhealthyThreshold: a.unhealthyThreshold ?? 3,
      expectedStatuses: [...new Set(a.http?.expectedStatuses ?? [200])].sort((x, y) => x - y),
    };
    if (a.http?.hostname !== undefined) out.active.hostname = a.http.hostname;
  }
  const p = spec.passive;
  if (p !== undefined) {
    // Envoy outlier_detection defaults: 5 consecutive 5xx, 30 s base, 300 s max, 10 %.
    const baseEjectionTimeMs = ms(p.baseEjectionTime, 30_000, ['passive', 'baseEjectionTime'], bad);
    const maxEjectionTimeMs = ms(p.maxEjectionTime, 300_000, ['passive', 'maxEjectionTime'], bad);
    positive(baseEjectionTimeMs, ['passive', 'baseEjectionTime'], bad, 'baseEjectionTime');
    if (maxEjectionTimeMs < baseEjectionTimeMs) {
      bad(['passive', 'maxEjectionTime'], `maxEjectionTime (${p.maxEjectionTime ?? '300s'}) is shorter than baseEjectionTime ` +
        `(${p.baseEjectionTime ?? '30s'}); raise it or lower the base`);
    }
    out.passive = {
      consecutive5xx: p.consecutive5XxErrors ?? 5,
      consecutiveGatewayErrors: p.consecutiveGatewayErrors ?? 0,
      baseEjectionTimeMs,
      maxEjectionTimeMs,
      maxEjectionPercent: p.maxEjectionPercent ?? 10,
    };
  }
  return out;
}

// --- circuitBreaker ------------------------------------------------------------------------------

function compileCircuitBreaker(spec: P.CircuitBreaker): CircuitBreaker {
  // Envoy's cluster circuit-breaker defaults: 1024 connections, pending and requests; 3 retries.
  return {
    maxConnections: spec.maxConnections ?? 1024,
    maxPendingRequests: spec.maxPendingRequests ?? 1024,
    maxRequests: spec.maxParallelRequests ?? 1024,
    maxRetries: spec.maxParallelRetries ?? 3,
  };
}

// --- retry ---------------------------------------------------------------------------------------

function compileRetrySection(spec: P.Retry, bad: Problem): PolicyRetry {
  const codes = [...new Set(spec.retryOn?.httpStatusCodes ?? [])].sort((a, b) => a - b);
  const explicit = spec.retryOn?.triggers;
  if (explicit !== undefined) {
    if (explicit.includes('retriable-status-codes') && codes.length === 0) {
      bad(['retryOn', 'triggers'], 'retriable-status-codes needs the statuses: add retryOn.httpStatusCodes: [503] or drop the trigger');
    }
    if (!explicit.includes('retriable-status-codes') && codes.length > 0) {
      bad(['retryOn', 'httpStatusCodes'], 'these statuses are retried only with the retriable-status-codes trigger (Envoy\'s retry_on); ' +
        'add it to retryOn.triggers');
    }
  }
  const backOff = spec.perRetry?.backOff;
  const backoffMs = ms(backOff?.baseInterval, DEFAULT_RETRY_BACKOFF_MS, ['perRetry', 'backOff', 'baseInterval'], bad);
  const out: PolicyRetry = {
    attempts: spec.numRetries ?? DEFAULT_RETRY_ATTEMPTS,
    codes,
    backoffMs,
    nonIdempotent: spec.retryOn?.nonIdempotent ?? false,
    // `retry: {}` asks for retries with the defaults; `retry: { budget }` alone only bounds them.
    perRoute: spec.numRetries !== undefined || spec.retryOn !== undefined || spec.perRetry !== undefined || spec.budget === undefined,
  };
  if (backOff?.maxInterval !== undefined) {
    out.backoffMaxMs = ms(backOff.maxInterval, 0, ['perRetry', 'backOff', 'maxInterval'], bad);
    if (out.backoffMaxMs < backoffMs) {
      bad(['perRetry', 'backOff', 'maxInterval'], `maxInterval (${backOff.maxInterval}) is below baseInterval ` +
        `(${backOff.baseInterval ?? '25ms'}); raise it (default 10 × baseInterval)`);
    }
  }
  if (explicit !== undefined) out.triggers = [...new Set(explicit)];
  if (spec.perRetry?.timeout !== undefined) out.perTryTimeoutMs = ms(spec.perRetry.timeout, 0, ['perRetry', 'timeout'], bad);
  const b = spec.budget;
  if (b !== undefined) {
    const percent = b.percent ?? 20;
    if (!(percent >= 0 && percent <= 100)) bad(['budget', 'percent'], `expected a percentage from 0 to 100 (got ${percent})`);
    const windowMs = ms(b.window, 10_000, ['budget', 'window'], bad);
    positive(windowMs, ['budget', 'window'], bad, 'the budget window');
    // Linkerd's retry budget: 20 % of requests, at least 10 retries a second, over 10 s.
    out.budget = { ratio: percent / 100, minPerSecond: b.minRetriesPerSecond ?? 10, windowMs };
  }
  return out;
}

/**
 * The rule's effective retry. Without the rule's own HTTPRoute `retry` it is the policy's (none
 * when the policy sets only `budget`: a budget alone turns no retries on). With it, the rule's
 * attempts, codes and backoff win (it is the most specific), and the policy adds what
 * HTTPRouteRetry cannot say: triggers, nonIdempotent, per-try timeout, backoff cap and budget.
 */
export function effectiveRetry(own: RouteRetry | undefined, p: PolicyRetry | undefined): RouteRetry | undefined {
  if (p === undefined) return own;
  if (own === undefined && !p.perRoute) return undefined;
  const base = own ?? p;
  const out: RouteRetry = { attempts: base.attempts, codes: base.codes, backoffMs: base.backoffMs };
  out.backoffMaxMs = p.backoffMaxMs !== undefined ? Math.max(p.backoffMaxMs, out.backoffMs) : 10 * out.backoffMs;
  out.triggers = p.triggers ?? (out.codes.length > 0
    ? ['connect-failure', 'reset', 'retriable-status-codes']
    : ['connect-failure', 'reset']);
  out.nonIdempotent = p.nonIdempotent;
  if (p.perTryTimeoutMs !== undefined) out.perTryTimeoutMs = p.perTryTimeoutMs;
  if (p.budget !== undefined) out.budget = p.budget;
  return out;
}

// --- attachment ----------------------------------------------------------------------------------

/** The policy giving each section at one attachment point (a rule, route, listener, Gateway, backend). */
export type SectionMap = Partial<Record<Section, CompiledPolicy>>;

/**
 * The winners among the policies attached to one target: per section the lowest rank (oldest)
 * wins; `conflict` hears of every loser.
 */
export function sectionMap(policies: CompiledPolicy[], conflict: (section: Section, winner: CompiledPolicy, loser: CompiledPolicy) => void): SectionMap {
  const sorted = [...policies].sort((a, b) => a.rank - b.rank);
  const out: SectionMap = {};
  for (const p of sorted) {
    for (const s of sectionsOf(p)) {
      const winner = out[s];
      if (winner === undefined) out[s] = p;
      else if (winner !== p) conflict(s, winner, p);
    }
  }
  return out;
}

/** First policy along `chain` (most specific first) that sets `section`. */
export function pick(chain: readonly (SectionMap | undefined)[], section: Section): CompiledPolicy | undefined {
  for (const m of chain) {
    const p = m?.[section];
    if (p !== undefined) return p;
  }
  return undefined;
}

/** Identity of a chain's choices, so rules with the same outcome share one copy. */
export function chainKey(chain: readonly (SectionMap | undefined)[]): string {
  return SECTIONS.map((s) => pick(chain, s)?.id ?? '').join('|');
}

/** Request-level policy of a rule under `chain`, or undefined when no section applies. */
export function requestPolicy(chain: readonly (SectionMap | undefined)[]): RequestPolicy | undefined {
  const out: RequestPolicy = {};
  const rl = pick(chain, 'rateLimit')?.rateLimit;
  const q = pick(chain, 'quota')?.quota;
  const c = pick(chain, 'concurrency')?.concurrency;
  if (rl !== undefined) out.rateLimit = rl;
  if (q !== undefined) out.quota = q;
  if (c !== undefined) out.concurrency = c;
  return rl === undefined && q === undefined && c === undefined ? undefined : out;
}

/**
 * Sets `policy` and `retry` on each rule for one attachment context. `rules` are the route's
 * compiled rules; chains[i] is rule i's chain. The first context writes into `rules` themselves;
 * a later context with a different outcome (a route on two listeners whose Gateway policies
 * differ) gets copies, so each listener's Route has the rules its policies say.
 */
export function createRuleVariants(rules: RouteRule[]): (chains: (readonly (SectionMap | undefined)[])[]) => RouteRule[] {
  const pristine = rules.map((r) => ({ ...r }));
  const byKey = new Map<string, RouteRule[]>();
  return (chains) => {
    const key = chains.map(chainKey).join('#');
    let out = byKey.get(key);
    if (out !== undefined) return out;
    out = byKey.size === 0 ? rules : pristine.map((r) => ({ ...r }));
    out.forEach((rule, i) => {
      const chain = chains[i];
      const policy = requestPolicy(chain);
      if (policy !== undefined) rule.policy = policy;
      else delete rule.policy;
      const retry = effectiveRetry(pristine[i].retry, pick(chain, 'retry')?.retry);
      if (retry !== undefined) rule.retry = retry;
      else delete rule.retry;
    });
    byKey.set(key, out);
    return out;
  };
}

/** One route-derived claim of a backend-level section on a backend. */
export interface Claim {
  policy: CompiledPolicy;
  /** What carried it there, for the conflict message: `HTTPRoute shop/api` or `route "api"`. */
  via: string;
}

/**
 * Backend policies: the backend's own attachments (a Service-targeted policy; a native backend's
 * `policy`), plus the backend-level sections of the policies on the routes that reference it.
 */
export class BackendPolicies {
  private readonly claims = new Map<string, Map<BackendSection, Claim[]>>();

  /** Records what rule `chain` says about the backends `backends` (its backendRefs). */
  claim(backends: Iterable<string>, chain: readonly (SectionMap | undefined)[], via: string): void {
    for (const name of backends) {
      for (const s of BACKEND_SECTIONS) {
        const policy = pick(chain, s);
        if (policy === undefined) continue;
        let bySection = this.claims.get(name);
        if (bySection === undefined) this.claims.set(name, (bySection = new Map()));
        const list = bySection.get(s) ?? [];
        if (!list.some((c) => c.policy === policy)) list.push({ policy, via });
        bySection.set(s, list);
      }
    }
  }

  /**
   * Sets `backend.policy`. `own` is the backend's chain (most specific first). `notApplicable`
   * hears of sections that mean nothing on a backend; `conflict` of route-derived sections two
   * policies disagree on (the oldest wins).
   */
  apply(
    backend: Backend,
    own: readonly (SectionMap | undefined)[],
    notApplicable: (policy: CompiledPolicy, what: string) => void,
    conflict: (section: BackendSection, winner: Claim, loser: Claim) => void,
  ): void {
    const out: Omit<BackendPolicy, 'policy'> = {};
    const from: string[] = [];
    const use = (p: CompiledPolicy): void => {
      if (!from.includes(p.id)) from.push(p.id);
    };
    const bySection = this.claims.get(backend.name);
    for (const s of BACKEND_SECTIONS) {
      let p = pick(own, s);
      if (p === undefined) {
        const claims = [...(bySection?.get(s) ?? [])].sort((a, b) => a.policy.rank - b.policy.rank);
        if (claims.length > 0) {
          p = claims[0].policy;
          for (const c of claims.slice(1)) if (!isDeepStrictEqual(c.policy[s], p[s])) conflict(s, claims[0], c);
        }
      }
      if (p === undefined) continue;
      use(p);
      if (s === 'loadBalancer') out.loadBalancer = materializeLoadBalancer(p.loadBalancer!, backend.endpoints.length);
      else if (s === 'healthCheck') out.health = p.healthCheck;
      else out.circuitBreaker = p.circuitBreaker;
    }
    const c = pick(own, 'concurrency');
    if (c !== undefined) {
      out.concurrency = c.concurrency;
      use(c);
    }
    const rl = pick(own, 'rateLimit');
    if (rl !== undefined) {
      out.rateLimit = rl.rateLimit;
      use(rl);
    }
    const r = pick(own, 'retry');
    if (r !== undefined) {
      if (r.retry!.perRoute) {
        notApplicable(r, 'retry: only retry.budget applies to a backend; numRetries, retryOn and perRetry belong on a route, listener or Gateway policy');
      }
      if (r.retry!.budget !== undefined) {
        out.retryBudget = r.retry!.budget;
        use(r);
      }
    }
    const q = pick(own, 'quota');
    if (q !== undefined) notApplicable(q, 'quota applies to routes, not backends; attach it to a route, listener or Gateway');
    if (from.length > 0) backend.policy = { policy: from.join(', '), ...out };
  }
}
