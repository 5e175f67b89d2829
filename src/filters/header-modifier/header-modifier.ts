// RequestHeaderModifier / ResponseHeaderModifier (Gateway API HTTPHeaderFilter): set, add and
// remove header fields on the request sent upstream or on the response sent to the client.
//
// Semantics (apis/v1/httproute_types.go, HTTPHeaderFilter):
// - set replaces every existing field of that name with one field (or adds it);
// - add appends a field after any existing ones ("appends to any existing values"; a second
//   field line is equivalent to a comma-joined value, RFC 9110 §5.3, and keeps Set-Cookie sane);
// - remove drops every field of that name;
// - "Only one action for a given header name is permitted": a name may appear once across
//   set, add and remove, compared case-insensitively.
// Request `set`/`add` of Host rewrites the Host sent upstream (it is not a plain field here).
import type { HeaderModifier } from '../../config/model';
import { FRAMING_HEADERS, headerNameProblem, headerValueProblem } from '../header-names';
import { CONTINUE, type FilterProblem, type FilterRequest, type FilterResult, type HttpFilter } from '../types';

export type HeaderPhase = 'request' | 'response';

/** Gateway API bound per list (set, add, remove). */
const MAX_ITEMS = 16;

export function checkHeaderModifier(spec: HeaderModifier, phase: HeaderPhase): FilterProblem[] {
  const out: FilterProblem[] = [];
  const seen = new Map<string, string>();
  const name = (list: 'set' | 'add' | 'remove', i: number, raw: string): void => {
    const path = list === 'remove' ? [list, i] : [list, i, 'name'];
    const p = headerNameProblem(raw);
    if (p) return void out.push({ path, what: p });
    const lower = raw.toLowerCase();
    const first = seen.get(lower);
    if (first !== undefined) {
      out.push({ path, what: `header "${raw}" already has an action (${first}); only one action per header name is allowed (names are case-insensitive)` });
      return;
    }
    seen.set(lower, `${list}[${i}]`);
    if (list !== 'remove' && FRAMING_HEADERS.has(lower)) {
      out.push({ path, what: `"${raw}" is a connection/framing header gatemesh writes itself; it cannot be ${list === 'set' ? 'set' : 'added'}` });
    }
    if (lower === 'host' && (phase === 'response' || list === 'remove')) {
      out.push({ path, what: phase === 'response' ? '"Host" is not a response header' : 'Host cannot be removed (RFC 9112 §3.2: HTTP/1.1 requests need one); use set to change it' });
    }
  };
  for (const list of ['set', 'add'] as const) {
    if (spec[list].length > MAX_ITEMS) out.push({ path: [list], what: `expected at most ${MAX_ITEMS} items` });
    spec[list].forEach((h, i) => {
      name(list, i, h.name);
      const vp = headerValueProblem(h.value);
      if (vp) out.push({ path: [list, i, 'value'], what: vp });
    });
  }
  if (spec.remove.length > MAX_ITEMS) out.push({ path: ['remove'], what: `expected at most ${MAX_ITEMS} items` });
  spec.remove.forEach((n, i) => name('remove', i, n));
  return out;
}

/**
 * The compiled edit: names lower-cased, one drop-set (set ∪ remove) and the fields to append,
 * so applying it is one compaction pass plus pushes, no per-request strings.
 */
class HeaderEdit {
  readonly drop: ReadonlySet<string>;
  /** Flat [name, value, ...] appended after the compaction: set fields, then add fields. */
  readonly append: readonly string[];
  /** Request Host from set/add, or null. */
  readonly host: string | null;

  constructor(spec: HeaderModifier, phase: HeaderPhase) {
    const drop = new Set<string>();
    const append: string[] = [];
    let host: string | null = null;
    for (const h of spec.set) {
      const lower = h.name.toLowerCase();
      if (phase === 'request' && lower === 'host') host = h.value;
      else {
        drop.add(lower);
        append.push(lower, h.value);
      }
    }
    for (const h of spec.add) {
      const lower = h.name.toLowerCase();
      // A second Host field would make the request invalid (RFC 9112 §3.2): add acts as set.
      if (phase === 'request' && lower === 'host') host = h.value;
      else append.push(lower, h.value);
    }
    for (const n of spec.remove) drop.add(n.toLowerCase());
    this.drop = drop;
    this.append = append;
    this.host = host;
  }

  /** Edits `headers` (the caller's own copy) in place. */
  apply(headers: string[]): void {
    const drop = this.drop;
    if (drop.size !== 0) {
      let w = 0;
      for (let i = 0; i < headers.length; i += 2) {
        if (drop.has(headers[i])) continue;
        if (w !== i) {
          headers[w] = headers[i];
          headers[w + 1] = headers[i + 1];
        }
        w += 2;
      }
      headers.length = w;
    }
    const append = this.append;
    for (let i = 0; i < append.length; i++) headers.push(append[i]);
  }
}

/** RequestHeaderModifier: edits the header list sent upstream (and the Host, for `host`). */
export function createRequestHeaderModifier(spec: HeaderModifier): HttpFilter {
  const edit = new HeaderEdit(spec, 'request');
  const host = edit.host;
  return {
    type: 'RequestHeaderModifier',
    editsRequestHeaders: true,
    onRequest(req: FilterRequest): FilterResult {
      edit.apply(req.headers);
      if (host !== null) req.host = host;
      return CONTINUE;
    },
  };
}

/** ResponseHeaderModifier: edits the response head sent to the client. */
export function createResponseHeaderModifier(spec: HeaderModifier): HttpFilter {
  const edit = new HeaderEdit(spec, 'response');
  return {
    type: 'ResponseHeaderModifier',
    editsRequestHeaders: false,
    onResponse(_status: number, headers: string[]): void {
      edit.apply(headers);
    },
  };
}
