// Schemas of HTTPRoute filters in both config formats: the Gateway API shapes (HTTPRouteFilter and
// its bodies, gateway.networking.k8s.io/v1) and the native YAML blocks (requestHeaders,
// responseHeaders, redirect, rewrite, mirror, cors). Field rules the schema cannot say (one action
// per header name, ReplacePrefixMatch needs one PathPrefix match, ...) are checked in
// src/filters/check.ts, shared by both formats.
import { Type } from '@sinclair/typebox';
import type { Static, TSchema } from '@sinclair/typebox';

const Str = Type.String();
const Name = Type.String({ minLength: 1 });
const Any = Type.Unknown();
const Strict = <T extends Record<string, TSchema>>(props: T) => Type.Object(props, { additionalProperties: false });
const StringList = Type.Array(Str);

// --- Gateway API ----------------------------------------------------------------------------

const HTTPHeader = Strict({ name: Name, value: Str });

/** HTTPHeaderFilter (RequestHeaderModifier / ResponseHeaderModifier). */
export const HTTPHeaderFilter = Strict({
  set: Type.Optional(Type.Array(HTTPHeader)),
  add: Type.Optional(Type.Array(HTTPHeader)),
  remove: Type.Optional(Type.Array(Name)),
});

export const HTTPPathModifier = Strict({
  type: Type.Union([Type.Literal('ReplaceFullPath'), Type.Literal('ReplacePrefixMatch')]),
  replaceFullPath: Type.Optional(Str),
  replacePrefixMatch: Type.Optional(Str),
});

export const HTTPRequestRedirectFilter = Strict({
  scheme: Type.Optional(Type.Union([Type.Literal('http'), Type.Literal('https')])),
  hostname: Type.Optional(Name),
  path: Type.Optional(HTTPPathModifier),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  /** Default 302. */
  statusCode: Type.Optional(Type.Union([301, 302, 303, 307, 308].map((c) => Type.Literal(c)))),
});

export const HTTPURLRewriteFilter = Strict({
  hostname: Type.Optional(Name),
  path: Type.Optional(HTTPPathModifier),
});

/** BackendObjectReference (a mirror's target). */
export const BackendObjectReference = Strict({
  group: Type.Optional(Str),
  kind: Type.Optional(Name),
  name: Name,
  namespace: Type.Optional(Name),
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
});

export const HTTPRequestMirrorFilter = Strict({
  backendRef: BackendObjectReference,
  /** 0..100; default (with fraction unset) 100. */
  percent: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  /** numerator / denominator (default 100). */
  fraction: Type.Optional(
    Strict({
      numerator: Type.Integer({ minimum: 0 }),
      denominator: Type.Optional(Type.Integer({ minimum: 1 })),
    }),
  ),
});

export const HTTPCORSFilter = Strict({
  allowOrigins: Type.Optional(StringList),
  allowCredentials: Type.Optional(Type.Boolean()),
  allowMethods: Type.Optional(StringList),
  allowHeaders: Type.Optional(StringList),
  exposeHeaders: Type.Optional(StringList),
  /** Seconds, default 5. */
  maxAge: Type.Optional(Type.Integer({ minimum: 1 })),
});

export const HTTPRouteFilter = Strict({
  /** Any string: unknown types are reported (and fail requests), not schema errors. */
  type: Name,
  requestHeaderModifier: Type.Optional(HTTPHeaderFilter),
  responseHeaderModifier: Type.Optional(HTTPHeaderFilter),
  requestMirror: Type.Optional(HTTPRequestMirrorFilter),
  requestRedirect: Type.Optional(HTTPRequestRedirectFilter),
  urlRewrite: Type.Optional(HTTPURLRewriteFilter),
  extensionRef: Type.Optional(Any),
  cors: Type.Optional(HTTPCORSFilter),
  externalAuth: Type.Optional(Any),
});

export type HTTPRouteFilter = Static<typeof HTTPRouteFilter>;
export type HTTPHeaderFilter = Static<typeof HTTPHeaderFilter>;
export type HTTPPathModifier = Static<typeof HTTPPathModifier>;
export type BackendObjectReference = Static<typeof BackendObjectReference>;

// --- native YAML ------------------------------------------------------------------------------

const StringMap = Type.Record(Type.String(), Type.String(), { expected: 'a mapping of name: "value" strings' });

/** `requestHeaders:` / `responseHeaders:` — `{ set: {name: value}, add: {name: value}, remove: [name] }`. */
export const NativeHeaders = Strict({
  set: Type.Optional(StringMap),
  add: Type.Optional(StringMap),
  remove: Type.Optional(Type.Array(Name)),
});

/** `redirect:` — path replaces the whole path, prefix replaces the matched path prefix. */
export const NativeRedirect = Strict({
  scheme: Type.Optional(Type.Union([Type.Literal('http'), Type.Literal('https')])),
  hostname: Type.Optional(Name),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  path: Type.Optional(Str),
  prefix: Type.Optional(Str),
  /** Default 302. */
  statusCode: Type.Optional(Type.Union([301, 302, 303, 307, 308].map((c) => Type.Literal(c)))),
});

/** `rewrite:` — hostname (the Host sent upstream), path or prefix. */
export const NativeRewrite = Strict({
  hostname: Type.Optional(Name),
  path: Type.Optional(Str),
  prefix: Type.Optional(Str),
});

/** One `mirror:` entry: a backend name and the share of requests, percent (default 100). */
export const NativeMirror = Strict({
  backend: Name,
  percent: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
});

export const NativeCors = HTTPCORSFilter;

export type NativeHeaders = Static<typeof NativeHeaders>;
export type NativeRedirect = Static<typeof NativeRedirect>;
export type NativeRewrite = Static<typeof NativeRewrite>;
export type NativeMirror = Static<typeof NativeMirror>;
export type NativeCors = Static<typeof NativeCors>;

/** The filter keys of a native route (spread into NativeRoute). */
export const NativeRouteFilters = {
  requestHeaders: Type.Optional(NativeHeaders),
  responseHeaders: Type.Optional(NativeHeaders),
  redirect: Type.Optional(NativeRedirect),
  rewrite: Type.Optional(NativeRewrite),
  /** One mirror or a list. */
  mirror: Type.Optional(Type.Union([NativeMirror, Type.Array(NativeMirror)])),
  cors: Type.Optional(NativeCors),
};

/** The filter keys of a native backend reference (applied only when that backend is picked). */
export const NativeBackendRefFilters = {
  requestHeaders: Type.Optional(NativeHeaders),
  responseHeaders: Type.Optional(NativeHeaders),
};
