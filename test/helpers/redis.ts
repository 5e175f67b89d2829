// A throwaway redis-server for tests: a free 127.0.0.1 port, no persistence, killed when the
// test process exits (even on a crash or an assertion that skips the test's cleanup).
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

const REDIS_SERVER = '/usr/bin/redis-server';
/** ms to wait for PONG after spawning; redis starts in a few ms, CI machines can be slow. */
const START_TIMEOUT_MS = 10000;

export interface TestRedis {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Kills the server (SIGKILL: an outage, not a graceful shutdown) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is persisted) and waits for PONG. */
  restart(): Promise<void>;
  /** Sends a signal to the running server, e.g. SIGSTOP / SIGCONT to simulate a hung Redis. */
  signal(sig: NodeJS.Signals): void;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** A port nobody listens on right now (bind port 0, read it, close). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket: true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

function spawnServer(port: number): { child: ChildProcess; output: () => string } {
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString('latin1')).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(String(err))));
  live.add(child);
  child.once('exit', () => live.delete(child));
  return { child, output: () => out };
}

async function waitReady(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}): ${output()}`);
    }
    if (await ping(port)) return;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within ${START_TIMEOUT_MS} ms: ${output()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Starts redis-server on a free 127.0.0.1 port; resolves once it answers PING. */
export async function startRedis(): Promise<TestRedis> {
  installExitHook();
  // The free port can be taken between probing and binding: try a few.
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    let current = spawnServer(port);
    try {
      await waitReady(port, current.child, current.output);
    } catch (err) {
      lastErr = err;
      await kill(current.child);
      continue;
    }
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      stop: () => kill(current.child),
      signal: (sig) => {
        current.child.kill(sig);
      },
      async restart() {
        await kill(current.child);
        current = spawnServer(port);
        await waitReady(port, current.child, current.output);
      },
    };
  }
  throw lastErr;
}
