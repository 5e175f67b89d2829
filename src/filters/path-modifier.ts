// HTTPPathModifier, shared by URLRewrite and RequestRedirect: ReplaceFullPath and
// ReplacePrefixMatch, compiled once per rule into a function of the request path.
//
// ReplacePrefixMatch follows the spec's table (apis/v1/httproute_types.go): prefixes are matched
// element-wise like PathPrefix and one trailing `/` of the prefix and of the replacement is
// ignored, so with prefix `/foo`:
//   /foo/bar + /xyz → /xyz/bar    /foo + /xyz → /xyz     /foo/ + /xyz → /xyz/
//   /foo/bar + ""   → /bar        /foo/ + "/" → /        /foo + "/"   → /
import type { PathModifier, RouteRule } from '../config/model';
import type { FilterProblem } from './types';

// Path characters the spec allows for path values (HTTPPathMatch pattern): RFC 3986 pchar and '/'.
const PATH_RE = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})*$/;

export function checkPathModifier(path: PathModifier, rule: RouteRule, field: (string | number)[]): FilterProblem[] {
  const out: FilterProblem[] = [];
  const v = path.value;
  const valueField = [...field, path.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch'];
  if (v.length > 1024) out.push({ path: valueField, what: 'expected at most 1024 characters' });
  if (path.type === 'ReplaceFullPath' ? !v.startsWith('/') : v !== '' && !v.startsWith('/')) {
    out.push({ path: valueField, what: `path must start with "/" (got ${JSON.stringify(v)})` });
  } else if (!PATH_RE.test(v)) {
    out.push({ path: valueField, what: `path may only contain RFC 3986 path characters and %-escapes (got ${JSON.stringify(v)})` });
  }
  if (path.type === 'ReplacePrefixMatch') {
    // CEL on HTTPRouteRule: "When using ... path.replacePrefixMatch, exactly one PathPrefix match must be specified".
    if (rule.matches.length !== 1 || rule.matches[0].path.type !== 'PathPrefix') {
      out.push({
        path: valueField,
        what: `ReplacePrefixMatch needs the rule to have exactly one match, of type PathPrefix (it has ${rule.matches.length} match(es)` +
          `${rule.matches.length === 1 ? ` of type ${rule.matches[0].path.type}` : ''}); use ReplaceFullPath or split the rule`,
      });
    }
  }
  return out;
}

/** Strips one trailing `/` ("/" itself becomes ""). */
function trimSlash(s: string): string {
  return s.length !== 0 && s.charCodeAt(s.length - 1) === 47 ? s.slice(0, -1) : s;
}

/**
 * The path function for a checked modifier. `rule` supplies the prefix for ReplacePrefixMatch
 * (its single PathPrefix match, guaranteed by checkPathModifier).
 */
export function createPathModifier(path: PathModifier, rule: RouteRule): (requestPath: string) => string {
  if (path.type === 'ReplaceFullPath') {
    const full = path.value;
    return () => full;
  }
  const prefix = trimSlash(rule.matches[0].path.value);
  const replacement = trimSlash(path.value);
  const n = prefix.length;
  return (p: string): string => {
    // Element-wise: `/foo` covers `/foo` and `/foo/...`, never `/foobar`. A path the prefix does
    // not cover (cannot happen after routing) is left alone.
    if (!p.startsWith(prefix) || (p.length > n && p.charCodeAt(n) !== 47)) return p;
    const out = replacement + p.slice(n);
    return out.length === 0 ? '/' : out;
  };
}
