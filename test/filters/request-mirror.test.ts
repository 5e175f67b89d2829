// RequestMirror: sampling, body copying limits, and fire-and-forget sends over real pools.
import assert from 'node:assert/strict';

import { after, describe, it } from 'node:test';
import { checkRequestMirror, createRequestMirror, MIRROR_BODY_MAX_BYTES, startMirrors, type RequestMirrorSpec } from '../../src/filters/request-mirror/request-mirror';
import type { MirrorSend } from '../../src/filters/types';
import { createPools } from '../../src/upstream/pool';
import { closedPort, rawUpstream } from '../helpers/servers';
import { freq } from './helpers';

const spec = (percent: number, backend: string | null = 'm'): RequestMirrorSpec => ({ type: 'RequestMirror', backend, percent });

describe('RequestMirror: sampling', () => {
  const cases: { desc: string; spec: RequestMirrorSpec; min: number; max: number }[] = [
    { desc: '100% mirrors every request', spec: spec(100), min: 1000, max: 1000 },
    { desc: '0% mirrors none', spec: spec(0), min: 0, max: 0 },
    { desc: '50% mirrors about half', spec: spec(50), min: 380, max: 620 },
    { desc: 'fraction 1/1000 (0.1%) mirrors a few at most', spec: spec(0.1), min: 0, max: 15 },
    { desc: 'an unresolved backend mirrors none', spec: spec(100, null), min: 0, max: 0 },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const f = createRequestMirror(c.spec);
      let n = 0;
      for (let i = 0; i < 1000; i++) {
        const req = freq();
        assert.equal(f.onRequest!(req).kind, 'continue');
        if (req.mirrors !== null) n++;
      }
      assert.ok(n >= c.min && n <= c.max, `${n} mirrored, wanted ${c.min}..${c.max}`);
    });
  }
  it('several mirrors on one request each add themselves', () => {
    const req = freq();
    createRequestMirror(spec(100, 'a')).onRequest!(req);
    createRequestMirror(spec(100, 'b')).onRequest!(req);
    assert.deepEqual(req.mirrors!.map((m) => m.backend), ['a', 'b']);
  });
  it('percent outside 0..100 is a config error', () => {
    assert.match(checkRequestMirror(spec(101))[0].what, /between 0 and 100/);
    assert.deepEqual(checkRequestMirror(spec(12.5)), []);
  });
});

/** A MirrorSend that records what it was asked to send. */
function recorder(): MirrorSend & { sent: { method: string; head: string; body: string; chunks: string | null }[] } {
  const sent: { method: string; head: string; body: string; chunks: string | null }[] = [];
  return {
    backend: 'm',
    sent,
    send(_pick, _t, method, head, body, chunks) {
      sent.push({ method, head, body, chunks: chunks === null ? null : Buffer.concat(chunks).toString() });
    },
  };
}

describe('RequestMirror: bodies', () => {
  const pick = () => null;
  it('bodiless requests are sent at once', () => {
    const r = recorder();
    assert.equal(startMirrors([r], pick, 1000, 'GET', 'GET / HTTP/1.1\r\n\r\n', false, -1), null);
    assert.deepEqual(r.sent, [{ method: 'GET', head: 'GET / HTTP/1.1\r\n\r\n', body: 'none', chunks: null }]);
  });
  it('a small body is copied and sent once complete (chunks are copied)', () => {
    const r = recorder();
    const mb = startMirrors([r], pick, 1000, 'POST', 'H', false, 6)!;
    const chunk = Buffer.from('abc');
    mb.onChunk(chunk, false);
    chunk.fill(0x7a); // the front end reuses its buffer
    assert.equal(r.sent.length, 0, 'nothing sent before the body is complete');
    mb.onChunk(Buffer.from('def'), true);
    assert.deepEqual(r.sent, [{ method: 'POST', head: 'H', body: 'length', chunks: 'abcdef' }]);
  });
  it('a declared body over 64 KiB is not mirrored', () => {
    const r = recorder();
    assert.equal(startMirrors([r], pick, 1000, 'POST', 'H', false, MIRROR_BODY_MAX_BYTES + 1), null);
    assert.equal(r.sent.length, 0);
  });
  it('a chunked body that grows past 64 KiB is dropped', () => {
    const r = recorder();
    const mb = startMirrors([r], pick, 1000, 'POST', 'H', true, -1)!;
    mb.onChunk(Buffer.alloc(MIRROR_BODY_MAX_BYTES), false);
    mb.onChunk(Buffer.alloc(1), false);
    mb.onChunk(Buffer.alloc(0), true);
    assert.equal(r.sent.length, 0);
  });
});

describe('RequestMirror: sending', () => {
  const pools = createPools({ maxConnections: 8, connectTimeoutMs: 1000, idleTimeoutMs: 5000 });
  after(() => pools.closeAll());

  it('sends the head and body to one endpoint and ignores the answer', async () => {
    const up = await rawUpstream((sock, received) => {
      sock.on('data', () => {
        if (received().endsWith('hello')) sock.end('HTTP/1.1 500 Nope\r\nContent-Length: 0\r\n\r\n');
      });
    });
    try {
      const req = freq();
      createRequestMirror(spec(100)).onRequest!(req);
      const pool = pools.get({ address: '127.0.0.1', port: up.port });
      const mb = startMirrors(req.mirrors!, (b) => (b === 'm' ? pool : null), 2000, 'POST', 'POST /m HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\n\r\n', false, 5)!;
      mb.onChunk(Buffer.from('hello'), true);
      for (let i = 0; i < 100 && !up.received.some((r) => r.endsWith('hello')); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(up.received.length, 1);
      assert.match(up.received[0], /^POST \/m HTTP\/1\.1\r\nhost: h\r\ncontent-length: 5\r\n\r\nhello$/);
    } finally {
      await up.close();
    }
  });

  it('a refused mirror endpoint throws nothing', async () => {
    const port = await closedPort();
    const pool = pools.get({ address: '127.0.0.1', port });
    const req = freq();
    createRequestMirror(spec(100)).onRequest!(req);
    assert.doesNotThrow(() => startMirrors(req.mirrors!, () => pool, 500, 'GET', 'GET / HTTP/1.1\r\nhost: h\r\n\r\n', false, -1));
    await new Promise((r) => setTimeout(r, 100));
  });

  it('a mirror that never answers is aborted after its timeout', async () => {
    let closed = false;
    const up = await rawUpstream((sock) => sock.on('close', () => (closed = true)));
    try {
      const pool = pools.get({ address: '127.0.0.1', port: up.port });
      const req = freq();
      createRequestMirror(spec(100)).onRequest!(req);
      startMirrors(req.mirrors!, () => pool, 150, 'GET', 'GET / HTTP/1.1\r\nhost: h\r\n\r\n', false, -1);
      for (let i = 0; i < 100 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(closed, 'the silent mirror connection was closed');
    } finally {
      await up.close();
    }
  });
});


