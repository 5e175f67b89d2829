// Bodies in both directions stay bounded in memory on the native-free front end: writeBody's
// false/onDrain and pauseBody/resumeBody really stop the flow.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Downstream } from '../../src/http/downstream';
import { delay, startServer } from './helpers';
import type { TestServer } from './helpers';

const MiB = 1024 * 1024;
const TOTAL = 64 * MiB;
// Small blocks: several fit under the socket high-water mark, so node queues them while corked.
const BLOCK = 4 * 1024;

describe('native-free: backpressure', () => {
  let server: TestServer;
  let sent = 0;
  let received = 0;
  let maxOutstanding = 0;
  let uploadPausedAt = -1;
  let uploadResume: (() => void) | null = null;

  before(async () => {
    server = await startServer((head, ds) => {
      if (head.path === '/download') download(ds);
      else upload(ds);
    });
  });
  after(() => server.close());

  /** Writes TOTAL bytes from ONE reused buffer, block n filled with byte n & 0xff. */
  function download(ds: Downstream): void {
    const block = Buffer.alloc(BLOCK);
    let n = 0;
    ds.writeHead(200, '', ['Content-Type', 'application/octet-stream'], TOTAL, false);
    const pump = (): void => {
      while (sent < TOTAL) {
        block.fill(n++ & 0xff);
        const ok = ds.writeBody(block);
        sent += BLOCK;
        maxOutstanding = Math.max(maxOutstanding, sent - received);
        if (!ok) {
          ds.onDrain(pump);
          return;
        }
      }
      ds.end(null);
    };
    pump();
  }

  function upload(ds: Downstream): void {
    let got = 0;
    ds.readBody(
      (chunk, last) => {
        got += chunk.length;
        if (uploadPausedAt === -1 && got >= MiB) {
          uploadPausedAt = got;
          ds.pauseBody();
          uploadResume = () => ds.resumeBody();
        }
        if (last) ds.respond(200, [], String(got), false);
      },
      (reason) => assert.fail(reason),
    );
  }

  it('a 64 MiB download to a slow reader keeps memory bounded and the bytes intact', async (t) => {
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssMax = rssBefore;
    const socket = net.connect(server.port, '127.0.0.1');
    socket.write('GET /download HTTP/1.1\r\nHost: a\r\n\r\n');
    let headDone = false;
    let bodyPos = 0;
    let bad = 0;
    let nextPause = MiB;
    await new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('data', (d: Buffer) => {
        let chunk = d;
        if (!headDone) {
          const i = chunk.indexOf('\r\n\r\n');
          assert.ok(i !== -1);
          assert.match(chunk.subarray(0, i).toString(), /Content-Length: 67108864/);
          headDone = true;
          chunk = chunk.subarray(i + 4);
        }
        // Check the first and last byte of every block boundary this chunk touches.
        for (let k = 0; k < chunk.length; k++) {
          const pos = bodyPos + k;
          const inBlock = pos % BLOCK;
          if ((inBlock === 0 || inBlock === BLOCK - 1) && chunk[k] !== (Math.floor(pos / BLOCK) & 0xff)) bad++;
        }
        bodyPos += chunk.length;
        received = bodyPos;
        if (bodyPos >= nextPause) {
          nextPause += MiB;
          rssMax = Math.max(rssMax, process.memoryUsage().rss);
          socket.pause();
          setTimeout(() => socket.resume(), 3);
        }
        if (bodyPos >= TOTAL) {
          socket.destroy();
          resolve();
        }
      });
    });
    assert.equal(bodyPos, TOTAL);
    assert.equal(bad, 0, 'a reused writeBody buffer must not corrupt queued data');
    const growth = (rssMax - rssBefore) / MiB;
    t.diagnostic(`rss growth ${growth.toFixed(1)} MiB, written ahead of reader ${(maxOutstanding / MiB).toFixed(1)} MiB`);
    assert.ok(growth < 100, `RSS grew ${growth.toFixed(1)} MiB`);
    // Kernel socket buffers on loopback hold a few MiB; everything else must wait for 'drain'.
    assert.ok(maxOutstanding < 16 * MiB, `${(maxOutstanding / MiB).toFixed(1)} MiB written ahead of the reader`);
  });

  it('pauseBody stops reading an upload (the client stalls), resumeBody finishes it', async (t) => {
    const socket = net.connect(server.port, '127.0.0.1');
    const total = TOTAL;
    socket.write(`POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${total}\r\n\r\n`);
    const block = Buffer.alloc(BLOCK, 0x61);
    let written = 0;
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    const pump = (): void => {
      while (written < total) {
        written += BLOCK;
        if (!socket.write(block)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
    while (uploadPausedAt === -1) await delay(5);
    await delay(300);
    const aheadWhilePaused = written - uploadPausedAt;
    t.diagnostic(`client sent ${(aheadWhilePaused / MiB).toFixed(1)} MiB into the paused body`);
    assert.ok(aheadWhilePaused < 16 * MiB, `client sent ${(aheadWhilePaused / MiB).toFixed(1)} MiB into a paused body`);
    uploadResume!();
    while (!answer.includes('\r\n\r\n' + total)) await delay(10);
    socket.destroy();
  });
});
