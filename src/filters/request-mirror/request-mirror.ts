// RequestMirror (Gateway API HTTPRequestMirrorFilter): send a copy of a share of the requests to
// another backend and ignore its answer ("responses from this backend MUST be ignored").
//
// Choices (the spec leaves them to implementations):
// - The copy is the request as sent upstream after the rule's request filters (Envoy shadows the
//   finalized request the same way), to one endpoint of the mirror backend, round robin. Its Host
//   is left as is: no `-shadow` suffix (Envoy's default suffix surprises users, who then turn it
//   off with disable_shadow_host_suffix_append).
// - Fire and forget on its own pooled exchange: the main request never waits for it, and a slow,
//   refused or failing mirror changes nothing for the client. A mirror that has not finished
//   after the upstream response timeout (GATEMESH_UPSTREAM_TIMEOUT_MS) is aborted, so a stuck
//   mirror cannot pin a socket.
// - Bodies: bodiless requests are always mirrored; a request body is buffered (copied) while it
//   streams to the main upstream and the copy is sent once complete, up to MIRROR_BODY_MAX_BYTES
//   (64 KiB). A larger body (declared or streamed) is not mirrored. Buffering instead of teeing
//   chunks keeps a slow mirror from ever back-pressuring the client.
// - percent / fraction sampling per request with Math.random (independent per mirror).
// - Upgrade (WebSocket) requests are not mirrored.
import type net from 'node:net';
import type { HTTPFilter } from '../../config/model';
import type { ErrorSpec } from '../../errors';
import { startExchange, type Exchange, type ExchangeSink } from '../../upstream/exchange';
import type { EndpointPool } from '../../upstream/pool';
import type { ResponseFraming } from '../../upstream/response-parser';
import { CONTINUE, type FilterProblem, type FilterRequest, type FilterResult, type HttpFilter, type MirrorSend } from '../types';

export type RequestMirrorSpec = Extract<HTTPFilter, { type: 'RequestMirror' }>;

/** Largest request body copied to mirrors, bytes (64 KiB). */
export const MIRROR_BODY_MAX_BYTES = 64 * 1024;

/** Resolves a mirror's backend to one endpoint pool (round robin), or null when the backend has
 *  none or does not exist. Provided by the proxy runtime the request started on, so a mirror
 *  always sends to the endpoints of the config version serving its request. */
export type MirrorPick = (backend: string) => EndpointPool | null;

export function checkRequestMirror(spec: RequestMirrorSpec): FilterProblem[] {
  if (!(Number.isFinite(spec.percent) && spec.percent >= 0 && spec.percent <= 100)) {
    return [{ path: ['percent'], what: 'expected a share of requests between 0 and 100 (percent)' }];
  }
  return [];
}

/** Discards the mirror's response; aborts the exchange when it outlives `timeoutMs`. */
class DiscardSink implements ExchangeSink {
  exchange: Exchange | null = null;
  done = false;
  private readonly timer: NodeJS.Timeout;

  constructor(timeoutMs: number) {
    this.timer = setTimeout(abortMirror, timeoutMs, this);
    this.timer.unref();
  }

  onInterim(): void {}
  onHead(_status: number, _reason: string, _headers: string[], _framing: ResponseFraming): void {}
  onBody(): boolean {
    return true;
  }
  onEnd(): void {
    this.close();
  }
  onError(_err: ErrorSpec, _detail: string, _afterHead: boolean): void {
    this.close();
  }
  onRequestDrain(): void {}
  onUpgrade(socket: net.Socket): void {
    socket.destroy();
    this.close();
  }
  close(): void {
    this.done = true;
    this.exchange = null;
    clearTimeout(this.timer);
  }
}

function abortMirror(sink: DiscardSink): void {
  const ex = sink.exchange;
  sink.close();
  if (ex !== null) ex.abort();
}

class MirrorSender implements MirrorSend {
  constructor(readonly backend: string) {}

  send(pick: MirrorPick, timeoutMs: number, method: string, head: string, body: 'none' | 'length' | 'chunked', chunks: Buffer[] | null): void {
    const pool = pick(this.backend);
    if (pool === null) return;
    const sink = new DiscardSink(timeoutMs);
    // Never retried (idempotent false): a mirror is best effort by definition.
    const ex = startExchange(pool, { method, head, body, idempotent: false, responseTimeoutMs: timeoutMs }, sink);
    if (sink.done) return; // failed synchronously (pool full, ...)
    sink.exchange = ex;
    if (body === 'none') return;
    if (chunks !== null) for (let i = 0; i < chunks.length; i++) ex.writeBody(chunks[i]);
    ex.endBody();
  }
}

/**
 * A mirror whose backendRef resolved to nothing (backend null) does nothing: the spec says such a
 * backend must be "dropped" and not configured, and the main request is unaffected.
 */
export function createRequestMirror(spec: RequestMirrorSpec): HttpFilter {
  const percent = spec.percent;
  const sender = spec.backend === null ? null : new MirrorSender(spec.backend);
  return {
    type: 'RequestMirror',
    editsRequestHeaders: false,
    onRequest(req: FilterRequest): FilterResult {
      if (sender === null || percent <= 0) return CONTINUE;
      if (percent < 100 && Math.random() * 100 >= percent) return CONTINUE;
      if (req.mirrors === null) req.mirrors = [sender];
      else req.mirrors.push(sender);
      return CONTINUE;
    },
  };
}

/**
 * Copies a request body for the mirrors while it streams upstream, then sends every mirror once
 * it is complete. Created by the proxy only for requests with a body and at least one mirror.
 */
export class MirrorBody {
  private chunks: Buffer[] | null = [];
  private bytes = 0;

  constructor(
    private readonly mirrors: MirrorSend[],
    private readonly pick: MirrorPick,
    private readonly timeoutMs: number,
    private readonly method: string,
    private readonly head: string,
    private readonly mode: 'length' | 'chunked',
  ) {}

  /** `chunk` is only valid during the call: it is copied. */
  onChunk(chunk: Buffer, last: boolean): void {
    const chunks = this.chunks;
    if (chunks === null) return;
    if (chunk.length !== 0) {
      this.bytes += chunk.length;
      if (this.bytes > MIRROR_BODY_MAX_BYTES) {
        this.chunks = null; // too large to mirror: give up, the main request goes on
        return;
      }
      chunks.push(Buffer.from(chunk));
    }
    if (last) {
      this.chunks = null;
      for (let i = 0; i < this.mirrors.length; i++) this.mirrors[i].send(this.pick, this.timeoutMs, this.method, this.head, this.mode, chunks);
    }
  }
}

/**
 * Starts the mirrors of one forwarded request: bodiless ones now; returns a MirrorBody to feed
 * when there is a body small enough to copy, else null.
 */
export function startMirrors(
  mirrors: MirrorSend[],
  pick: MirrorPick,
  timeoutMs: number,
  method: string,
  head: string,
  chunked: boolean,
  contentLength: number,
): MirrorBody | null {
  if (!chunked && contentLength <= 0) {
    for (let i = 0; i < mirrors.length; i++) mirrors[i].send(pick, timeoutMs, method, head, 'none', null);
    return null;
  }
  if (!chunked && contentLength > MIRROR_BODY_MAX_BYTES) return null;
  return new MirrorBody(mirrors, pick, timeoutMs, method, head, chunked ? 'chunked' : 'length');
}
