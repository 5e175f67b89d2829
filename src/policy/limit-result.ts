// The verdict of one rate limit or quota for one request, written into an object reused by the
// thread, so deciding allocates nothing. The request path turns it into RateLimit / quota headers
// and, when refused, a 429 with Retry-After.

export class LimitResult {
  /** False: refuse the request (429). Nothing was charged. */
  allowed = true;
  /** The limit's size: requests per period (rate limit) or per window (quota). */
  limit = 0;
  /** Requests left after this one; 0 when refused. */
  remaining = 0;
  /** ms until the bucket or window is full again (RateLimit `t`, X-RateLimit-Reset). */
  resetMs = 0;
  /** ms until a request would pass (Retry-After); 0 when allowed. */
  retryAfterMs = 0;
  /** True when the decision was made without the shared store (Redis unreachable, failureMode open). */
  degraded = false;

  reset(): void {
    this.allowed = true;
    this.limit = 0;
    this.remaining = 0;
    this.resetMs = 0;
    this.retryAfterMs = 0;
    this.degraded = false;
  }
}
