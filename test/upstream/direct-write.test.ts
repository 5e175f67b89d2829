// The direct request-head write (src/upstream/direct-write.ts): bytes arrive complete and in call
// order, also when the kernel does not take a write at once (libuv queues it) and when later writes
// go through socket.write; a socket with queued bytes or not yet connected takes the fallback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { directWriteAvailable, writeHead } from '../../src/upstream/direct-write';

test('the direct path exists on this Node (the request path uses it, not the fallback)', () => {
  assert.equal(directWriteAvailable, true);
});

/** A server that collects everything one connection sends, reading only once `go` resolves. */
async function collector(): Promise<{ port: number; go: () => void; received: Promise<Buffer>; close: () => void }> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let resolveData!: (b: Buffer) => void;
  const received = new Promise<Buffer>((r) => (resolveData = r));
  const server = net.createServer((c) => {
    c.pause();
    const chunks: Buffer[] = [];
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => {
      resolveData(Buffer.concat(chunks));
      c.end();
    });
    void gate.then(() => c.resume());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, go: release, received, close: () => server.close() };
}

for (const direct of [true, false]) {
  test(`a head larger than the socket buffers arrives whole and in order (${direct ? 'direct' : 'fallback'}), then later writes`, async () => {
    const srv = await collector();
    const s = net.connect({ port: srv.port, host: '127.0.0.1' });
    await once(s, 'connect');
    // 8 MiB cannot fit the loopback socket buffers of a peer that is not reading: libuv keeps the rest.
    const big = 'GET /' + 'a'.repeat(8 * 1024 * 1024) + ' HTTP/1.1\r\n\r\n';
    writeHead(s, big, direct);
    const queued = (s as unknown as { _handle: { writeQueueSize: number } })._handle.writeQueueSize;
    if (direct) assert.ok(queued > 0, `libuv queued part of the write (${queued} bytes)`);
    // A second head while the first is queued (the spare request was handed to libuv) and a plain write.
    writeHead(s, 'MID', direct);
    s.write('TAIL');
    srv.go();
    s.end();
    const got = await srv.received;
    assert.equal(got.length, big.length + 7);
    assert.equal(got.subarray(0, 64).toString('latin1'), big.slice(0, 64));
    assert.equal(got.subarray(big.length - 16).toString('latin1'), big.slice(-16) + 'MIDTAIL');
    await once(s, 'close');
    srv.close();
  });
}

test('a socket still connecting or with bytes queued in net.Socket takes socket.write', async () => {
  const srv = await collector();
  const s = net.connect({ port: srv.port, host: '127.0.0.1' });
  // Not connected yet: the direct path would have no handle state to write to.
  writeHead(s, 'ONE');
  s.cork();
  s.write('TWO');
  // net.Socket holds TWO (corked): a direct write now would overtake it.
  writeHead(s, 'THREE');
  s.uncork();
  await once(s, 'connect');
  srv.go();
  s.end();
  assert.equal((await srv.received).toString('latin1'), 'ONETWOTHREE');
  srv.close();
});

test('a write to a socket the peer reset fails the socket with an error and a close', { timeout: 10000 }, async () => {
  let accepted!: (c: net.Socket) => void;
  const peer = new Promise<net.Socket>((r) => (accepted = r));
  const server = net.createServer((c) => accepted(c));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    // Reads into a caller buffer (as the pool's sockets do), so pause() really stops reading and
    // only the write can notice the reset.
    const s = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', onread: { buffer: Buffer.alloc(1024), callback: () => true } });
    const errors: Error[] = [];
    s.on('error', (e) => errors.push(e));
    await once(s, 'connect');
    s.pause();
    (await peer).resetAndDestroy();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(s.destroyed, false, 'the reset has not been read');
    const closed = new Promise((r) => s.on('close', r));
    writeHead(s, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await closed;
    assert.equal(errors.length, 1);
    assert.match(String((errors[0] as NodeJS.ErrnoException).code), /EPIPE|ECONNRESET/);
  } finally {
    server.close();
  }
});
