// The seam between a front end (uWebSockets.js in src/frontend/uws.ts, node:net + llhttp in
// native-free/) and the request path in src/proxy.ts. A front end turns each request into an
// IncomingHead plus a Downstream, and the proxy only ever talks to those, so both front ends
// share one request path.

/** A request head copied out of the front end (uWS `req` is only valid inside its callback). */
export interface IncomingHead {
  /** Method as received (case-sensitive, RFC 9110 §9.1). */
  method: string;
  /** Path part of the request-target, before any '?', as received (not decoded). */
  path: string;
  /** Query string without the '?', or '' when absent. */
  query: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  httpMinor: number;
  /** Flat list [name, value, name, value, ...]; names lower-case, values as received, in order. */
  headers: string[];
  /** Socket peer address (IPv4 or IPv6 text, without brackets; IPv4-mapped IPv6 is unwrapped). */
  remoteAddress: string;
  /** 'http' or 'https': the scheme the client used (X-Forwarded-Proto). */
  scheme: string;
  /** Size of the request head on the wire in bytes when the front end knows it, else -1. */
  headBytes: number;
  /**
   * The uws front end only, and only while its request callback runs: a field's value as
   * Latin-1 (one character per byte), for values `headers` carries decoded as UTF-8; null when
   * it cannot be read any more. checkRequestHead uses it for values with non-ASCII characters.
   */
  latin1Value?: (name: string) => string | null;
}

/**
 * What the proxy can do to the downstream exchange. Every method is safe to call after the
 * client went away (it becomes a no-op), so the proxy never has to check first.
 */
export interface Downstream {
  /** Start delivering the request body. `last` is true on the final call (possibly with an empty chunk).
   *  `owned`: the chunk may be kept as it is (native-free's parser hands over copies); otherwise it is
   *  only valid during the call (a uWS view): copy it if it is kept. */
  readBody(onChunk: (chunk: Buffer, last: boolean, owned: boolean) => void, onError: (reason: string) => void): void;
  pauseBody(): void;
  resumeBody(): void;
  /** Relay an interim 1xx (103 Early Hints). 100 Continue is the front end's job. */
  writeInterim(status: number, reason: string, headers: string[]): void;
  /**
   * Write the response head. `headers` is a flat [name, value, ...] list, already free of
   * hop-by-hop fields and framing headers. `bodyLength`: exact length, or -1 when unknown
   * (the front end picks chunked for HTTP/1.1, close-delimited for HTTP/1.0). `noBody` for
   * HEAD/204/304, where `bodyLength` is the length to report (or -1 to report none).
   * `obsText`: the reason or a value holds characters 0x80–0xFF, each one byte on the wire
   * (Latin-1, as the response parser read them); default false (all ASCII).
   */
  writeHead(status: number, reason: string, headers: string[], bodyLength: number, noBody: boolean, obsText?: boolean): void;
  /** Write a body chunk (the front end copies or sends it before returning). Returns false when
   *  the client is slow: stop sending until onDrain fires. */
  writeBody(chunk: Buffer): boolean;
  /** Called once when a write that returned false has been flushed. */
  onDrain(cb: () => void): void;
  /** Finish the response; `trailers` are dropped where the front end cannot send them. */
  end(trailers: string[] | null): void;
  /** Send a complete small response (errors). Sets Connection: close when `close`. */
  respond(status: number, headers: string[], body: string, close: boolean): void;
  /** Destroy the client connection (a response that failed mid-body must not look complete). */
  abort(): void;
  /** Register the client-went-away callback (fires at most once, never after end/respond/abort). */
  onAbort(cb: () => void): void;
  /** True once the client went away or the exchange ended. */
  readonly done: boolean;
}
