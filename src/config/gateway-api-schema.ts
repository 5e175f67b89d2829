// Schemas of the Kubernetes objects gatemesh reads, shaped after the upstream OpenAPI
// (gateway.networking.k8s.io v1 / v1beta1, core v1 Service, discovery.k8s.io/v1 EndpointSlice).
// Unknown keys are rejected everywhere we look inside; bodies gatemesh does not read yet
// (TLS, status, ExtensionRef, ...) are Type.Unknown so valid manifests still load. HTTPRoute
// filter bodies are in filters-schema.ts.
import { Type } from '@sinclair/typebox';
import type { Static, TSchema } from '@sinclair/typebox';
import { RetrySchema, TimeoutsSchema } from './timeouts-retry';
import { HTTPRouteFilter } from './filters-schema';

const Str = Type.String();
const Name = Type.String({ minLength: 1 });
const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Any = Type.Unknown();
const Strict = <T extends Record<string, TSchema>>(props: T) => Type.Object(props, { additionalProperties: false });
const StringMap = Type.Record(Type.String(), Type.String(), { expected: 'a mapping of string values' });

/** ObjectMeta: every field kubectl may print, so `kubectl get -o yaml` output loads. */
export const ObjectMeta = Strict({
  name: Name,
  namespace: Type.Optional(Name),
  labels: Type.Optional(StringMap),
  annotations: Type.Optional(StringMap),
  creationTimestamp: Type.Optional(Type.Union([Str, Type.Null()])),
  uid: Type.Optional(Str),
  resourceVersion: Type.Optional(Str),
  generation: Type.Optional(Type.Integer()),
  generateName: Type.Optional(Str),
  selfLink: Type.Optional(Str),
  deletionTimestamp: Type.Optional(Str),
  deletionGracePeriodSeconds: Type.Optional(Type.Integer()),
  finalizers: Type.Optional(Type.Array(Str)),
  ownerReferences: Type.Optional(Any),
  managedFields: Type.Optional(Any),
});

const Head = {
  apiVersion: Name,
  kind: Name,
  metadata: ObjectMeta,
  status: Type.Optional(Any),
};

// --- gateway.networking.k8s.io --------------------------------------------------------------

export const GatewayClass = Strict({
  ...Head,
  spec: Strict({
    controllerName: Name,
    description: Type.Optional(Str),
    parametersRef: Type.Optional(Any),
  }),
});

const RouteGroupKind = Strict({ group: Type.Optional(Str), kind: Name });

export const GatewayListener = Strict({
  name: Name,
  hostname: Type.Optional(Name),
  /** Gateway API allows 1..65535; gatemesh also takes 0 (OS picks, tests). */
  port: Port,
  protocol: Name,
  tls: Type.Optional(Any),
  allowedRoutes: Type.Optional(
    Strict({
      namespaces: Type.Optional(
        Strict({
          from: Type.Optional(Type.Union([Type.Literal('Same'), Type.Literal('All'), Type.Literal('Selector')])),
          selector: Type.Optional(Any),
        }),
      ),
      kinds: Type.Optional(Type.Array(RouteGroupKind)),
    }),
  ),
});

export const Gateway = Strict({
  ...Head,
  spec: Strict({
    gatewayClassName: Name,
    listeners: Type.Array(GatewayListener, { minItems: 1, maxItems: 64 }),
    addresses: Type.Optional(Type.Array(Strict({ type: Type.Optional(Str), value: Name }))),
    infrastructure: Type.Optional(Any),
    backendTLS: Type.Optional(Any),
    allowedListeners: Type.Optional(Any),
    tls: Type.Optional(Any),
    defaultScope: Type.Optional(Any),
  }),
});

const ParentRef = Strict({
  group: Type.Optional(Str),
  kind: Type.Optional(Name),
  namespace: Type.Optional(Name),
  name: Name,
  sectionName: Type.Optional(Name),
  port: Type.Optional(Port),
});

const ValueMatchType = Type.Union([Type.Literal('Exact'), Type.Literal('RegularExpression')]);


export const HTTPRouteMatch = Strict({
  path: Type.Optional(
    Strict({
      type: Type.Optional(Type.Union([Type.Literal('Exact'), Type.Literal('PathPrefix'), Type.Literal('RegularExpression')])),
      value: Type.Optional(Str),
    }),
  ),
  headers: Type.Optional(Type.Array(Strict({ type: Type.Optional(ValueMatchType), name: Name, value: Str }))),
  queryParams: Type.Optional(Type.Array(Strict({ type: Type.Optional(ValueMatchType), name: Name, value: Str }))),
  method: Type.Optional(
    Type.Union(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'].map((m) => Type.Literal(m))),
  ),
});

export const HTTPBackendRef = Strict({
  group: Type.Optional(Str),
  kind: Type.Optional(Name),
  name: Name,
  namespace: Type.Optional(Name),
  port: Type.Optional(Port),
  /** Default 1; 0 = never picked; Gateway API bound 1,000,000. */
  weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  filters: Type.Optional(Type.Array(HTTPRouteFilter)),
});

/**
 * Gateway API SectionName (HTTPRouteRule.name): a DNS subdomain, 1..253 characters; unique within
 * the route (checked in gateway-api.ts).
 */
const SectionName = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
  expected: 'a name of lower-case letters, digits, "-" and "." (a DNS subdomain, like "canary" or "v2.read"), at most 253 characters',
});

export const HTTPRouteRule = Strict({
  name: Type.Optional(SectionName),
  matches: Type.Optional(Type.Array(HTTPRouteMatch, { maxItems: 64 })),
  filters: Type.Optional(Type.Array(HTTPRouteFilter)),
  backendRefs: Type.Optional(Type.Array(HTTPBackendRef)),
  timeouts: Type.Optional(TimeoutsSchema),
  /** Experimental channel (GEP-1731). */
  retry: Type.Optional(RetrySchema),
  sessionPersistence: Type.Optional(Any),
});

export const HTTPRoute = Strict({
  ...Head,
  spec: Strict({
    parentRefs: Type.Optional(Type.Array(ParentRef)),
    hostnames: Type.Optional(Type.Array(Name)),
    rules: Type.Optional(Type.Array(HTTPRouteRule)),
    useDefaultGateways: Type.Optional(Any),
  }),
});

export const ReferenceGrant = Strict({
  ...Head,
  spec: Strict({
    from: Type.Array(Strict({ group: Str, kind: Name, namespace: Name }), { minItems: 1 }),
    to: Type.Array(Strict({ group: Str, kind: Name, name: Type.Optional(Name) }), { minItems: 1 }),
  }),
});

// --- core v1 / discovery.k8s.io/v1 --------------------------------------------------------------

const IntOrString = Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Name], { expected: 'a port number or a port name' });

export const ServicePort = Strict({
  name: Type.Optional(Str),
  port: Port,
  targetPort: Type.Optional(IntOrString),
  protocol: Type.Optional(Name),
  appProtocol: Type.Optional(Str),
  nodePort: Type.Optional(Type.Integer()),
});

export const Service = Strict({
  ...Head,
  spec: Type.Optional(
    Strict({
      ports: Type.Optional(Type.Array(ServicePort)),
      type: Type.Optional(Str),
      externalName: Type.Optional(Str),
      selector: Type.Optional(StringMap),
      clusterIP: Type.Optional(Str),
      clusterIPs: Type.Optional(Type.Array(Str)),
      externalIPs: Type.Optional(Type.Array(Str)),
      externalTrafficPolicy: Type.Optional(Str),
      internalTrafficPolicy: Type.Optional(Str),
      healthCheckNodePort: Type.Optional(Type.Integer()),
      ipFamilies: Type.Optional(Type.Array(Str)),
      ipFamilyPolicy: Type.Optional(Str),
      loadBalancerClass: Type.Optional(Str),
      loadBalancerIP: Type.Optional(Str),
      loadBalancerSourceRanges: Type.Optional(Type.Array(Str)),
      allocateLoadBalancerNodePorts: Type.Optional(Type.Boolean()),
      publishNotReadyAddresses: Type.Optional(Type.Boolean()),
      sessionAffinity: Type.Optional(Str),
      sessionAffinityConfig: Type.Optional(Any),
      trafficDistribution: Type.Optional(Str),
    }),
  ),
});

export const EndpointSlice = Strict({
  ...Head,
  addressType: Type.Union([Type.Literal('IPv4'), Type.Literal('IPv6'), Type.Literal('FQDN')]),
  /** Required by the API but printed as `null` when empty; absent is taken as none. */
  endpoints: Type.Optional(Type.Union([Type.Array(
    Strict({
      addresses: Type.Array(Name, { minItems: 1 }),
      /** `ready` missing means ready (EndpointConditions docs: "nil should be interpreted as true"). */
      conditions: Type.Optional(
        Strict({
          ready: Type.Optional(Type.Boolean()),
          serving: Type.Optional(Type.Boolean()),
          terminating: Type.Optional(Type.Boolean()),
        }),
      ),
      hostname: Type.Optional(Str),
      nodeName: Type.Optional(Str),
      zone: Type.Optional(Str),
      targetRef: Type.Optional(Any),
      hints: Type.Optional(Any),
      deprecatedTopology: Type.Optional(Any),
    }),
  ), Type.Null()])),
  ports: Type.Optional(
    Type.Union([
      Type.Array(
        Strict({
          name: Type.Optional(Str),
          port: Type.Optional(Port),
          protocol: Type.Optional(Name),
          appProtocol: Type.Optional(Str),
        }),
      ),
      Type.Null(),
    ]),
  ),
});

export type GatewayClass = Static<typeof GatewayClass>;
export type Gateway = Static<typeof Gateway>;
export type GatewayListener = Static<typeof GatewayListener>;
export type HTTPRoute = Static<typeof HTTPRoute>;
export type HTTPRouteRule = Static<typeof HTTPRouteRule>;
export type HTTPRouteMatch = Static<typeof HTTPRouteMatch>;
export type HTTPBackendRef = Static<typeof HTTPBackendRef>;
export type ReferenceGrant = Static<typeof ReferenceGrant>;
export type Service = Static<typeof Service>;
export type ServicePort = Static<typeof ServicePort>;
export type EndpointSlice = Static<typeof EndpointSlice>;
