// HTTPRoute filters from both config formats into the model (model.ts HTTPFilter), with every
// problem reported against the field the user wrote: Gateway API `filters[i].<body>.<field>`, or
// the native route's `requestHeaders` / `redirect` / ... block. Cross-field rules live in
// src/filters/check.ts (shared); this file maps their field paths back to each format.
import type { HTTPFilter, HeaderModifier, PathModifier, RouteRule } from './model';
import type * as FS from './filters-schema';
import { checkFilterList } from '../filters/check';

export type Report = (path: (string | number)[], what: string) => void;

/** Gateway API filter type → the field that carries its body. */
const BODY_FIELD: Record<string, string> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestMirror: 'requestMirror',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  CORS: 'cors',
  ExtensionRef: 'extensionRef',
  ExternalAuth: 'externalAuth',
};
const TYPE_OF_FIELD: Record<string, string> = Object.fromEntries(Object.entries(BODY_FIELD).map(([t, f]) => [f, t]));

/** A mirror whose backendRef the caller resolves once the route is known to be valid. */
export interface PendingMirror {
  filter: Extract<HTTPFilter, { type: 'RequestMirror' }>;
  ref: FS.BackendObjectReference;
  /** Field path of the backendRef, for messages. */
  path: (string | number)[];
}

/** CORS defaults (HTTPCORSFilter): empty lists, no credentials, maxAge 5 s. */
function corsModel(c: FS.NativeCors): HTTPFilter {
  return {
    type: 'CORS',
    allowOrigins: c.allowOrigins ?? [],
    allowMethods: c.allowMethods ?? [],
    allowHeaders: c.allowHeaders ?? [],
    exposeHeaders: c.exposeHeaders ?? [],
    allowCredentials: c.allowCredentials ?? false,
    maxAge: c.maxAge ?? 5,
  };
}

function headerModel(h: FS.HTTPHeaderFilter): HeaderModifier {
  return {
    set: (h.set ?? []).map(({ name, value }) => ({ name, value })),
    add: (h.add ?? []).map(({ name, value }) => ({ name, value })),
    remove: h.remove ?? [],
  };
}

/** HTTPPathModifier → model, or undefined after reporting (the CEL rules tying type to its field). */
function pathModel(p: FS.HTTPPathModifier, bad: Report): PathModifier | undefined {
  if (p.type === 'ReplaceFullPath') {
    if (p.replacePrefixMatch !== undefined) return void bad(['replacePrefixMatch'], "type must be 'ReplacePrefixMatch' when replacePrefixMatch is set");
    if (p.replaceFullPath === undefined) return void bad(['replaceFullPath'], "replaceFullPath must be specified when type is set to 'ReplaceFullPath'");
    return { type: 'ReplaceFullPath', value: p.replaceFullPath };
  }
  if (p.replaceFullPath !== undefined) return void bad(['replaceFullPath'], "type must be 'ReplaceFullPath' when replaceFullPath is set");
  if (p.replacePrefixMatch === undefined) return void bad(['replacePrefixMatch'], "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'");
  return { type: 'ReplacePrefixMatch', value: p.replacePrefixMatch };
}

/**
 * One Gateway API filter list (HTTPRouteRule.filters or HTTPBackendRef.filters) → model filters,
 * or undefined when the list is absent or empty. `rule` is the rule's shape (matches and how many
 * backendRefs) for the cross-field checks; `base` the list's field path. Problems go to `bad`
 * (the route is dropped); filters gatemesh cannot apply go to `warn` and become 'Unresolved'
 * (requests on the rule get 500, as the spec requires). Mirrors are returned with a null backend
 * and listed in `mirrors` for the caller to resolve.
 */
export function compileManifestFilters(
  list: FS.HTTPRouteFilter[] | undefined,
  rule: RouteRule,
  level: 'rule' | 'backendRef',
  base: (string | number)[],
  bad: Report,
  warn: Report,
  mirrors: PendingMirror[],
): HTTPFilter[] | undefined {
  if (list === undefined || list.length === 0) return undefined;
  const out: HTTPFilter[] = [];
  const types: string[] = [];
  let ok = true;
  const fail: Report = (path, what) => {
    ok = false;
    bad(path, what);
  };
  list.forEach((f, i) => {
    const p = [...base, i];
    const own = BODY_FIELD[f.type];
    // CEL on HTTPRouteFilter: the body field matches the type, and no other body is set.
    for (const key of Object.keys(f)) {
      if (key === 'type' || key === own || (f as Record<string, unknown>)[key] === undefined) continue;
      fail([...p, key], `filter.${key} must be nil if the filter.type is not ${TYPE_OF_FIELD[key] ?? key}`);
    }
    const body = own === undefined ? undefined : (f as Record<string, unknown>)[own];
    if (own !== undefined && body === undefined) return fail([...p, 'type'], `filter.${own} must be specified for ${f.type} filter.type`);
    const sub = (s: (string | number)[]): (string | number)[] => [...p, own ?? 'type', ...s];
    let model: HTTPFilter;
    switch (f.type) {
      case 'RequestHeaderModifier':
      case 'ResponseHeaderModifier':
        model = { type: f.type, modifier: headerModel(body as FS.HTTPHeaderFilter) };
        break;
      case 'RequestRedirect': {
        const r = f.requestRedirect!;
        const redirect: Extract<HTTPFilter, { type: 'RequestRedirect' }> = { type: 'RequestRedirect', statusCode: r.statusCode ?? 302 };
        if (r.scheme !== undefined) redirect.scheme = r.scheme;
        if (r.hostname !== undefined) redirect.hostname = r.hostname;
        if (r.port !== undefined) redirect.port = r.port;
        if (r.path !== undefined) {
          const path = pathModel(r.path, (s, what) => fail(sub(['path', ...s]), what));
          if (path === undefined) return;
          redirect.path = path;
        }
        model = redirect;
        break;
      }
      case 'URLRewrite': {
        const r = f.urlRewrite!;
        const rewrite: Extract<HTTPFilter, { type: 'URLRewrite' }> = { type: 'URLRewrite' };
        if (r.hostname !== undefined) rewrite.hostname = r.hostname;
        if (r.path !== undefined) {
          const path = pathModel(r.path, (s, what) => fail(sub(['path', ...s]), what));
          if (path === undefined) return;
          rewrite.path = path;
        }
        model = rewrite;
        break;
      }
      case 'RequestMirror': {
        const m = f.requestMirror!;
        if (m.percent !== undefined && m.fraction !== undefined) {
          return fail(sub(['fraction']), 'Only one of percent or fraction may be specified in HTTPRequestMirrorFilter');
        }
        let percent = m.percent ?? 100;
        if (m.fraction !== undefined) {
          const den = m.fraction.denominator ?? 100;
          if (m.fraction.numerator > den) return fail(sub(['fraction', 'numerator']), `numerator must be less than or equal to denominator (${den})`);
          percent = (m.fraction.numerator * 100) / den;
        }
        const mirror: Extract<HTTPFilter, { type: 'RequestMirror' }> = { type: 'RequestMirror', backend: null, percent };
        mirrors.push({ filter: mirror, ref: m.backendRef, path: sub(['backendRef']) });
        model = mirror;
        break;
      }
      case 'CORS':
        model = corsModel(f.cors!);
        break;
      default: {
        const detail =
          f.type === 'ExtensionRef'
            ? describeRef(f.extensionRef)
            : f.type === 'ExternalAuth'
              ? 'experimental ExternalAuth is not implemented'
              : 'unknown filter type';
        warn([...p, 'type'], `filter type ${f.type} is not supported (${detail}); requests on this rule get 500, since the spec forbids skipping a filter`);
        model = { type: 'Unresolved', filterType: f.type, detail };
      }
    }
    out.push(model);
    types.push(own ?? 'type');
  });
  if (!ok) return undefined;
  for (const prob of checkFilterList(out, rule, level)) {
    if (prob.index < 0) bad(base, prob.what);
    else bad(prob.path.length === 0 ? [...base, prob.index, 'type'] : [...base, prob.index, types[prob.index], ...prob.path], prob.what);
  }
  return out;
}

function describeRef(ref: unknown): string {
  const r = (ref ?? {}) as { group?: unknown; kind?: unknown; name?: unknown };
  return `extensionRef ${String(r.group ?? '')}/${String(r.kind ?? '')} ${String(r.name ?? '')} does not resolve to any gatemesh extension`;
}

// --- native ---------------------------------------------------------------------------------

/** The native filter keys of a route or backend reference (see filters-schema.ts). */
export interface NativeFilterKeys {
  requestHeaders?: FS.NativeHeaders;
  responseHeaders?: FS.NativeHeaders;
  redirect?: FS.NativeRedirect;
  rewrite?: FS.NativeRewrite;
  mirror?: FS.NativeMirror | FS.NativeMirror[];
  cors?: FS.NativeCors;
}

function nativeHeaderModel(h: FS.NativeHeaders): HeaderModifier {
  return {
    set: Object.entries(h.set ?? {}).map(([name, value]) => ({ name, value })),
    add: Object.entries(h.add ?? {}).map(([name, value]) => ({ name, value })),
    remove: h.remove ?? [],
  };
}

/** Native `path` / `prefix` pair → PathModifier (at most one of them). */
function nativePath(block: { path?: string; prefix?: string }, bad: Report): PathModifier | undefined | null {
  if (block.path !== undefined && block.prefix !== undefined) {
    bad(['prefix'], 'set only one of path (replaces the whole path) or prefix (replaces the matched prefix)');
    return null;
  }
  if (block.path !== undefined) return { type: 'ReplaceFullPath', value: block.path };
  if (block.prefix !== undefined) return { type: 'ReplacePrefixMatch', value: block.prefix };
  return undefined;
}

/**
 * Native filter keys → model filters, in a fixed order: cors, requestHeaders, rewrite | redirect,
 * mirror, responseHeaders (so CORS preflights are answered before anything else, and header
 * edits are on the request before it is rewritten, redirected or mirrored). Problems go to `bad`
 * with the native field path (relative to the route or backend reference); `mirrorBackend` maps a
 * mirror's backend name to the model backend (null when it names nothing; the mirror is dropped).
 */
export function compileNativeFilters(
  keys: NativeFilterKeys,
  rule: RouteRule,
  level: 'rule' | 'backendRef',
  bad: Report,
  mirrorBackend: (name: string, path: (string | number)[]) => string | null,
): HTTPFilter[] | undefined {
  const out: HTTPFilter[] = [];
  /** Per filter: its native key, and how a check's sub-path maps onto the native block. */
  const where: { key: (string | number)[]; map: (sub: (string | number)[]) => (string | number)[] }[] = [];
  const same = (sub: (string | number)[]): (string | number)[] => sub;
  let ok = true;
  const fail: Report = (path, what) => {
    ok = false;
    bad(path, what);
  };
  if (keys.cors !== undefined) {
    out.push(corsModel(keys.cors));
    where.push({ key: ['cors'], map: same });
  }
  const headers = (key: 'requestHeaders' | 'responseHeaders'): void => {
    const h = keys[key];
    if (h === undefined) return;
    const modifier = nativeHeaderModel(h);
    out.push({ type: key === 'requestHeaders' ? 'RequestHeaderModifier' : 'ResponseHeaderModifier', modifier });
    // set/add are name: value maps natively: [set, i, name|value] → [set, <name>].
    where.push({
      key: [key],
      map: (sub) => (sub[0] === 'remove' ? sub.slice(0, 2) : [sub[0], modifier[sub[0] as 'set' | 'add'][sub[1] as number]?.name ?? sub[1]]),
    });
  };
  headers('requestHeaders');
  const pathMap = (sub: (string | number)[]): (string | number)[] =>
    sub[0] === 'path' ? [sub[1] === 'replacePrefixMatch' ? 'prefix' : 'path'] : sub;
  if (keys.rewrite !== undefined) {
    const r = keys.rewrite;
    const rewrite: Extract<HTTPFilter, { type: 'URLRewrite' }> = { type: 'URLRewrite' };
    if (r.hostname !== undefined) rewrite.hostname = r.hostname;
    const path = nativePath(r, (s, what) => fail(['rewrite', ...s], what));
    if (path) rewrite.path = path;
    out.push(rewrite);
    where.push({ key: ['rewrite'], map: pathMap });
  }
  if (keys.redirect !== undefined) {
    const r = keys.redirect;
    const redirect: Extract<HTTPFilter, { type: 'RequestRedirect' }> = { type: 'RequestRedirect', statusCode: r.statusCode ?? 302 };
    if (r.scheme !== undefined) redirect.scheme = r.scheme;
    if (r.hostname !== undefined) redirect.hostname = r.hostname;
    if (r.port !== undefined) redirect.port = r.port;
    const path = nativePath(r, (s, what) => fail(['redirect', ...s], what));
    if (path) redirect.path = path;
    out.push(redirect);
    where.push({ key: ['redirect'], map: pathMap });
  }
  if (keys.mirror !== undefined) {
    const list = Array.isArray(keys.mirror) ? keys.mirror : [keys.mirror];
    list.forEach((m, i) => {
      const at = Array.isArray(keys.mirror) ? ['mirror', i] : ['mirror'];
      out.push({ type: 'RequestMirror', backend: mirrorBackend(m.backend, [...at, 'backend']), percent: m.percent ?? 100 });
      where.push({ key: at, map: same });
    });
  }
  headers('responseHeaders');
  if (out.length === 0) return undefined;
  for (const prob of checkFilterList(out, rule, level)) {
    if (prob.index < 0) fail([], prob.what);
    else fail([...where[prob.index].key, ...where[prob.index].map(prob.path)], prob.what);
  }
  return ok ? out : undefined;
}
