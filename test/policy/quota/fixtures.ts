// Shared builders for the quota tests: policies, request inputs, a mutable clock, a silent logger.
import type { QuotaPolicy, QuotaRule } from '../../../src/config/model';
import type { KeyInput } from '../../../src/policy/key';
import { LimitResult } from '../../../src/policy/limit-result';
import { TrustedProxies } from '../../../src/http/forwarding';

export function rule(over: Partial<QuotaRule> & { requests: number }): QuotaRule {
  return {
    name: 'q',
    key: [{ type: 'Header', name: 'x-api-key' }],
    onMissingKey: 'Skip',
    window: 'Day',
    alignment: 'Calendar',
    ...over,
  };
}

export function policy(rules: QuotaRule[], over: Partial<QuotaPolicy> = {}): QuotaPolicy {
  return { policy: 'default/quota', rules, headers: true, ...over };
}

const trusted = new TrustedProxies([]);

/** A request carrying `x-api-key: key` (or no key header when key is null). */
export function input(key: string | null, route = 'default/r/0'): KeyInput {
  return {
    head: {
      method: 'GET',
      path: '/',
      query: '',
      httpMinor: 1,
      headers: key === null ? ['host', 'a'] : ['host', 'a', 'x-api-key', key],
      remoteAddress: '127.0.0.1',
      scheme: 'http',
      headBytes: -1,
    },
    trusted,
    route,
    consumer: null,
  };
}

export function results(n: number): LimitResult[] {
  return Array.from({ length: n }, () => new LimitResult());
}

/** A clock tests move by hand. */
export function clock(startIso: string): { now: () => number; set(iso: string): void; add(ms: number): void } {
  let t = Date.parse(startIso);
  return {
    now: () => t,
    set(iso) {
      t = Date.parse(iso);
    },
    add(ms) {
      t += ms;
    },
  };
}

const noop = () => {};
export const silentLogger = { info: noop, warn: noop, error: noop } as never;
