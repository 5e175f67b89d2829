// WebSocket framing (RFC 6455 §5) for the uws front end's relay. uWS terminates the client side
// of a WebSocket and hands us whole messages, so towards the upstream gatemesh is a WebSocket
// client: it encodes masked frames (§5.3: client frames MUST be masked) and decodes the
// upstream's frames. Extensions are never negotiated (Sec-WebSocket-Extensions is not
// forwarded), so RSV bits must be 0.
import crypto from 'node:crypto';

export const OP_CONT = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

// Mask keys come from a pre-filled random pool: one randomFillSync per 1024 frames.
const maskPool = Buffer.alloc(4096);
let maskOffset = maskPool.length;

function nextMask(): Buffer {
  if (maskOffset >= maskPool.length) {
    crypto.randomFillSync(maskPool);
    maskOffset = 0;
  }
  const m = maskPool.subarray(maskOffset, maskOffset + 4);
  maskOffset += 4;
  return m;
}

/** One masked frame with FIN set (we never fragment what we send). */
export function encodeFrame(opcode: number, payload: Uint8Array): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = Buffer.allocUnsafe(2 + ext + 4 + len);
  out[0] = 0x80 | opcode;
  if (ext === 0) out[1] = 0x80 | len;
  else if (ext === 2) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  const maskAt = 2 + ext;
  const mask = nextMask();
  out[maskAt] = mask[0];
  out[maskAt + 1] = mask[1];
  out[maskAt + 2] = mask[2];
  out[maskAt + 3] = mask[3];
  const start = maskAt + 4;
  for (let i = 0; i < len; i++) out[start + i] = payload[i] ^ mask[i & 3];
  return out;
}

/** Close frame payload: 2-byte code + UTF-8 reason (§5.5.1); no code for 1005/1006. */
export function closePayload(code: number, reason: Uint8Array): Buffer {
  if (code === 1005 || code === 1006 || code < 1000 || code > 4999) return Buffer.alloc(0);
  const out = Buffer.allocUnsafe(2 + Math.min(reason.length, 123));
  out.writeUInt16BE(code, 0);
  Buffer.from(reason.buffer, reason.byteOffset, Math.min(reason.length, 123)).copy(out, 2);
  return out;
}

export interface FrameSink {
  /** A complete data message (fragments joined). */
  onMessage(payload: Buffer, binary: boolean): void;
  onPing(payload: Buffer): void;
  onClose(code: number, reason: Buffer): void;
  /** Protocol violation: the relay closes both sides with `code` (1002 or 1009). */
  onProtocolError(code: number, reason: string): void;
}

/** Incremental decoder of the upstream's frames. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private fragmentBinary = false;
  private failed = false;

  /** `maxMessage`: bytes; larger messages close with 1009 (§7.4.1). Default 16 MiB. */
  constructor(
    private readonly sink: FrameSink,
    private readonly maxMessage = 16 * 1024 * 1024,
  ) {}

  push(data: Buffer): void {
    if (this.failed) return;
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const rsv = b[0] & 0x70;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        const hi = b.readUInt32BE(2);
        if (hi > 0x1fffff) return this.fail(1009, 'frame too large');
        len = hi * 2 ** 32 + b.readUInt32BE(6);
        off = 10;
      }
      if (rsv !== 0) return this.fail(1002, 'reserved bits set');
      const control = (opcode & 0x8) !== 0;
      if (control && (!fin || len > 125)) return this.fail(1002, 'bad control frame');
      if (!control && opcode !== OP_CONT && opcode !== OP_TEXT && opcode !== OP_BINARY) return this.fail(1002, 'unknown opcode');
      if (opcode > OP_PONG) return this.fail(1002, 'unknown opcode');
      if (len > this.maxMessage || this.fragmentBytes + len > this.maxMessage) return this.fail(1009, 'message too large');
      const maskLen = masked ? 4 : 0;
      if (b.length < off + maskLen + len) return;
      let payload = b.subarray(off + maskLen, off + maskLen + len);
      if (masked) {
        const m = b.subarray(off, off + 4);
        const copy = Buffer.allocUnsafe(len);
        for (let i = 0; i < len; i++) copy[i] = payload[i] ^ m[i & 3];
        payload = copy;
      }
      this.buf = b.subarray(off + maskLen + len);
      if (control) {
        if (opcode === OP_PING) this.sink.onPing(payload);
        else if (opcode === OP_CLOSE) {
          const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
          this.sink.onClose(code, payload.subarray(payload.length >= 2 ? 2 : 0));
          this.failed = true; // nothing after a close frame (§5.5.1)
          return;
        }
        continue;
      }
      if (opcode === OP_CONT) {
        if (this.fragments.length === 0) return this.fail(1002, 'continuation without a start');
      } else {
        if (this.fragments.length !== 0) return this.fail(1002, 'new message inside a fragmented one');
        this.fragmentBinary = opcode === OP_BINARY;
      }
      if (fin && this.fragments.length === 0) {
        this.sink.onMessage(payload, opcode === OP_BINARY);
        continue;
      }
      this.fragments.push(Buffer.from(payload));
      this.fragmentBytes += len;
      if (fin) {
        const whole = Buffer.concat(this.fragments, this.fragmentBytes);
        this.fragments = [];
        this.fragmentBytes = 0;
        this.sink.onMessage(whole, this.fragmentBinary);
      }
    }
  }

  private fail(code: number, reason: string): void {
    this.failed = true;
    this.sink.onProtocolError(code, reason);
  }
}
