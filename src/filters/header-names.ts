// Header-name checks shared by the filters (Gateway API HTTPHeaderName, RFC 9110 §5.1 / §5.5).

// HTTPHeaderName: RFC 9110 §5.6.2 token, at most 256 characters (gateway-api shared_types.go).
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: no CTLs but HTAB (RFC 9110 §5.5), so nothing can split the head.
const BAD_VALUE_RE = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Fields the proxy frames or strips itself (RFC 9110 §7.6.1, RFC 9112 §6): a filter setting
 *  them would corrupt the message, so set/add of these is a config error. */
export const FRAMING_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'content-length',
  'te',
  'trailer',
  'upgrade',
]);

export function headerNameProblem(name: string): string | undefined {
  if (name.length > 256) return 'header name longer than 256 characters';
  return TOKEN_RE.test(name) ? undefined : `invalid header name ${JSON.stringify(name)} (RFC 9110 §5.6.2 token characters only)`;
}

/** HTTPHeader.value: 1..4096 characters, no control characters. */
export function headerValueProblem(value: string): string | undefined {
  if (value.length === 0) return 'expected a non-empty header value';
  if (value.length > 4096) return 'header value longer than 4096 characters';
  if (BAD_VALUE_RE.test(value)) return 'header value must not contain control characters (CR, LF, NUL, ...)';
  return undefined;
}
