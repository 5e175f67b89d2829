// The stale pooled upstream socket through the real binary, on both front ends (README, HTTP
// behaviour, "Upstream"): a keep-alive connection the upstream closes as the next request is
// written (the idle-close race, RFC 9112 §9.3.1) is retried once on a fresh connection for an
// idempotent request without a body (RFC 9110 §9.2.2); anything else gets 502 and is not replayed.
// The rule itself is src/upstream/exchange.ts onSocketClose: no response byte yet, a reused socket,
// `idempotent` (src/proxy.ts isIdempotent, not exported: tested here through behaviour) and no body.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, singleBackend, startGateway, type RunningGateway } from '../helpers/gateway';
import { request } from '../helpers/servers';
import { delay, rawServer } from '../upstream/helpers';

/** What the upstream saw of each `/probe/...` request. */
interface Seen {
  method: string;
  body: string;
  /** Connection number and the request's index on it (0 = first). */
  conn: number;
  n: number;
}

/**
 * Answers `/warm` always. A `/probe/<key>` request on a connection that already served one is met
 * by closing that connection without a byte of answer: the pooled socket the gateway reused was
 * dead by the time the request got there. Asking on the next request, rather than closing right
 * after the previous answer, makes the race deterministic: a close that arrives while the socket is
 * idle in the pool only drops it from the pool (src/upstream/pool.ts idleFailure), and the next
 * request would take a fresh socket without any retry. `?rst=1` resets (RST) instead of FIN.
 * A probe on a fresh connection is answered.
 */
async function staleUpstream() {
  const seen = new Map<string, Seen[]>();
  const srv = await rawServer((sock, head, body, n, conn) => {
    const [method, target] = head.split(' ', 2);
    if (target.startsWith('/probe/')) {
      const key = target.split('?')[0];
      const list = seen.get(key) ?? [];
      list.push({ method, body: body.toString('latin1'), conn, n });
      seen.set(key, list);
      if (n > 0) {
        if (target.includes('rst=1')) sock.resetAndDestroy();
        else sock.destroy();
        return;
      }
    }
    // No Connection: close: the gateway keeps the socket for its next request.
    sock.write(method === 'HEAD' ? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n' : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  return Object.assign(srv, { seen: (key: string) => seen.get(key) ?? [] });
}

let keys = 0;

const cases: { desc: string; method: string; body?: string; rst?: boolean; retried: boolean }[] = [
  { desc: 'GET', method: 'GET', retried: true },
  { desc: 'GET, connection reset (RST) rather than closed', method: 'GET', rst: true, retried: true },
  { desc: 'HEAD', method: 'HEAD', retried: true },
  { desc: 'OPTIONS', method: 'OPTIONS', retried: true },
  { desc: 'TRACE', method: 'TRACE', retried: true },
  { desc: 'PUT without a body', method: 'PUT', retried: true },
  { desc: 'DELETE', method: 'DELETE', retried: true },
  { desc: 'POST with a body', method: 'POST', body: 'post-body-123', retried: false },
  { desc: 'POST without a body', method: 'POST', retried: false },
  { desc: 'PATCH without a body', method: 'PATCH', retried: false },
  // The body was streamed to the dead socket, not kept: there is nothing to replay it from.
  { desc: 'PUT with a body', method: 'PUT', body: 'put-body', retried: false },
];

for (const fe of FRONTENDS) {
  describe(`stale pooled upstream socket [${fe}]`, () => {
    let gw: RunningGateway;
    let up: Awaited<ReturnType<typeof staleUpstream>>;

    before(async () => {
      up = await staleUpstream();
      // No retry policy on the route: only the exchange's own stale-socket retry can act.
      gw = await startGateway(fe, singleBackend(up.port));
    });
    after(async () => {
      // The upstream is closed even when the gateway never started: an open server keeps the run alive.
      try {
        if (gw) assert.equal(await gw.stop(), 0);
      } finally {
        await up?.close();
      }
    });

    for (const c of cases) {
      it(`${c.desc}: ${c.retried ? 'retried once on a fresh connection → 200' : 'not replayed → 502'}`, async () => {
        // A connection that has served a request sits idle in the pool (LIFO: the next one takes it).
        assert.equal((await request(gw.port, { path: '/warm' })).status, 200);
        const key = `/probe/${++keys}`;
        const accepted = up.accepted;
        const headers: Record<string, string> = { 'content-length': String(Buffer.byteLength(c.body ?? '')) };
        const r = await request(gw.port, { method: c.method, path: key + (c.rst ? '?rst=1' : ''), headers, body: c.body });
        await delay(50); // a replay, if one were (wrongly) made, reaches the upstream
        const seen = up.seen(key);
        assert.ok(seen.length >= 1 && seen[0].n > 0, `the request went out on the reused socket first: ${JSON.stringify(seen)}`);
        if (c.retried) {
          assert.equal(r.status, 200, r.body);
          if (c.method !== 'HEAD') assert.equal(r.body, 'ok');
          assert.equal(seen.length, 2, `sent twice: the dead socket, then a fresh one: ${JSON.stringify(seen)}`);
          assert.equal(seen[1].n, 0, 'the retry went out on a new connection');
          assert.equal(up.accepted, accepted + 1, 'one new connection, one retry');
        } else {
          assert.equal(r.status, 502, r.body);
          assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_UPSTREAM_RESET');
          assert.equal(seen.length, 1, `never replayed: ${JSON.stringify(seen)}`);
          assert.equal(seen[0].body, c.body ?? '', 'the body reached the upstream once, whole');
          assert.equal(up.accepted, accepted, 'no new connection for it');
        }
      });
    }

    it('the retry happens once: a fresh connection that also closes gets 502', { timeout: 5000 }, async () => {
      // Its own upstream: every request but the very first is met by a close, the retry's too.
      let answered = 0;
      const closing = await rawServer((sock) => {
        if (answered++ === 0) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else sock.destroy();
      });
      let g2: RunningGateway | undefined;
      try {
        g2 = await startGateway(fe, singleBackend(closing.port));
        assert.equal((await request(g2.port, { path: '/a' })).status, 200);
        const second = await request(g2.port, { path: '/b' });
        assert.equal(second.status, 502, second.body);
        assert.equal(second.headers['x-gatemesh-error'], 'GATEMESH_ERR_UPSTREAM_RESET');
        await delay(50);
        assert.equal(closing.accepted, 2, 'the stale socket, then exactly one fresh one');
        assert.equal(answered, 3, 'three requests: the first, the stale one, one retry');
      } finally {
        await g2?.stop();
        await closing.close();
      }
    });
  });
}
