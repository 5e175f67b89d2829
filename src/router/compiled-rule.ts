// A route rule as the proxy sees it after a match: names for logs, live backendRefs, and the
// weighted backend pick. Built once per rule at config load and shared by all of its matches.

import type { BackendRef, Route, RouteRule } from '../config/model';
import { createRulePolicy, type RulePolicy } from '../retry/rule-policy';
import { createRuleFilters, type RuleFilters } from '../filters/chain';
import { createRequestPolicy, type RequestPolicyRuntime } from '../policy/request-policies';
import { policyEnv } from '../policy/environment';
import { createRetryBudget, type RetryBudget } from '../retry/budget';
import { ruleBudgetId } from '../shared/registry';

/** What a match returns: precomputed once per rule at compile time, so matching allocates nothing. */
export interface MatchedRule {
  routeName: string;
  /** rule.name or undefined. */
  ruleName: string | undefined;
  ruleIndex: number;
  /** Label for logs: `${routeName}/${ruleName ?? 'rule' + ruleIndex}` precomputed. */
  label: string;
  /** Backend refs with weight > 0 (zero-weight ones removed); empty → the proxy answers 500. */
  backendRefs: BackendRef[];
  /** Weighted pick (smooth weighted round robin like nginx, per thread; weights as given). Returns null when backendRefs is empty. */
  pickBackend(): BackendRef | null;
  /** rules[].timeouts and rules[].retry compiled (src/retry/rule-policy.ts); null when the rule sets neither. */
  readonly policy: RulePolicy | null;
  /** The model rule this was compiled from. */
  readonly rule: RouteRule;
  /** The rule's and its backendRefs' filters compiled (src/filters/chain.ts); null when none has any. */
  readonly filters: RuleFilters | null;
  /** Rate limits, quotas and the concurrency limit attached to the rule (src/policy/); null when none. */
  readonly requestPolicy: RequestPolicyRuntime | null;
  /** The rule's retry budget (a route policy's retry.budget), shared by every thread; null when none. */
  readonly retryBudget: RetryBudget | null;
}

/**
 * Smooth weighted round robin, as nginx's upstream module (ngx_http_upstream_get_peer, 2012):
 * every pick adds each weight to its running score, takes the highest score and subtracts the
 * total from it. Over any window of `sum(weights)` picks each ref is chosen exactly `weight`
 * times, interleaved rather than in bursts (weights 1:3 give B A B B, B A B B, ...).
 * State lives on this object, and each worker thread compiles its own table, so it is per thread.
 */
export class CompiledRule implements MatchedRule {
  readonly routeName: string;
  readonly ruleName: string | undefined;
  readonly ruleIndex: number;
  readonly label: string;
  readonly backendRefs: BackendRef[];
  readonly policy: RulePolicy | null;
  readonly rule: RouteRule;
  readonly filters: RuleFilters | null;
  readonly requestPolicy: RequestPolicyRuntime | null;
  readonly retryBudget: RetryBudget | null;
  private readonly weights: Float64Array;
  private readonly scores: Float64Array;
  private readonly totalWeight: number;

  constructor(route: Route, rule: RouteRule, ruleIndex: number) {
    this.routeName = route.name;
    this.ruleName = rule.name;
    this.ruleIndex = ruleIndex;
    this.label = `${route.name}/${rule.name ?? 'rule' + ruleIndex}`;
    // Gateway API HTTPBackendRef.weight: 0 means "never send traffic here". Negative or
    // non-finite weights are schema errors upstream; treat them as 0 rather than poison the sum.
    this.backendRefs = rule.backendRefs.filter((ref) => Number.isFinite(ref.weight) && ref.weight > 0);
    this.weights = Float64Array.from(this.backendRefs, (ref) => ref.weight);
    this.scores = new Float64Array(this.backendRefs.length);
    let total = 0;
    for (const w of this.weights) total += w;
    this.totalWeight = total;
    this.policy = createRulePolicy(rule);
    this.rule = rule;
    this.filters = createRuleFilters(rule);
    this.requestPolicy = rule.policy === undefined ? null : createRequestPolicy(rule.policy, policyEnv());
    const budget = rule.retry?.budget;
    this.retryBudget = budget === undefined ? null : createRetryBudget(budget, policyEnv().shared[ruleBudgetId(route.name, ruleIndex, budget)]);
  }

  pickBackend(): BackendRef | null {
    const refs = this.backendRefs;
    const n = refs.length;
    if (n <= 1) return n === 1 ? refs[0] : null;
    const weights = this.weights;
    const scores = this.scores;
    let best = 0;
    let bestScore = -Infinity;
    for (let i = 0; i < n; i++) {
      const s = scores[i] + weights[i];
      scores[i] = s;
      if (s > bestScore) {
        bestScore = s;
        best = i;
      }
    }
    scores[best] -= this.totalWeight;
    return refs[best];
  }
}
