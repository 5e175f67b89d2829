import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { freePort } from '../../../bench/harness/processes';

// The compiled peer, as the suite starts it (this file compiles to dist/test/bench/peers/).
const PEER = path.resolve(__dirname, '..', '..', '..', 'bench', 'peers', 'fastify-proxy.js');

/** Raw request/response on one socket; resolves with what came back and whether the server closed it. */
function exchange(port: number, head: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => (s.destroy(), resolve({ text, closed: false })), 1000);
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('end', () => (clearTimeout(timer), s.destroy(), resolve({ text, closed: true })));
    s.write(head);
  });
}

test('fastify-proxy peer: closes after a Connection: close request and relays no hop-by-hop header', async () => {
  // Upstream like nginx: keep-alive, plus a header its Connection lists (RFC 9110 §7.6.1: must not be forwarded).
  const up = http.createServer((_q, r) => r.writeHead(200, { connection: 'keep-alive, x-hop', 'x-hop': '1', 'x-end': '2' }).end('hello'));
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const port = await freePort();
  const child = spawn(process.execPath, [PEER], {
    env: { ...process.env, PORT: String(port), UPSTREAM: `http://127.0.0.1:${(up.address() as AddressInfo).port}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`peer exited ${code}`)));
    });
    const close = await exchange(port, 'GET /x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
    assert.match(close.text, /^HTTP\/1\.1 200 /);
    assert.match(close.text, /\r\nconnection: close\r\n/i);
    assert.doesNotMatch(close.text, /keep-alive|x-hop/i);
    assert.match(close.text, /\r\nx-end: 2\r\n/i, 'end-to-end headers still relayed');
    assert.equal(close.closed, true, 'server closed the connection (RFC 9112 §9.6)');

    const keep = await exchange(port, 'GET /x HTTP/1.1\r\nhost: a\r\n\r\n');
    assert.match(keep.text, /^HTTP\/1\.1 200 /);
    assert.equal(keep.closed, false, 'a keep-alive request keeps its connection');
  } finally {
    child.kill();
    up.closeAllConnections();
    up.close();
  }
});
