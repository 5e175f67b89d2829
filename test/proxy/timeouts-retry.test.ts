// HTTPRoute rules[].timeouts and rules[].retry through the real binary, on both front ends, with
// fault-injecting upstreams: slow answers (504s), failing-then-succeeding answers (retries),
// bodies that may or may not be replayed, backoff timing, and the access log's `attempts`.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { closedPort, httpUpstream, rawRequest, rawUpstream, request, type TestServer } from '../helpers/servers';

/**
 * One upstream for every case. `/<anything>/<key>?fail=N&status=S&mode=status|reset|slow&delay=ms`:
 * the first N requests of `key` fail (answer S, reset the connection, or answer after `delay` ms),
 * later ones answer 200 with what they saw. `stall=1` sends a head and then never the body.
 */
async function faultyUpstream() {
  const counts = new Map<string, number>();
  const seen = new Map<string, { at: number; method: string; body: number }[]>();
  const up = await httpUpstream((req, res, body) => {
    const url = new URL(req.url!, 'http://x');
    const key = url.pathname;
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    const list = seen.get(key) ?? [];
    list.push({ at: performance.now(), method: req.method!, body: body.length });
    seen.set(key, list);
    const q = url.searchParams;
    if (q.get('stall') === '1') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      return;
    }
    const fail = Number(q.get('fail') ?? 0);
    const answer = (): void => {
      const text = JSON.stringify({ attempt: n, method: req.method, body: body.length, sum: checksum(body) });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (n > fail) return answer();
    const mode = q.get('mode') ?? 'status';
    if (mode === 'reset') return void req.socket.destroy();
    if (mode === 'slow') {
      setTimeout(answer, Number(q.get('delay') ?? 1000));
      return;
    }
    const text = `fail ${n}`;
    res.writeHead(Number(q.get('status') ?? 503), { 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  return { ...up, seen: (key: string) => seen.get(key) ?? [] };
}

function checksum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i++) s = (s * 31 + b[i]) >>> 0;
  return s;
}

let keys = 0;
/** A fresh upstream key per request, so counts never leak between cases. */
function key(prefix: string): string {
  return `${prefix}/k${++keys}`;
}

/**
 * Access-log expectations are checked together at the end of each suite: the log is flushed
 * about once a second, and waiting for it per case would make the file slow.
 */
type LogCheck = { path: string; check: (line: Record<string, unknown>) => void };

for (const fe of FRONTENDS) {
  describe(`timeouts and retry [${fe}]`, () => {
    let gw: RunningGateway;
    let up: Awaited<ReturnType<typeof faultyUpstream>>;
    let early: TestServer & { connections: number };
    const logChecks: LogCheck[] = [];
    const expectLog = (path: string, check: LogCheck['check']): void => void logChecks.push({ path, check });

    before(async () => {
      up = await faultyUpstream();
      // First connection: 503 as soon as the head arrives, before the body (then close). Later
      // ones: 200 once the whole Content-Length body is in, saying how much came.
      early = await rawUpstream((sock, received) => {
        const first = early.connections === 1;
        sock.on('data', () => {
          const text = received();
          const end = text.indexOf('\r\n\r\n');
          if (end < 0) return;
          if (first) return void sock.end('HTTP/1.1 503 Busy\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy');
          const cl = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
          const got = text.length - end - 4;
          if (got >= cl) sock.end(`HTTP/1.1 200 OK\r\nContent-Length: ${String(got).length + 4}\r\nConnection: close\r\n\r\ngot ${got}`);
        });
      });
      const refused = await closedPort();
      gw = await startGateway(
        fe,
        nativeConfig(`routes:
  - name: request-timeout
    match: { path: /rt }
    backend: up
    timeouts: { request: 300ms }
  - name: backend-timeout
    match: { path: /bt }
    backend: up
    timeouts: { request: 5s, backendRequest: 300ms }
  - name: retry
    match: { path: /retry }
    backend: up
    retry: { attempts: 2, codes: [502, 503], backoff: 20ms }
  - name: backoff
    match: { path: /backoff }
    backend: up
    retry: { attempts: 2, codes: [503], backoff: 200ms }
  - name: endpoints
    match: { path: /endpoints }
    backend: two
    retry: { attempts: 1, backoff: 10ms }
  - name: per-try
    match: { path: /pertry }
    backend: up
    timeouts: { backendRequest: 250ms }
    retry: { attempts: 1, backoff: 10ms }
  - name: early
    match: { path: /early }
    backend: early
    retry: { attempts: 1, codes: [503], backoff: 10ms }
  - name: budget
    match: { path: /budget }
    backend: up
    timeouts: { request: 1s }
    retry: { attempts: 5, codes: [503], backoff: 400ms }
backends:
  - name: up
    endpoints: ["127.0.0.1:${up.port}"]
  - name: early
    endpoints: ["127.0.0.1:${early.port}"]
  - name: two
    endpoints: ["127.0.0.1:${refused}", "127.0.0.1:${up.port}"]
`),
      );
    });
    after(async () => {
      assert.equal(await gw.stop(), 0);
      await up.close();
      await early.close();
    });

    it('timeouts.request: 504 with the reason when the upstream is slow', async () => {
      const k = key('/rt');
      const t0 = performance.now();
      const r = await request(gw.port, { path: `${k}?fail=1&mode=slow&delay=2000` });
      const took = performance.now() - t0;
      assert.equal(r.status, 504);
      assert.match(r.body, /timeouts\.request/);
      assert.equal(r.headers['x-gatemesh-error'], 'GATEMESH_ERR_ROUTE_TIMEOUT');
      assert.ok(took >= 280 && took < 1500, `took ${took} ms`);
      expectLog(k, (line) => {
        assert.equal(line.status, 504);
        assert.equal(line.error, 'GATEMESH_ERR_ROUTE_TIMEOUT');
        assert.match(String(line.reason), /timeouts\.request.*300 ms/);
      });
    });

    it('timeouts.request also bounds the body: a response cut after its head closes the connection', async () => {
      const k = key('/rt');
      const r = await rawRequest(gw.port, `GET ${k}?stall=1 HTTP/1.1\r\nHost: h\r\n\r\n`, 1500);
      assert.equal(r.status, 200);
      assert.equal(r.closed, true, 'connection closed, not left hanging');
      assert.ok(Buffer.byteLength(r.body, 'latin1') < 100, 'the client never sees a complete-looking body');
      expectLog(k, (line) => assert.equal(line.error, 'GATEMESH_ERR_ROUTE_TIMEOUT'));
    });

    it('timeouts.backendRequest: 504 when one attempt is slow', async () => {
      const k = key('/bt');
      const t0 = performance.now();
      const r = await request(gw.port, { path: `${k}?fail=1&mode=slow&delay=2000` });
      assert.equal(r.status, 504);
      assert.match(r.body, /timeouts\.backendRequest/);
      assert.ok(performance.now() - t0 < 1500);
      expectLog(k, (line) => {
        assert.equal(line.error, 'GATEMESH_ERR_BACKEND_TIMEOUT');
        assert.equal(line.attempts, 1);
      });
    });

    it('a fast answer within both timeouts passes untouched', async () => {
      const k = key('/bt');
      const r = await request(gw.port, { path: k });
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).attempt, 1);
    });

    it('GET: 503 twice, then 200, is retried and succeeds (attempts 3 in the log)', async () => {
      const k = key('/retry');
      const r = await request(gw.port, { path: `${k}?fail=2&status=503` });
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).attempt, 3);
      assert.equal(up.seen(k).length, 3);
      expectLog(k, (line) => assert.equal(line.attempts, 3));
    });

    it('GET: a connection reset before the response head is retried', async () => {
      const k = key('/retry');
      const r = await request(gw.port, { path: `${k}?fail=1&mode=reset` });
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).attempt, 2);
    });

    it('PUT with a small body is replayed byte for byte', async () => {
      const k = key('/retry');
      const body = Buffer.alloc(20000, 7);
      body.write('start');
      const r = await request(gw.port, { method: 'PUT', path: `${k}?fail=1&status=502`, body });
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body);
      assert.equal(seen.attempt, 2);
      assert.equal(seen.body, body.length);
      assert.equal(seen.sum, checksum(body));
    });

    it('PUT with a small chunked body is replayed', async () => {
      const k = key('/retry');
      const r = await rawRequest(
        gw.port,
        `PUT ${k}?fail=1&status=503 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
        1000,
      );
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body.slice(r.body.indexOf('{'), r.body.lastIndexOf('}') + 1));
      assert.equal(seen.attempt, 2);
      assert.equal(seen.body, 11);
    });

    it('an early 503 while the client is still sending: the whole body is replayed', async () => {
      const body = Buffer.alloc(60000, 'b');
      const r = await new Promise<string>((resolve) => {
        const s = net.connect(gw.port, '127.0.0.1');
        let out = '';
        s.on('data', (d) => (out += d.toString('latin1')));
        s.on('close', () => resolve(out));
        s.write(`PUT /early HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
        s.write(body.subarray(0, 20000));
        setTimeout(() => s.write(body.subarray(20000)), 200);
        setTimeout(() => s.destroy(), 3000);
      });
      assert.match(r, /^HTTP\/1\.1 200/);
      assert.match(r, /got 60000$/);
    });

    it('a body over 64 KiB is never replayed (PUT and POST): the 503 is relayed', async () => {
      for (const method of ['PUT', 'POST']) {
        const k = key('/retry');
        const r = await request(gw.port, { method, path: `${k}?fail=1&status=503`, body: Buffer.alloc(70000, 1) });
        assert.equal(r.status, 503, method);
        assert.equal(r.body, 'fail 1');
        assert.equal(up.seen(k).length, 1, `${method} sent once`);
        expectLog(k, (line) => assert.equal(line.attempts, 1));
      }
    });

    it('POST is not retried on a retryable status, even with a small body', async () => {
      const k = key('/retry');
      const r = await request(gw.port, { method: 'POST', path: `${k}?fail=1&status=503`, body: 'small' });
      assert.equal(r.status, 503);
      assert.equal(up.seen(k).length, 1);
    });

    it('a status not in codes is not retried', async () => {
      const k = key('/retry');
      const r = await request(gw.port, { path: `${k}?fail=1&status=500` });
      assert.equal(r.status, 500);
      assert.equal(r.body, 'fail 1');
      assert.equal(up.seen(k).length, 1);
    });

    it('attempts exhausted: the last response is relayed', async () => {
      const k = key('/retry');
      const r = await request(gw.port, { path: `${k}?fail=9&status=503` });
      assert.equal(r.status, 503);
      assert.equal(r.body, 'fail 3', 'the third (last) answer, not the first');
      assert.equal(up.seen(k).length, 3, 'one try plus attempts: 2');
      expectLog(k, (line) => {
        assert.equal(line.attempts, 3);
        assert.equal(line.status, 503);
      });
    });

    it('backoff is observed between attempts (and grows)', async () => {
      const k = key('/backoff');
      const r = await request(gw.port, { path: `${k}?fail=2&status=503` });
      assert.equal(r.status, 200);
      const at = up.seen(k).map((s) => s.at);
      assert.equal(at.length, 3);
      assert.ok(at[1] - at[0] >= 190, `first retry after ${at[1] - at[0]} ms, backoff 200ms`);
      assert.ok(at[2] - at[1] >= 390, `second retry after ${at[2] - at[1]} ms, doubled`);
    });

    it('a retry goes to another endpoint: a refused one is skipped', async () => {
      // Round robin alternates; whichever comes first, every request ends on the live endpoint.
      for (let i = 0; i < 4; i++) {
        const k = key('/endpoints');
        const r = await request(gw.port, { method: 'POST', path: k, body: 'x' });
        assert.equal(r.status, 200, `request ${i}: a POST that never left the gateway is safe to retry`);
        expectLog(k, (line) => {
          assert.equal(line.endpoint, `127.0.0.1:${up.port}`);
          assert.ok(line.attempts === 1 || line.attempts === 2, String(line.attempts));
        });
      }
    });

    it('per-try timeout (backendRequest) is retried on the next attempt', async () => {
      const k = key('/pertry');
      const t0 = performance.now();
      const r = await request(gw.port, { path: `${k}?fail=1&mode=slow&delay=3000` });
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).attempt, 2);
      assert.ok(performance.now() - t0 < 2000);
    });

    it('timeouts.request bounds the retries: a retry that cannot start in time is not tried', async () => {
      const k = key('/budget');
      const t0 = performance.now();
      const r = await request(gw.port, { path: `${k}?fail=99&status=503` });
      const took = performance.now() - t0;
      // Backoff 400-500 ms, then 800-1000 ms: the third try could not start within the 1 s budget.
      assert.equal(r.status, 503, 'the last answer stands');
      assert.ok(took >= 400 && took < 1000, `took ${took} ms`);
      assert.equal(up.seen(k).length, 2);
    });

    it('keep-alive survives a retried request', async () => {
      const k1 = key('/retry');
      const k2 = key('/retry');
      const s = net.connect(gw.port, '127.0.0.1');
      let out = '';
      s.on('data', (d) => (out += d.toString('latin1')));
      s.write(`GET ${k1}?fail=1 HTTP/1.1\r\nHost: h\r\n\r\n`);
      await new Promise((r) => setTimeout(r, 300));
      s.write(`GET ${k2} HTTP/1.1\r\nHost: h\r\n\r\n`);
      await new Promise((r) => setTimeout(r, 300));
      s.destroy();
      assert.equal((out.match(/HTTP\/1\.1 200/g) ?? []).length, 2, out);
    });

    it('access log: attempts, error code and reason of the cases above', async () => {
      let lines: Record<string, unknown>[] = [];
      for (let i = 0; i < 60; i++) {
        lines = await gw.accessLog();
        if (logChecks.every((c) => lines.some((l) => l.path === c.path))) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(logChecks.length >= 8);
      for (const c of logChecks) {
        const line = lines.find((l) => l.path === c.path);
        assert.ok(line, `access-log line for ${c.path}`);
        c.check(line);
      }
      // A plain request logs one attempt.
      assert.ok(lines.some((l) => l.status === 200 && l.attempts === 1));
    });
  });
}
