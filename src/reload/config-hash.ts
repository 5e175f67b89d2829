// The identity of an applied config for admin /config and the reload log: sha256 over the
// canonical JSON (RFC 8785-style: object keys sorted, no whitespace) of what is served, the
// listeners with their routes and the backends. Files, line numbers and warnings are left out,
// so moving a route to another file, or reformatting, does not change the hash.
import { createHash } from 'node:crypto';
import type { GatewayConfig } from '../config/model';

/** JSON with object keys sorted at every level; `undefined` members are dropped, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i] === undefined ? null : value[i]);
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined || typeof v === 'function') continue;
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v);
    first = false;
  }
  return out + '}';
}

/** Drops `source` (file:line) wherever it appears: where a route is written is not what it does. */
function withoutSources(key: string, value: unknown): unknown {
  return key === 'source' ? undefined : value;
}

/** sha256 (hex) of the effective config: listeners (with routes) and backends. */
export function configHash(config: GatewayConfig): string {
  const plain = JSON.parse(JSON.stringify({ listeners: config.listeners, backends: config.backends }, withoutSources)) as unknown;
  return createHash('sha256').update(canonicalJson(plain)).digest('hex');
}
