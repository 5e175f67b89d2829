// Shared pieces of the Global rate-limit tests: a logger that records its lines, Redis command
// counts (INFO commandstats), and a bounded hammer loop that yields so lease replies can land.
import pino from 'pino';
import Redis from 'ioredis';
import { LimitResult } from '../../../src/policy/limit-result';
import type { GlobalBackend } from '../../../src/policy/global-limit';
import { nowMs } from '../../../src/shared/clock';

export interface CapturedLog {
  logger: pino.Logger;
  lines: { level: number; msg: string }[];
}

export function captureLogger(): CapturedLog {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, {
    write(s: string) {
      const rec = JSON.parse(s) as { level: number; msg: string };
      lines.push({ level: rec.level, msg: rec.msg });
    },
  });
  return { logger, lines };
}

export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Lease-script calls Redis executed since the last resetStats (EVALSHA + EVAL). */
export async function leaseCalls(url: string): Promise<number> {
  const c = new Redis(url, { lazyConnect: true });
  await c.connect();
  const info = await c.info('commandstats');
  await c.quit();
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) n += Number(m[2]);
  return n;
}

export async function resetStats(url: string): Promise<void> {
  const c = new Redis(url, { lazyConnect: true });
  await c.connect();
  await c.config('RESETSTAT');
  await c.quit();
}

export interface HammerResult {
  takes: number;
  allowed: number;
}

/**
 * Calls take() in bursts of `burst`, yielding between bursts (so background lease replies are
 * processed, as between a gateway's socket reads; `pauseMs` paces it), until `untilMs` (epoch
 * ms) or `maxTakes`.
 */
export async function hammer(
  backend: GlobalBackend,
  limitId: number,
  key: string,
  requests: number,
  periodMs: number,
  opts: { untilMs?: number; maxTakes?: number; burst?: number; pauseMs?: number },
): Promise<HammerResult> {
  const out = new LimitResult();
  const burst = opts.burst ?? 20;
  const until = opts.untilMs ?? Infinity;
  const max = opts.maxTakes ?? Infinity;
  let takes = 0;
  let allowed = 0;
  while (takes < max && nowMs() < until) {
    for (let i = 0; i < burst && takes < max; i++) {
      backend.take(limitId, key, requests, periodMs, nowMs(), out);
      takes++;
      if (out.allowed) allowed++;
    }
    if (opts.pauseMs === undefined) await tick();
    else await sleep(opts.pauseMs);
  }
  return { takes, allowed };
}
