// Child processes of a run: free loopback ports, CPU pinning, readiness polling and a stop that always finishes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';

/**
 * Cores of the machine, read once at load: os.availableParallelism() follows this process's affinity mask, so after
 * pinSelf() it would say 1 and a second run in the same process (the gate's confirmation) would not pin.
 */
export const MACHINE_CORES = os.availableParallelism();

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Which cores the proxy under test and the generator+upstream get. */
export interface Pinning {
  enabled: boolean;
  /** taskset CPU list for proxies, e.g. "1". */
  proxyCpus: string;
  /** taskset CPU list for generator and upstream, e.g. "0" or "0,2-7". */
  generatorCpus: string;
  generatorCoreCount: number;
  note: string;
}

export function planPinning(disable: boolean): Pinning {
  const cores = MACHINE_CORES;
  if (disable) return { enabled: false, proxyCpus: '', generatorCpus: '', generatorCoreCount: cores, note: 'pinning off (--no-pin)' };
  if (cores < 2) return { enabled: false, proxyCpus: '', generatorCpus: '', generatorCoreCount: 1, note: 'pinning off: 1 core' };
  if (!hasCommand('taskset')) {
    return { enabled: false, proxyCpus: '', generatorCpus: '', generatorCoreCount: cores, note: 'pinning off: taskset not installed (util-linux)' };
  }
  const generatorCpus = cores === 2 ? '0' : `0,2-${cores - 1}`;
  return {
    enabled: true,
    proxyCpus: '1',
    generatorCpus,
    generatorCoreCount: cores - 1,
    note: `proxy under test pinned to core 1; load generator and upstream on core${cores === 2 ? ' 0' : 's ' + generatorCpus}`,
  };
}

/** Pins this process (all its threads: -a) to the generator cores. */
export function pinSelf(p: Pinning): void {
  if (p.enabled) spawnSync('taskset', ['-a', '-cp', p.generatorCpus, String(process.pid)], { stdio: 'ignore' });
}

export function pinPrefix(cpus: string, p: Pinning): string[] {
  return p.enabled && cpus ? ['taskset', '-c', cpus] : [];
}

export interface Managed {
  name: string;
  child: ChildProcess;
  /** Last ~4 KiB of stdout+stderr, for error messages. */
  output(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

export function startProcess(
  name: string,
  argv: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Managed {
  const child = spawn(argv[0], argv.slice(1), {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  let hasExited = false;
  const keep = (d: Buffer): void => {
    tail = (tail + d.toString()).slice(-4096);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('error', (e) => keep(Buffer.from(`spawn error: ${e.message}\n`)));
  const exit = new Promise<void>((resolve) => child.on('exit', () => ((hasExited = true), resolve())));
  return {
    name,
    child,
    output: () => tail,
    exited: () => hasExited,
    async stop(): Promise<void> {
      if (hasExited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000); // gatemesh drains on SIGTERM; bench has no traffic left
      await exit;
      clearTimeout(t);
    },
  };
}

export function httpStatus(port: number, path: string, timeoutMs = 1000): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Polls until `probe` resolves true, the process exits, or `timeoutMs` passes. */
export async function waitReady(m: Managed | null, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (m?.exited()) throw new Error(`${m.name} exited during start-up: ${m.output().trim().slice(-600) || '(no output)'}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > until) {
      throw new Error(`${m?.name ?? 'process'} not ready after ${timeoutMs} ms: ${m?.output().trim().slice(-600) ?? ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
