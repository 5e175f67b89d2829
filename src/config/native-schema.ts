// Schema of the native YAML format (examples/README-native.md). Every block rejects unknown
// keys; defaults are listed here for readers and applied in native.ts.
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { RetrySchema, TimeoutsSchema } from './timeouts-retry';
import { NativeBackendRefFilters, NativeRouteFilters } from './filters-schema';
import { NativePolicy, NativePolicyRefs } from './policy-schema';

const Name = Type.String({ minLength: 1 });
const StringMap = Type.Record(Type.String(), Type.String(), { expected: 'a mapping of name: "value" strings' });

export const NativeListener = Type.Object(
  {
    name: Name,
    /** 0 = the OS picks a free port (tests). */
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
    /** Bind address, an IP literal; default 0.0.0.0 (all interfaces). */
    address: Type.Optional(Type.String({ minLength: 1, default: '0.0.0.0' })),
    /** Exact ("api.example.com") or wildcard ("*.example.com"); default any host. */
    hostname: Type.Optional(Type.String({ minLength: 1 })),
    /** Traffic policies for every route on this listener (policy-native.ts): `policy: <name> | { ... }`, `policies: [...]`. */
    ...NativePolicyRefs,
  },
  { additionalProperties: false },
);

export const NativeMatch = Type.Object(
  {
    /** Path prefix, element-wise (Gateway API PathPrefix). At most one of path/pathExact/pathRegex. */
    path: Type.Optional(Type.String()),
    pathExact: Type.Optional(Type.String()),
    pathRegex: Type.Optional(Type.String()),
    method: Type.Optional(Type.String({ minLength: 1 })),
    /** Exact value; names case-insensitive. */
    headers: Type.Optional(StringMap),
    headersRegex: Type.Optional(StringMap),
    query: Type.Optional(StringMap),
    queryRegex: Type.Optional(StringMap),
  },
  { additionalProperties: false },
);

export const NativeBackendRef = Type.Object(
  {
    name: Name,
    /** Default 1; 0 = never picked. Gateway API bound: 1,000,000. */
    weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 1 })),
    /** Header edits applied only when this backend is picked (Gateway API HTTPBackendRef.filters). */
    ...NativeBackendRefFilters,
  },
  { additionalProperties: false },
);

export const NativeRoute = Type.Object(
  {
    name: Name,
    /** Default: every native listener. */
    listeners: Type.Optional(Type.Array(Name)),
    /** Default: any host. */
    hostnames: Type.Optional(Type.Array(Name)),
    /** One match or a list (OR); default one match of path prefix "/". */
    match: Type.Optional(Type.Union([NativeMatch, Type.Array(NativeMatch)])),
    /** Shorthand for `backends: [{ name }]`; exactly one of backend | backends (neither with `redirect`). */
    backend: Type.Optional(Name),
    backends: Type.Optional(Type.Array(NativeBackendRef, { minItems: 1 })),
    /** Gateway API HTTPRouteTimeouts: `{ request: 5s, backendRequest: 1s }`; "0s" disables one. */
    timeouts: Type.Optional(TimeoutsSchema),
    /** Gateway API HTTPRouteRetry: `{ attempts: 2, codes: [502, 503], backoff: 100ms }`. */
    retry: Type.Optional(RetrySchema),
    /** HTTPRoute filters (filters-schema.ts): requestHeaders, responseHeaders, redirect, rewrite, mirror, cors. */
    ...NativeRouteFilters,
    /** Traffic policies (policy-native.ts): `policy: <name> | { ... }`, `policies: [...]`. */
    ...NativePolicyRefs,
  },
  { additionalProperties: false },
);

/** An endpoint with a load-balancing weight (model Endpoint.weight; default 1). */
export const NativeEndpoint = Type.Object(
  {
    address: Type.String({ minLength: 1 }),
    weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
);

export const NativeBackend = Type.Object(
  {
    name: Name,
    /** "host:port" entries, or `{ address: "host:port", weight: 3 }`; exactly one of endpoints | builtin. */
    endpoints: Type.Optional(Type.Array(Type.Union([Type.String(), NativeEndpoint]))),
    /** `demo`: gatemesh starts its built-in demo upstream for this backend. */
    builtin: Type.Optional(Type.Literal('demo', { expected: '"demo" (the only built-in upstream)' })),
    /** Backend-level traffic policies (load balancing, health, circuit breaking, ...). */
    ...NativePolicyRefs,
  },
  { additionalProperties: false },
);

export const NativeFile = Type.Object(
  {
    listeners: Type.Optional(Type.Array(NativeListener)),
    routes: Type.Optional(Type.Array(NativeRoute)),
    backends: Type.Optional(Type.Array(NativeBackend)),
    /** Named traffic policies, referenced by `policy:` / `policies:` (policy-native.ts). */
    policies: Type.Optional(Type.Array(NativePolicy)),
  },
  { additionalProperties: false },
);

export type NativeListener = Static<typeof NativeListener>;
export type NativeMatch = Static<typeof NativeMatch>;
export type NativeBackendRef = Static<typeof NativeBackendRef>;
export type NativeRoute = Static<typeof NativeRoute>;
export type NativeBackend = Static<typeof NativeBackend>;
export type NativeFile = Static<typeof NativeFile>;
