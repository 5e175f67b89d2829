// Global (multi-instance) rate limits through Redis: token leases taken in batches, requests
// answered synchronously from the tokens held, the next lease fetched in the background.
//
// Design
// - Redis holds one GCRA bucket per (limit, key) (gcra-script.ts; the same algorithm as Local
//   mode: L back to back, then one every period / L). A leaser takes `lease` tokens from it with
//   one atomic EVALSHA and hands them out locally; when it holds `lowWater` or fewer it asks for
//   the next lease in the background. One lease in flight per key per leaser, so Redis sees one
//   command per `lease` requests, not one per request.
// - Who leases: each worker thread, with its own ioredis connection (choice (a) of the design
//   brief). A SharedArrayBuffer lease table shared by a process's threads would divide the bound
//   below by `threads`, but needs a cross-thread hash table of arbitrary string keys plus one
//   thread owning the Redis I/O (a postMessage hop on the refill path); per-thread leasing keeps
//   the request path inside the thread, and the lease size divides by instances × threads
//   instead, so the bound in fractions of L does not grow with threads (only its rounding does).
// - A fresh key (no lease yet), or one whose next lease is late: a request cannot wait for
//   Redis, so while the lease is in flight the leaser lets up to `borrow` requests through on
//   credit; the credit is charged against that lease (and later ones if it falls short). Once a reply is known, credit is also
//   capped at the key's share of what the bucket had left (⌊remaining / leasers⌋), so a bucket
//   known to be empty gives none and a single leaser is exact.
// - A leased token is spent within `ttl` of the lease request or dropped; dropped tokens go back
//   to the bucket with the key's next Redis call (or the sweep).
//
// Error bound (lease.ts errorBound), per key, over ANY interval, beyond what an exact GCRA
// limiter admits in it (L + interval / T):
//
//   E = N × borrow + min(⌈L × ttl / period⌉, N × (lease + lowWater))
//   N      = leasers = instances × threads                     (options.instances × options.threads)
//   lease  = max(1, min(leaseMax, ⌊L / (leaseDivisor × N)⌋))   (defaults 10, 1000)
//   lowWater = ⌊lease / 2⌋, borrow = max(1, lowWater), ttl = min(leaseTtlMs, period) (default 1000 ms)
//
//   So roughly E ≈ L/(2·divisor) + min(L·ttl/period, 1.5·L/divisor) + N (the rounding of small L).
//   Example: L = 600/min, 3 leasers: lease 20, E = 3×10 + min(10, 90) = 40 (6.7 % of L).
//   Example: L = 10/min, 3 leasers: lease 1, E = 3×1 + min(1, 3) = 4; with 1 leaser, E = 1 + 1.
// Starting from a fresh key (the accuracy test) only the first term can apply. A key evicted
// from a full table (maxKeys) and seen again may take `borrow` more once. While Redis is
// unreachable nothing is counted: the policy's failureMode decides, outside this bound. A Redis
// restart (no persistence) refills every bucket.
//
// Undershoot: tokens held unspent by other leasers, at most N × (lease + lowWater) at a time,
// returned to the bucket once their ttl has passed (with the key's next call, or by the sweep).
// Requests arriving while a leaser's credit is used up and its lease is in flight are refused
// (Retry-After ≤ 1 s): at 50 requests/ms per key and thread no request waited in the tests.
//
// Measured (test/policy/global-limit/cluster.test.ts, 3 processes hammering one key from fresh):
// over 4 runs, overshoot 3–20 for L = 600/min (E = 40; 5–17 with 3 × 2 leasers), 0–2 for
// L = 10/min (E = 4), 0–82 for L = 5000/min (E = 333); 32 Redis calls for ~4 M requests at L = 600.
import os from 'node:os';
import Redis from 'ioredis';
import type pino from 'pino';
import type { LimitResult } from '../limit-result';
import type { GlobalBackend } from '../rate-limit/types';
import { nowMs } from '../../shared/clock';
import { GCRA_LEASE_LUA } from './gcra-script';
import { errorBound, leasePlan, type LeasePlan, type LeaseTuning } from './lease';

export { errorBound, leasePlan } from './lease';
export type { LeasePlan, LeaseTuning } from './lease';

// The seam the rate limiter (src/policy/rate-limit/) calls; implemented here.
export type { GlobalBackend };

export interface GlobalBackendOptions {
  /** GATEMESH_REDIS_URL, redis://[:password@]host:port[/db]. */
  url: string;
  logger: pino.Logger;
  /** Names the connection (CLIENT SETNAME gatemesh:<id>) and the log lines; default host:pid. */
  instanceId?: string;
  /** gatemesh instances sharing the store (GATEMESH_REDIS_INSTANCES); default 1. Sizes leases. */
  instances?: number;
  /** Worker threads of this instance, each leasing for itself; default 1. */
  threads?: number;
  /** Lease = L / (divisor × instances × threads), factory option (no environment variable); default 10. */
  leaseDivisor?: number;
  /** Largest lease, tokens (GATEMESH_REDIS_LEASE_MAX); default 1000. */
  leaseMax?: number;
  /** Lease lifetime, ms (GATEMESH_REDIS_LEASE_TTL_MS); default 1000, capped at the limit's period. */
  leaseTtlMs?: number;
  /** Redis command timeout, ms (GATEMESH_REDIS_TIMEOUT_MS); default 250. A timeout counts as an outage. */
  commandTimeoutMs?: number;
  /** TCP connect + ready check timeout, ms; default 1000. */
  connectTimeoutMs?: number;
  /** Reconnect backoff cap, ms (factory option); backoff 50 ms × attempt up to it; default 2000. */
  reconnectMaxMs?: number;
  /** Keys tracked per thread (factory option); past it the oldest is evicted; default 100000. */
  maxKeys?: number;
  /** Redis key prefix (factory option); default "gatemesh:rl:". */
  keyPrefix?: string;
}

/** Counters for metrics (cumulative; read them, do not write). */
export interface GlobalBackendStats {
  /** Redis lease calls made (the thing batching keeps far below requests). */
  fetches: number;
  /** Tokens Redis granted. */
  granted: number;
  /** Requests let through on credit before their lease arrived. */
  borrowed: number;
  /** Tokens dropped unspent when their lease expired (returned to Redis later). */
  expired: number;
  /** Keys evicted because the table was full (maxKeys). */
  evicted: number;
  /** Lease calls that failed (timeouts, connection loss). */
  failures: number;
  /** Outages seen (available went false). */
  outages: number;
}

export interface GlobalBackendHandle extends GlobalBackend {
  readonly stats: GlobalBackendStats;
  /** N, the leasers this backend assumes (instances × threads). */
  readonly leasers: number;
  /** Keys tracked now (at most maxKeys), for a gauge. */
  readonly trackedKeys: number;
  /** The error bound E (see the top of this file) for a limit of `requests` per `periodMs`. */
  bound(requests: number, periodMs: number): number;
  /** Resolves true once available (or at once), false after `timeoutMs`. For start-up and tests. */
  whenAvailable(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

type LeaseReply = [granted: number, remaining: number, resetMs: number, retryMs: number];

interface LeaseClient {
  gatemeshLease(key: string, emissionMs: number, requests: number, want: number, back: number): Promise<LeaseReply>;
}

/** One key's lease at one leaser. A class so every entry has one shape. */
class Lease {
  /** Tokens held; negative = requests let through on credit, not yet charged. */
  tokens = 0;
  /** Local ms after which held tokens are dropped (granted ≥ ttl ago). */
  expiresAt = 0;
  /** No Redis call before this (the bucket was empty; wait for about half a lease to refill). */
  blockedUntil = 0;
  /** Tokens left in the bucket at the last reply; -1 before the first reply. */
  remote = -1;
  /** Requests this leaser let through since the last reply (estimates what the others took). */
  spent = 0;
  /** Local ms when the bucket is full again, as of the last reply. */
  fullAt = 0;
  /** Expired tokens to give back with the next call. */
  giveBack = 0;
  inflight = false;
  lastUsed = 0;
  constructor(readonly redisKey: string) {}
}

/** One limit (limitId) with its precomputed lease plan and its keys. */
class LimitSlot {
  readonly entries = new Map<string, Lease>();
  constructor(
    readonly id: number,
    readonly requests: number,
    readonly periodMs: number,
    readonly plan: LeasePlan,
    /** `<prefix><limitId>:<requests>:<periodMs>:`: a changed limit starts a new bucket. */
    readonly keyPrefix: string,
  ) {}
}

const DEFAULTS = {
  instances: 1,
  threads: 1,
  leaseDivisor: 10,
  leaseMax: 1000,
  leaseTtlMs: 1000,
  commandTimeoutMs: 250,
  connectTimeoutMs: 1000,
  reconnectMaxMs: 2000,
  maxKeys: 100000,
  keyPrefix: 'gatemesh:rl:',
};

/** Refusals while a lease is in flight say "retry in" at most this, ms. */
const INFLIGHT_RETRY_MAX_MS = 1000;
/** After a non-outage error (a script error), a key waits this long before its next call, ms. */
const ERROR_BACKOFF_MS = 1000;

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`global rate limit: ${name} must be a positive integer, got ${v}`);
  return v;
}

/** The URL without its password, for log lines. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable GATEMESH_REDIS_URL)';
  }
}

class RedisGlobalBackend implements GlobalBackendHandle {
  readonly stats: GlobalBackendStats = { fetches: 0, granted: 0, borrowed: 0, expired: 0, evicted: 0, failures: 0, outages: 0 };
  readonly leasers: number;
  private readonly tuning: LeaseTuning;
  private readonly client: Redis;
  private readonly lease: LeaseClient;
  /** By limitId (rate-limit.ts rateLimitId: a signed 32-bit hash, so a Map, not an array). */
  private readonly slots = new Map<number, LimitSlot>();
  private readonly maxKeys: number;
  private readonly keyPrefix: string;
  private readonly logger: pino.Logger;
  private readonly store: string;
  private keys = 0;
  private up = false;
  private state: 'connecting' | 'up' | 'down' = 'connecting';
  private downSince = 0;
  private lastError: Error | undefined;
  private lastUnexpectedLog = 0;
  private closed = false;
  private readonly sweepTimer: NodeJS.Timeout;
  private waiters: (() => void)[] = [];

  constructor(opts: GlobalBackendOptions) {
    const o = { ...DEFAULTS, ...stripUndefined(opts) };
    this.leasers = positiveInt('instances', o.instances) * positiveInt('threads', o.threads);
    this.tuning = {
      leasers: this.leasers,
      divisor: positiveInt('leaseDivisor', o.leaseDivisor),
      max: positiveInt('leaseMax', o.leaseMax),
      ttlMs: positiveInt('leaseTtlMs', o.leaseTtlMs),
    };
    this.maxKeys = positiveInt('maxKeys', o.maxKeys);
    this.keyPrefix = o.keyPrefix;
    this.store = redactUrl(opts.url);
    const instanceId = opts.instanceId ?? `${os.hostname()}:${process.pid}`;
    this.logger = opts.logger.child({ component: 'global-rate-limit', store: this.store, instance: instanceId });
    const reconnectMaxMs = positiveInt('reconnectMaxMs', o.reconnectMaxMs);
    this.client = new Redis(opts.url, {
      connectionName: `gatemesh:${instanceId}`,
      // Requests never queue behind a dead connection: a call while disconnected fails at once.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: positiveInt('commandTimeoutMs', o.commandTimeoutMs),
      connectTimeout: positiveInt('connectTimeoutMs', o.connectTimeoutMs),
      // Reconnect forever: 50 ms, 100 ms, ... capped.
      retryStrategy: (times) => Math.min(times * 50, reconnectMaxMs),
      // Lease calls of many fresh keys in one tick go out in one write.
      enableAutoPipelining: true,
    });
    this.client.defineCommand('gatemeshLease', { numberOfKeys: 1, lua: GCRA_LEASE_LUA });
    this.lease = this.client as unknown as LeaseClient;
    this.client.on('ready', () => this.markUp());
    this.client.on('close', () => this.markDown());
    // ioredis emits one per failed (re)connect: remember it for the outage line, log nothing here.
    this.client.on('error', (err: Error) => {
      this.lastError = err;
    });
    const sweepMs = Math.max(100, Math.min(this.tuning.ttlMs, 1000));
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
  }

  get available(): boolean {
    return this.up;
  }

  get trackedKeys(): number {
    return this.keys;
  }

  bound(requests: number, periodMs: number): number {
    return errorBound(requests, periodMs, this.tuning);
  }

  take(limitId: number, key: string, requests: number, periodMs: number, now: number, out: LimitResult): void {
    out.limit = requests;
    if (!this.up) {
      // The caller applies failureMode before calling; if it calls anyway, nothing is counted.
      out.allowed = true;
      out.remaining = 0;
      out.resetMs = 0;
      out.retryAfterMs = 0;
      out.degraded = true;
      return;
    }
    const slot = this.slot(limitId, requests, periodMs);
    const plan = slot.plan;
    let lease = slot.entries.get(key);
    if (lease === undefined) lease = this.insert(slot, key);
    lease.lastUsed = now;
    if (lease.tokens > 0 && now >= lease.expiresAt) this.expire(lease);

    let ok = lease.tokens > 0;
    if (!ok) {
      if (!lease.inflight && now >= lease.blockedUntil) this.fetch(slot, lease, plan.lease + (lease.tokens < 0 ? -lease.tokens : 0));
      if (lease.inflight && lease.tokens > -this.credit(lease, plan)) {
        ok = true;
        this.stats.borrowed++;
      }
    }
    out.degraded = false;
    if (ok) {
      lease.tokens--;
      lease.spent++;
      if (!lease.inflight && lease.tokens <= plan.lowWater && now >= lease.blockedUntil) this.fetch(slot, lease, plan.lease);
      const remaining = lease.remote < 0 ? requests - 1 + (lease.tokens < 0 ? lease.tokens : 0) : lease.remote + (lease.tokens > 0 ? lease.tokens : 0);
      out.allowed = true;
      out.remaining = remaining < 0 ? 0 : remaining > requests - 1 ? requests - 1 : remaining;
      out.resetMs = Math.ceil((requests - out.remaining) * plan.emissionMs);
      out.retryAfterMs = 0;
    } else {
      out.allowed = false;
      out.remaining = 0;
      out.resetMs = Math.ceil(lease.fullAt > now ? lease.fullAt - now : requests * plan.emissionMs);
      out.retryAfterMs =
        lease.blockedUntil > now ? Math.ceil(lease.blockedUntil - now) : Math.max(1, Math.min(INFLIGHT_RETRY_MAX_MS, Math.ceil(plan.emissionMs)));
    }
  }

  refund(limitId: number, key: string, requests: number, periodMs: number): void {
    const slot = this.slots.get(limitId);
    if (slot === undefined || slot.requests !== requests || slot.periodMs !== periodMs) return;
    const lease = slot.entries.get(key);
    if (lease !== undefined) lease.tokens++;
  }

  whenAvailable(timeoutMs: number): Promise<boolean> {
    if (this.up) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(done);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.up = false;
    clearInterval(this.sweepTimer);
    if (this.client.status === 'ready') {
      try {
        await this.client.quit();
        return;
      } catch {
        // fall through: drop the connection
      }
    }
    this.client.disconnect();
  }

  /** The slot of `limitId`, rebuilt when its size changed (a reload): a new size is a new bucket. */
  private slot(limitId: number, requests: number, periodMs: number): LimitSlot {
    const s = this.slots.get(limitId);
    if (s !== undefined && s.requests === requests && s.periodMs === periodMs) return s;
    if (s !== undefined) this.keys -= s.entries.size;
    const fresh = new LimitSlot(
      limitId,
      requests,
      periodMs,
      leasePlan(requests, periodMs, this.tuning),
      `${this.keyPrefix}${limitId}:${requests}:${periodMs}:`,
    );
    this.slots.set(limitId, fresh);
    return fresh;
  }

  private insert(slot: LimitSlot, key: string): Lease {
    if (this.keys >= this.maxKeys) this.evictOne(slot);
    const lease = new Lease(slot.keyPrefix + key);
    slot.entries.set(key, lease);
    this.keys++;
    return lease;
  }

  /**
   * Drops the oldest key (insertion order), preferring the slot being inserted into. Its lease
   * may be in flight: the reply then lands on the dropped object, its tokens unused (returned to
   * nobody; the bucket refills) and its credit forgotten (at most `borrow`, see the bound).
   */
  private evictOne(prefer: LimitSlot): void {
    if (this.evictFrom(prefer)) return;
    for (const s of this.slots.values()) if (s !== prefer && this.evictFrom(s)) return;
  }

  private evictFrom(slot: LimitSlot): boolean {
    for (const key of slot.entries.keys()) {
      slot.entries.delete(key);
      this.keys--;
      this.stats.evicted++;
      return true;
    }
    return false;
  }

  /**
   * Credit a leaser may give while its lease is in flight (see lease.ts `borrow`). Once a reply
   * is known: its share of what the bucket still holds, guessing that each other leaser has taken
   * as much as this one since that reply. A guess only narrows the credit; the bound assumes
   * `borrow`.
   */
  private credit(lease: Lease, plan: LeasePlan): number {
    if (lease.remote < 0) return plan.borrow;
    const left = lease.remote - (this.leasers - 1) * lease.spent;
    const share = left > 0 ? Math.floor(left / this.leasers) : 0;
    return share < plan.borrow ? share : plan.borrow;
  }

  private expire(lease: Lease): void {
    lease.giveBack += lease.tokens;
    this.stats.expired += lease.tokens;
    lease.tokens = 0;
  }

  /** One lease call in the background: asks for `want` tokens, gives back expired ones. */
  private fetch(slot: LimitSlot, lease: Lease, want: number): void {
    const back = lease.giveBack;
    lease.giveBack = 0;
    lease.inflight = true;
    this.stats.fetches++;
    const sentAt = nowMs();
    this.lease.gatemeshLease(lease.redisKey, slot.plan.emissionMs, slot.requests, want, back).then(
      (r) => this.onGrant(slot.plan, lease, sentAt, r),
      (err: Error) => this.onFail(lease, back, err),
    );
  }

  private onGrant(plan: LeasePlan, lease: Lease, sentAt: number, r: LeaseReply): void {
    lease.inflight = false;
    const now = nowMs();
    if (lease.tokens > 0 && now >= lease.expiresAt) this.expire(lease);
    // Tokens still held keep their (earlier) expiry, so no token outlives ttl after its grant.
    if (lease.tokens <= 0) lease.expiresAt = sentAt + plan.ttlMs;
    const granted = r[0];
    lease.tokens += granted;
    lease.remote = r[1];
    lease.spent = 0;
    lease.fullAt = now + r[2];
    // Empty bucket: no call before one token plus half a lease has refilled, so a drained key
    // costs one call per half lease, not one per refilled token.
    lease.blockedUntil = r[1] === 0 ? now + r[3] + plan.lowWater * plan.emissionMs : 0;
    this.stats.granted += granted;
  }

  private onFail(lease: Lease, back: number, err: Error): void {
    lease.inflight = false;
    lease.giveBack += back;
    this.stats.failures++;
    if (this.closed) return;
    this.lastError = err;
    if (err.message.includes('timed out')) {
      // Redis is connected but not answering (overloaded, paused): an outage. Reconnecting makes
      // 'ready' (its ready check must pass) the single signal of recovery. Once per outage: the
      // other calls in flight time out too.
      if (this.up) {
        this.markDown();
        this.client.disconnect(true);
      }
      return;
    }
    if (!this.up || this.client.status !== 'ready') return; // connection loss: the 'close' event handles it
    // Anything else (a script error): not an outage, but keep it from becoming a call per request.
    lease.blockedUntil = nowMs() + ERROR_BACKOFF_MS;
    const t = Date.now();
    if (t - this.lastUnexpectedLog >= 60000) {
      this.lastUnexpectedLog = t;
      this.logger.error({ err: err.message }, 'global rate limit: lease call failed (logged at most once a minute)');
    }
  }

  private markUp(): void {
    if (this.closed) return;
    this.up = true;
    if (this.state === 'down') {
      this.logger.info({ downMs: Date.now() - this.downSince }, 'global rate limit store reachable again');
    }
    this.state = 'up';
    this.lastError = undefined;
    // Load the script now (a new or restarted Redis has none), so the first lease call is one
    // EVALSHA round trip instead of EVALSHA → NOSCRIPT → EVAL.
    this.client.script('LOAD', GCRA_LEASE_LUA).catch(() => {});
    const w = this.waiters;
    this.waiters = [];
    for (const done of w) done();
  }

  private markDown(): void {
    if (this.closed) return;
    this.up = false;
    if (this.state === 'down') return;
    this.state = 'down';
    this.downSince = Date.now();
    this.stats.outages++;
    this.logger.warn(
      { err: this.lastError?.message },
      'global rate limit store unreachable: each policy failureMode (open|closed) applies until it recovers; reconnecting',
    );
  }

  /** Drops expired tokens (returned to Redis by a give-back call) and forgets idle keys. */
  private sweep(): void {
    if (this.closed) return;
    const now = nowMs();
    for (const slot of this.slots.values()) {
      const ttl = slot.plan.ttlMs;
      for (const [key, lease] of slot.entries) {
        if (lease.inflight) continue;
        if (lease.tokens > 0 && now >= lease.expiresAt) this.expire(lease);
        const idle = now - lease.lastUsed;
        if (lease.tokens < 0) {
          // Debt of a key idle for a whole period: the bucket has refilled since; forgive it.
          if (idle < slot.periodMs) continue;
        } else if (lease.tokens === 0 && now < lease.fullAt) {
          if (lease.giveBack > 0 && idle >= ttl && this.up) this.fetch(slot, lease, 0);
          continue;
        } else if (lease.tokens > 0 || idle < ttl) {
          continue;
        }
        slot.entries.delete(key);
        this.keys--;
      }
      if (slot.entries.size === 0) this.slots.delete(slot.id);
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** One per worker thread (each thread leases for itself; see the top of this file). */
export function createGlobalBackend(opts: GlobalBackendOptions): GlobalBackendHandle {
  return new RedisGlobalBackend(opts);
}
