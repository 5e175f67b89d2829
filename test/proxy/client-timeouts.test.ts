// Clients that stop taking bytes, and tunnels nobody uses, on both front ends:
// GATEMESH_SEND_TIMEOUT_MS (nginx's send_timeout), GATEMESH_TUNNEL_IDLE_TIMEOUT_MS, and a
// WebSocket client that sends faster than its upstream reads.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { FRONTENDS, nativeConfig, startGateway } from '../helpers/gateway';

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function config(port: number): string {
  return nativeConfig(`routes:\n  - name: r\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:${port}"]\n`);
}

/** An upstream streaming `total` bytes per request (chunked, or with Content-Length when `withLength`);
 *  `closed` counts responses whose connection went away before the end. */
async function streamingUpstream(total: number, withLength: boolean) {
  const piece = Buffer.alloc(64 * 1024, 0x73);
  const stats = { sent: 0, closed: 0 };
  const server = http.createServer((_req, res) => {
    res.writeHead(200, withLength ? { 'content-length': String(total) } : { 'content-type': 'application/octet-stream' });
    let sent = 0;
    res.on('close', () => {
      if (sent < total) stats.closed++;
    });
    const pump = (): void => {
      while (sent < total) {
        const n = Math.min(piece.length, total - sent);
        sent += n;
        stats.sent += n;
        if (!res.write(n === piece.length ? piece : piece.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    stats,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A WebSocket upstream that answers the handshake by hand and then reads nothing (or echoes,
 *  with `echo`, frame bytes as they come: enough to see traffic pass). */
async function stubbornWsUpstream() {
  const sockets: net.Socket[] = [];
  const server = net.createServer((sock) => {
    sockets.push(sock);
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.removeListener('data', onData);
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head.slice(0, end))?.[1] ?? '';
      const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      sock.pause(); // reads nothing more
    };
    sock.on('data', onData);
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function openWs(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Resolves with the close code and how long after `since` it came, or code -1 after `maxMs`. */
function closeOf(ws: WebSocket, since: number, maxMs: number): Promise<{ code: number; after: number }> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve({ code: -1, after: Date.now() - since }), maxMs);
    ws.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, after: Date.now() - since });
    });
  });
}

for (const fe of FRONTENDS) {
  describe(`client timeouts [${fe}]`, () => {
    for (const withLength of [false, true]) {
      it(`a client that reads nothing of a ${withLength ? 'Content-Length' : 'chunked'} response is cut after GATEMESH_SEND_TIMEOUT_MS, and so is the upstream request`, async () => {
        const up = await streamingUpstream(512 * 1024 * 1024, withLength);
        const gw = await startGateway(fe, config(up.port), { GATEMESH_SEND_TIMEOUT_MS: '500', GATEMESH_ACCESS_LOG: 'off' });
        const c = net.connect(gw.port, '127.0.0.1');
        try {
          // A paused socket does not see its peer close: the gateway's side shows first as the
          // upstream response cut off, then, reading again, as the end of what arrived.
          c.pause();
          c.on('error', () => {});
          const closed = new Promise<void>((r) => c.on('close', () => r()));
          c.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
          const start = Date.now();
          for (let i = 0; i < 400 && up.stats.closed === 0; i++) await delay(20);
          const cutAfter = Date.now() - start;
          assert.equal(up.stats.closed, 1, 'the upstream response is still being sent after 8 s');
          // The timer starts once the buffers on the way are full, so not before 500 ms.
          assert.ok(cutAfter >= 500, `cut after only ${cutAfter} ms`);
          let bytes = 0;
          c.on('data', (d: Buffer) => (bytes += d.length));
          c.resume();
          const ended = await Promise.race([closed.then(() => true), delay(5000).then(() => false)]);
          assert.ok(ended, 'the client connection is still open');
          assert.ok(bytes < 64 * 1024 * 1024, `${bytes} bytes reached a client that read nothing`);
        } finally {
          c.destroy();
          await gw.stop();
          await up.close();
        }
      });
    }

    it('a client that reads slowly but steadily is not cut by the send timeout', async () => {
      const total = 8 * 1024 * 1024;
      const up = await streamingUpstream(total, false);
      // The kernel reports room to write only once it has sent a good part of a socket buffer of
      // up to a few MiB, so at ~1 MiB/s the gateway sees progress every second or two: the
      // timeout must be above that (its default is 60 s).
      const gw = await startGateway(fe, config(up.port), { GATEMESH_SEND_TIMEOUT_MS: '3000', GATEMESH_ACCESS_LOG: 'off' });
      try {
        // Reads one chunk, then nothing for 50 ms, over and over: ~6 s in all.
        const got = await new Promise<number>((resolve, reject) => {
          const c = net.connect(gw.port, '127.0.0.1', () => c.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n'));
          let bytes = 0;
          let tail = '';
          c.on('data', (d: Buffer) => {
            bytes += d.length;
            tail = (tail + d.toString('latin1', Math.max(0, d.length - 16))).slice(-16);
            if (tail.endsWith('\r\n0\r\n\r\n')) {
              c.destroy();
              resolve(bytes);
              return;
            }
            c.pause();
            setTimeout(() => c.resume(), 50);
          });
          c.on('close', () => reject(new Error(`closed after ${bytes} bytes`)));
          c.on('error', reject);
        });
        assert.ok(got > total);
      } finally {
        await gw.stop();
        await up.close();
      }
    });

    it('a WebSocket with no traffic is closed after GATEMESH_TUNNEL_IDLE_TIMEOUT_MS; one in use stays open', async () => {
      const echo = http.createServer();
      const { WebSocketServer } = await import('ws');
      const wss = new WebSocketServer({ server: echo, perMessageDeflate: false });
      wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
      await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
      const gw = await startGateway(fe, config((echo.address() as net.AddressInfo).port), { GATEMESH_TUNNEL_IDLE_TIMEOUT_MS: '600', GATEMESH_ACCESS_LOG: 'off' });
      try {
        // In use: a message every 150 ms for 1.5 s, each echoed.
        const busy = await openWs(gw.port);
        let echoed = 0;
        busy.on('message', () => echoed++);
        const busyClose = closeOf(busy, Date.now(), 1500);
        for (let i = 0; i < 10; i++) {
          busy.send('ping ' + i);
          await delay(150);
        }
        assert.equal((await busyClose).code, -1, 'a WebSocket in use was closed');
        assert.ok(echoed >= 9, `${echoed} echoes`);
        busy.close();
        // Idle: closed by the gateway (uws: 1001 Going Away; native-free relays bytes, so the
        // client sees the connection end, 1006).
        const idle = await openWs(gw.port);
        const r = await closeOf(idle, Date.now(), 6000);
        assert.notEqual(r.code, -1, 'an idle WebSocket is still open after 6 s');
        assert.ok(r.after >= 500, `closed after only ${r.after} ms`);
        assert.equal(r.code, fe === 'uws' ? 1001 : 1006);
      } finally {
        await gw.stop();
        for (const c of wss.clients) c.terminate();
        wss.close();
        echo.closeAllConnections();
        await new Promise<void>((r) => echo.close(() => r()));
      }
    });

    it('a WebSocket client sending faster than its upstream reads is never buffered without bound', async () => {
      const up = await stubbornWsUpstream();
      const gw = await startGateway(fe, config(up.port), { GATEMESH_ACCESS_LOG: 'off' });
      try {
        const ws = await openWs(gw.port);
        const closed = closeOf(ws, Date.now(), 4000);
        const mib = Buffer.alloc(1024 * 1024, 0x61);
        const total = 96;
        for (let i = 0; i < total; i++) ws.send(mib);
        const r = await closed;
        if (fe === 'uws') {
          // uWS.js 20.30 cannot stop reading a WebSocket: the relay gives up at 16 MiB unsent.
          assert.equal(r.code, 1013, `close code ${r.code}`);
        } else {
          // Piped with backpressure: the client is held back, most of what it sent is still its own.
          assert.equal(r.code, -1, `closed with ${r.code}`);
          assert.ok(ws.bufferedAmount > (total - 48) * 1024 * 1024, `the gateway took ${total * 1024 * 1024 - ws.bufferedAmount} bytes`);
          ws.terminate();
        }
      } finally {
        await gw.stop();
        await up.close();
      }
    });
  });
}
