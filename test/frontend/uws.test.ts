// UwsDownstream on the real uWS addon: the response path's backpressure cases, driven directly
// (no proxy), with a raw client that does not read until the test says so.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { readSettings } from '../../src/env';
import { loadUws, UwsDownstream, type ListenerState } from '../../src/frontend/uws';

const uws = loadUws();
const settings = readSettings({ GATEMESH_THREADS: '1', GATEMESH_ACCESS_LOG: 'off' });

/** Connects, sends one GET, reads nothing for `holdMs`, then reads until `bodyBytes` body bytes arrived (or 10 s passed). */
function heldGet(port: number, holdMs: number, bodyBytes: number): Promise<{ head: string; body: number }> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    c.pause();
    let raw = Buffer.alloc(0);
    let head = '';
    let body = 0;
    const done = (): void => {
      clearTimeout(timer);
      c.destroy();
      resolve({ head, body });
    };
    const timer = setTimeout(done, 10_000);
    setTimeout(() => c.resume(), holdMs);
    c.on('data', (d: Buffer) => {
      if (head === '') {
        raw = Buffer.concat([raw, d]);
        const i = raw.indexOf('\r\n\r\n');
        if (i < 0) return;
        head = raw.subarray(0, i).toString('latin1');
        body = raw.length - i - 4;
      } else {
        body += d.length;
      }
      if (body >= bodyBytes) done();
    });
    c.on('error', done);
  });
}

describe('uws downstream', { skip: uws === null ? 'uWS addon not loadable' : false }, () => {
  it('end() while the last body bytes wait on backpressure still sends them, then counts the response done', async () => {
    const FIRST = 100;
    // Larger than loopback's socket buffers take while the client reads nothing: the last
    // writeBody is only partly sent, and end() follows at once, as when an upstream response
    // ends in the same read as its last body bytes.
    const LAST = 32 * 1024 * 1024;
    const state: ListenerState = { inflight: 0, draining: false, settings };
    let lastAccepted: boolean | null = null;
    const app = uws!.App();
    app.any('/*', (res) => {
      const ds = new UwsDownstream(res, state, false);
      ds.writeHead(200, 'OK', ['x-test', '1'], FIRST + LAST, false);
      assert.equal(ds.writeBody(Buffer.alloc(FIRST, 0x61)), true);
      lastAccepted = ds.writeBody(Buffer.alloc(LAST, 0x62));
      ds.end();
    });
    const ls = await new Promise<unknown>((resolve) => app.listen('127.0.0.1', 0, resolve));
    try {
      const r = await heldGet(uws!.us_socket_local_port(ls), 200, FIRST + LAST);
      assert.equal(lastAccepted, false, 'the last chunk met backpressure (the case under test)');
      assert.match(r.head, /^HTTP\/1\.1 200 OK/);
      assert.match(r.head, /content-length: 33554532/i);
      assert.equal(r.body, FIRST + LAST);
      assert.equal(state.inflight, 0);
    } finally {
      uws!.us_listen_socket_close(ls);
    }
  });
});
