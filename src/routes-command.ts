// `gatemesh routes`: the compiled route table of a config, per bound port, and which rule a
// given request gets and why. The admin /routes answers the same report as JSON.
//   gatemesh routes [--config <file|dir>] [--json]
//   gatemesh routes [--config <file|dir>] --test 'GET http://host/path?q=1' [-H 'name: value']... [--listener <name>]
import { loadConfig, DEFAULT_CONFIG_PATH } from './config/load';
import { configFromEnv } from './env';
import type { GatewayConfig } from './config/model';
import { groupListeners, type ListenerGroup } from './proxy';
import { describeRoutes, explainRequest, type Explanation, type RouteEntry, type TestRequest } from './router/describe';

export const ROUTES_USAGE = `usage:
  gatemesh routes [--config <file|dir>] [--json]
      print the compiled route table of each listener port, in the order requests are matched
  gatemesh routes [--config <file|dir>] --test '<METHOD> <url>' [-H 'name: value']... [--listener <name>] [--json]
      show which rule a request gets and why, e.g. --test 'GET http://api.example.com/v1?x=1'
      (exit 0 when a rule matches, 1 on "no route (404)")
`;

/** One bound port: its listeners and its table. */
export interface PortReport {
  address: string;
  port: number;
  /** Model listener names served on this port. */
  listeners: string[];
  routes: RouteEntry[];
}

/** The table of every port. `groups`: the bound listener groups (admin: real ports); default the config's. */
export function describeConfig(config: GatewayConfig, groups: ListenerGroup[] = groupListeners(config)): PortReport[] {
  return groups.map((g) => ({
    address: g.address,
    port: g.port,
    listeners: g.listeners.map((l) => config.listeners[l].name),
    routes: describeRoutes(g.listeners.flatMap((l) => config.listeners[l].routes)),
  }));
}

/** Explains `req` on every port (or only those serving listener `listener`). */
export function explainConfig(
  config: GatewayConfig,
  req: TestRequest,
  groups: ListenerGroup[] = groupListeners(config),
  listener?: string,
): (PortReport & { result: Explanation })[] {
  const out: (PortReport & { result: Explanation })[] = [];
  groups.forEach((g) => {
    const names = g.listeners.map((l) => config.listeners[l].name);
    if (listener !== undefined && !names.includes(listener)) return;
    const routes = g.listeners.flatMap((l) => config.listeners[l].routes);
    out.push({ address: g.address, port: g.port, listeners: names, routes: [], result: explainRequest(routes, req) });
  });
  return out;
}

/**
 * Parses `--test` text: `METHOD URL` or just `URL` (GET). The URL is absolute
 * (`http://host[:port]/path?query`) or origin-form (`/path?query`, then a Host header is needed
 * for hostname matching). The path is kept as written: the router sees raw request targets.
 */
export function parseTestRequest(text: string, headerArgs: string[]): { req: TestRequest; port: number | undefined } | string {
  const parts = text.trim().split(/\s+/);
  if (parts.length === 0 || parts.length > 2 || parts[0] === '') return `--test: expected '<METHOD> <url>', e.g. 'GET http://example.com/path' (got ${JSON.stringify(text)})`;
  const method = parts.length === 2 ? parts[0] : 'GET';
  const url = parts[parts.length - 1];
  const m = /^(?:([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#.*)?$/.exec(url);
  if (m === null) return `--test: cannot parse URL ${JSON.stringify(url)}`;
  let authority = m[2] ?? '';
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  const path = m[3] === '' ? '/' : m[3];
  if (!path.startsWith('/')) return `--test: the URL must be absolute (http://host/path) or start with "/" (got ${JSON.stringify(url)})`;
  const headers: string[] = [];
  let host = authority;
  for (const h of headerArgs) {
    const colon = h.indexOf(':');
    if (colon <= 0) return `-H: expected 'name: value' (got ${JSON.stringify(h)})`;
    const name = h.slice(0, colon).trim().toLowerCase();
    const value = h.slice(colon + 1).trim();
    if (name === 'host') host = value;
    else headers.push(name, value);
  }
  headers.unshift('host', host);
  const portMatch = /:(\d+)$/.exec(authority);
  const port = portMatch !== null ? Number(portMatch[1]) : m[1] !== undefined ? (m[1].toLowerCase() === 'https' ? 443 : 80) : undefined;
  return { req: { host, method, path, query: m[4] ?? '', headers }, port };
}

/**
 * The admin /routes answer: `{ listeners: PortReport[] }`, or with `?test=<METHOD> <url>` (and
 * any number of `header=name: value`) the explanation per port, as `gatemesh routes --test`.
 */
export function adminRoutes(config: GatewayConfig, groups: ListenerGroup[], url: string): { status: number; body: unknown } {
  const q = new URL(url, 'http://admin.invalid').searchParams;
  const test = q.get('test');
  if (test === null) return { status: 200, body: { listeners: describeConfig(config, groups) } };
  const parsed = parseTestRequest(test, q.getAll('header'));
  if (typeof parsed === 'string') return { status: 400, body: `${parsed}\n` };
  const results = explainConfig(config, parsed.req, groups, q.get('listener') ?? undefined).map(({ routes: _r, ...rest }) => rest);
  return { status: 200, body: { test, listeners: results } };
}

/** Runs `gatemesh routes ...`; returns the exit code. */
export function runRoutesCommand(argv: string[], out: (s: string) => void, err: (s: string) => void): number {
  let configPath: string | undefined;
  let test: string | undefined;
  let listener: string | undefined;
  let json = false;
  const headerArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string | undefined => argv[++i];
    if (a === '--config' || a === '-c') configPath = value();
    else if (a.startsWith('--config=')) configPath = a.slice('--config='.length);
    else if (a === '--test' || a === '-t') test = value();
    else if (a.startsWith('--test=')) test = a.slice('--test='.length);
    else if (a === '-H' || a === '--header') {
      const h = value();
      if (h !== undefined) headerArgs.push(h);
    } else if (a === '--listener') listener = value();
    else if (a === '--json') json = true;
    else if (a === '--help' || a === '-h') {
      out(ROUTES_USAGE);
      return 0;
    } else if (!a.startsWith('-') && configPath === undefined) configPath = a;
    else {
      err(`unknown argument: ${a}\n${ROUTES_USAGE}`);
      return 2;
    }
  }
  // Like serving: an empty GATEMESH_CONFIG is unset, so the embedded default config is described.
  const target = configPath ?? configFromEnv() ?? DEFAULT_CONFIG_PATH;
  let config: GatewayConfig;
  try {
    config = loadConfig(target).config;
  } catch (e) {
    err(`${(e as Error).message}\n`);
    return 1;
  }
  for (const w of config.warnings) err(`warning: ${w}\n`);

  if (test === undefined) {
    if (headerArgs.length > 0 || listener !== undefined) {
      err(`-H and --listener go with --test\n${ROUTES_USAGE}`);
      return 2;
    }
    const report = describeConfig(config);
    out(json ? JSON.stringify(report, null, 2) + '\n' : formatTables(report));
    return 0;
  }
  const parsed = parseTestRequest(test, headerArgs);
  if (typeof parsed === 'string') {
    err(`${parsed}\n`);
    return 2;
  }
  let results = explainConfig(config, parsed.req, undefined, listener);
  if (listener !== undefined && results.length === 0) {
    err(`--listener: no listener named "${listener}" (known: ${config.listeners.map((l) => l.name).join(', ')})\n`);
    return 2;
  }
  // An explicit port in the URL picks the listener port when one matches it.
  if (listener === undefined && parsed.port !== undefined) {
    const onPort = results.filter((r) => r.port === parsed.port);
    if (onPort.length > 0) results = onPort;
  }
  if (json) out(JSON.stringify(results.map(({ routes: _r, ...rest }) => rest), null, 2) + '\n');
  else out(`${parsed.req.method} ${test.trim().split(/\s+/).pop()}\n` + results.map(formatExplanation).join(''));
  return results.some((r) => r.result.winner !== null) ? 0 : 1;
}

function backendsText(e: RouteEntry): string {
  if (e.backends.length === 0) return '(none: 500)';
  return e.backends.map((b) => `${b.backend ?? `(${b.invalid ?? 'invalid'})`}=${b.weight}`).join(' ');
}

function portTitle(p: PortReport): string {
  const addr = p.address.includes(':') ? `[${p.address}]` : p.address;
  return `listener ${p.listeners.join(', ')} (${addr}:${p.port})`;
}

/** Plain-text tables, one per port. */
export function formatTables(report: PortReport[]): string {
  let s = '';
  for (const p of report) {
    s += `${portTitle(p)}\n`;
    if (p.routes.length === 0) {
      s += '  (no routes: every request gets 404)\n\n';
      continue;
    }
    const withPolicy = p.routes.some((e) => e.policy !== undefined);
    const head = ['#', 'HOSTNAME', 'MATCH', 'RULE', 'BACKENDS', ...(withPolicy ? ['POLICY'] : [])];
    const rows = p.routes.map((e, i) => [String(i + 1), e.hostname, e.match, e.rule, backendsText(e), ...(withPolicy ? [e.policy ?? '-'] : [])]);
    const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    for (const r of [head, ...rows]) s += '  ' + r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ') + '\n';
    s += '\n';
  }
  return s;
}

function formatExplanation(r: PortReport & { result: Explanation }): string {
  const x = r.result;
  let s = `${portTitle(r)}\n`;
  if (x.winner === null) {
    s += '  no route (404)\n';
  } else {
    const w = x.winner;
    s += `  route ${w.route}, rule ${w.rule}\n`;
    s += `  match: ${w.hostname} ${w.match}\n`;
    for (const b of x.because) s += `    ${b}\n`;
    s += `  backends: ${backendsText(w)}\n`;
    if (w.policy !== undefined) s += `  policy: ${w.policy}\n`;
  }
  if (x.skipped.length > 0) {
    s += x.winner === null ? '  tried (none matched):\n' : '  tried first (did not match):\n';
    for (const k of x.skipped) s += `    ${k.entry.rule}  ${k.entry.hostname} ${k.entry.match}: ${k.why}\n`;
  }
  return s + '\n';
}
