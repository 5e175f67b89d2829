// Compiles Kubernetes Gateway API manifests (GatewayClass, Gateway, HTTPRoute, ReferenceGrant)
// plus core Service and EndpointSlice into model listeners and backends, as a gateway controller
// would: only Gateways of our class, routes attached per parentRef and hostname intersection,
// cross-namespace backendRefs only where a ReferenceGrant allows them.
import net from 'node:net';
import type { TSchema } from '@sinclair/typebox';
import type { TypeCheck } from '@sinclair/typebox/compiler';
import type { BackendRef, Endpoint, HTTPFilter, Listener, Route, RouteMatch, RouteRule } from './model';
import { compileManifestFilters, type PendingMirror } from './filters';
import type { Diagnostics } from './config-error';
import type { CompiledPart } from './compiled-part';
import { emptyPart } from './compiled-part';
import * as S from './gateway-api-schema';
import { compileSchema, schemaErrors } from './schema-check';
import { fieldName } from './yaml-source';
import type { SourceDoc } from './yaml-source';
import { hostnameProblem, routeHostnamesOn } from './hostname';
import { headerNameProblem, pathProblem, regexProblem } from './match-check';
import { defaultMatch } from './native';
import { compileRetry, compileTimeouts } from './timeouts-retry';
import { BackendTrafficPolicy } from './policy-schema';
import { createManifestPolicies, ruleVariants, type ManifestPolicies } from './policy-gateway-api';

/** GatewayClass spec.controllerName that gatemesh serves. */
export const CONTROLLER_NAME = 'gatemesh.io/gateway-controller';

const GW_GROUP = 'gateway.networking.k8s.io';
const DEFAULT_NAMESPACE = 'default';
/** EndpointSlice label naming the owning Service (discovery.k8s.io/v1). */
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

type Kind = 'GatewayClass' | 'Gateway' | 'HTTPRoute' | 'ReferenceGrant' | 'Service' | 'EndpointSlice' | 'BackendTrafficPolicy';

interface KindSpec {
  apiVersions: readonly string[];
  check: TypeCheck<TSchema>;
  /** Fatal kinds stop the load when invalid; the others are dropped with an error line. */
  fatal: boolean;
}

const KINDS: Record<Kind, KindSpec> = {
  GatewayClass: { apiVersions: [`${GW_GROUP}/v1`, `${GW_GROUP}/v1beta1`], check: compileSchema(S.GatewayClass), fatal: true },
  Gateway: { apiVersions: [`${GW_GROUP}/v1`, `${GW_GROUP}/v1beta1`], check: compileSchema(S.Gateway), fatal: true },
  HTTPRoute: { apiVersions: [`${GW_GROUP}/v1`, `${GW_GROUP}/v1beta1`], check: compileSchema(S.HTTPRoute), fatal: false },
  ReferenceGrant: { apiVersions: [`${GW_GROUP}/v1beta1`, `${GW_GROUP}/v1`], check: compileSchema(S.ReferenceGrant), fatal: false },
  Service: { apiVersions: ['v1'], check: compileSchema(S.Service), fatal: false },
  EndpointSlice: { apiVersions: ['discovery.k8s.io/v1'], check: compileSchema(S.EndpointSlice), fatal: false },
  // Traffic policies (policy-gateway-api.ts); Envoy Gateway's group reads the same, for the fields gatemesh has.
  BackendTrafficPolicy: { apiVersions: ['gatemesh.io/v1alpha1', 'gateway.envoyproxy.io/v1alpha1'], check: compileSchema(BackendTrafficPolicy), fatal: false },
};

interface Obj<T> {
  value: T;
  doc: SourceDoc;
  namespace: string;
  /** `namespace/name` (just `name` for the cluster-scoped GatewayClass). */
  id: string;
}

interface ServedListener {
  listener: Listener;
  spec: S.GatewayListener;
  gateway: Obj<S.Gateway>;
  index: number;
}

/** True when a document looks like a Kubernetes object (the format detection rule). */
export function isManifest(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'apiVersion' in value && 'kind' in value;
}

export function compileGatewayApi(docs: SourceDoc[], diag: Diagnostics): CompiledPart {
  const part = emptyPart();
  const objs = collect(docs, diag);
  const policies = createManifestPolicies(objs.BackendTrafficPolicy, diag);

  // GatewayClass → Gateways we serve.
  const classes = new Map(objs.GatewayClass.map((o) => [o.value.metadata.name, o]));
  const gateways = new Map<string, Obj<S.Gateway> | null>(); // null = known but not ours
  for (const gw of objs.Gateway) {
    const cls = classes.get(gw.value.spec.gatewayClassName);
    const line = gw.doc.lineOf(['spec', 'gatewayClassName']);
    if (!cls) {
      diag.warn(gw.doc.file, line, `Gateway ${gw.id} ignored: GatewayClass "${gw.value.spec.gatewayClassName}" not found (add one with spec.controllerName: ${CONTROLLER_NAME})`);
      gateways.set(gw.id, null);
    } else if (cls.value.spec.controllerName !== CONTROLLER_NAME) {
      diag.warn(gw.doc.file, line, `Gateway ${gw.id} ignored: its GatewayClass "${cls.id}" has controllerName ${cls.value.spec.controllerName}, not ${CONTROLLER_NAME}`);
      gateways.set(gw.id, null);
    } else {
      gateways.set(gw.id, gw);
    }
  }

  // Listeners of served Gateways.
  const listenersByGateway = new Map<string, ServedListener[]>();
  for (const gw of gateways.values()) {
    if (!gw) continue;
    const served: ServedListener[] = [];
    listenersByGateway.set(gw.id, served);
    const address = bindAddress(gw, diag);
    const seen = new Map<string, number>();
    gw.value.spec.listeners.forEach((spec, index) => {
      const path = ['spec', 'listeners', index];
      const first = seen.get(spec.name);
      if (first !== undefined) {
        diag.addFatal(gw.doc.file, gw.doc.lineOf([...path, 'name']), fieldName([...path, 'name']),
          `duplicate listener name "${spec.name}" (first is spec.listeners[${first}]); listener names must be unique in a Gateway`);
        return;
      }
      seen.set(spec.name, index);
      if (spec.protocol !== 'HTTP') {
        diag.warn(gw.doc.file, gw.doc.lineOf([...path, 'protocol']),
          `Gateway ${gw.id} listener "${spec.name}": protocol ${spec.protocol} is not supported yet (HTTP only); listener skipped`);
        return;
      }
      const hostname = spec.hostname?.toLowerCase();
      const hp = hostname === undefined ? undefined : hostnameProblem(hostname);
      if (hp) {
        diag.addFatal(gw.doc.file, gw.doc.lineOf([...path, 'hostname']), fieldName([...path, 'hostname']), hp);
        return;
      }
      if (spec.allowedRoutes?.namespaces?.from === 'Selector') {
        diag.warn(gw.doc.file, gw.doc.lineOf([...path, 'allowedRoutes', 'namespaces', 'from']),
          `Gateway ${gw.id} listener "${spec.name}": namespaces.from Selector needs Namespace labels from a cluster; treated as Same`);
      }
      const listener: Listener = { name: `${gw.id}/${spec.name}`, address, port: spec.port, protocol: 'HTTP', routes: [] };
      if (hostname !== undefined) listener.hostname = hostname;
      served.push({ listener, spec, gateway: gw, index });
      part.listeners.push({ listener, source: { file: gw.doc.file, line: gw.doc.lineOf(path) }, field: fieldName(path) });
    });
    if (served.length === 0) diag.warn(gw.doc.file, gw.doc.line, `Gateway ${gw.id} has no HTTP listener gatemesh can serve`);
  }

  // Services, their EndpointSlices, and ReferenceGrants, indexed for backendRef resolution.
  const services = new Map(objs.Service.map((o) => [o.id, o]));
  const slicesByService = new Map<string, Obj<S.EndpointSlice>[]>();
  for (const slice of objs.EndpointSlice) {
    const svc = slice.value.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc) {
      diag.warn(slice.doc.file, slice.doc.lineOf(['metadata']), `EndpointSlice ${slice.id} ignored: no ${SERVICE_NAME_LABEL} label`);
      continue;
    }
    const key = `${slice.namespace}/${svc}`;
    const list = slicesByService.get(key) ?? [];
    list.push(slice);
    slicesByService.set(key, list);
  }
  const backends = new Map<string, CompiledPart['backends'][number]>();
  const ctx: RefContext = { services, slicesByService, grants: objs.ReferenceGrant, backends, diag };

  // HTTPRoutes.
  const loaded = new Map<string, RouteRule[]>();
  for (const route of objs.HTTPRoute) {
    const hostnames = routeHostnames(route, diag);
    const rules = compileRules(route, ctx, hostnames === undefined);
    if (!rules || !hostnames) continue;
    loaded.set(route.id, rules);
    attach(route, rules, hostnames, gateways, listenersByGateway, diag, policies);
  }

  // Traffic policies: targets checked, backend policies set (route rules got theirs in attach).
  policies.finish({
    gateways: new Map([...gateways].map(([id, gw]) => [id, gw === null ? null : (listenersByGateway.get(id) ?? []).map((s) => s.spec.name)])),
    routes: loaded,
    services: new Map([...services].map(([id, svc]) => [id, new Map((svc.value.spec?.ports ?? []).map((p: S.ServicePort) => [p.port, p.name] as const))])),
    backends: [...backends.values()].map((b) => b.backend),
  });
  part.backends.push(...backends.values());
  return part;
}

/** Sorts documents by kind, drops invalid ones (fatal or not per kind), warns on unknown kinds. */
function collect(docs: SourceDoc[], diag: Diagnostics): { [K in Kind]: Obj<any>[] } & {
  GatewayClass: Obj<S.GatewayClass>[]; Gateway: Obj<S.Gateway>[]; HTTPRoute: Obj<S.HTTPRoute>[];
  ReferenceGrant: Obj<S.ReferenceGrant>[]; Service: Obj<S.Service>[]; EndpointSlice: Obj<S.EndpointSlice>[];
  BackendTrafficPolicy: Obj<BackendTrafficPolicy>[];
} {
  const out = { GatewayClass: [], Gateway: [], HTTPRoute: [], ReferenceGrant: [], Service: [], EndpointSlice: [], BackendTrafficPolicy: [] } as Record<Kind, Obj<any>[]>;
  const ids = new Map<string, SourceDoc>();
  for (const doc of docs) {
    if (!isManifest(doc.value)) {
      diag.addFatal(doc.file, doc.line, '(document)',
        'expected a Kubernetes object with apiVersion and kind (native config and manifests go in separate files)');
      continue;
    }
    const v = doc.value as { apiVersion: unknown; kind: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    const kind = String(v.kind) as Kind;
    const spec = Object.prototype.hasOwnProperty.call(KINDS, kind) ? KINDS[kind] : undefined;
    if (!spec || !spec.apiVersions.includes(String(v.apiVersion))) {
      diag.warn(doc.file, doc.lineOf(['kind']), `kind ${String(v.kind)} ignored (apiVersion ${String(v.apiVersion)}; gatemesh reads ` +
        'gateway.networking.k8s.io/v1 GatewayClass, Gateway, HTTPRoute, ReferenceGrant, v1 Service, discovery.k8s.io/v1 EndpointSlice, ' +
        'gatemesh.io/v1alpha1 BackendTrafficPolicy)');
      continue;
    }
    const errors = schemaErrors(spec.check, doc);
    if (errors.length > 0) {
      if (spec.fatal) {
        diag.fatal.push(...errors);
      } else {
        const name = typeof v.metadata?.name === 'string' ? v.metadata.name : '(unnamed)';
        const ns = typeof v.metadata?.namespace === 'string' ? v.metadata.namespace : DEFAULT_NAMESPACE;
        for (const e of errors) diag.addDropped(e.file, e.line, e.field, `${e.what}; ${kind} ${ns}/${name} not loaded`);
      }
      continue;
    }
    const meta = (doc.value as { metadata: { name: string; namespace?: string } }).metadata;
    const namespace = kind === 'GatewayClass' ? '' : meta.namespace ?? DEFAULT_NAMESPACE;
    const id = kind === 'GatewayClass' ? meta.name : `${namespace}/${meta.name}`;
    const first = ids.get(`${kind} ${id}`);
    if (first) {
      const what = `duplicate ${kind} ${id} (first at ${first.file}:${first.line}); this copy is ignored`;
      if (spec.fatal) diag.addFatal(doc.file, doc.lineOf(['metadata', 'name']), 'metadata.name', what);
      else diag.addDropped(doc.file, doc.lineOf(['metadata', 'name']), 'metadata.name', what);
      continue;
    }
    ids.set(`${kind} ${id}`, doc);
    out[kind].push({ value: doc.value, doc, namespace, id });
  }
  return out as ReturnType<typeof collect>;
}

/** Gateway spec.addresses[0] when it is an IP (type IPAddress, the default); else all interfaces. */
function bindAddress(gw: Obj<S.Gateway>, diag: Diagnostics): string {
  const first = gw.value.spec.addresses?.[0];
  if (!first) return '0.0.0.0';
  const type = first.type ?? 'IPAddress';
  if (type === 'IPAddress') {
    if (net.isIP(first.value) !== 0) return first.value;
    const path = ['spec', 'addresses', 0, 'value'];
    diag.addFatal(gw.doc.file, gw.doc.lineOf(path), fieldName(path), `expected an IP address for type IPAddress (got "${first.value}")`);
    return '0.0.0.0';
  }
  diag.warn(gw.doc.file, gw.doc.lineOf(['spec', 'addresses', 0]),
    `Gateway ${gw.id}: address type ${type} is not bindable; listening on all interfaces (0.0.0.0)`);
  return '0.0.0.0';
}

interface RefContext {
  services: Map<string, Obj<S.Service>>;
  slicesByService: Map<string, Obj<S.EndpointSlice>[]>;
  grants: Obj<S.ReferenceGrant>[];
  /** Backends built so far, each with the first backendRef that named it. */
  backends: Map<string, CompiledPart['backends'][number]>;
  diag: Diagnostics;
}

/** Rules with matches and resolved backendRefs, or undefined (route dropped, errors reported). */
function compileRules(route: Obj<S.HTTPRoute>, ctx: RefContext, alreadyBad: boolean): RouteRule[] | undefined {
  const { doc } = route;
  const before = ctx.diag.dropped.length;
  const bad = (path: (string | number)[], what: string): void => {
    ctx.diag.addDropped(doc.file, doc.lineOf(path), fieldName(path), `${what}; HTTPRoute ${route.id} not loaded`);
  };
  const ignored = (path: (string | number)[], what: string): void => {
    ctx.diag.warn(doc.file, doc.lineOf(path), `${fieldName(path)}: ${what} not implemented yet; ignored (HTTPRoute ${route.id})`);
  };
  const specRules = route.value.spec.rules ?? [];
  // Gateway API default: one rule matching PathPrefix "/" (with no backends: 500).
  const source: S.HTTPRouteRule[] = specRules.length > 0 ? specRules : [{}];
  const matchesByRule = source.map((rule, r) => {
    const matches = (rule.matches ?? []).map((m, i) => compileMatch(m, (sub, what) => bad(['spec', 'rules', r, 'matches', i, ...sub], what)));
    if (matches.length === 0) matches.push(defaultMatch());
    return matches;
  });
  const policies = source.map((rule, r) => ({
    timeouts: compileTimeouts(rule.timeouts, (sub, what) => bad(['spec', 'rules', r, 'timeouts', ...sub], what)),
    retry: compileRetry(rule.retry, (sub, what) => bad(['spec', 'rules', r, 'retry', ...sub], what)),
  }));
  checkRuleNames(source, bad);
  // Filters (src/config/filters.ts) are checked before the drop decision: a bad filter drops the route.
  const mirrors: PendingMirror[] = [];
  const filterSets = source.map((rule, r) => ruleFilters(route, rule, matchesByRule[r], ['spec', 'rules', r], bad, ctx, mirrors));
  if (alreadyBad || ctx.diag.dropped.length > before) return undefined;
  const rules = source.map((rule, r) => {
    const rp = ['spec', 'rules', r];
    if (rule.sessionPersistence !== undefined) ignored([...rp, 'sessionPersistence'], 'sessionPersistence');
    const backendRefs = (rule.backendRefs ?? []).map((ref, i) => {
      const resolved = resolveBackendRef(route, ref, [...rp, 'backendRefs', i], ctx);
      const refFilters = filterSets[r].refs[i];
      if (refFilters !== undefined) resolved.filters = refFilters;
      return resolved;
    });
    const out: RouteRule = { matches: matchesByRule[r], backendRefs };
    if (filterSets[r].rule !== undefined) out.filters = filterSets[r].rule;
    if (rule.name !== undefined) out.name = rule.name;
    const { timeouts, retry } = policies[r];
    if (timeouts !== undefined) out.timeouts = timeouts;
    if (retry !== undefined) out.retry = retry;
    return out;
  });
  // RequestMirror backendRefs resolve like any backendRef (Service + port, ReferenceGrant); one
  // that resolves to nothing is dropped from the gateway, as the spec says, and the rule still works.
  for (const m of mirrors) {
    const ref = resolveBackendRef(route, { ...m.ref }, m.path, ctx, 'the mirror is dropped');
    m.filter.backend = ref.backend;
  }
  return rules;
}

/** One rule's filter lists (the rule's and each backendRef's) → model, problems reported. */
function ruleFilters(
  route: Obj<S.HTTPRoute>,
  rule: S.HTTPRouteRule,
  matches: RouteMatch[],
  rp: (string | number)[],
  bad: (path: (string | number)[], what: string) => void,
  ctx: RefContext,
  mirrors: PendingMirror[],
): { rule: HTTPFilter[] | undefined; refs: (HTTPFilter[] | undefined)[] } {
  const { doc } = route;
  const warn = (path: (string | number)[], what: string): void => ctx.diag.warn(doc.file, doc.lineOf(path), `${fieldName(path)}: ${what} (HTTPRoute ${route.id})`);
  // The rule's shape for the cross-field checks: its matches and how many backendRefs it has.
  const shape: RouteRule = { matches, backendRefs: (rule.backendRefs ?? []).map(() => ({ backend: null, weight: 0 })) };
  return {
    rule: compileManifestFilters(rule.filters, shape, 'rule', [...rp, 'filters'], bad, warn, mirrors),
    refs: (rule.backendRefs ?? []).map((ref, i) =>
      compileManifestFilters(ref.filters, shape, 'backendRef', [...rp, 'backendRefs', i, 'filters'], bad, warn, mirrors),
    ),
  };
}

/** HTTPRouteRule.name: "This name MUST be unique within a Route if it is set." */
function checkRuleNames(rules: S.HTTPRouteRule[], bad: (path: (string | number)[], what: string) => void): void {
  const seen = new Map<string, number>();
  rules.forEach((rule, r) => {
    if (rule.name === undefined) return;
    const first = seen.get(rule.name);
    if (first === undefined) seen.set(rule.name, r);
    else bad(['spec', 'rules', r, 'name'], `duplicate rule name "${rule.name}" (also spec.rules[${first}].name); rule names must be unique within a route`);
  });
}

function compileMatch(m: S.HTTPRouteMatch, bad: (sub: (string | number)[], what: string) => void): RouteMatch {
  const match = defaultMatch();
  if (m.path) {
    const type = m.path.type ?? 'PathPrefix';
    const value = m.path.value ?? '/';
    const p = type === 'RegularExpression' ? regexProblem(value) : pathProblem(type, value);
    if (p) bad(['path', 'value'], p);
    match.path = { type, value };
  }
  (m.headers ?? []).forEach((h, i) => {
    const type = h.type ?? 'Exact';
    const np = headerNameProblem(h.name);
    if (np) bad(['headers', i, 'name'], np);
    const vp = type === 'RegularExpression' ? regexProblem(h.value) : undefined;
    if (vp) bad(['headers', i, 'value'], vp);
    match.headers.push({ type, name: h.name.toLowerCase(), value: h.value });
  });
  (m.queryParams ?? []).forEach((q, i) => {
    const type = q.type ?? 'Exact';
    const p = type === 'RegularExpression' ? regexProblem(q.value) : undefined;
    if (p) bad(['queryParams', i, 'value'], p);
    match.queryParams.push({ type, name: q.name, value: q.value });
  });
  if (m.method !== undefined) match.method = m.method;
  return match;
}

/** Lower-cased, validated spec.hostnames, or undefined when one is invalid (route dropped). */
function routeHostnames(route: Obj<S.HTTPRoute>, diag: Diagnostics): string[] | undefined {
  const out: string[] = [];
  let ok = true;
  (route.value.spec.hostnames ?? []).forEach((h, i) => {
    const lower = h.toLowerCase();
    const p = hostnameProblem(lower);
    if (p) {
      const path = ['spec', 'hostnames', i];
      diag.addDropped(route.doc.file, route.doc.lineOf(path), fieldName(path), `${p}; HTTPRoute ${route.id} not loaded`);
      ok = false;
    } else if (!out.includes(lower)) {
      out.push(lower);
    }
  });
  return ok ? out : undefined;
}

/**
 * One backendRef → BackendRef. Problems never fail the load: the ref resolves to null with the
 * Gateway API reason (ResolvedRefs condition reasons) and requests that pick it get 500.
 */
function resolveBackendRef(
  route: Obj<S.HTTPRoute>,
  ref: S.HTTPBackendRef,
  path: (string | number)[],
  ctx: RefContext,
  consequence = 'requests that pick it get 500',
): BackendRef {
  const weight = ref.weight ?? 1;
  const fail = (reason: string, why: string, at: (string | number)[] = path): BackendRef => {
    ctx.diag.warn(route.doc.file, route.doc.lineOf(at), `${fieldName(at)}: ${why}; ${consequence} (${reason})`);
    return { backend: null, weight, invalidReason: reason };
  };
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  if (group !== '' || kind !== 'Service') {
    return fail('InvalidKind', `backendRef kind ${group === '' ? 'core' : group}/${kind} is not supported (only core Service)`);
  }
  const ns = ref.namespace ?? route.namespace;
  // Checked before existence so a denied reference does not reveal whether the Service exists.
  if (ns !== route.namespace && !grantAllows(ctx.grants, route.namespace, ns, ref.name)) {
    return fail('RefNotPermitted', `Service ${ns}/${ref.name} is in another namespace and no ReferenceGrant in ${ns} allows HTTPRoutes from ${route.namespace}`);
  }
  const svc = ctx.services.get(`${ns}/${ref.name}`);
  if (!svc) return fail('BackendNotFound', `Service ${ns}/${ref.name} not found`);
  if (ref.port === undefined) return fail('BackendNotFound', 'port is required when the backendRef is a Service');
  const name = `${ns}/${ref.name}:${ref.port}`;
  if (ctx.backends.has(name)) return { backend: name, weight };
  const spec = svc.value.spec ?? {};
  let endpoints: Endpoint[];
  if (spec.type === 'ExternalName' && spec.externalName) {
    // ExternalName Services have no slices: the DNS name itself is the endpoint.
    endpoints = [{ address: spec.externalName, port: ref.port }];
  } else {
    const sp = (spec.ports ?? []).find((p) => p.port === ref.port);
    if (!sp) {
      return fail('BackendNotFound', `Service ${ns}/${ref.name} has no port ${ref.port} (ports: ${(spec.ports ?? []).map((p) => p.port).join(', ') || 'none'})`, [...path, 'port']);
    }
    endpoints = sliceEndpoints(ctx.slicesByService.get(`${ns}/${ref.name}`) ?? [], sp);
  }
  ctx.backends.set(name, { backend: { name, endpoints }, source: { file: route.doc.file, line: route.doc.lineOf(path) }, field: fieldName(path) });
  return { backend: name, weight };
}

/**
 * Ready endpoints of one Service port: every ready address × the slice port that carries it
 * (matched by the Service port's name; an unnamed Service port uses the slice's single port).
 */
function sliceEndpoints(slices: Obj<S.EndpointSlice>[], sp: S.ServicePort): Endpoint[] {
  const out: Endpoint[] = [];
  const seen = new Set<string>();
  for (const { value: slice } of slices) {
    const ports = (slice.ports ?? []).filter((p) => p.port !== undefined && (p.protocol ?? 'TCP') === 'TCP');
    const wanted = sp.name ?? '';
    const port = wanted !== '' ? ports.find((p) => (p.name ?? '') === wanted) : ports.length === 1 ? ports[0] : ports.find((p) => (p.name ?? '') === '');
    if (!port || port.port === undefined) continue;
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      for (const address of ep.addresses) {
        const key = `${address} ${port.port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ address, port: port.port });
      }
    }
  }
  return out;
}

/** ReferenceGrant in `toNs` allowing HTTPRoutes from `fromNs` to Service `name` (or all Services). */
function grantAllows(grants: Obj<S.ReferenceGrant>[], fromNs: string, toNs: string, name: string): boolean {
  return grants.some(
    (g) =>
      g.namespace === toNs &&
      g.value.spec.from.some((f) => f.group === GW_GROUP && f.kind === 'HTTPRoute' && f.namespace === fromNs) &&
      g.value.spec.to.some((t) => t.group === '' && t.kind === 'Service' && (t.name === undefined || t.name === name)),
  );
}

/** Copies the route into every listener its parentRefs select and that accepts it. */
function attach(
  route: Obj<S.HTTPRoute>,
  rules: RouteRule[],
  hostnames: string[],
  gateways: Map<string, Obj<S.Gateway> | null>,
  listenersByGateway: Map<string, ServedListener[]>,
  diag: Diagnostics,
  policies: ManifestPolicies,
): void {
  const { doc } = route;
  const attachedTo = new Set<Listener>();
  const variants = ruleVariants(rules);
  const creationTimestamp = route.value.metadata.creationTimestamp ?? undefined;
  (route.value.spec.parentRefs ?? []).forEach((pr, i) => {
    const path = ['spec', 'parentRefs', i];
    const line = doc.lineOf(path);
    const group = pr.group ?? GW_GROUP;
    const kind = pr.kind ?? 'Gateway';
    if (group !== GW_GROUP || kind !== 'Gateway') {
      diag.warn(doc.file, line, `${fieldName(path)}: parent ${group}/${kind} is not supported (only Gateway); ignored`);
      return;
    }
    const gwId = `${pr.namespace ?? route.namespace}/${pr.name}`;
    const gw = gateways.get(gwId);
    if (gw === undefined) {
      diag.warn(doc.file, line, `${fieldName(path)}: Gateway ${gwId} not found; HTTPRoute ${route.id} not attached to it`);
      return;
    }
    if (gw === null) return; // another controller's Gateway: already warned about, not ours to serve
    const candidates = (listenersByGateway.get(gwId) ?? []).filter(
      (s) => (pr.sectionName === undefined || s.spec.name === pr.sectionName) && (pr.port === undefined || s.spec.port === pr.port),
    );
    if (candidates.length === 0) {
      diag.warn(doc.file, line, `${fieldName(path)}: Gateway ${gwId} has no served HTTP listener` +
        `${pr.sectionName !== undefined ? ` named "${pr.sectionName}"` : ''}${pr.port !== undefined ? ` on port ${pr.port}` : ''}`);
      return;
    }
    for (const s of candidates) {
      if (attachedTo.has(s.listener)) continue;
      const why = notAllowed(s, route);
      if (why) {
        diag.warn(doc.file, line, `${fieldName(path)}: listener ${s.listener.name} does not allow HTTPRoute ${route.id}: ${why}`);
        continue;
      }
      const on = routeHostnamesOn(hostnames, s.listener.hostname);
      if (on === undefined) {
        diag.warn(doc.file, doc.lineOf(['spec', 'hostnames']),
          `HTTPRoute ${route.id}: no hostname in common with listener ${s.listener.name} (hostname ${s.listener.hostname}); not attached to it`);
        continue;
      }
      // Each listener's copy carries the policies its Gateway and listener add (policy-gateway-api.ts).
      const onListener = policies.rulesOn(route.id, variants, gwId, s.spec.name);
      const model: Route = { name: route.id, hostnames: on, rules: onListener, source: { file: doc.file, line: doc.line } };
      if (typeof creationTimestamp === 'string') model.creationTimestamp = creationTimestamp;
      s.listener.routes.push(model);
      attachedTo.add(s.listener);
    }
  });
  if (attachedTo.size === 0) {
    diag.warn(doc.file, doc.line, `HTTPRoute ${route.id} is not attached to any listener`);
  }
}

/** Listener allowedRoutes (namespaces.from default Same; kinds default HTTPRoute for HTTP). */
function notAllowed(s: ServedListener, route: Obj<S.HTTPRoute>): string | undefined {
  const allowed = s.spec.allowedRoutes;
  const kinds = allowed?.kinds;
  if (kinds && kinds.length > 0 && !kinds.some((k) => (k.group ?? GW_GROUP) === GW_GROUP && k.kind === 'HTTPRoute')) {
    return 'allowedRoutes.kinds does not include HTTPRoute';
  }
  const from = allowed?.namespaces?.from ?? 'Same';
  if (from !== 'All' && route.namespace !== s.gateway.namespace) {
    return `allowedRoutes.namespaces.from is ${from} and the route is in namespace ${route.namespace}, not ${s.gateway.namespace}`;
  }
  return undefined;
}
