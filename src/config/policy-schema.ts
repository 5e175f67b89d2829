// Schemas of traffic policies: the body shared by both formats (rateLimit, quota, concurrency,
// loadBalancer, healthCheck, circuitBreaker, retry), the Kubernetes kind BackendTrafficPolicy
// (gatemesh.io/v1alpha1; the supported subset of gateway.envoyproxy.io/v1alpha1 reads the same)
// and the native `policies:` entries. Field names follow Envoy Gateway's BackendTrafficPolicy
// (api/v1alpha1/*_types.go) where it has the field. Unknown keys are rejected everywhere;
// defaults are applied, and cross-field rules checked, in policy.ts. Reference: README.md, "Traffic policies".
import { Type } from '@sinclair/typebox';
import type { Static, TSchema } from '@sinclair/typebox';
import { DURATION_EXPECTED, DURATION_PATTERN } from './duration';
import { ObjectMeta } from './gateway-api-schema';
import { MAX_RETRY_ATTEMPTS } from './timeouts-retry';

const Str = Type.String();
const Name = Type.String({ minLength: 1 });
const Any = Type.Unknown();
const Strict = <T extends Record<string, TSchema>>(props: T) => Type.Object(props, { additionalProperties: false });
const Literals = <T extends string>(...values: T[]) => Type.Union(values.map((v) => Type.Literal(v)));
const Duration = Type.String({ pattern: DURATION_PATTERN, expected: DURATION_EXPECTED });
/** Counters live in Int32Array slots shared by the worker threads. */
const Count = (minimum: number) => Type.Integer({ minimum, maximum: 2_147_483_647 });
const Percent = Type.Integer({ minimum: 0, maximum: 100 });

// --- keys ----------------------------------------------------------------------------------------

/** One part of a rate-limit or quota key (model PolicyKey); `name` for Header and QueryParam. */
export const KeyPart = Strict({
  type: Literals('ClientIP', 'Header', 'QueryParam', 'Route', 'Consumer'),
  name: Type.Optional(Name),
});
const Key = Type.Array(KeyPart, { minItems: 1, maxItems: 8 });
const OnMissingKey = Literals('Skip', 'Shared', 'Reject');

/**
 * Envoy Gateway's RateLimitSelectCondition, the subset that names a key: `headers` of type
 * Distinct and a `sourceCIDR` of type Distinct over every address. `methods` and `path` are
 * accepted here only so policy.ts can say what to use instead.
 */
const ClientSelector = Strict({
  headers: Type.Optional(
    Type.Array(
      Strict({
        name: Name,
        type: Type.Optional(Literals('Exact', 'RegularExpression', 'Distinct')),
        value: Type.Optional(Str),
        invert: Type.Optional(Type.Boolean()),
      }),
      { minItems: 1, maxItems: 16 },
    ),
  ),
  sourceCIDR: Type.Optional(Strict({ type: Type.Optional(Literals('Exact', 'Distinct')), value: Name })),
  methods: Type.Optional(Any),
  path: Type.Optional(Any),
});

// --- rateLimit -----------------------------------------------------------------------------------

export const RATE_UNIT_EXPECTED = `Second, Minute, Hour, Day or ${DURATION_EXPECTED}`;

export const RateLimitRule = Strict({
  /** Default `<policy>/limit<i>`. */
  name: Type.Optional(Name),
  /** Default [{ type: Route }]: one bucket for everything the rule sees. */
  key: Type.Optional(Key),
  /** Envoy Gateway's form of `key` (see ClientSelector). */
  clientSelectors: Type.Optional(Type.Array(ClientSelector, { minItems: 1, maxItems: 8 })),
  /** Default Skip. */
  onMissingKey: Type.Optional(OnMissingKey),
  limit: Strict({
    /** At most 2^27 per period: the shared bucket keeps `requests` emission intervals in 27 bits (src/policy/rate-limit/key-table.ts). */
    requests: Type.Integer({ minimum: 1, maximum: 134_217_728 }),
    unit: Type.Union([Literals('Second', 'Minute', 'Hour', 'Day'), Duration], { expected: RATE_UNIT_EXPECTED }),
  }),
});

const RateLimitRules = Type.Array(RateLimitRule, { minItems: 1, maxItems: 16 });

export const RateLimit = Strict({
  /** Default Local. */
  type: Type.Optional(Literals('Local', 'Global')),
  /** Global mode with Redis down; default open. */
  failureMode: Type.Optional(Literals('open', 'closed')),
  headers: Type.Optional(Strict({ draft: Type.Optional(Type.Boolean()), legacy: Type.Optional(Type.Boolean()) })),
  /** Exactly one of rules | local.rules | global.rules (the last two: Envoy Gateway's shape). */
  rules: Type.Optional(RateLimitRules),
  local: Type.Optional(Strict({ rules: RateLimitRules })),
  global: Type.Optional(Strict({ rules: RateLimitRules })),
});

// --- quota ---------------------------------------------------------------------------------------

export const QuotaRule = Strict({
  /** Default `<policy>/quota<i>`. */
  name: Type.Optional(Name),
  key: Type.Optional(Key),
  onMissingKey: Type.Optional(OnMissingKey),
  limit: Strict({ requests: Count(1), window: Literals('Hour', 'Day', 'Month') }),
  /** Default Calendar. */
  alignment: Type.Optional(Literals('Calendar', 'Rolling')),
});

export const Quota = Strict({
  /** Default true. */
  headers: Type.Optional(Type.Boolean()),
  rules: Type.Array(QuotaRule, { minItems: 1, maxItems: 16 }),
});

// --- concurrency ---------------------------------------------------------------------------------

export const Concurrency = Strict({
  maxInFlight: Count(1),
  /** Default 0 (no queue). */
  maxQueue: Type.Optional(Count(0)),
  /** Default 1s. */
  queueTimeout: Type.Optional(Duration),
  adaptive: Type.Optional(
    Strict({
      minLimit: Type.Optional(Count(1)),
      initialLimit: Type.Optional(Count(1)),
      /** A number >= 1, checked in policy.ts (schema-check words number bounds as integers). */
      tolerance: Type.Optional(Type.Number()),
      /** 0..1, checked in policy.ts. */
      smoothing: Type.Optional(Type.Number()),
      window: Type.Optional(Duration),
    }),
  ),
});

// --- loadBalancer --------------------------------------------------------------------------------

const NamedThing = Strict({ name: Name });

export const LoadBalancer = Strict({
  type: Literals('RoundRobin', 'LeastRequest', 'PeakEWMA', 'Random', 'ConsistentHash'),
  consistentHash: Type.Optional(
    Strict({
      type: Literals('SourceIP', 'Header', 'Cookie', 'QueryParam'),
      header: Type.Optional(NamedThing),
      cookie: Type.Optional(NamedThing),
      queryParam: Type.Optional(NamedThing),
      /** Default Maglev. */
      algorithm: Type.Optional(Literals('Maglev', 'RingHash')),
      /** Envoy Gateway's bounds; Maglev needs a prime. */
      tableSize: Type.Optional(Type.Integer({ minimum: 2, maximum: 5_000_011 })),
    }),
  ),
  peakEWMA: Type.Optional(Strict({ decay: Type.Optional(Duration), defaultRTT: Type.Optional(Duration) })),
});

// --- healthCheck ---------------------------------------------------------------------------------

export const HealthCheck = Strict({
  active: Type.Optional(
    Strict({
      type: Type.Optional(Type.Literal('HTTP', { expected: '"HTTP" (the only active check gatemesh runs)' })),
      http: Type.Optional(
        Strict({
          path: Type.Optional(Name),
          method: Type.Optional(Name),
          hostname: Type.Optional(Name),
          expectedStatuses: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1 })),
        }),
      ),
      interval: Type.Optional(Duration),
      timeout: Type.Optional(Duration),
      healthyThreshold: Type.Optional(Count(1)),
      unhealthyThreshold: Type.Optional(Count(1)),
    }),
  ),
  passive: Type.Optional(
    Strict({
      consecutive5XxErrors: Type.Optional(Count(0)),
      consecutiveGatewayErrors: Type.Optional(Count(0)),
      baseEjectionTime: Type.Optional(Duration),
      maxEjectionTime: Type.Optional(Duration),
      maxEjectionPercent: Type.Optional(Percent),
    }),
  ),
  /** Percent; default 50; 0 = off. */
  panicThreshold: Type.Optional(Percent),
  /** Default true. */
  honorRetryAfter: Type.Optional(Type.Boolean()),
});

// --- circuitBreaker ------------------------------------------------------------------------------

export const CircuitBreaker = Strict({
  maxConnections: Type.Optional(Count(1)),
  maxPendingRequests: Type.Optional(Count(0)),
  maxParallelRequests: Type.Optional(Count(1)),
  maxParallelRetries: Type.Optional(Count(0)),
});

// --- retry ---------------------------------------------------------------------------------------

export const Retry = Strict({
  /** Default 1 (model RouteRetry.attempts), at most 10. */
  numRetries: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_RETRY_ATTEMPTS })),
  retryOn: Type.Optional(
    Strict({
      triggers: Type.Optional(Type.Array(Literals('connect-failure', 'reset', 'retriable-status-codes', 'gateway-error', '5xx'), { minItems: 1 })),
      httpStatusCodes: Type.Optional(Type.Array(Type.Integer({ minimum: 400, maximum: 599 }), { minItems: 1 })),
      /** Default false. */
      nonIdempotent: Type.Optional(Type.Boolean()),
    }),
  ),
  perRetry: Type.Optional(
    Strict({
      timeout: Type.Optional(Duration),
      backOff: Type.Optional(Strict({ baseInterval: Type.Optional(Duration), maxInterval: Type.Optional(Duration) })),
    }),
  ),
  budget: Type.Optional(
    Strict({
      /** Retries as a percentage of requests, 0..100 (number); default 20. */
      percent: Type.Optional(Type.Number()),
      minRetriesPerSecond: Type.Optional(Count(0)),
      window: Type.Optional(Duration),
    }),
  ),
});

/** The sections, as properties: spread into the manifest spec and the native policy. */
export const PolicySections = {
  rateLimit: Type.Optional(RateLimit),
  quota: Type.Optional(Quota),
  concurrency: Type.Optional(Concurrency),
  loadBalancer: Type.Optional(LoadBalancer),
  healthCheck: Type.Optional(HealthCheck),
  circuitBreaker: Type.Optional(CircuitBreaker),
  retry: Type.Optional(Retry),
};

export const PolicyBody = Strict(PolicySections);

// --- Kubernetes ----------------------------------------------------------------------------------

/** Gateway API LocalPolicyTargetReferenceWithSectionName (same namespace as the policy). */
export const PolicyTargetRef = Strict({
  /** Default by kind: gateway.networking.k8s.io for Gateway and HTTPRoute, "" (core) for Service. */
  group: Type.Optional(Str),
  kind: Name,
  name: Name,
  /** Gateway: a listener name; HTTPRoute: a rule name; Service: a port name. */
  sectionName: Type.Optional(Name),
});

export const BackendTrafficPolicy = Strict({
  apiVersion: Name,
  kind: Name,
  metadata: ObjectMeta,
  status: Type.Optional(Any),
  spec: Strict({
    /** Envoy Gateway's deprecated singular form; exactly one of targetRef | targetRefs. */
    targetRef: Type.Optional(PolicyTargetRef),
    targetRefs: Type.Optional(Type.Array(PolicyTargetRef, { minItems: 1, maxItems: 16 })),
    ...PolicySections,
  }),
});

// --- native --------------------------------------------------------------------------------------

export const POLICY_NAME_EXPECTED = 'a policy name of letters, digits, "-", "_" and "." (no "/")';

export const PolicyName = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$',
  expected: POLICY_NAME_EXPECTED,
});

export const NativePolicy = Strict({ name: PolicyName, ...PolicySections });

/**
 * What a native listener, route or backend may carry: `policy: <name>` or `policy: { inline
 * sections }`, and/or `policies: [<name>, ...]`. Spread into their schemas.
 */
export const NativePolicyRefs = {
  policy: Type.Optional(Type.Union([PolicyName, PolicyBody])),
  policies: Type.Optional(Type.Array(PolicyName, { minItems: 1 })),
};

export type KeyPart = Static<typeof KeyPart>;
export type RateLimitRule = Static<typeof RateLimitRule>;
export type RateLimit = Static<typeof RateLimit>;
export type QuotaRule = Static<typeof QuotaRule>;
export type Quota = Static<typeof Quota>;
export type Concurrency = Static<typeof Concurrency>;
export type LoadBalancer = Static<typeof LoadBalancer>;
export type HealthCheck = Static<typeof HealthCheck>;
export type CircuitBreaker = Static<typeof CircuitBreaker>;
export type Retry = Static<typeof Retry>;
export type PolicyBody = Static<typeof PolicyBody>;
export type PolicyTargetRef = Static<typeof PolicyTargetRef>;
export type BackendTrafficPolicy = Static<typeof BackendTrafficPolicy>;
export type NativePolicy = Static<typeof NativePolicy>;
