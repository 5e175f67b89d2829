// Just enough HTTP/1.1 response framing (RFC 9112 §6: Content-Length, chunked) for the open-loop generator to know
// when a response is complete. node:http's client would cost more CPU on the generator's core than the proxy's
// differences we want to see; the generator only needs the status code and the end of each message.

export interface ResponseReader {
  /** Feeds bytes from the socket; calls `onResponse` once per complete response. Throws on malformed framing. */
  push(chunk: Buffer): void;
}

const enum State {
  Head,
  Body,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

export function createResponseReader(onResponse: (status: number) => void): ResponseReader {
  let state = State.Head;
  let head: Buffer | null = null; // partial head carried across chunks
  let remaining = 0; // body or chunk bytes still to skip
  let line = ''; // partial chunk-size / trailer line
  let status = 0;

  function finish(): void {
    state = State.Head;
    onResponse(status);
  }

  function parseHead(text: string): void {
    const sp = text.indexOf(' ');
    status = Number(text.slice(sp + 1, sp + 4));
    if (!(status >= 100 && status < 600)) throw new Error(`bad status line: ${text.slice(0, 40)}`);
    let length = -1;
    let chunked = false;
    for (const h of text.split('\r\n').slice(1)) {
      const c = h.indexOf(':');
      if (c < 0) continue;
      const name = h.slice(0, c).trim().toLowerCase();
      if (name === 'content-length') length = Number(h.slice(c + 1).trim());
      else if (name === 'transfer-encoding' && /chunked/i.test(h)) chunked = true;
    }
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      // No body (RFC 9112 §6.3); 1xx are interim and not reported.
      if (status >= 200) finish();
      return;
    }
    if (chunked) {
      state = State.ChunkSize;
      line = '';
    } else if (length >= 0) {
      remaining = length;
      if (remaining === 0) finish();
      else state = State.Body;
    } else {
      throw new Error('response without Content-Length or chunked framing');
    }
  }

  return {
    push(chunk: Buffer): void {
      let i = 0;
      while (i < chunk.length) {
        switch (state) {
          case State.Head: {
            const buf: Buffer = head ? Buffer.concat([head, chunk.subarray(i)]) : chunk.subarray(i);
            const end = buf.indexOf(CRLFCRLF);
            if (end < 0) {
              head = Buffer.from(buf);
              return;
            }
            const consumedFromChunk = end + 4 - (head ? head.length : 0);
            head = null;
            i += consumedFromChunk;
            parseHead(buf.toString('latin1', 0, end));
            break;
          }
          case State.Body: {
            const n = Math.min(remaining, chunk.length - i);
            remaining -= n;
            i += n;
            if (remaining === 0) finish();
            break;
          }
          case State.ChunkSize:
          case State.Trailers: {
            const nl = chunk.indexOf(10, i); // '\n'
            if (nl < 0) {
              line += chunk.toString('latin1', i);
              return;
            }
            line += chunk.toString('latin1', i, nl);
            i = nl + 1;
            const text = line.replace(/\r$/, '');
            line = '';
            if (state === State.Trailers) {
              if (text === '') finish();
              break;
            }
            const size = parseInt(text.split(';')[0], 16);
            if (Number.isNaN(size)) throw new Error(`bad chunk size: ${text.slice(0, 20)}`);
            if (size === 0) state = State.Trailers;
            else {
              remaining = size;
              state = State.ChunkData;
            }
            break;
          }
          case State.ChunkData: {
            const n = Math.min(remaining, chunk.length - i);
            remaining -= n;
            i += n;
            if (remaining === 0) {
              state = State.ChunkDataEnd;
              remaining = 2; // CRLF after the data
            }
            break;
          }
          case State.ChunkDataEnd: {
            const n = Math.min(remaining, chunk.length - i);
            remaining -= n;
            i += n;
            if (remaining === 0) state = State.ChunkSize;
            break;
          }
        }
      }
    },
  };
}
