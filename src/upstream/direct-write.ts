// The upstream request head of a bodiless request, written straight to the socket's libuv handle.
//
// Why: `socket.write(head)` runs the whole Writable machinery for one small string: write() →
// _write → writeGeneric (a WriteWrap per call) → onwrite → afterWrite on the next tick, plus the
// tick queue run after the read callback. A GET's head is one write that libuv nearly always
// completes at once (uv_try_write into an idle keep-alive socket), so none of that is needed.
// Measured (perf, small GET through uws, wrk -c50, proxy pinned to one core): Socket._write,
// writable onwrite/afterWrite and the tick queue were ~0.2 µs of the ~6 µs of user CPU per request.
//
// This uses Node internals that have been stable since Node 12: `process.binding('stream_wrap')`
// (WriteWrap) and the handle's `writeLatin1String(req, string)`, which returns 0 or a negative errno
// and, when the kernel did not take everything, queues the rest itself (uv_write) and later calls
// `req.oncomplete(status)`. Everything else about the socket (reads, close, errors) stays in
// net.Socket. Where any of it is missing (another runtime, a future Node), `writeHead` falls back to
// socket.write, and so does every socket with bytes already queued, so the byte order on the wire
// is always the order of the calls (libuv refuses a try-write while its queue is non-empty).
import type net from 'node:net';
import { getSystemErrorName } from 'node:util';

interface WriteReq {
  handle: unknown;
  oncomplete: (status: number) => void;
  async: boolean;
  bytes: number;
  buffer: unknown;
  /** Ours: the socket to fail when a queued write fails later. */
  socket: net.Socket | null;
}
type WriteReqCtor = new () => WriteReq;
interface StreamHandle {
  writeLatin1String(req: WriteReq, s: string): number;
  readonly writeQueueSize: number;
}

function loadWriteWrap(): WriteReqCtor | null {
  try {
    const binding = (process as unknown as { binding(name: string): { WriteWrap?: WriteReqCtor } }).binding('stream_wrap');
    return typeof binding.WriteWrap === 'function' ? binding.WriteWrap : null;
  } catch {
    return null;
  }
}

const WriteWrap = loadWriteWrap();

/** Reused while writes complete synchronously (nearly always); replaced when libuv keeps one. */
let spare: WriteReq | null = null;

/** A queued write finished: a failure fails the socket as net.Socket would (error, then close). */
function onQueuedWriteDone(this: WriteReq, status: number): void {
  const s = this.socket;
  this.socket = null;
  if (status < 0 && s !== null && !s.destroyed) s.destroy(errnoError(status));
}

/** The error socket.write would have raised: `write ECONNRESET`, with errno, code and syscall. */
function errnoError(status: number): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(status);
  } catch {
    code = 'UNKNOWN';
  }
  const err: NodeJS.ErrnoException = new Error(`write ${code}`);
  err.errno = status;
  err.code = code;
  err.syscall = 'write';
  return err;
}

/** True when the direct path is available in this runtime (tests check both paths). */
export const directWriteAvailable = WriteWrap !== null;

/**
 * Writes `head` (latin1) to `s`. Falls back to `s.write` unless the socket is connected, writable
 * and has nothing queued. A write error destroys the socket with it (its 'error' and 'close' follow
 * on a later tick, as after socket.write), so the caller's socket handlers see it the same way.
 */
export function writeHead(s: net.Socket, head: string, direct = true): void {
  const handle = (s as unknown as { _handle: StreamHandle | null })._handle;
  if (!direct || WriteWrap === null || handle === null || s.writableLength !== 0 || s.connecting || s.destroyed || !s.writable) {
    s.write(head, 'latin1');
    return;
  }
  let req = spare;
  if (req === null) {
    req = new WriteWrap();
    req.handle = handle;
    req.oncomplete = onQueuedWriteDone;
    req.async = false;
    req.bytes = 0;
    req.buffer = null;
    req.socket = null;
    spare = req;
  }
  req.handle = handle;
  const err = handle.writeLatin1String(req, head);
  if (err !== 0) {
    s.destroy(errnoError(err));
    return;
  }
  if (handle.writeQueueSize !== 0) {
    // libuv holds this request until the kernel takes the rest: it is not reusable until then.
    req.socket = s;
    spare = null;
  }
}
