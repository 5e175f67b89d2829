// One request's upstream attempts under a rule's timeouts and retry policy: the request and
// per-attempt deadlines, the copy of a small request body kept for a replay, and the decision
// whether a failed attempt or a retryable status is tried again (and after how long).
// Created only for rules with a policy; the request path owns the endpoints and the exchange.
import { ERR, type ErrorSpec } from '../errors';
import { performance } from 'node:perf_hooks';
import type { Exchange, ExchangeRequest } from '../upstream/exchange';
import { backoffDelay, REPLAY_BODY_LIMIT, retriesStatus, type RulePolicy } from './rule-policy';

/** What the controller calls back into (the request's stream, src/proxy.ts). */
export interface AttemptHost {
  /** timeouts.request expired. */
  requestTimedOut(): void;
  /** timeouts.backendRequest expired for the attempt in flight. */
  attemptTimedOut(): void;
  /** The backoff is over: start the next attempt. */
  backoffDone(): void;
}

/** How the request body reaches the upstream (ExchangeRequest.body). */
export type BodyKind = 'none' | 'length' | 'chunked';

// Module-level timer callbacks: arming a timer allocates no closure.
function onRequestTimer(c: AttemptController): void {
  c.fired(0);
}
function onAttemptTimer(c: AttemptController): void {
  c.fired(1);
}
function onBackoffTimer(c: AttemptController): void {
  c.fired(2);
}

export class AttemptController {
  /** Attempts started so far (the access log's `attempts`). */
  attempts = 0;
  /** Endpoint index of the attempt in flight, so a retry can prefer another one. */
  endpoint = -1;
  /** The first attempt's exchange request; retries send it again. */
  request: ExchangeRequest | null = null;
  private requestTimer: NodeJS.Timeout | null = null;
  private attemptTimer: NodeJS.Timeout | null = null;
  private backoffTimer: NodeJS.Timeout | null = null;
  /** performance.now() at which timeouts.request expires; Infinity without one. */
  private deadline = Infinity;
  /** Copies of the request body so far, while it can still be replayed. */
  private body: Buffer[] | null = null;
  private bodyBytes = 0;
  private bodyEnded: boolean;
  /** The body is (or will be) fully held: a retry can resend it. */
  private replayable: boolean;

  constructor(
    readonly policy: RulePolicy,
    private readonly host: AttemptHost,
    /** RFC 9110 §9.2.2: GET HEAD OPTIONS TRACE PUT DELETE. */
    private readonly idempotent: boolean,
    private readonly bodyKind: BodyKind,
    contentLength: number,
    /** Upgrades (WebSocket) are never retried: the 101 hands the socket over. */
    upgrade: boolean,
    private readonly random: () => number = Math.random,
  ) {
    this.bodyEnded = bodyKind === 'none';
    this.replayable = policy.retries > 0 && !upgrade && (bodyKind !== 'length' || contentLength <= REPLAY_BODY_LIMIT);
    if (this.replayable && bodyKind !== 'none') this.body = [];
  }

  /** Arms timeouts.request; call once, when the request has been routed. */
  start(): void {
    const ms = this.policy.requestMs;
    if (ms <= 0) return;
    this.deadline = performance.now() + ms;
    this.requestTimer = setTimeout(onRequestTimer, ms, this);
  }

  /**
   * Before each attempt's exchange starts. The first attempt's request is kept for retries and,
   * when backendRequest is configured, the exchange's own response-head timeout is switched off:
   * this controller's per-attempt timer (to the complete response) replaces it.
   */
  beginAttempt(req: ExchangeRequest): void {
    this.attempts++;
    const ms = this.policy.backendRequestMs;
    if (this.request === null) {
      this.request = req;
      if (ms >= 0) req.responseTimeoutMs = 0;
    }
    this.clearAttemptTimer();
    if (ms > 0) this.attemptTimer = setTimeout(onAttemptTimer, ms, this);
  }

  /** Every request body chunk, in order (the chunk is only valid during the call). */
  keep(chunk: Buffer, last: boolean): void {
    const body = this.body;
    if (body !== null && chunk.length !== 0) {
      if (this.bodyBytes + chunk.length > REPLAY_BODY_LIMIT) {
        this.body = null;
        this.replayable = false;
      } else {
        body.push(Buffer.from(chunk));
        this.bodyBytes += chunk.length;
      }
    }
    if (last) this.bodyEnded = true;
  }

  /**
   * Writes the body received so far into a retry's exchange, and its end if it came. Returns
   * false when the exchange asked to wait (it calls onRequestDrain later); true means the
   * client's body, which the previous attempt may have paused, can flow again.
   */
  replay(ex: Exchange): boolean {
    const body = this.body;
    let ok = true;
    if (body !== null) for (let i = 0; i < body.length; i++) ok = ex.writeBody(body[i]) && ok;
    if (this.bodyEnded && this.bodyKind !== 'none') ex.endBody();
    return ok;
  }

  /**
   * An attempt answered with a final status before any byte of it was relayed. Returns the
   * backoff in ms when it should be retried (retry.codes; idempotent methods only), else -1.
   */
  afterStatus(status: number): number {
    if (!retriesStatus(this.policy, status) || !(this.idempotent || this.policy.nonIdempotent)) return -1;
    return this.nextDelay();
  }

  /**
   * An attempt failed before a complete response head. Returns the backoff in ms, or -1.
   * HTTPRouteRetry: implementations "SHOULD retry on connection errors (disconnect, reset,
   * timeout, TCP failure)". A request that never left the gateway (connect refused or timed out,
   * no pool slot) is safe to retry whatever its method, as nginx's proxy_next_upstream does for
   * non-idempotent requests not yet sent; after that only idempotent methods are.
   */
  afterFailure(err: ErrorSpec): number {
    // A circuit-breaker overflow is not retried: a retry would only add load to what overflowed.
    if (err === ERR.CIRCUIT_OPEN) return -1;
    const unsent = err === ERR.UPSTREAM_CONNECT || err === ERR.UPSTREAM_CONNECT_TIMEOUT || err === ERR.UPSTREAM_POOL_FULL;
    if (unsent ? !this.policy.retryConnect : !this.policy.retryReset) return -1;
    if (!unsent && !(this.idempotent || this.policy.nonIdempotent)) return -1;
    return this.nextDelay();
  }

  /** Wait `delay` ms, then the host's backoffDone() starts the next attempt. */
  schedule(delay: number): void {
    this.clearAttemptTimer();
    this.backoffTimer = setTimeout(onBackoffTimer, delay, this);
  }

  /** Between attempts (a backoff is pending). */
  get waiting(): boolean {
    return this.backoffTimer !== null;
  }

  /** The request is over: no timer may fire any more. */
  stop(): void {
    if (this.requestTimer !== null) clearTimeout(this.requestTimer);
    if (this.backoffTimer !== null) clearTimeout(this.backoffTimer);
    this.requestTimer = null;
    this.backoffTimer = null;
    this.clearAttemptTimer();
    this.body = null;
  }

  /** @internal timer dispatch (0 request, 1 attempt, 2 backoff). */
  fired(which: 0 | 1 | 2): void {
    if (which === 0) {
      this.requestTimer = null;
      this.host.requestTimedOut();
    } else if (which === 1) {
      this.attemptTimer = null;
      this.host.attemptTimedOut();
    } else {
      this.backoffTimer = null;
      this.host.backoffDone();
    }
  }

  private nextDelay(): number {
    if (this.attempts > this.policy.retries) return -1;
    // A chunked body is only known to fit once it has ended.
    if (!this.replayable || (this.bodyKind === 'chunked' && !this.bodyEnded)) return -1;
    const delay = backoffDelay(this.policy, this.attempts, this.random());
    // HTTPRouteRetry.backoff: retries "MUST not exceed the Request timeout duration"; a retry that
    // could not even start in time is not tried, and the last answer stands.
    if (performance.now() + delay >= this.deadline) return -1;
    return delay;
  }

  private clearAttemptTimer(): void {
    if (this.attemptTimer !== null) {
      clearTimeout(this.attemptTimer);
      this.attemptTimer = null;
    }
  }
}
