// Micro-benchmarks: every compiled dist/bench/micro/<name>.js is run as its own process on the proxy core (idle by
// then), and its stdout table goes into the report as printed. Each compares its hot path against a peer itself.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { BENCH_DIST } from './paths';
import { pinPrefix, type Pinning } from './processes';
import type { MicroResult } from './results';

export function listMicro(): string[] {
  const dir = path.join(BENCH_DIST, 'micro');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => f.slice(0, -3))
    .sort();
}

export function runMicro(name: string, pin: Pinning, quick: boolean, timeoutMs: number): Promise<MicroResult> {
  const argv = [...pinPrefix(pin.proxyCpus, pin), process.execPath, path.join(BENCH_DIST, 'micro', `${name}.js`), ...(quick ? ['--quick'] : [])];
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\nkilled after ${timeoutMs / 1000} s`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => (stderr += e.message));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ name, exitCode: code, ms: Date.now() - t0, stdout, stderr: stderr.slice(-2000) });
    });
  });
}
