// BackendTrafficPolicy attachment for the manifests (Gateway API policy attachment, GEP-713 /
// GEP-2648 direct attachment): each policy's targetRefs name a Gateway (or one of its listeners),
// an HTTPRoute (or one of its rules) or a Service (or one of its ports) in the policy's namespace.
// Per section the most specific attachment wins: rule > HTTPRoute > listener > Gateway; a Service
// target sets the backend's policy. Among policies on the same target the oldest wins (Gateway
// API conflict resolution: creationTimestamp, then namespace/name), with a warning.
import type { Backend, RouteRule } from './model';
import type { Diagnostics } from './config-error';
import type * as P from './policy-schema';
import { BackendPolicies, compilePolicy, createRuleVariants, sectionMap, type CompiledPolicy, type SectionMap } from './policy';
import { fieldName } from './yaml-source';
import type { SourceDoc } from './yaml-source';

const GW_GROUP = 'gateway.networking.k8s.io';

/** A loaded BackendTrafficPolicy document (gateway-api.ts's Obj). */
export interface PolicyObj {
  value: P.BackendTrafficPolicy;
  doc: SourceDoc;
  namespace: string;
  id: string;
}

/** What the policies are checked against once every object is compiled. */
export interface ManifestWorld {
  /** Gateway id → served listener names, or null for another controller's Gateway. */
  gateways: Map<string, string[] | null>;
  /** Loaded HTTPRoute id → its rules. */
  routes: Map<string, RouteRule[]>;
  /** Service id → its port names by port number. */
  services: Map<string, Map<number, string | undefined>>;
  /** Backends built from backendRefs (`ns/svc:port`). */
  backends: Iterable<Backend>;
}

interface Attachment {
  policy: CompiledPolicy;
  /** Path of the targetRef in the policy document. */
  path: (string | number)[];
  doc: SourceDoc;
}

export interface ManifestPolicies {
  /** Rules of `routeId` as attached to listener `listener` of Gateway `gatewayId` (policy and retry set). */
  rulesOn(routeId: string, variants: RuleVariants, gatewayId: string, listener: string): RouteRule[];
  /** Warns about targets that do not exist and sets every backend's policy. */
  finish(world: ManifestWorld): void;
}

export type RuleVariants = { rules: RouteRule[]; pick: ReturnType<typeof createRuleVariants> };

export function ruleVariants(rules: RouteRule[]): RuleVariants {
  return { rules, pick: createRuleVariants(rules) };
}

const key = (kind: string, id: string, section?: string): string => (section === undefined ? `${kind} ${id}` : `${kind} ${id}/${section}`);

/** Compiles every policy (invalid ones are dropped with an error line) and indexes their targets. */
export function createManifestPolicies(objs: PolicyObj[], diag: Diagnostics): ManifestPolicies {
  // Gateway API conflict resolution: oldest creationTimestamp first; without one, after those; then namespace/name.
  const ordered = [...objs].sort((a, b) => {
    const ta = a.value.metadata.creationTimestamp ?? undefined;
    const tb = b.value.metadata.creationTimestamp ?? undefined;
    if (ta !== tb) {
      if (ta === undefined) return 1;
      if (tb === undefined) return -1;
      const d = Date.parse(ta) - Date.parse(tb);
      if (d !== 0 && !Number.isNaN(d)) return d;
    }
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
  const byTarget = new Map<string, Attachment[]>();
  ordered.forEach((obj, rank) => {
    const { doc, value } = obj;
    const label = `BackendTrafficPolicy ${obj.id}`;
    const before = diag.dropped.length;
    const bad = (path: (string | number)[], what: string): void => {
      diag.addDropped(doc.file, doc.lineOf(path), fieldName(path), `${what}; ${label} not loaded`);
    };
    const spec = value.spec;
    if ((spec.targetRef === undefined) === (spec.targetRefs === undefined)) {
      bad(['spec'], 'set exactly one of targetRefs: [{ kind, name }] or targetRef: { kind, name } (what the policy attaches to)');
    }
    const { targetRef, targetRefs, ...body } = spec;
    const policy = compilePolicy({ id: obj.id, label, file: doc.file, line: doc.line, rank }, body, (path, what) => bad(['spec', ...path], what));
    if (diag.dropped.length > before) return;
    const refs: [P.PolicyTargetRef, (string | number)[]][] = targetRefs !== undefined
      ? targetRefs.map((r, i) => [r, ['spec', 'targetRefs', i]])
      : [[targetRef as P.PolicyTargetRef, ['spec', 'targetRef']]];
    for (const [ref, path] of refs) {
      const group = ref.group ?? (ref.kind === 'Service' ? '' : GW_GROUP);
      const supported = (ref.kind === 'Service' && group === '') || ((ref.kind === 'Gateway' || ref.kind === 'HTTPRoute') && group === GW_GROUP);
      if (!supported) {
        diag.warn(doc.file, doc.lineOf(path), `${fieldName(path)}: target ${group === '' ? 'core' : group}/${ref.kind} is not supported ` +
          `(Gateway and HTTPRoute of ${GW_GROUP}, core Service); ${label} not attached to it`);
        continue;
      }
      const k = key(ref.kind, `${obj.namespace}/${ref.name}`, ref.sectionName);
      const list = byTarget.get(k) ?? [];
      if (!list.some((a) => a.policy === policy)) list.push({ policy, path, doc });
      byTarget.set(k, list);
    }
  });

  const maps = new Map<string, SectionMap | undefined>();
  const mapOf = (k: string): SectionMap | undefined => {
    if (maps.has(k)) return maps.get(k);
    const list = byTarget.get(k);
    const m = list === undefined ? undefined : sectionMap(list.map((a) => a.policy), (section, winner, loser) => {
      diag.warn(loser.file, loser.line, `${loser.label} and ${winner.label} both set ${section} on ${k}; ` +
        `the older, ${winner.id}, wins (Gateway API conflict resolution: creationTimestamp, then namespace/name)`);
    });
    maps.set(k, m);
    return m;
  };
  const backends = new BackendPolicies();

  return {
    rulesOn(routeId, variants, gatewayId, listener) {
      const route = mapOf(key('HTTPRoute', routeId));
      const outer = [mapOf(key('Gateway', gatewayId, listener)), mapOf(key('Gateway', gatewayId))];
      const chains = variants.rules.map((r) => [r.name === undefined ? undefined : mapOf(key('HTTPRoute', routeId, r.name)), route, ...outer]);
      const rules = variants.pick(chains);
      rules.forEach((r, i) => {
        const names = r.backendRefs.map((b) => b.backend).filter((b): b is string => b !== null);
        backends.claim(names, chains[i], `HTTPRoute ${routeId}`);
      });
      return rules;
    },

    finish(world) {
      // Targets that do not exist: Envoy Gateway reports them as Accepted=False; we warn.
      for (const [k, list] of byTarget) {
        const [kind, rest] = [k.slice(0, k.indexOf(' ')), k.slice(k.indexOf(' ') + 1)];
        const [ns, name, section] = rest.split('/');
        const id = `${ns}/${name}`;
        let why: string | undefined;
        if (kind === 'Gateway') {
          const gw = world.gateways.get(id);
          if (gw === undefined) why = `Gateway ${id} not found`;
          else if (gw === null) why = `Gateway ${id} is not served by gatemesh (its GatewayClass is another controller's)`;
          else if (section !== undefined && !gw.includes(section)) why = `Gateway ${id} has no served HTTP listener named "${section}" (listeners: ${gw.join(', ') || 'none'})`;
        } else if (kind === 'HTTPRoute') {
          const rules = world.routes.get(id);
          const names = (rules ?? []).map((r) => r.name).filter((n): n is string => n !== undefined);
          if (rules === undefined) why = `HTTPRoute ${id} not found (or not loaded: see its errors)`;
          else if (section !== undefined && !names.includes(section)) why = `HTTPRoute ${id} has no rule named "${section}" (rule names: ${names.join(', ') || 'none'})`;
        } else {
          const ports = world.services.get(id);
          const names = [...(ports?.values() ?? [])].filter((n): n is string => n !== undefined);
          if (ports === undefined) why = `Service ${id} not found`;
          else if (section !== undefined && !names.includes(section)) why = `Service ${id} has no port named "${section}" (port names: ${names.join(', ') || 'none'})`;
        }
        if (why === undefined) {
          mapOf(k); // reports same-target conflicts even where no route or backend asks
          continue;
        }
        for (const a of list) diag.warn(a.doc.file, a.doc.lineOf(a.path), `${fieldName(a.path)}: ${why}; ${a.policy.label} not attached to it`);
      }

      const said = new Set<string>();
      const once = (file: string, line: number, what: string): void => {
        const m = `${file}:${line}: ${what}`;
        if (!said.has(m)) {
          said.add(m);
          diag.warn(file, line, what);
        }
      };
      for (const backend of world.backends) {
        // `ns/svc:port`: the Service, and the port's name for sectionName targets.
        const colon = backend.name.lastIndexOf(':');
        const svc = backend.name.slice(0, colon);
        const portName = world.services.get(svc)?.get(Number(backend.name.slice(colon + 1)));
        const own = [portName === undefined ? undefined : mapOf(key('Service', svc, portName)), mapOf(key('Service', svc))];
        backends.apply(
          backend,
          own,
          (p, what) => once(p.file, p.line, `${what} (${p.label} on Service ${svc})`),
          (section, winner, loser) => once(loser.policy.file, loser.policy.line,
            `backend ${backend.name} gets ${section} from ${winner.policy.label} (via ${winner.via}) and ${loser.policy.label} ` +
            `(via ${loser.via}); the older, ${winner.policy.id}, wins; attach a policy with ${section} to Service ${svc} to choose`),
        );
      }
    },
  };
}

/**
 * True when incremental reload (manifest-memo.ts) must do a full compile. It compiles each
 * HTTPRoute file with the non-route documents alone, which is exact only when no policy result
 * depends on routes in other files:
 * - a policy targeting an HTTPRoute is "not found" in every compile without that route;
 * - backend-level sections (loadBalancer, healthCheck, circuitBreaker) on a Gateway or HTTPRoute
 *   reach backends through routes in any file, and two files may disagree (oldest wins);
 * - a Service target's quota or per-route retry warns once per backend, i.e. per route file.
 */
export function policiesNeedFullCompile(docs: SourceDoc[]): boolean {
  return docs.some((d) => {
    const v = d.value as { kind?: unknown; spec?: Record<string, unknown> } | null;
    if (v?.kind !== 'BackendTrafficPolicy' || typeof v.spec !== 'object' || v.spec === null) return false;
    const s = v.spec;
    const refs = [...(Array.isArray(s.targetRefs) ? s.targetRefs : []), ...(s.targetRef !== undefined ? [s.targetRef] : [])]
      .map((r) => (r as { kind?: unknown } | null)?.kind);
    if (refs.includes('HTTPRoute')) return true;
    const backendLevel = s.loadBalancer !== undefined || s.healthCheck !== undefined || s.circuitBreaker !== undefined;
    if (backendLevel && refs.some((k) => k !== 'Service')) return true;
    const retry = s.retry as Record<string, unknown> | undefined;
    const perRoute = retry !== undefined && (typeof retry !== 'object' || retry === null || Object.keys(retry).some((k) => k !== 'budget') || retry.budget === undefined);
    return refs.includes('Service') && (s.quota !== undefined || perRoute);
  });
}
