// Keep-alive connection pools to upstream endpoints, one per `address:port` per thread: raw
// net.Sockets with their response parser, LIFO reuse, a hard bound on sockets, a FIFO wait queue.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Endpoint } from '../config/model';
import { ERR, type ErrorSpec } from '../errors';
import { ResponseParser, type ResponseFraming, type ResponseHandler } from './response-parser';
import { closeSection, openSection, sectionNow } from '../shared/section-clock';

export interface PoolOptions {
  /** Sockets per endpoint, idle + busy + connecting (GATEMESH_UPSTREAM_MAX_CONNECTIONS, default 1024). */
  maxConnections: number;
  /** TCP connect budget, ms (GATEMESH_UPSTREAM_CONNECT_TIMEOUT_MS, default 5000). */
  connectTimeoutMs: number;
  /** An idle pooled socket is closed after this long, ms (GATEMESH_UPSTREAM_IDLE_TIMEOUT_MS, default 60000). */
  idleTimeoutMs: number;
}

export interface Pools {
  /** The pool for an endpoint, created on first use and cached by `address:port`. */
  get(endpoint: Endpoint): EndpointPool;
  /** Destroy every socket (idle and busy) and fail every waiting acquisition; for shutdown. */
  closeAll(): void;
}

/** What owns a busy connection (an exchange): socket events and parser callbacks go there. */
export interface ConnectionOwner extends ResponseHandler {
  /** Bytes read: `buf[0, len)`. `buf` is this thread's read buffer, overwritten by the next read:
   *  whatever is kept must be copied before returning. */
  onSocketData(buf: Buffer, len: number): void;
  /** The upstream half-closed or the socket errored/closed; `err` is null for a clean FIN/close. */
  onSocketClose(err: Error | null): void;
  onSocketDrain(): void;
}

/**
 * Backend-wide connection limits across every thread: the circuit breaker's maxConnections and
 * maxPendingRequests (src/policy/circuit-breaker/ implements exactly these four methods).
 */
export interface ConnectionLimits {
  tryConnection(): boolean;
  endConnection(): void;
  tryPending(): boolean;
  endPending(): void;
}

/** Who asked for a socket (an exchange; a method, so acquiring allocates no closure). */
export interface Acquirer {
  /** Exactly one of `err` / `conn` is non-null. May be called synchronously from acquire(). */
  onAcquire(err: ErrorSpec | null, detail: string, conn: UpstreamConnection | null): void;
}

/**
 * One pooled socket. Listeners are installed once at connect and dispatch to the current owner,
 * so handing a socket from one exchange to the next costs no listener churn.
 */
export class UpstreamConnection implements ResponseHandler {
  readonly socket: net.Socket;
  /** Reused across the exchanges on this socket. */
  readonly parser: ResponseParser;
  owner: ConnectionOwner | null = null;
  /** Exchanges given this socket before the current one (> 0 means "reused": see the retry rule in exchange.ts). */
  uses = 0;
  /** TCP connected; before that the pool's connect path owns every socket event. */
  connected = false;
  /** Destroyed or detached: never hand it out again. */
  dead = false;
  readonly pool: EndpointPool;

  /** performance.now() when it went idle (the idle sweep closes it idleTimeoutMs later). */
  idleAt = 0;
  /** Left the pool on a 101: reads are relayed as 'data' events to whoever took the socket. */
  detached = false;
  /** The breaker this socket was counted against (released when it closes), or null. */
  limits: ConnectionLimits | null = null;

  constructor(pool: EndpointPool, socket: net.Socket) {
    this.pool = pool;
    this.socket = socket;
    this.parser = new ResponseParser(this);
    (socket as ConnSocket)[kConnection] = this;
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    socket.on('drain', this.onSocketDrain);
  }

  // ResponseHandler: forward to the owner (the parser only runs while owned).
  onInterim(status: number, reason: string, headers: string[]): void {
    this.owner!.onInterim(status, reason, headers);
  }
  onHead(status: number, reason: string, headers: string[], framing: ResponseFraming): void {
    this.owner!.onHead(status, reason, headers, framing);
  }
  onBody(chunk: Buffer): void {
    this.owner!.onBody(chunk);
  }
  onEnd(trailers: string[] | null): void {
    this.owner!.onEnd(trailers);
  }

  /** Remove every pool listener (101 handover: the socket leaves the pool for good). */
  detachListeners(): void {
    const s = this.socket;
    this.detached = true;
    s.removeListener('end', this.onSocketEnd);
    s.removeListener('error', this.onSocketError);
    s.removeListener('close', this.onSocketClose);
    s.removeListener('drain', this.onSocketDrain);
  }

  /** @internal from onUpstreamRead. */
  read(len: number): void {
    if (this.owner !== null) this.owner.onSocketData(READ_BUFFER, len);
    else if (this.detached) this.socket.emit('data', Buffer.from(READ_BUFFER.subarray(0, len)));
    else this.pool.idleFailure(this); // bytes nobody asked for: the connection state is unknown
  }
  private readonly onSocketEnd = (): void => {
    if (!this.connected) return;
    if (this.owner !== null) this.owner.onSocketClose(null);
    else this.pool.idleFailure(this);
  };
  private readonly onSocketError = (err: Error): void => {
    if (!this.connected) return; // the connect path reports it
    if (this.owner !== null) this.owner.onSocketClose(err);
    else this.pool.idleFailure(this);
  };
  private readonly onSocketClose = (): void => {
    if (this.owner !== null) this.owner.onSocketClose(null);
    this.pool.removeConnection(this, true);
  };
  private readonly onSocketDrain = (): void => {
    if (this.owner !== null) this.owner.onSocketDrain();
  };
}

/**
 * Every upstream socket of this thread reads into this one buffer (net.connect's `onread`), and
 * the parser and the owner consume each read before the next one can happen. Compared with
 * 'data' events this saves a Buffer per read and the Readable machinery (push, emit). 64 KiB,
 * as libuv's own read size.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const kConnection = Symbol('gatemesh.upstreamConnection');
type ConnSocket = net.Socket & { [kConnection]?: UpstreamConnection };

function onUpstreamRead(this: ConnSocket, len: number): boolean {
  const conn = this[kConnection];
  if (conn === undefined) return true;
  // One clock read for the response head, its end and the idle stamp (src/shared/section-clock.ts).
  openSection();
  try {
    conn.read(len);
  } finally {
    closeSection();
  }
  return true;
}

interface Waiter {
  who: Acquirer;
  fresh: boolean;
  /** Counted as pending against this breaker (released when served, cancelled or failed). */
  limits: ConnectionLimits | null;
}

/** The pool for one endpoint. */
export class EndpointPool {
  readonly key: string;
  /** Idle sockets, most recently used last (LIFO: warm sockets first). */
  private readonly idle: UpstreamConnection[] = [];
  /** Every socket counted against maxConnections: connecting, busy and idle. */
  private total = 0;
  private readonly waiters: Waiter[] = [];
  /** Every socket of this pool, in any state (for close). */
  private readonly live = new Set<UpstreamConnection>();
  private closed = false;
  /** Closes idle sockets past idleTimeoutMs: one timer per pool instead of a socket timeout armed
   *  and disarmed per request (the idle list is oldest first, so only its head is checked). */
  private idleTimer: NodeJS.Timeout | null = null;
  /** The circuit breaker of the backend using this endpoint (BackendTrafficPolicy circuitBreaker); null = none. */
  limits: ConnectionLimits | null = null;

  constructor(
    readonly endpoint: Endpoint,
    private readonly opts: PoolOptions,
  ) {
    this.key = endpoint.address + ':' + endpoint.port;
  }

  /** Sockets open or opening (idle + busy + connecting). */
  get size(): number {
    return this.total;
  }
  get idleCount(): number {
    return this.idle.length;
  }
  get pendingCount(): number {
    return this.waiters.length;
  }

  /**
   * Get a connected socket for `who`: the most recently used idle one, a new one while under the
   * bound, or else the next one released (FIFO queue). `fresh` skips idle sockets (the retry after a
   * stale one). Returns true when `who` was queued (cancel() it on timeout/abort); when a connect
   * is started instead, it cannot be cancelled and `who.onAcquire` always follows.
   */
  acquire(who: Acquirer, fresh = false): boolean {
    if (this.closed) {
      who.onAcquire(ERR.UPSTREAM_CONNECT, 'pool closed', null);
      return false;
    }
    if (!fresh) {
      const conn = this.idle.pop();
      if (conn !== undefined) {
        conn.uses++;
        who.onAcquire(null, '', conn);
        return false;
      }
    }
    if (this.total >= this.opts.maxConnections && fresh && this.idle.length > 0) {
      // Make room for a fresh socket by closing the coldest idle one.
      this.kill(this.idle[0], false);
    }
    const lim = this.limits;
    if (this.total < this.opts.maxConnections) {
      if (lim === null || lim.tryConnection()) {
        this.connect(who, lim);
        return false;
      }
      // Backend-wide maxConnections reached: wait for one of this thread's sockets as a pending
      // request (maxPendingRequests) when there is one to wait for; else overflow at once.
      if (this.total === 0) {
        who.onAcquire(ERR.CIRCUIT_OPEN, 'maxConnections ' + this.key, null);
        return false;
      }
      if (!lim.tryPending()) {
        who.onAcquire(ERR.CIRCUIT_OPEN, 'maxPendingRequests ' + this.key, null);
        return false;
      }
      this.waiters.push({ who, fresh, limits: lim });
      return true;
    }
    if (lim !== null && !lim.tryPending()) {
      who.onAcquire(ERR.CIRCUIT_OPEN, 'maxPendingRequests ' + this.key, null);
      return false;
    }
    this.waiters.push({ who, fresh, limits: lim });
    return true;
  }

  /** Remove a queued acquisition (no-op when it is not queued). */
  cancel(who: Acquirer): void {
    for (let i = 0; i < this.waiters.length; i++) {
      if (this.waiters[i].who === who) {
        const w = this.waiters[i];
        this.waiters.splice(i, 1);
        if (w.limits !== null) w.limits.endPending();
        return;
      }
    }
  }

  /** The next waiter leaves the queue (its pending count is released), or undefined. */
  private nextWaiter(): Waiter | undefined {
    const w = this.waiters.shift();
    if (w !== undefined && w.limits !== null) w.limits.endPending();
    return w;
  }

  /** A waiter gets a new socket, if the backend's maxConnections allows one. */
  private connectWaiter(w: Waiter): void {
    const lim = this.limits;
    if (lim !== null && !lim.tryConnection()) {
      w.who.onAcquire(ERR.CIRCUIT_OPEN, 'maxConnections ' + this.key, null);
      return;
    }
    this.connect(w.who, lim);
  }

  /** Give a socket back after a clean exchange (keep-alive, nothing pending on it). */
  release(conn: UpstreamConnection): void {
    conn.owner = null;
    if (conn.dead || this.closed) {
      this.destroy(conn);
      return;
    }
    if (conn.socket.isPaused()) conn.socket.resume();
    const w = this.nextWaiter();
    if (w !== undefined) {
      if (w.fresh) {
        // The waiter must not get a used socket: swap this one for a new connection.
        this.kill(conn, false);
        this.connectWaiter(w);
        return;
      }
      conn.uses++;
      w.who.onAcquire(null, '', conn);
      return;
    }
    conn.idleAt = sectionNow();
    this.idle.push(conn);
    if (this.idleTimer === null) this.armIdleSweep(this.opts.idleTimeoutMs);
  }

  private armIdleSweep(delay: number): void {
    this.idleTimer = setTimeout(sweepIdle, delay < 1 ? 1 : delay, this);
    this.idleTimer.unref();
  }

  /** @internal the idle timer fired: close what has been idle for idleTimeoutMs, re-arm for the rest. */
  sweepIdle(): void {
    this.idleTimer = null;
    const ttl = this.opts.idleTimeoutMs;
    // +1: a timer may fire up to a millisecond before performance.now() says it is due.
    const now = performance.now() + 1;
    while (this.idle.length > 0 && this.idle[0].idleAt + ttl <= now) this.kill(this.idle[0], false);
    if (this.idle.length > 0 && !this.closed) this.armIdleSweep(this.idle[0].idleAt + ttl - performance.now());
  }

  /** Destroy a socket that must never be reused (error, abort, unread body). */
  destroy(conn: UpstreamConnection): void {
    this.kill(conn, true);
  }

  /** The socket leaves the pool for good (101 Switching Protocols); its slot is freed. */
  detach(conn: UpstreamConnection): void {
    conn.owner = null;
    conn.detachListeners();
    this.removeConnection(conn, true);
  }

  /** Fail waiters and destroy every socket, idle and busy (their owners see the close). */
  close(): void {
    this.closed = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    for (const w of this.waiters.splice(0)) {
      if (w.limits !== null) w.limits.endPending();
      w.who.onAcquire(ERR.UPSTREAM_CONNECT, 'pool closed', null);
    }
    const closed = new Error('pool closed');
    for (const c of [...this.live]) {
      const owner = c.owner;
      this.destroy(c);
      if (owner !== null) owner.onSocketClose(closed);
    }
  }

  /** @internal an idle socket closed, errored or sent unexpected bytes. */
  idleFailure(conn: UpstreamConnection): void {
    this.destroy(conn);
  }

  /** @internal forget a socket (idempotent); with `wake`, its slot goes to the next waiter. */
  removeConnection(conn: UpstreamConnection, wake: boolean): void {
    if (!this.live.delete(conn)) return;
    conn.dead = true;
    const i = this.idle.lastIndexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    this.total--;
    if (conn.limits !== null) {
      conn.limits.endConnection();
      conn.limits = null;
    }
    if (!wake || this.closed) return;
    const w = this.nextWaiter();
    if (w !== undefined) this.connectWaiter(w);
  }

  private kill(conn: UpstreamConnection, wake: boolean): void {
    // Clear the owner first: the 'close' that destroy() emits later must reach nobody.
    conn.owner = null;
    if (!conn.socket.destroyed) conn.socket.destroy();
    this.removeConnection(conn, wake);
  }

  /** Opens a socket for `who`; `limits`: the breaker it was already counted against (tryConnection). */
  private connect(who: Acquirer, limits: ConnectionLimits | null): void {
    this.total++;
    const socket = net.connect({
      host: this.endpoint.address,
      port: this.endpoint.port,
      noDelay: true,
      keepAlive: true,
      onread: { buffer: READ_BUFFER, callback: onUpstreamRead as unknown as (n: number, b: Uint8Array) => boolean },
    });
    const conn = new UpstreamConnection(this, socket);
    conn.limits = limits;
    this.live.add(conn);
    let done = false;
    const settle = (err: ErrorSpec | null, detail: string): void => {
      if (done) return;
      done = true;
      socket.removeListener('connect', onConnect);
      socket.removeListener('error', onConnectError);
      socket.removeListener('timeout', onConnectTimeout);
      socket.removeListener('close', onConnectClose);
      socket.setTimeout(0);
      if (err !== null) {
        this.destroy(conn);
        who.onAcquire(err, detail, null);
      } else {
        conn.connected = true;
        who.onAcquire(null, '', conn);
      }
    };
    const onConnect = (): void => settle(null, '');
    const onConnectError = (err: NodeJS.ErrnoException): void => settle(ERR.UPSTREAM_CONNECT, (err.code ?? err.message) + ' ' + this.key);
    const onConnectTimeout = (): void => settle(ERR.UPSTREAM_CONNECT_TIMEOUT, this.opts.connectTimeoutMs + ' ms to ' + this.key);
    // Destroyed before connecting (closeAll) without an error: still answer the acquirer.
    const onConnectClose = (): void => settle(ERR.UPSTREAM_CONNECT, 'closed while connecting to ' + this.key);
    socket.once('connect', onConnect);
    socket.on('error', onConnectError);
    socket.on('timeout', onConnectTimeout);
    socket.on('close', onConnectClose);
    socket.setTimeout(this.opts.connectTimeoutMs);
  }
}

function sweepIdle(pool: EndpointPool): void {
  pool.sweepIdle();
}

export function createPools(opts: PoolOptions): Pools {
  if (!(opts.maxConnections >= 1)) throw new Error(`upstream pool: maxConnections=${opts.maxConnections}: must be at least 1`);
  const pools = new Map<string, EndpointPool>();
  return {
    get(endpoint: Endpoint): EndpointPool {
      const key = endpoint.address + ':' + endpoint.port;
      let pool = pools.get(key);
      if (pool === undefined) {
        pool = new EndpointPool(endpoint, opts);
        pools.set(key, pool);
      }
      return pool;
    },
    closeAll(): void {
      for (const pool of pools.values()) pool.close();
      pools.clear();
    },
  };
}
