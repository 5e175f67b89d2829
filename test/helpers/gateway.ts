// Test harness: runs the real `gatemesh` binary as a child process on a temp config with every
// port 0, learns the bound ports from its start-up log line, and stops it with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const FRONTENDS = ['uws', 'native-free'] as const;
export type FrontendName = (typeof FRONTENDS)[number];

const BIN = path.resolve(__dirname, '../../../bin/gatemesh.js');

export interface RunningGateway {
  proc: ChildProcess;
  /** Bound proxy ports, one per listener group in config order. */
  ports: number[];
  port: number;
  adminPort: number;
  /** Everything the process wrote to stderr so far (operational log). */
  stderr(): string;
  /** Access-log file path (GATEMESH_ACCESS_LOG=<file>). */
  accessLogPath: string;
  /** The access-log lines so far, once there are any and, with `until`, once it holds: the log is
   *  flushed about once a second, so a line may come after lines already on disk. Polls up to 3 s. */
  accessLog(until?: (lines: Record<string, unknown>[]) => boolean): Promise<Record<string, unknown>[]>;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'gatemesh-test-'));
}

export function writeConfig(text: string, name = 'gatemesh.yaml', dir = tempDir()): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** A native config with one listener on port 0 and `routes`/`backends` YAML appended. */
export function nativeConfig(routesAndBackends: string): string {
  return `listeners:\n  - name: web\n    port: 0\n    address: 127.0.0.1\n${routesAndBackends}`;
}

/** Native config: one catch-all route `r` to backend `b`, whose one endpoint is 127.0.0.1:`port`. */
export function singleBackend(port: number): string {
  return nativeConfig(`routes:\n  - name: r\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:${port}"]\n`);
}

export async function startGateway(
  frontend: FrontendName,
  configText: string,
  env: Record<string, string> = {},
  configFile?: string,
): Promise<RunningGateway> {
  const dir = tempDir();
  const file = configFile ?? writeConfig(configText, 'gatemesh.yaml', dir);
  const accessLogPath = path.join(dir, 'access.log');
  const proc = spawn(process.execPath, [BIN, '--config', file], {
    env: {
      ...process.env,
      GATEMESH_FRONTEND: frontend,
      GATEMESH_THREADS: '1',
      GATEMESH_ADMIN_ADDR: '127.0.0.1:0',
      GATEMESH_ACCESS_LOG: accessLogPath,
      GATEMESH_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stdout!.on('data', () => {});
  const started = new Promise<{ ports: number[]; adminPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start in 15 s:\n${err}`)), 15000);
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      for (const line of err.split('\n')) {
        if (!line.includes('"gatemesh listening"')) continue;
        const rec = JSON.parse(line) as { listeners: { port: number }[]; admin: string };
        clearTimeout(timer);
        resolve({ ports: rec.listeners.map((l) => l.port), adminPort: Number(rec.admin.split(':').pop()) });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code} before listening:\n${err}`));
    });
  });
  const { ports, adminPort } = await started;
  let exited: Promise<number | null> | null = null;
  const exitPromise = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    ports,
    port: ports[0],
    adminPort,
    stderr: () => err,
    accessLogPath,
    async accessLog(until) {
      // The access log is batched (64 KiB, or once a second); stop() flushes it, or poll.
      let lines: Record<string, unknown>[] = [];
      for (let i = 0; i < 60; i++) {
        const text = fs.existsSync(accessLogPath) ? fs.readFileSync(accessLogPath, 'utf8') : '';
        if (text.length > 0) {
          lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
          if (until === undefined || until(lines)) return lines;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      return lines;
    },
    stop() {
      if (exited) return exited;
      proc.kill('SIGTERM');
      exited = Promise.race([
        exitPromise,
        new Promise<number | null>((r) =>
          setTimeout(() => {
            proc.kill('SIGKILL');
            r(-9);
          }, 10000).unref(),
        ),
      ]);
      return exited;
    },
  };
}
