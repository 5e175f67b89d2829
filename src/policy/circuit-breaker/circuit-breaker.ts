// Circuit breaker per backend, Envoy's thresholds (cluster circuit_breakers): connections, pending
// requests, requests and retries, each counted across every worker thread in one
// SharedArrayBuffer. Past a threshold the caller answers 503 CIRCUIT_OPEN at once and flags the
// access log (Envoy's UO, upstream overflow); each kind counts its overflows for /stats.
import type { CircuitBreaker as CircuitBreakerConfig } from '../../config/model';

export interface BreakerOverflows {
  /** Times tryConnection() was refused (Envoy upstream_cx_overflow), all threads. */
  readonly connections: number;
  /** Times tryPending() was refused (upstream_rq_pending_overflow). */
  readonly pending: number;
  /** Times tryRequest() was refused (Envoy folds it into upstream_rq_pending_overflow). */
  readonly requests: number;
  /** Times tryRetry() was refused (upstream_rq_retry_overflow). */
  readonly retries: number;
}

export interface CircuitBreaker {
  /** Room for one more upstream connection (opening it): true, and endConnection() when it closes. */
  tryConnection(): boolean;
  endConnection(): void;
  /** Room for one more request waiting for a connection: true, and endPending() when it gets one or leaves. */
  tryPending(): boolean;
  endPending(): void;
  /** Room for one more request in flight to the backend: true, and endRequest() when it ends. */
  tryRequest(): boolean;
  endRequest(): void;
  /** Room for one more retry in flight: true, and endRetry() when that attempt ends. */
  tryRetry(): boolean;
  endRetry(): void;
  /** Current counts, all threads. */
  readonly connections: number;
  readonly pending: number;
  readonly requests: number;
  readonly retries: number;
  readonly overflows: BreakerOverflows;
  readonly thresholds: Readonly<CircuitBreakerConfig>;
}

/** Envoy's defaults: 1024 connections, pending requests and requests; 3 retries. */
export const BREAKER_DEFAULTS: Readonly<CircuitBreakerConfig> = Object.freeze({
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
});

// --- SharedArrayBuffer layout: one 64-byte line per kind (kinds do not share a cache line),
// --- Int32 [count, overflows] at the start of each line.
const LINE = 16; // Int32 words per 64-byte line
const CONNECTIONS = 0;
const PENDING = LINE;
const REQUESTS = 2 * LINE;
const RETRIES = 3 * LINE;
const OVERFLOW = 1;
const BYTES = 4 * 64;

/** Bytes of the SharedArrayBuffer the main thread allocates per backend (all zero). */
export function breakerSharedBytes(): number {
  return BYTES;
}

/**
 * `cfg` undefined: Envoy's defaults (BREAKER_DEFAULTS). `shared` undefined: a private buffer
 * (one thread). Every thread passes the same buffer; a buffer reused across a reload keeps the
 * counts of what is still in flight.
 */
export function createCircuitBreaker(cfg: CircuitBreakerConfig | undefined, shared: SharedArrayBuffer | undefined): CircuitBreaker {
  const t = cfg ?? BREAKER_DEFAULTS;
  for (const k of ['maxConnections', 'maxPendingRequests', 'maxRequests', 'maxRetries'] as const) {
    if (!Number.isInteger(t[k]) || t[k] < 0) throw new TypeError(`circuit breaker: ${k} must be an integer ≥ 0 (Envoy default ${BREAKER_DEFAULTS[k]})`);
  }
  const sab = shared ?? new SharedArrayBuffer(BYTES);
  if (sab.byteLength < BYTES) throw new TypeError(`circuit breaker: shared buffer has ${sab.byteLength} bytes, needs ${BYTES} (breakerSharedBytes())`);
  return new Breaker(t, new Int32Array(sab, 0, BYTES / 4));
}

/**
 * Takes one unit of `at` if its count is below `max`. A compare-and-swap loop rather than add,
 * check, undo: exact under contention both ways (never more than max at once, and no refusal
 * caused by another thread's transient overshoot).
 */
function take(i32: Int32Array, at: number, max: number): boolean {
  for (;;) {
    const n = Atomics.load(i32, at);
    if (n >= max) {
      Atomics.add(i32, at + OVERFLOW, 1);
      return false;
    }
    if (Atomics.compareExchange(i32, at, n, n + 1) === n) return true;
  }
}

class Overflows implements BreakerOverflows {
  constructor(private readonly i32: Int32Array) {}
  get connections(): number {
    return Atomics.load(this.i32, CONNECTIONS + OVERFLOW);
  }
  get pending(): number {
    return Atomics.load(this.i32, PENDING + OVERFLOW);
  }
  get requests(): number {
    return Atomics.load(this.i32, REQUESTS + OVERFLOW);
  }
  get retries(): number {
    return Atomics.load(this.i32, RETRIES + OVERFLOW);
  }
}

class Breaker implements CircuitBreaker {
  readonly overflows: BreakerOverflows;
  private readonly maxConnections: number;
  private readonly maxPending: number;
  private readonly maxRequests: number;
  private readonly maxRetries: number;

  constructor(
    readonly thresholds: Readonly<CircuitBreakerConfig>,
    private readonly i32: Int32Array,
  ) {
    this.overflows = new Overflows(i32);
    this.maxConnections = thresholds.maxConnections;
    this.maxPending = thresholds.maxPendingRequests;
    this.maxRequests = thresholds.maxRequests;
    this.maxRetries = thresholds.maxRetries;
  }

  tryConnection(): boolean {
    return take(this.i32, CONNECTIONS, this.maxConnections);
  }
  endConnection(): void {
    Atomics.sub(this.i32, CONNECTIONS, 1);
  }
  tryPending(): boolean {
    return take(this.i32, PENDING, this.maxPending);
  }
  endPending(): void {
    Atomics.sub(this.i32, PENDING, 1);
  }
  tryRequest(): boolean {
    return take(this.i32, REQUESTS, this.maxRequests);
  }
  endRequest(): void {
    Atomics.sub(this.i32, REQUESTS, 1);
  }
  tryRetry(): boolean {
    return take(this.i32, RETRIES, this.maxRetries);
  }
  endRetry(): void {
    Atomics.sub(this.i32, RETRIES, 1);
  }

  get connections(): number {
    return Atomics.load(this.i32, CONNECTIONS);
  }
  get pending(): number {
    return Atomics.load(this.i32, PENDING);
  }
  get requests(): number {
    return Atomics.load(this.i32, REQUESTS);
  }
  get retries(): number {
    return Atomics.load(this.i32, RETRIES);
  }
}
