// node:http's request parser (llhttp, the C++ binding `_http_common.HTTPParser`) driven straight
// from net.Socket reads, without node:http's IncomingMessage/ServerResponse streams around it.
//
// Why: the streams are most of native-free's user CPU. Measured (small GET, wrk -c50, nginx
// upstream, proxies pinned to one core, /proc CPU per request, same run): a minimal proxy on
// http.createServer took 8.9 µs of user CPU per request, the same proxy on net + this parser
// 5.2 µs (4.7 with parser.consume(), not used: it hides reads from net.Socket's pause/resume).
// gatemesh native-free was 9.1 µs on node:http.
//
// The parser reads the socket itself (consume(handle), as node:http's server does): each read goes
// from libuv straight into llhttp, without a net.Socket 'data' event. Measured the same way in
// gatemesh: user CPU per request 6.1 → 5.2 µs against execute() on 'data' events.
//
// The binding is what node:http's own server uses (lib/_http_server.js); its JS surface is the
// one used here: initialize(type, resource, maxHeaderSize, lenient), consume/unconsume(handle),
// execute(buffer) (when the handle cannot be consumed), results as the bytes parsed or an Error
// carrying llhttp's `code`/`reason`/`bytesParsed`, headersCompleted(), getCurrentBuffer(), and the
// callbacks below. Where it is missing the front end cannot start and says why (loadError).
import { createRequire } from 'node:module';
import type { ClientError } from './client-error';

/** One parsed request head, as the parser hands it over (names as received). */
export interface ParsedRequest {
  method: string;
  /** Request-target as received. */
  url: string;
  versionMajor: number;
  versionMinor: number;
  /** Flat [name, value, ...] in wire order, duplicates kept. */
  rawHeaders: string[];
  /** llhttp's keep-alive verdict (RFC 9112 §9.3: HTTP/1.1 unless `close`, HTTP/1.0 with `keep-alive`). */
  keepAlive: boolean;
  /** Upgrade or CONNECT: the bytes after the head are not HTTP (RFC 9110 §7.8, §9.3.6). */
  upgrade: boolean;
}


export interface HttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | ClientError;
  /** Read from a libuv stream handle directly; results arrive through kOnExecute. */
  consume(handle: object): void;
  unconsume(): void;
  /** False from the first byte of a message until its head is complete (and on a new parser). */
  headersCompleted(): boolean;
  /** A copy of the read being parsed (kOnExecute only). */
  getCurrentBuffer(): Buffer;
  finish(): number | ClientError;
  free(): void;
  close(): void;
  remove(): void;
  [key: number]: unknown;
}

interface ParserCtor {
  new (): HttpParser;
  REQUEST: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
  kLenientNone: number;
}

interface HttpCommon {
  HTTPParser?: ParserCtor;
  methods?: string[];
}

/** Why the parser binding is unusable in this runtime, or null. */
export let loadError: string | null = null;

function load(): HttpCommon {
  try {
    // A core module by its internal name; createRequire keeps bundlers and type-checkers out.
    const common = createRequire(__filename)('_http_common') as HttpCommon;
    const P = common.HTTPParser;
    if (
      typeof P !== 'function' ||
      !Array.isArray(common.methods) ||
      typeof P.REQUEST !== 'number' ||
      typeof P.kOnHeadersComplete !== 'number' ||
      typeof P.prototype.execute !== 'function'
    ) {
      loadError = `node ${process.versions.node} has no usable _http_common.HTTPParser`;
    }
    return common;
  } catch (err) {
    loadError = `node ${process.versions.node}: cannot load _http_common (${(err as Error).message})`;
    return {};
  }
}

const common = load();
const Parser = common.HTTPParser as ParserCtor;
/** llhttp's method numbers → names (HTTP_METHOD_MAP order). */
export const METHODS: readonly string[] = common.methods ?? [];

export const K_ON_HEADERS = Parser?.kOnHeaders ?? -1;
export const K_ON_HEADERS_COMPLETE = Parser?.kOnHeadersComplete ?? -1;
export const K_ON_BODY = Parser?.kOnBody ?? -1;
export const K_ON_MESSAGE_COMPLETE = Parser?.kOnMessageComplete ?? -1;
export const K_ON_EXECUTE = Parser?.kOnExecute ?? -1;

/** kOnHeadersComplete's answer that tells llhttp the rest of the bytes are not HTTP. */
export const SKIP_UPGRADE = 2;

/** Parsers kept for new connections (node:http keeps 1000 in its own pool). */
const POOL_MAX = 1000;
const pool: HttpParser[] = [];

/** A request parser ready for a new connection; `resource` names it for async_hooks. */
export function allocParser(resource: object, maxHeaderSize: number): HttpParser {
  const p = pool.pop() ?? new Parser();
  // Strict parsing (no lenient flags): what node:http does without insecureHTTPParser.
  p.initialize(Parser.REQUEST, resource, maxHeaderSize, Parser.kLenientNone);
  return p;
}

/**
 * Give a parser back once its connection is gone. Its callbacks are the caller's to reset. This
 * may run inside the parser's own kOnExecute callback (an upgrade), after which the C++ read
 * handler still uses the parser: closing (deleting) it waits a turn, as node:http's does.
 */
export function freeParser(p: HttpParser): void {
  p.remove();
  if (pool.length < POOL_MAX) {
    p.free();
    pool.push(p);
  } else {
    setImmediate(closeParser, p);
  }
}

function closeParser(p: HttpParser): void {
  p.close();
}
