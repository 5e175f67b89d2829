// Hostname syntax and the Gateway API hostname intersection between a listener and a route
// (HTTPRoute spec.hostnames, GEP-718 / gateway-api "Hostname" type). Hostnames are lower-case.

// RFC 1123 labels, optionally behind a single leading "*." (Gateway API PreciseHostname /
// Hostname types; a wildcard stands for one or more labels).
const HOSTNAME_RE = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Returns an error text, or undefined when `h` (already lower-cased) is a valid hostname. */
export function hostnameProblem(h: string): string | undefined {
  if (h.length > 253) return 'hostname longer than 253 characters';
  if (!HOSTNAME_RE.test(h)) {
    return 'expected a hostname like "api.example.com" or "*.example.com" (RFC 1123 labels, optional leading "*.")';
  }
  if (/^[0-9.]+$/.test(h)) return 'expected a hostname, not an IP address (Gateway API forbids IPs here)';
  return undefined;
}

/** True when `host` is covered by wildcard `*.suffix` (one or more extra labels, as Gateway API). */
function underWildcard(host: string, wildcard: string): boolean {
  const suffix = wildcard.slice(1); // ".example.com"
  return host.length > suffix.length && host.endsWith(suffix);
}

/**
 * The hostname both sides accept, or undefined when they have none in common. Gateway API:
 * route `*.example.com` ∩ listener `foo.example.com` = `foo.example.com`; two wildcards give the
 * more specific one.
 */
export function intersectHostname(route: string, listener: string): string | undefined {
  if (route === listener) return route;
  const rw = route.startsWith('*.');
  const lw = listener.startsWith('*.');
  if (!rw && !lw) return undefined;
  if (!rw && lw) return underWildcard(route, listener) ? route : undefined;
  if (rw && !lw) return underWildcard(listener, route) ? listener : undefined;
  if (underWildcard(route.slice(2), listener)) return route;
  if (underWildcard(listener.slice(2), route)) return listener;
  return undefined;
}

/**
 * Hostnames a route answers for on a listener: [] means any host. Undefined means the route does
 * not attach to this listener (it lists hostnames and none intersect the listener's).
 */
export function routeHostnamesOn(routeHostnames: readonly string[], listenerHostname: string | undefined): string[] | undefined {
  if (listenerHostname === undefined) return [...routeHostnames];
  if (routeHostnames.length === 0) return [listenerHostname];
  const out: string[] = [];
  for (const h of routeHostnames) {
    const i = intersectHostname(h, listenerHostname);
    if (i !== undefined && !out.includes(i)) out.push(i);
  }
  return out.length > 0 ? out : undefined;
}
