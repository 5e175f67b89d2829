// Strict incremental HTTP/1.1 response parser (RFC 9112) for upstream connections.
//
// Hand-written instead of wrapping node's llhttp binding (node:_http_common HTTPParser) because
// that binding is private API, allocates a header array plus a JS<->C++ round trip per callback,
// and cannot be made stricter than llhttp; bench/micro/response-parser.ts measures this parser
// against it on the same inputs (run `node dist/bench/micro/response-parser.js`).
//
// Decisions (each one is at least as strict as RFC 9112 and as llhttp without lenient flags, so
// whatever this parser accepts, node's parser accepts with the same framing — the property test
// test/upstream/response-parser.property.test.ts checks exactly that):
// - Line endings: CRLF only. A bare CR or a bare LF anywhere in the head, trailers or chunk lines is
//   rejected (RFC 9112 §2.2 lets a recipient accept bare LF; we do not, consistently everywhere).
// - Status line: `HTTP/1.0` or `HTTP/1.1`, SP, three digits in 100..599 (RFC 9110 §15), then SP and
//   a reason phrase (HTAB / SP / VCHAR / obs-text) or directly CRLF (empty reason, as llhttp).
// - Fields: name is a token immediately followed by ':' (whitespace before the colon and obs-fold
//   are rejected, RFC 9112 §5.1/§5.2); value is OWS-trimmed; CTLs, NUL and DEL are rejected.
// - Header section (status line + fields + final CRLF) and trailer section: at most
//   MAX_SECTION_BYTES = 64 KiB each.
// - Content-Length: SP* 1*DIGIT SP*, at most 2^53 - 1. A list (`5, 5`) or a second Content-Length
//   field line is rejected even when the values agree (RFC 9110 §8.6 allows rejecting; llhttp does).
// - Transfer-Encoding: a list of transfer codings; `chunked` last → chunked body; other final coding
//   → close-delimited (RFC 9112 §6.3 rule 4). Rejected: empty elements, `chunked` twice, `chunked`
//   with parameters, HTAB in the value (as for Content-Length), TE together with Content-Length
//   (§6.3 rule 3 calls it a smuggling signal; llhttp rejects it too), TE in an HTTP/1.0 response
//   (§6.1 "faulty framing").
// - 1xx other than 101 is interim (onInterim) and must carry no Content-Length/Transfer-Encoding
//   (RFC 9110 §8.6 forbids them) and be HTTP/1.1 (§15.2: 1xx is never sent to HTTP/1.0; llhttp
//   then expects the connection to close). 101 ends parsing (upgrade).
// - No body for HEAD, 204 and 304 whatever the framing headers say (RFC 9112 §6.3 rule 1).
// - Chunk size: 1..16 hex digits, value ≤ 2^53 - 1, no whitespace; chunk extensions must match
//   `*( ";" token [ "=" ( token / quoted-string ) ] )` without BWS (llhttp rejects BWS too) and are
//   ignored; at most MAX_CHUNK_EXT_BYTES per chunk line.
// - keepAlive: HTTP/1.1 unless a `close` Connection token; HTTP/1.0 only with `keep-alive` and no
//   `close`; never for close-delimited bodies.

export interface ResponseFraming {
  /** Content-Length value, or -1 when absent (also reported for HEAD/204/304). */
  contentLength: number;
  chunked: boolean;
  closeDelimited: boolean;
  noBody: boolean;
  keepAlive: boolean;
  /** 101 Switching Protocols. */
  upgrade: boolean;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  httpMinor: number;
  /** The reason or a field value holds obs-text (bytes 0x80–0xFF, RFC 9110 §5.5), which the
   *  strings carry as Latin-1 characters: a front end must write them back as Latin-1 bytes. */
  obsText?: boolean;
}

export interface ResponseHandler {
  /** 1xx except 101 (100, 103, ...). */
  onInterim(status: number, reason: string, headers: string[]): void;
  /** headers flat [lowercase-name, value, ...]. */
  onHead(status: number, reason: string, headers: string[], framing: ResponseFraming): void;
  /** May be a view into the input buffer; valid only during the call. */
  onBody(chunk: Buffer): void;
  /** Trailers flat like headers, or null. */
  onEnd(trailers: string[] | null): void;
}

/** Header section and trailer section limit, bytes (64 KiB; Envoy's default is 60 KiB). */
export const MAX_SECTION_BYTES = 64 * 1024;
/** Chunk extension bytes allowed on one chunk-size line (they are validated, then dropped). */
export const MAX_CHUNK_EXT_BYTES = 4096;
const MAX_CHUNK_SIZE_DIGITS = 16;

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

// Byte classes (RFC 9110 §5.6.2 tchar, §5.5 field-vchar / obs-text).
const TOKEN = new Uint8Array(256);
const FIELD_VALUE = new Uint8Array(256);
const QDTEXT = new Uint8Array(256);
const LOWER = new Uint8Array(256);
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 256; c++) {
  LOWER[c] = c >= 65 && c <= 90 ? c + 32 : c;
  if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c))) {
    TOKEN[c] = 1;
  }
  // 2: obs-text (RFC 9110 §5.5), allowed and noted (ResponseFraming.obsText).
  if (c === HTAB || (c >= 0x20 && c <= 0x7e)) FIELD_VALUE[c] = 1;
  else if (c >= 0x80) FIELD_VALUE[c] = 2;
  if (c === HTAB || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80) QDTEXT[c] = 1;
}
for (let d = 0; d < 10; d++) HEX[48 + d] = d;
for (let d = 0; d < 6; d++) {
  HEX[65 + d] = 10 + d;
  HEX[97 + d] = 10 + d;
}

// Interned lower-case header names: a name that hashes to one of these and matches byte for byte
// reuses the constant string instead of slicing + lower-casing a new one.
const H_CONTENT_LENGTH = 'content-length';
const H_TRANSFER_ENCODING = 'transfer-encoding';
const H_CONNECTION = 'connection';
const COMMON_NAMES = [
  H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONNECTION, 'content-type', 'date', 'server', 'keep-alive',
  'cache-control', 'etag', 'last-modified', 'expires', 'vary', 'content-encoding', 'set-cookie', 'location',
  'x-powered-by', 'access-control-allow-origin', 'age', 'via', 'accept-ranges', 'content-range', 'upgrade',
  'link', 'pragma', 'strict-transport-security', 'x-content-type-options', 'x-frame-options', 'trailer',
  'content-disposition', 'content-language', 'www-authenticate', 'retry-after', 'x-request-id', 'alt-svc',
  'proxy-authenticate', 'sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions',
];
const INTERN = new Map<number, string>();
function hashName(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}
for (const n of COMMON_NAMES) if (!INTERN.has(hashName(n))) INTERN.set(hashName(n), n);

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/** Case-insensitive compare of buf[s, e) with a lower-case ASCII literal. */
function bytesEqualLower(buf: Buffer, s: number, e: number, lit: string): boolean {
  if (e - s !== lit.length) return false;
  for (let i = 0; i < lit.length; i++) if (LOWER[buf[s + i]] !== lit.charCodeAt(i)) return false;
  return true;
}

const enum S {
  Head,
  BodyLength,
  BodyClose,
  ChunkSize,
  ChunkExtStart,
  ChunkExtName,
  ChunkExtValueStart,
  ChunkExtToken,
  ChunkExtQuoted,
  ChunkExtQuotedEscape,
  ChunkExtAfterQuoted,
  ChunkSizeLf,
  ChunkData,
  ChunkDataCr,
  ChunkDataLf,
  Trailers,
  Done,
  Upgraded,
  Error,
}

const HTTP_PREFIX = 'HTTP/1.';
/** Heads up to this size are memoized per connection (parseHead): at most 1 KiB kept per socket. */
const MEMO_MAX_BYTES = 1024;

export class ResponseParser {
  error: string | null = null;
  private handler: ResponseHandler;
  private state: S = S.Head;
  private started = false;
  private isHead = false;
  /** Body bytes left: Content-Length body or current chunk. */
  private remaining = 0;
  private chunkDigits = 0;
  private chunkExtBytes = 0;
  /** Bytes of a header/trailer section split across execute() calls; grown on demand, kept per connection. */
  private pending: Buffer | null = null;
  private pendingLen = 0;
  /** Where the section found by collect() lives. */
  private secBuf: Buffer = CRLFCRLF;
  private secStart = 0;
  private secEnd = 0;
  // Framing gathered while parsing fields (head only).
  private clValue = -1;
  private clError = false;
  private teSeen = false;
  private teChunkedLast = false;
  private teChunkedSeen = false;
  private teError = false;
  private connClose = false;
  private connKeepAlive = false;

  constructor(handler: ResponseHandler) {
    this.handler = handler;
  }

  /** True while a response has started (any byte of a status line seen, interim ones included) but not ended. */
  get inProgress(): boolean {
    return this.started;
  }

  /** Arm for the next response on this connection; `isHead` = request method was HEAD (no body). */
  reset(isHead: boolean): void {
    this.state = S.Head;
    this.isHead = isHead;
    this.started = false;
    this.error = null;
    this.pendingLen = 0;
    this.remaining = 0;
  }

  /**
   * Feed bytes `data[0, len)` (`len` defaults to the whole buffer, so a connection's reusable read
   * buffer needs no view per read). Returns bytes consumed, or -1 on a protocol error (then `error` holds a short reason).
   * Stops consuming after onEnd (the rest is bytes that followed the response) and after a 101 head
   * (the rest belongs to the upgraded protocol).
   */
  execute(data: Buffer, len: number = data.length): number {
    let pos = 0;
    while (pos < len) {
      switch (this.state) {
        case S.Head: {
          if (!this.started) {
            this.started = true;
          }
          const end = this.collect(data, pos, len, MAX_SECTION_BYTES, 'header section too large', true);
          if (end === -2) return this.fail(this.error!);
          if (end === -1) return len;
          pos = end;
          if (!this.parseHead()) return -1;
          const st = this.state as S;
          if (st === S.Done || st === S.Upgraded) return pos;
          break;
        }
        case S.BodyLength: {
          const avail = len - pos;
          if (avail <= this.remaining) {
            this.remaining -= avail;
            this.handler.onBody(pos === 0 && len === data.length ? data : data.subarray(pos, len));
            pos = len;
            if (this.remaining === 0) return this.end(null, pos);
          } else {
            const stop = pos + this.remaining;
            this.remaining = 0;
            this.handler.onBody(data.subarray(pos, stop));
            return this.end(null, stop);
          }
          break;
        }
        case S.BodyClose:
          this.handler.onBody(pos === 0 && len === data.length ? data : data.subarray(pos, len));
          return len;
        case S.ChunkData: {
          const avail = len - pos;
          const n = avail < this.remaining ? avail : this.remaining;
          this.handler.onBody(n === data.length ? data : data.subarray(pos, pos + n));
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) this.state = S.ChunkDataCr;
          break;
        }
        case S.ChunkDataCr:
          if (data[pos++] !== CR) return this.fail('missing CRLF after chunk data');
          this.state = S.ChunkDataLf;
          break;
        case S.ChunkDataLf:
          if (data[pos++] !== LF) return this.fail('missing CRLF after chunk data');
          this.state = S.ChunkSize;
          this.chunkDigits = 0;
          this.remaining = 0;
          break;
        case S.Trailers: {
          if (this.pendingLen === 0) {
            // Fast path: no trailers (the usual `0\r\n\r\n`).
            if (len - pos >= 2 && data[pos] === CR && data[pos + 1] === LF) return this.end(null, pos + 2);
            // Pretend the CRLF that ended the last-chunk line starts the section, so the
            // section always ends at the first CRLFCRLF (even an empty one split across calls).
            this.ensurePending(2);
            this.pending![0] = CR;
            this.pending![1] = LF;
            this.pendingLen = 2;
          }
          const end = this.collect(data, pos, len, MAX_SECTION_BYTES + 2, 'trailer section too large', false);
          if (end === -2) return this.fail(this.error!);
          if (end === -1) return len;
          const trailers: string[] = [];
          const tb = this.secBuf;
          const trailerText = (tb as Latin1Buffer).latin1Slice(this.secStart, this.secEnd);
          if (this.parseFields(tb, this.secStart + 2, this.secEnd, trailers, false, trailerText, this.secStart) < 0) return -1;
          return this.end(trailers.length > 0 ? trailers : null, end);
        }
        case S.Done:
        case S.Upgraded:
          return pos;
        case S.Error:
          return -1;
        default: {
          // Chunk-size line: size, extensions, CRLF — validated byte by byte.
          const r = this.chunkLine(data, pos, len);
          if (r < 0) return -1;
          pos = r;
        }
      }
    }
    return pos;
  }

  /**
   * Upstream closed (EOF). Completes a close-delimited body (calls onEnd) and returns true, or returns
   * false when the response was incomplete (error set).
   */
  finish(): boolean {
    switch (this.state) {
      case S.BodyClose:
        this.state = S.Done;
        this.started = false;
        this.handler.onEnd(null);
        return true;
      case S.Done:
      case S.Upgraded:
        return true;
      case S.Error:
        return false;
      default:
        this.fail(this.started ? 'incomplete response' : 'closed before a response');
        return false;
    }
  }

  private bad(reason: string): false {
    this.fail(reason);
    return false;
  }

  private fail(reason: string): -1 {
    this.error = reason;
    this.state = S.Error;
    return -1;
  }

  private end(trailers: string[] | null, pos: number): number {
    this.state = S.Done;
    this.started = false;
    this.pendingLen = 0;
    this.handler.onEnd(trailers);
    return pos;
  }

  private ensurePending(need: number): void {
    if (this.pending !== null && this.pending.length >= need) return;
    let cap = this.pending === null ? 1024 : this.pending.length * 2;
    if (cap < need) cap = need;
    const next = Buffer.allocUnsafe(cap);
    if (this.pending !== null && this.pendingLen > 0) this.pending.copy(next, 0, 0, this.pendingLen);
    this.pending = next;
  }

  /**
   * Find the end of a field section (first CRLFCRLF). Returns the index in `data` just past it (and
   * sets secBuf/secStart/secEnd), -1 when more bytes are needed (all of `data` from `pos` was kept),
   * or -2 on error.
   */
  private collect(data: Buffer, pos: number, len: number, max: number, tooLarge: string, isHead: boolean): number {
    if (this.pendingLen === 0) {
      // Fail fast on something that is not HTTP at all, instead of waiting for a CRLFCRLF.
      if (isHead) {
        const n = len - pos < HTTP_PREFIX.length ? len - pos : HTTP_PREFIX.length;
        for (let i = 0; i < n; i++) {
          if (data[pos + i] !== HTTP_PREFIX.charCodeAt(i)) {
            this.error = 'invalid status line';
            return -2;
          }
        }
      }
      // Bytes past `len` are a reused read buffer's stale contents: a match there does not count.
      const idx = data.indexOf(CRLFCRLF, pos);
      if (idx >= 0 && idx + 4 <= len) {
        if (idx + 4 - pos > max) {
          this.error = tooLarge;
          return -2;
        }
        this.secBuf = data;
        this.secStart = pos;
        this.secEnd = idx + 4;
        return idx + 4;
      }
    }
    const old = this.pendingLen;
    if (isHead && old > 0 && old < HTTP_PREFIX.length) {
      for (let i = old; i < HTTP_PREFIX.length && pos + i - old < len; i++) {
        if (data[pos + i - old] !== HTTP_PREFIX.charCodeAt(i)) {
          this.error = 'invalid status line';
          return -2;
        }
      }
    }
    let take = len - pos;
    if (old + take > max + 4) take = max + 4 - old;
    this.ensurePending(old + take);
    const pending = this.pending!;
    data.copy(pending, old, pos, pos + take);
    this.pendingLen = old + take;
    const idx = pending.subarray(0, this.pendingLen).indexOf(CRLFCRLF, old > 3 ? old - 3 : 0);
    if (idx >= 0) {
      if (idx + 4 > max) {
        this.error = tooLarge;
        return -2;
      }
      this.secBuf = pending;
      this.secStart = 0;
      this.secEnd = idx + 4;
      this.pendingLen = 0;
      return pos + (idx + 4 - old);
    }
    if (this.pendingLen >= max) {
      this.error = tooLarge;
      return -2;
    }
    return -1;
  }

  /** Parse the section found by collect() as a response head and dispatch it. */
  private parseHead(): boolean {
    const end = this.secEnd;
    // The whole section as one string, once: the reason and every name and value are substrings
    // of it (JS-heap slices), not one latin1Slice native call each. A/B in one process, nginx's
    // 5-field response head + 100 B body, reset + execute: 1217 → 984 ns.
    const text = (this.secBuf as Latin1Buffer).latin1Slice(this.secStart, end);
    let status: number;
    let minor: number;
    let reason: string;
    let headers: string[];
    if (text === this.memoText) {
      // The same head as this connection's last final response, byte for byte (an upstream
      // answering one kind of request repeats its head; Date changes once a second): what it
      // parsed to is known, and it passed every check below. The list is a copy, the caller may edit it.
      status = this.memoStatus;
      minor = this.memoMinor;
      reason = this.memoReason;
      headers = this.memoHeaders.slice();
      this.clValue = this.memoClValue;
      this.clError = false;
      this.teSeen = this.memoTe !== 0;
      this.teChunkedLast = this.memoTe === 2;
      this.teError = false;
      this.connClose = this.memoConnClose;
      this.connKeepAlive = this.memoConnKeepAlive;
      this.obsText = this.memoObsText;
    } else {
      headers = [];
      status = this.parseStatusAndFields(text, headers);
      if (status < 0) return false;
      minor = this.parsedMinor;
      reason = this.parsedReason;
    }
    return this.dispatchHead(text, status, minor, reason, headers);
  }

  // The last final response head parsed on this connection and what it parsed to (parseHead).
  private memoText = '';
  private memoStatus = 0;
  private memoMinor = 1;
  private memoReason = '';
  private memoHeaders: string[] = [];
  private memoClValue = -1;
  /** Transfer-Encoding: 0 none, 1 present, 2 present with chunked last. */
  private memoTe = 0;
  private memoConnClose = false;
  private memoConnKeepAlive = false;
  private memoObsText = false;
  /** The head being parsed has obs-text in its reason or a field value (ResponseFraming.obsText). */
  private obsText = false;
  // Out-values of parseStatusAndFields.
  private parsedMinor = 1;
  private parsedReason = '';

  /** Status line and fields of the section into `headers`; the status, or -1 after bad(). */
  private parseStatusAndFields(text: string, headers: string[]): number {
    const buf = this.secBuf;
    let p = this.secStart;
    const end = this.secEnd;
    // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4)
    if (end - p < 13) return this.badStatus('invalid status line');
    for (let i = 0; i < 7; i++) if (buf[p + i] !== HTTP_PREFIX.charCodeAt(i)) return this.badStatus('invalid status line');
    const minor = buf[p + 7] - 48;
    if (minor !== 0 && minor !== 1) return this.badStatus('unsupported HTTP version');
    if (buf[p + 8] !== SP) return this.badStatus('invalid status line');
    const d0 = buf[p + 9] - 48;
    const d1 = buf[p + 10] - 48;
    const d2 = buf[p + 11] - 48;
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.badStatus('invalid status code');
    const status = d0 * 100 + d1 * 10 + d2;
    p += 12;
    this.obsText = false;
    const base = this.secStart;
    let reason = '';
    if (buf[p] === SP) {
      const rs = ++p;
      p = this.valueEnd(buf, p);
      if (p > rs) reason = text.slice(rs - base, p - base);
    }
    if (buf[p] !== CR || buf[p + 1] !== LF) return this.badStatus('invalid status line');
    p += 2;

    this.clValue = -1;
    this.clError = false;
    this.teSeen = false;
    this.teChunkedLast = false;
    this.teChunkedSeen = false;
    this.teError = false;
    this.connClose = false;
    this.connKeepAlive = false;
    if (this.parseFields(buf, p, end, headers, true, text, base) < 0) return -1;
    if (this.clError) return this.badStatus('invalid Content-Length');
    if (this.teError) return this.badStatus('invalid Transfer-Encoding');
    this.parsedMinor = minor;
    this.parsedReason = reason;
    return status;
  }

  /** The end of the field-value characters from `p` (the reason phrase has the same grammar);
   *  an obs-text byte among them sets obsText. */
  private valueEnd(buf: Buffer, p: number): number {
    for (;;) {
      while (FIELD_VALUE[buf[p]] === 1) p++;
      if (FIELD_VALUE[buf[p]] !== 2) return p;
      this.obsText = true;
      p++;
    }
  }

  private badStatus(reason: string): number {
    this.bad(reason);
    return -1;
  }

  /** A parsed (or memoized) head: framing checks, then onInterim / onHead and the body state. */
  private dispatchHead(text: string, status: number, minor: number, reason: string, headers: string[]): boolean {
    if (status < 200) {
      if (status === 101) {
        this.state = S.Upgraded;
        this.started = false;
        this.handler.onHead(status, reason, headers, {
          contentLength: -1, chunked: false, closeDelimited: false, noBody: true, keepAlive: false, upgrade: true, httpMinor: minor, obsText: this.obsText,
        });
        return true;
      }
      if (this.teSeen || this.clValue >= 0) return this.bad('framing header in a 1xx response');
      if (minor === 0) return this.bad('1xx response in HTTP/1.0'); // RFC 9110 §15.2: never sent to 1.0
      // Interim: stay in Head for the next response head (RFC 9110 §15.2).
      this.handler.onInterim(status, reason, headers);
      return true;
    }
    if (this.teSeen) {
      if (this.clValue >= 0) return this.bad('both Content-Length and Transfer-Encoding');
      if (minor === 0) return this.bad('Transfer-Encoding in an HTTP/1.0 response');
    }
    let keepAlive = minor === 1 ? !this.connClose : this.connKeepAlive && !this.connClose;
    let chunked = false;
    let closeDelimited = false;
    const noBody = this.isHead || status === 204 || status === 304;
    if (!noBody) {
      if (this.teSeen) {
        if (this.teChunkedLast) chunked = true;
        else closeDelimited = true;
      } else if (this.clValue < 0) {
        closeDelimited = true;
      }
      if (closeDelimited) keepAlive = false;
    }
    const contentLength = this.clValue;
    if (text !== this.memoText && text.length <= MEMO_MAX_BYTES) {
      // Every check passed: remember it (a copy of the list, the handler may edit its own).
      this.memoText = text;
      this.memoStatus = status;
      this.memoMinor = minor;
      this.memoReason = reason;
      this.memoHeaders = headers.slice();
      this.memoClValue = this.clValue;
      this.memoTe = this.teSeen ? (this.teChunkedLast ? 2 : 1) : 0;
      this.memoConnClose = this.connClose;
      this.memoConnKeepAlive = this.connKeepAlive;
      this.memoObsText = this.obsText;
    }
    this.handler.onHead(status, reason, headers, { contentLength, chunked, closeDelimited, noBody, keepAlive, upgrade: false, httpMinor: minor, obsText: this.obsText });
    if (noBody || (!chunked && !closeDelimited && contentLength === 0)) {
      this.end(null, 0);
    } else if (chunked) {
      this.state = S.ChunkSize;
      this.chunkDigits = 0;
      this.remaining = 0;
    } else if (closeDelimited) {
      this.state = S.BodyClose;
    } else {
      this.state = S.BodyLength;
      this.remaining = contentLength;
    }
    return true;
  }

  /**
   * Parse field lines from `p` up to `end` (which is just past the final empty line) into `out`.
   * Returns the index after the section, or -1 on error. `isHead` also gathers framing fields.
   * `text` is buf[base, end) decoded as latin1: names and values are sliced from it.
   */
  private parseFields(buf: Buffer, p: number, end: number, out: string[], isHead: boolean, text: string, base: number): number {
    for (;;) {
      if (buf[p] === CR) {
        if (buf[p + 1] !== LF || p + 2 !== end) return this.fail('invalid field line');
        return end;
      }
      // field-name: token, then ':' with no whitespace in between (RFC 9112 §5.1).
      const ns = p;
      let h = 0;
      let upper = false;
      let c = buf[p];
      while (TOKEN[c] === 1) {
        const l = LOWER[c];
        if (l !== c) upper = true;
        h = (Math.imul(h, 31) + l) | 0;
        c = buf[++p];
      }
      const ne = p;
      if (ne === ns) return this.fail(c === SP || c === HTAB ? 'obsolete line folding' : 'invalid field name');
      if (c !== 58 /* : */) return this.fail(c === SP || c === HTAB ? 'whitespace before colon' : 'invalid field name');
      p++;
      while (buf[p] === SP || buf[p] === HTAB) p++;
      const vs = p;
      p = this.valueEnd(buf, p);
      if (buf[p] !== CR || buf[p + 1] !== LF) return this.fail('invalid character in field value');
      let ve = p;
      while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
      p += 2;

      let name: string | undefined = INTERN.get(h);
      if (name === undefined || !bytesEqualLower(buf, ns, ne, name)) {
        name = text.slice(ns - base, ne - base);
        if (upper) name = name.toLowerCase();
      }
      out.push(name, ve > vs ? text.slice(vs - base, ve - base) : '');
      if (isHead) {
        if (name === H_CONTENT_LENGTH) this.contentLength(buf, vs, p - 2);
        else if (name === H_TRANSFER_ENCODING) this.transferEncoding(buf, vs, p - 2);
        else if (name === H_CONNECTION) this.connection(buf, vs, p - 2);
      }
    }
  }

  /** Content-Length = SP* 1*DIGIT SP* (raw, untrimmed range); a second field line is an error. */
  private contentLength(buf: Buffer, s: number, e: number): void {
    if (this.clValue >= 0) {
      this.clError = true;
      return;
    }
    while (e > s && buf[e - 1] === SP) e--;
    if (s === e) {
      this.clError = true;
      return;
    }
    let n = 0;
    for (let i = s; i < e; i++) {
      const d = buf[i] - 48;
      if (d < 0 || d > 9) {
        this.clError = true;
        return;
      }
      n = n * 10 + d;
      if (n > Number.MAX_SAFE_INTEGER) {
        this.clError = true;
        return;
      }
    }
    this.clValue = n;
  }

  /**
   * Transfer-Encoding = #transfer-coding, combined across field lines (RFC 9112 §6.1). `e` is the
   * raw value end: HTAB anywhere is rejected (llhttp does not treat it as OWS here, so accepting it
   * would frame the body differently from other parsers).
   */
  private transferEncoding(buf: Buffer, s: number, e: number): void {
    this.teSeen = true;
    for (let i = s; i < e; i++) {
      if (buf[i] === HTAB) {
        this.teError = true;
        return;
      }
    }
    let p = s;
    for (;;) {
      while (p < e && buf[p] === SP) p++;
      const ts = p;
      while (p < e && TOKEN[buf[p]] === 1) p++;
      const te = p;
      if (te === ts) {
        this.teError = true; // empty element or not a token
        return;
      }
      const isChunked = bytesEqualLower(buf, ts, te, 'chunked');
      if (this.teChunkedSeen && isChunked) {
        this.teError = true; // chunked applied twice
        return;
      }
      if (isChunked) this.teChunkedSeen = true;
      this.teChunkedLast = isChunked;
      while (p < e && buf[p] === SP) p++;
      if (p < e && buf[p] === 59 /* ; */) {
        if (isChunked) {
          this.teError = true; // chunked takes no parameters
          return;
        }
        // Skip parameters of another coding (it makes the body close-delimited anyway).
        while (p < e && buf[p] !== 44) p++;
      }
      if (p >= e) return;
      if (buf[p] !== 44 /* , */) {
        this.teError = true;
        return;
      }
      p++;
    }
  }

  /**
   * Connection = #connection-option (comma list); only `close` and `keep-alive` matter. Conservative
   * both ways: `close` is recognised with any OWS around it, `keep-alive` only with SP (llhttp does
   * not treat HTAB as OWS here), so we never keep a connection that llhttp would close.
   */
  private connection(buf: Buffer, s: number, e: number): void {
    let p = s;
    while (p < e) {
      const rs = p;
      while (p < e && buf[p] !== 44 /* , */) p++;
      let ts = rs;
      let te = p;
      while (ts < te && buf[ts] === SP) ts++;
      while (te > ts && buf[te - 1] === SP) te--;
      if (bytesEqualLower(buf, ts, te, 'keep-alive')) this.connKeepAlive = true;
      while (ts < te && (buf[ts] === SP || buf[ts] === HTAB)) ts++;
      while (te > ts && (buf[te - 1] === SP || buf[te - 1] === HTAB)) te--;
      if (bytesEqualLower(buf, ts, te, 'close')) this.connClose = true;
      p++;
    }
  }

  /** chunk-size [ chunk-ext ] CRLF, byte by byte across calls. Returns the new position or -1. */
  private chunkLine(data: Buffer, pos: number, len: number): number {
    while (pos < len) {
      const c = data[pos++];
      switch (this.state) {
        case S.ChunkSize: {
          const d = HEX[c];
          if (d >= 0) {
            if (++this.chunkDigits > MAX_CHUNK_SIZE_DIGITS) return this.fail('chunk size too long');
            this.remaining = this.remaining * 16 + d;
            if (this.remaining > Number.MAX_SAFE_INTEGER) return this.fail('chunk size too large');
            continue;
          }
          if (this.chunkDigits === 0) return this.fail('invalid chunk size');
          if (c === CR) this.state = S.ChunkSizeLf;
          else if (c === 59 /* ; */) {
            this.state = S.ChunkExtStart;
            this.chunkExtBytes = 0;
          } else return this.fail('invalid chunk size');
          continue;
        }
        case S.ChunkSizeLf:
          if (c !== LF) return this.fail('invalid chunk size line');
          if (this.remaining === 0) {
            this.state = S.Trailers;
            this.pendingLen = 0;
          } else this.state = S.ChunkData;
          return pos;
        default:
          break;
      }
      // chunk-ext = *( ";" token [ "=" ( token / quoted-string ) ] ) — RFC 9112 §7.1.1, no BWS.
      if (++this.chunkExtBytes > MAX_CHUNK_EXT_BYTES) return this.fail('chunk extensions too long');
      switch (this.state) {
        case S.ChunkExtStart:
          if (TOKEN[c] !== 1) return this.fail('invalid chunk extension');
          this.state = S.ChunkExtName;
          break;
        case S.ChunkExtName:
          if (TOKEN[c] === 1) break;
          if (c === 61 /* = */) this.state = S.ChunkExtValueStart;
          else if (c === 59) this.state = S.ChunkExtStart;
          else if (c === CR) this.state = S.ChunkSizeLf;
          else return this.fail('invalid chunk extension');
          break;
        case S.ChunkExtValueStart:
          if (TOKEN[c] === 1) this.state = S.ChunkExtToken;
          else if (c === 34 /* " */) this.state = S.ChunkExtQuoted;
          else return this.fail('invalid chunk extension');
          break;
        case S.ChunkExtToken:
          if (TOKEN[c] === 1) break;
          if (c === 59) this.state = S.ChunkExtStart;
          else if (c === CR) this.state = S.ChunkSizeLf;
          else return this.fail('invalid chunk extension');
          break;
        case S.ChunkExtQuoted:
          if (c === 34) this.state = S.ChunkExtAfterQuoted;
          else if (c === 92 /* \ */) this.state = S.ChunkExtQuotedEscape;
          else if (QDTEXT[c] !== 1) return this.fail('invalid chunk extension');
          break;
        case S.ChunkExtQuotedEscape:
          if (FIELD_VALUE[c] === 0) return this.fail('invalid chunk extension');
          this.state = S.ChunkExtQuoted;
          break;
        case S.ChunkExtAfterQuoted:
          if (c === 59) this.state = S.ChunkExtStart;
          else if (c === CR) this.state = S.ChunkSizeLf;
          else return this.fail('invalid chunk extension');
          break;
        default:
          return this.fail('internal parser state');
      }
    }
    return pos;
  }
}
