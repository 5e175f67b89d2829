// Compiles native YAML documents (listeners / routes / backends, examples/README-native.md)
// into model listeners and backends. Schema errors and cross-field errors here are fatal.
import net from 'node:net';
import type { Backend, BackendRef, HeaderMatch, Listener, QueryParamMatch, Route, RouteMatch, RouteRule } from './model';
import { compileRetry, compileTimeouts } from './timeouts-retry';
import { compileNativeFilters } from './filters';
import type { Diagnostics } from './config-error';
import type { CompiledPart } from './compiled-part';
import { emptyPart } from './compiled-part';
import { NativeFile } from './native-schema';
import type { NativeBackend, NativeBackendRef, NativeListener, NativeMatch, NativeRoute } from './native-schema';
import { compileSchema, schemaErrors } from './schema-check';
import { fieldName } from './yaml-source';
import type { SourceDoc } from './yaml-source';
import { hostnameProblem, routeHostnamesOn } from './hostname';
import { headerNameProblem, HTTP_METHODS, pathProblem, regexProblem } from './match-check';
import { parseEndpoint } from './endpoint-address';
import type { NativePolicy } from './policy-schema';
import { createNativePolicies, type NativeOwner } from './policy-native';
import { createRuleVariants, type SectionMap } from './policy';

const checkNativeFile = compileSchema(NativeFile);

interface Located<T> {
  item: T;
  doc: SourceDoc;
  path: (string | number)[];
}

/** Compiles every native document (all files together: names are unique across files). */
export function compileNative(docs: SourceDoc[], diag: Diagnostics): CompiledPart {
  const part = emptyPart();
  const listeners: Located<NativeListener>[] = [];
  const routes: Located<NativeRoute>[] = [];
  const backends: Located<NativeBackend>[] = [];
  const policyEntries: Located<NativePolicy>[] = [];
  for (const doc of docs) {
    if (typeof doc.value !== 'object' || Array.isArray(doc.value)) {
      diag.addFatal(doc.file, doc.line, '(document)', 'expected a mapping with listeners, routes and backends');
      continue;
    }
    const errors = schemaErrors(checkNativeFile, doc);
    if (errors.length > 0) {
      diag.fatal.push(...errors);
      continue;
    }
    const file = doc.value as NativeFile;
    file.listeners?.forEach((item, i) => listeners.push({ item, doc, path: ['listeners', i] }));
    file.routes?.forEach((item, i) => routes.push({ item, doc, path: ['routes', i] }));
    file.backends?.forEach((item, i) => backends.push({ item, doc, path: ['backends', i] }));
    file.policies?.forEach((item, i) => policyEntries.push({ item, doc, path: ['policies', i] }));
  }

  const fatal = (loc: Located<unknown>, sub: (string | number)[], what: string): void => {
    const path = [...loc.path, ...sub];
    diag.addFatal(loc.doc.file, loc.doc.lineOf(path), fieldName(path), what);
  };
  const where = (loc: Located<unknown>): string => `${loc.doc.file}:${loc.doc.lineOf(loc.path)}`;

  // Traffic policies (policy-native.ts): named ones first, then each owner's references.
  const policies = createNativePolicies(policyEntries.map((loc) => ({
    item: loc.item,
    file: loc.doc.file,
    line: loc.doc.lineOf(loc.path),
    bad: (sub, what) => fatal(loc, sub, what),
  })));
  const policyOf = (kind: NativeOwner['kind'], loc: Located<{ name: string } & NativeOwner['refs']>): SectionMap | undefined =>
    policies.attach(
      { kind, name: loc.item.name, refs: loc.item, file: loc.doc.file, line: loc.doc.lineOf([...loc.path, 'policy']) },
      (sub, what) => fatal(loc, sub, what),
    );

  // Listeners.
  const listenerByName = new Map<string, { listener: Listener; loc: Located<NativeListener>; policy: SectionMap | undefined }>();
  for (const loc of listeners) {
    const l = loc.item;
    const first = listenerByName.get(l.name);
    if (first) {
      fatal(loc, ['name'], `duplicate listener name "${l.name}" (first at ${where(first.loc)}); listener names must be unique`);
      continue;
    }
    const address = l.address ?? '0.0.0.0';
    if (net.isIP(address) === 0) {
      fatal(loc, ['address'], `expected an IP address to bind, such as 0.0.0.0 (all interfaces) or 127.0.0.1 (got "${address}")`);
    }
    const hostname = l.hostname?.toLowerCase();
    const hp = hostname === undefined ? undefined : hostnameProblem(hostname);
    if (hp) fatal(loc, ['hostname'], hp);
    const listener: Listener = { name: l.name, address, port: l.port, protocol: 'HTTP', routes: [] };
    if (hostname !== undefined) listener.hostname = hostname;
    listenerByName.set(l.name, { listener, loc, policy: policyOf('listener', loc) });
    part.listeners.push({ listener, source: { file: loc.doc.file, line: loc.doc.lineOf(loc.path) }, field: fieldName(loc.path) });
  }

  // Backends.
  const backendNames = new Map<string, Located<NativeBackend>>();
  const backendPolicy = new Map<Backend, SectionMap | undefined>();
  for (const loc of backends) {
    const b = loc.item;
    const first = backendNames.get(b.name);
    if (first) {
      fatal(loc, ['name'], `duplicate backend name "${b.name}" (first at ${where(first)}); backend names must be unique`);
      continue;
    }
    backendNames.set(b.name, loc);
    if ((b.endpoints === undefined) === (b.builtin === undefined)) {
      fatal(loc, [], 'set exactly one of `endpoints: ["host:port", ...]` or `builtin: demo`');
      continue;
    }
    const backend: Backend = { name: b.name, endpoints: [] };
    (b.endpoints ?? []).forEach((entry, i) => {
      const text = typeof entry === 'string' ? entry : entry.address;
      const ep = parseEndpoint(text);
      if (typeof ep === 'string') fatal(loc, typeof entry === 'string' ? ['endpoints', i] : ['endpoints', i, 'address'], ep);
      else {
        if (typeof entry !== 'string' && entry.weight !== undefined) ep.weight = entry.weight;
        backend.endpoints.push(ep);
      }
    });
    backendPolicy.set(backend, policyOf('backend', loc));
    if (b.builtin === 'demo') part.demoBackends.push(b.name);
    part.backends.push({ backend, source: { file: loc.doc.file, line: loc.doc.lineOf(loc.path) }, field: fieldName(loc.path) });
  }

  // Routes.
  const routeNames = new Map<string, Located<NativeRoute>>();
  for (const loc of routes) {
    const r = loc.item;
    const first = routeNames.get(r.name);
    if (first) {
      fatal(loc, ['name'], `duplicate route name "${r.name}" (first at ${where(first)}); route names must be unique`);
      continue;
    }
    routeNames.set(r.name, loc);
    const before = diag.fatal.length;

    const targets: Listener[] = [];
    if (r.listeners === undefined) {
      for (const { listener } of listenerByName.values()) targets.push(listener);
    } else {
      r.listeners.forEach((name, i) => {
        const found = listenerByName.get(name);
        if (found) targets.push(found.listener);
        else fatal(loc, ['listeners', i], `no listener named "${name}" (known: ${[...listenerByName.keys()].join(', ') || 'none'})`);
      });
    }

    const hostnames: string[] = [];
    (r.hostnames ?? []).forEach((h, i) => {
      const lower = h.toLowerCase();
      const p = hostnameProblem(lower);
      if (p) fatal(loc, ['hostnames', i], p);
      else if (!hostnames.includes(lower)) hostnames.push(lower);
    });

    const matchList = r.match === undefined ? [] : Array.isArray(r.match) ? r.match : [r.match];
    const matches: RouteMatch[] = [];
    matchList.forEach((m, i) => {
      const sub = Array.isArray(r.match) ? ['match', i] : ['match'];
      const built = compileMatch(m, (field, what) => fatal(loc, [...sub, ...field], what));
      if (built) matches.push(built);
    });
    if (matches.length === 0) matches.push(defaultMatch());

    let refs: NativeBackendRef[] = [];
    if (r.backend !== undefined && r.backends !== undefined) {
      fatal(loc, [], 'set exactly one of `backend: <name>` or `backends: [{ name, weight }]`');
    } else if (r.backend === undefined && r.backends === undefined) {
      // A redirect answers every request itself: it needs no backend (and may not have one).
      if (r.redirect === undefined) fatal(loc, [], 'set exactly one of `backend: <name>` or `backends: [{ name, weight }]`');
    } else {
      refs = r.backends ?? [{ name: r.backend as string }];
    }
    const backendRefs: BackendRef[] = refs.map((ref, i) => {
      const weight = ref.weight ?? 1;
      if (backendNames.has(ref.name)) return { backend: ref.name, weight };
      const path = r.backend !== undefined ? [...loc.path, 'backend'] : [...loc.path, 'backends', i, 'name'];
      diag.warn(
        loc.doc.file,
        loc.doc.lineOf(path),
        `${fieldName(path)}: no backend named "${ref.name}"; requests to route "${r.name}" that pick it get 500 (BackendNotFound)`,
      );
      return { backend: null, weight, invalidReason: 'BackendNotFound' };
    });

    const timeouts = compileTimeouts(r.timeouts, (sub, what) => fatal(loc, ['timeouts', ...sub], what));
    const retry = compileRetry(r.retry, (sub, what) => fatal(loc, ['retry', ...sub], what));
    const rule: RouteRule = { matches, backendRefs };
    if (timeouts !== undefined) rule.timeouts = timeouts;
    if (retry !== undefined) rule.retry = retry;
    attachNativeFilters(r, rule, refs, loc, fatal, backendNames, diag);
    const routePolicy = policyOf('route', loc);
    const variants = createRuleVariants([rule]);

    if (diag.fatal.length > before) continue;
    for (const listener of targets) {
      const on = routeHostnamesOn(hostnames, listener.hostname);
      if (on === undefined) {
        diag.warn(
          loc.doc.file,
          loc.doc.lineOf([...loc.path, 'hostnames']),
          `route "${r.name}": no hostname in common with listener "${listener.name}" (hostname ${listener.hostname}); not attached to it`,
        );
        continue;
      }
      // Most specific first: the route's policies, then its listener's (policy-native.ts).
      const chain = [routePolicy, listenerByName.get(listener.name)?.policy];
      const rules = variants([chain]);
      policies.backends.claim(rule.backendRefs.map((b) => b.backend).filter((b): b is string => b !== null), chain, `route "${r.name}"`);
      const route: Route = {
        name: r.name,
        hostnames: on,
        rules,
        source: { file: loc.doc.file, line: loc.doc.lineOf(loc.path) },
      };
      listener.routes.push(route);
    }
  }
  for (const [backend, own] of backendPolicy) policies.finishBackend(backend, own, (file, line, what) => diag.warn(file, line, what));
  return part;
}

export function defaultMatch(): RouteMatch {
  return { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] };
}

/** One native match → model match; reports problems through `bad` and returns undefined. */
function compileMatch(m: NativeMatch, bad: (field: string[], what: string) => void): RouteMatch | undefined {
  let ok = true;
  const fail = (field: string[], what: string): void => {
    ok = false;
    bad(field, what);
  };
  const set = (['path', 'pathExact', 'pathRegex'] as const).filter((k) => m[k] !== undefined);
  const match = defaultMatch();
  if (set.length > 1) {
    fail([set[1]], `set only one of path, pathExact, pathRegex (also set: ${set[0]})`);
  } else if (m.path !== undefined || m.pathExact !== undefined) {
    const type = m.path !== undefined ? 'PathPrefix' : 'Exact';
    const value = (m.path ?? m.pathExact) as string;
    const p = pathProblem(type, value);
    if (p) fail([set[0]], p);
    match.path = { type, value };
  } else if (m.pathRegex !== undefined) {
    const p = regexProblem(m.pathRegex);
    if (p) fail(['pathRegex'], p);
    match.path = { type: 'RegularExpression', value: m.pathRegex };
  }
  if (m.method !== undefined) {
    const upper = m.method.toUpperCase();
    if (!(HTTP_METHODS as readonly string[]).includes(upper)) fail(['method'], `expected one of: ${HTTP_METHODS.join(', ')}`);
    match.method = upper;
  }
  const headers = (key: 'headers' | 'headersRegex', type: HeaderMatch['type']): void => {
    for (const [name, value] of Object.entries(m[key] ?? {})) {
      const p = headerNameProblem(name) ?? (type === 'RegularExpression' ? regexProblem(value) : undefined);
      if (p) fail([key, name], p);
      match.headers.push({ type, name: name.toLowerCase(), value });
    }
  };
  headers('headers', 'Exact');
  headers('headersRegex', 'RegularExpression');
  const query = (key: 'query' | 'queryRegex', type: QueryParamMatch['type']): void => {
    for (const [name, value] of Object.entries(m[key] ?? {})) {
      const p = name === '' ? 'empty query parameter name' : type === 'RegularExpression' ? regexProblem(value) : undefined;
      if (p) fail([key, name], p);
      match.queryParams.push({ type, name, value });
    }
  };
  query('query', 'Exact');
  query('queryRegex', 'RegularExpression');
  return ok ? match : undefined;
}

/**
 * The route's filter keys (requestHeaders, responseHeaders, redirect, rewrite, mirror, cors) and
 * each backend reference's (requestHeaders, responseHeaders) → `rule.filters` and
 * `backendRefs[i].filters`. Problems are fatal like every native error; a mirror naming no
 * backend is dropped with a warning (the spec drops unresolved mirror backendRefs).
 */
function attachNativeFilters(
  r: NativeRoute,
  rule: RouteRule,
  refs: NativeBackendRef[],
  loc: Located<NativeRoute>,
  fatal: (loc: Located<unknown>, sub: (string | number)[], what: string) => void,
  backendNames: Map<string, Located<NativeBackend>>,
  diag: Diagnostics,
): void {
  const mirrorBackend = (name: string, sub: (string | number)[]): string | null => {
    if (backendNames.has(name)) return name;
    const path = [...loc.path, ...sub];
    diag.warn(loc.doc.file, loc.doc.lineOf(path), `${fieldName(path)}: no backend named "${name}"; this mirror of route "${r.name}" is dropped`);
    return null;
  };
  const own = compileNativeFilters(r, rule, 'rule', (sub, what) => fatal(loc, sub, what), mirrorBackend);
  if (own !== undefined) rule.filters = own;
  refs.forEach((ref, i) => {
    const at = r.backends !== undefined ? ['backends', i] : ['backend'];
    const f = compileNativeFilters(ref, rule, 'backendRef', (sub, what) => fatal(loc, [...at, ...sub], what), mirrorBackend);
    if (f !== undefined && rule.backendRefs[i] !== undefined) rule.backendRefs[i].filters = f;
  });
}
