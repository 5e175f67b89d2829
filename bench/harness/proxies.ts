// Every proxy the suite can measure, all started the same way: config templated into the run's temp dir, pinned to
// the proxy core, ready when it answers. "direct" is the ceiling: the generator talking to the upstream itself.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BENCH_DIST, PEERS_SRC, ROOT } from './paths';
import { freePort, hasCommand, httpStatus, pinPrefix, startProcess, waitReady, type Managed, type Pinning } from './processes';
import { BODY_16K, BODY_1M, ROUTE_COUNT, SMALL_BODY, type RouteTable } from './scenarios';

export type ProxyKind = 'ceiling' | 'peer' | 'gatemesh';

export interface StartContext {
  tmp: string;
  upstreamPort: number;
  pin: Pinning;
  /** Worker threads/processes for every proxy (nginx workers, HAProxy nbthread, GATEMESH_THREADS). */
  threads: number;
}

export interface RunningProxy {
  port: number;
  /** Anything a reader must know about this proxy in this scenario (e.g. "single route: no route table"). */
  note: string;
  /** Called before each measured run (throughput and latency), so every run starts from the same state. */
  beforeRun?(): void;
  stop(): Promise<void>;
}

export interface ProxySpec {
  name: string;
  kind: ProxyKind;
  /** null when it can run, else why not (printed as "skipped: …"). */
  unavailable(): string | null;
  version(): string;
  start(ctx: StartContext, table: RouteTable): Promise<RunningProxy>;
  /**
   * The scenarios' route tables this proxy runs in; absent: all. A gatemesh `-nopolicy` variant runs in `policies`
   * only, where it is the policies-off figure measured in the same interleaved rounds as everything else.
   */
  tables?: readonly RouteTable[];
}

/** Whether `spec` runs in a scenario with this route table. */
export function runsIn(spec: Pick<ProxySpec, 'tables'>, table: RouteTable): boolean {
  return spec.tables === undefined || spec.tables.includes(table);
}

/**
 * Name suffix of gatemesh's policies-off variant: `gatemesh-uws-nopolicy` is gatemesh-uws with the plain catch-all
 * config and no access log, run in the `policies` scenario as the denominator of issue 5's on ÷ off figure.
 */
export const POLICIES_OFF_SUFFIX = '-nopolicy';

export function isPoliciesOff(name: string): boolean {
  return name.endsWith(POLICIES_OFF_SUFFIX);
}

/** The policies-off row's name for a gatemesh proxy: `gatemesh-uws` → `gatemesh-uws-nopolicy`. */
export function policiesOffName(name: string): string {
  return name + POLICIES_OFF_SUFFIX;
}

const READY_MS = 20_000;

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_m, k: string) => {
    if (!(k in values)) throw new Error(`template placeholder {{${k}}} has no value`);
    return values[k];
  });
}

function template(file: string, values: Record<string, string>): string {
  return fill(readFileSync(path.join(PEERS_SRC, file), 'utf8'), values);
}

/** nginx drops privileges to `nobody` when started as root, which cannot read a 0700 temp dir. */
function nginxUser(): string {
  return process.getuid?.() === 0 ? 'user root;' : '';
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim();
}

function pkgVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version as string;
  } catch {
    return '?';
  }
}

async function listening(m: Managed, port: number, probePath = '/small'): Promise<void> {
  await waitReady(m, async () => (await httpStatus(port, probePath)).status > 0, READY_MS);
}

function stopper(m: Managed): () => Promise<void> {
  return () => m.stop();
}

export interface Upstream {
  port: number;
  engine: string;
  stop(): Promise<void>;
}

/** nginx serving fixed bodies when installed, else the built-in uWS (or node:http) upstream. */
export async function startUpstream(tmp: string, pin: Pinning): Promise<Upstream> {
  const port = await freePort();
  const prefix = pinPrefix(pin.generatorCpus, pin);
  if (hasCommand('nginx')) {
    const www = path.join(tmp, 'www');
    mkdirSync(www, { recursive: true });
    writeFileSync(path.join(www, '16k.bin'), Buffer.alloc(BODY_16K, 'a'));
    writeFileSync(path.join(www, '1m.bin'), Buffer.alloc(BODY_1M, 'b'));
    const conf = path.join(tmp, 'nginx-upstream.conf');
    writeFileSync(
      conf,
      template('nginx-upstream.conf', {
        USER: nginxUser(),
        TMP: tmp,
        PORT: String(port),
        SMALL_BODY: SMALL_BODY.replace(/\n/g, '\\n'),
      }),
    );
    const m = startProcess('upstream (nginx)', [...prefix, 'nginx', '-e', path.join(tmp, 'upstream-error.log'), '-p', tmp, '-c', conf]);
    await listening(m, port);
    return { port, engine: 'nginx', stop: stopper(m) };
  }
  const m = startProcess('upstream (built-in)', [...prefix, process.execPath, path.join(BENCH_DIST, 'upstream.js'), String(port)]);
  await listening(m, port);
  const engine = /ready \d+ (\S+)/.exec(m.output())?.[1] ?? 'built-in';
  return { port, engine: `built-in ${engine}`, stop: stopper(m) };
}

const direct: ProxySpec = {
  name: 'direct',
  kind: 'ceiling',
  unavailable: () => null,
  version: () => 'upstream itself',
  async start(ctx) {
    return { port: ctx.upstreamPort, note: 'no proxy: the ceiling', stop: async () => undefined };
  },
};

const nginx: ProxySpec = {
  name: 'nginx',
  kind: 'peer',
  unavailable: () => (hasCommand('nginx') ? null : 'not installed (apt-get install nginx-light)'),
  version: () => firstLine('nginx', ['-v']).replace(/^nginx version: /, ''),
  async start(ctx, table) {
    const port = await freePort();
    const proxy = '            proxy_pass http://up;';
    let locations: string;
    if (table === 'routes-10k') {
      const lines: string[] = [];
      for (let i = 0; i < ROUTE_COUNT; i++) lines.push(`        location /svc-${i}/ {\n${proxy}\n        }`);
      locations = lines.join('\n');
    } else {
      locations = `        location / {\n${proxy}\n        }`;
    }
    const conf = path.join(ctx.tmp, `nginx-proxy-${table}.conf`);
    writeFileSync(
      conf,
      template('nginx-proxy.conf', {
        USER: nginxUser(),
        TMP: ctx.tmp,
        PORT: String(port),
        UPSTREAM_PORT: String(ctx.upstreamPort),
        LOCATIONS: locations,
      }).replace('worker_processes 1;', `worker_processes ${ctx.threads};`),
    );
    const m = startProcess('nginx', [
      ...pinPrefix(ctx.pin.proxyCpus, ctx.pin),
      'nginx',
      '-e',
      path.join(ctx.tmp, 'nginx-proxy-error.log'),
      '-p',
      ctx.tmp,
      '-c',
      conf,
    ]);
    await listening(m, port);
    const note = table === 'routes-10k' ? `${ROUTE_COUNT} prefix locations` : table === 'policies' ? 'no policies configured' : '';
    return { port, note, stop: stopper(m) };
  },
};

const haproxy: ProxySpec = {
  name: 'haproxy',
  kind: 'peer',
  unavailable: () => (hasCommand('haproxy') ? null : 'not installed (apt-get install haproxy)'),
  version: () => firstLine('haproxy', ['-v']).replace(/^HAProxy version /, '').split(' ')[0],
  async start(ctx, table) {
    const port = await freePort();
    let routes: string;
    if (table === 'routes-10k') {
      // A prefix map: HAProxy's usual way to hold a large route table (map_beg, a list lookup).
      const map = path.join(ctx.tmp, 'haproxy-routes.map');
      const lines: string[] = [];
      for (let i = 0; i < ROUTE_COUNT; i++) lines.push(`/svc-${i}/ up`);
      writeFileSync(map, lines.join('\n') + '\n');
      routes = `    use_backend %[path,map_beg(${map})]`;
    } else {
      routes = '    default_backend up';
    }
    const cfg = path.join(ctx.tmp, `haproxy-${table}.cfg`);
    writeFileSync(
      cfg,
      template('haproxy.cfg', { PORT: String(port), UPSTREAM_PORT: String(ctx.upstreamPort), ROUTES: routes }).replace(
        'nbthread 1',
        `nbthread ${ctx.threads}`,
      ),
    );
    const m = startProcess('haproxy', [...pinPrefix(ctx.pin.proxyCpus, ctx.pin), 'haproxy', '-db', '-f', cfg]);
    await listening(m, port);
    const note = table === 'routes-10k' ? `${ROUTE_COUNT}-line map_beg` : table === 'policies' ? 'no policies configured' : '';
    return { port, note, stop: stopper(m) };
  },
};

function nodePeer(name: string, script: string, pkg: string): ProxySpec {
  return {
    name,
    kind: 'peer',
    unavailable: () =>
      existsSync(path.join(ROOT, 'node_modules', pkg, 'package.json'))
        ? null
        : `not installed (${pkg} is a devDependency: npm install)`,
    version: () => `${pkg} ${pkgVersion(pkg)}`,
    async start(ctx, table) {
      const port = await freePort();
      const m = startProcess(name, [...pinPrefix(ctx.pin.proxyCpus, ctx.pin), process.execPath, path.join(BENCH_DIST, 'peers', script)], {
        env: { ...process.env, PORT: String(port), UPSTREAM: `http://127.0.0.1:${ctx.upstreamPort}` },
      });
      await listening(m, port);
      const notes: string[] = [];
      if (table === 'routes-10k') notes.push('one catch-all route, no route table');
      if (table === 'policies') notes.push('no policies configured');
      if (ctx.threads > 1) notes.push('single-threaded');
      return { port, note: notes.join('; '), stop: stopper(m) };
    },
  };
}

/** The native YAML config for one scenario's route table. */
export function gatemeshConfig(port: number, upstreamPort: number, table: RouteTable): string {
  const out: string[] = ['listeners:', '  - name: web', `    port: ${port}`, '    address: 127.0.0.1', 'routes:'];
  if (table === 'routes-10k') {
    for (let i = 0; i < ROUTE_COUNT; i++) {
      out.push(`  - name: r${i}`, `    match: [{ path: /svc-${i}/ }]`, '    backends: [{ name: up }]');
    }
  } else if (table === 'policies') {
    // Policies on (issue 5): a per-tenant rate limit far above what the run reaches (every request is
    // decided and charged, none refused), least-request balancing, and the access log to a file
    // (gatemeshSpec), on top of a method + header + path match.
    out.push(
      '  - name: r0',
      '    match: [{ path: /, method: GET, headers: { x-tenant: bench } }]',
      '    backends: [{ name: up }]',
      '    policy:',
      '      rateLimit:',
      '        rules:',
      '          - name: per-tenant',
      '            key: [{ type: Header, name: x-tenant }]',
      '            limit: { requests: 100000000, unit: Second }',
    );
    out.push(
      'backends:',
      '  - name: up',
      `    endpoints: ["127.0.0.1:${upstreamPort}"]`,
      '    policy:',
      '      loadBalancer: { type: LeastRequest }',
      '',
    );
    return out.join('\n');
  } else {
    out.push('  - name: r0', '    backends: [{ name: up }]');
  }
  out.push('backends:', '  - name: up', `    endpoints: ["127.0.0.1:${upstreamPort}"]`, '');
  return out.join('\n');
}

export interface GatemeshSpecOptions {
  /**
   * The policies-off variant: named `<name>-nopolicy`, runs in the `policies` scenario only, with the plain
   * catch-all config (`gatemeshConfig(…, 'single')`) and the access log off. The generator's request is the
   * scenario's, as for every proxy (its x-tenant header is then simply not looked at). Default false.
   */
  policiesOff?: boolean;
}

const POLICIES_OFF_NOTE = "policies off: no policies, no access log (the on ÷ off figure's denominator)";

/** gatemesh from a checkout at `root` (this repo, or a baseline build for the gate). */
export function gatemeshSpec(baseName: string, frontend: 'uws' | 'native-free', root: string = ROOT, opts: GatemeshSpecOptions = {}): ProxySpec {
  const off = opts.policiesOff === true;
  const name = off ? policiesOffName(baseName) : baseName;
  return {
    name,
    kind: 'gatemesh',
    ...(off ? { tables: ['policies'] as const } : {}),
    unavailable: () =>
      existsSync(path.join(root, 'dist', 'src', 'cli.js')) ? null : `not built (${path.join(root, 'dist/src/cli.js')} missing: npx tsc -p .)`,
    version: () => {
      try {
        return JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version as string;
      } catch {
        return '?';
      }
    },
    async start(ctx, table) {
      const port = await freePort();
      const adminPort = await freePort();
      const conf = path.join(ctx.tmp, `${name}-${table}.yaml`);
      // The policies-off variant gets the catch-all route whatever the scenario (it only runs in `policies`).
      const policiesOn = table === 'policies' && !off;
      const accessLog = path.join(ctx.tmp, `${name}-access.log`);
      writeFileSync(conf, gatemeshConfig(port, ctx.upstreamPort, off ? 'single' : table));
      const m = startProcess(
        name,
        [...pinPrefix(ctx.pin.proxyCpus, ctx.pin), process.execPath, path.join(root, 'bin', 'gatemesh.js'), '--config', conf],
        {
          cwd: root,
          // process.env passes through, so e.g. GATEMESH_DEBUG_DELAY_MS reaches the proxy under test.
          env: {
            ...process.env,
            GATEMESH_THREADS: String(ctx.threads),
            GATEMESH_FRONTEND: frontend,
            // The policies scenario runs with the access log on (to a file), as issue 5's policies-on figure asks.
            GATEMESH_ACCESS_LOG: policiesOn ? accessLog : 'off',
            GATEMESH_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
          },
        },
      );
      await waitReady(m, async () => (await httpStatus(adminPort, '/ready')).status === 200, READY_MS);
      const note = off
        ? POLICIES_OFF_NOTE
        : table === 'routes-10k'
          ? `${ROUTE_COUNT} prefix routes`
          : table === 'policies'
            ? 'rate limit + least request + access log to a file'
            : '';
      if (!policiesOn) return { port, note, stop: stopper(m) };
      // The access log is emptied before each run, as logrotate's copytruncate would (gatemesh
      // appends, O_APPEND, so it goes on writing at the new end). A log that grew through every
      // round kept taking page-cache pages the VM had never touched, and in a freshly booted
      // Firecracker VM a first touch costs ~1 ns per byte more (dd of 500 MB: 0.68 s of system
      // time the first time, 0.13 s once the pages had been used and freed): ~0.27 µs per request
      // at ~250 B per line, the VM's cost, not the gateway's. Truncating frees the pages for the
      // next run to reuse.
      return { port, note, beforeRun: () => truncateQuietly(accessLog), stop: stopper(m) };
    },
  };
}

export interface ProxySelection {
  /**
   * Run only these (names); default all. Naming a gatemesh proxy brings its `-nopolicy` variant along (it runs in
   * the `policies` scenario only); a variant can also be named on its own.
   */
  only?: string[];
  /** Extra gatemesh builds, e.g. the gate's baseline checkout. */
  extra?: ProxySpec[];
}

export function allProxies(sel: ProxySelection = {}): ProxySpec[] {
  const all = [
    direct,
    nginx,
    haproxy,
    nodePeer('fastify-proxy', 'fastify-proxy.js', '@fastify/http-proxy'),
    nodePeer('http-proxy', 'http-proxy.js', 'http-proxy'),
    gatemeshSpec('gatemesh-uws', 'uws'),
    gatemeshSpec('gatemesh-native-free', 'native-free'),
    gatemeshSpec('gatemesh-uws', 'uws', ROOT, { policiesOff: true }),
    gatemeshSpec('gatemesh-native-free', 'native-free', ROOT, { policiesOff: true }),
    ...(sel.extra ?? []),
  ];
  const only = sel.only;
  if (!only) return all;
  const wanted = (p: ProxySpec): boolean =>
    p.kind === 'ceiling' ||
    only.includes(p.name) ||
    (isPoliciesOff(p.name) && only.includes(p.name.slice(0, -POLICIES_OFF_SUFFIX.length)));
  return all.filter(wanted);
}

function truncateQuietly(file: string): void {
  try {
    truncateSync(file, 0);
  } catch {
    // Not written yet (or already gone): nothing to empty.
  }
}
