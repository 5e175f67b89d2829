// Checks shared by both formats for route match values: paths, regexes, header names and
// methods. Each returns an error text or undefined, so callers attach file:line: field.

// RFC 9110 §5.6.2 token: what a header field name may contain.
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Gateway API HTTPRouteMatch.method enum (RFC 9110 §9 plus PATCH, RFC 5789). */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

export function pathProblem(type: 'Exact' | 'PathPrefix', value: string): string | undefined {
  if (!value.startsWith('/')) return `path must start with "/" (got ${JSON.stringify(value)})`;
  if (/[\s?#]/.test(value)) return `${type} path must not contain spaces, "?" or "#" (use query matches for the query)`;
  return undefined;
}

export function regexProblem(value: string): string | undefined {
  try {
    new RegExp(value);
    return undefined;
  } catch (err) {
    return `invalid regular expression: ${(err as Error).message}`;
  }
}

export function headerNameProblem(name: string): string | undefined {
  return TOKEN_RE.test(name) ? undefined : `invalid header name ${JSON.stringify(name)} (RFC 9110 §5.6.2 token characters only)`;
}
