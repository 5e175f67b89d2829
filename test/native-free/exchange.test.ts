// The native-free Downstream on the wire: heads, framing per HTTP version, keep-alive,
// pipelining, Expect, interim responses, body streaming, aborts.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ERR } from '../../src/errors';
import type { Downstream, IncomingHead } from '../../src/http/downstream';
import type { RequestHandler } from '../../src/frontend/types';
import {
  Client,
  delay,
  echoHead,
  GET,
  header,
  headerCount,
  parseResponses,
  rawExchange,
  startServer,
} from './helpers';
import type { TestServer } from './helpers';

let server: TestServer | null = null;
afterEach(async () => {
  if (server !== null) await server.close();
  server = null;
});

async function serve(handler: RequestHandler, env: Record<string, string> = {}): Promise<number> {
  server = await startServer(handler, env);
  return server.port;
}

/** Answer with `parts` as an unknown-length body. */
function streamParts(parts: string[], trailers: string[] | null = null): RequestHandler {
  return (_head, ds) => {
    ds.writeHead(200, 'OK', ['Content-Type', 'text/plain'], -1, false);
    for (const p of parts) ds.writeBody(Buffer.from(p));
    ds.end(trailers);
  };
}

describe('native-free: request head', () => {
  it('builds IncomingHead faithfully', async () => {
    let got: IncomingHead | null = null;
    const port = await serve((head, ds) => {
      got = head;
      echoHead(head, ds);
    });
    const req = 'PATCH /a/b%20c?x=1?y=2 HTTP/1.1\r\nHost: Example.COM\r\nX-Dup: 1\r\nx-dup: 2\r\nCoNtEnT-LeNgTh: 0\r\n\r\n';
    const { data, closed } = await rawExchange(port, req, 100);
    assert.equal(parseResponses(data, closed)[0].status, 200);
    assert.deepEqual(got, {
      method: 'PATCH',
      path: '/a/b%20c',
      query: 'x=1?y=2',
      httpMinor: 1,
      headers: ['host', 'Example.COM', 'x-dup', '1', 'x-dup', '2', 'content-length', '0'],
      remoteAddress: '127.0.0.1',
      scheme: 'http',
      headBytes: req.length,
    });
  });

  it('reports HTTP/1.0 and an empty query', async () => {
    let got: IncomingHead | null = null;
    const port = await serve((head, ds) => {
      got = head;
      echoHead(head, ds);
    });
    await rawExchange(port, 'GET /p HTTP/1.0\r\n\r\n', 100);
    assert.equal(got!.httpMinor, 0);
    assert.equal(got!.path, '/p');
    assert.equal(got!.query, '');
    assert.deepEqual(got!.headers, []);
  });
});

describe('native-free: Expect', () => {
  it('sends exactly one 100 Continue, then the final response', async () => {
    const port = await serve(echoHead);
    const c = new Client(port);
    c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
    await c.until((b) => b.includes('\r\n\r\n'));
    assert.equal(c.take().toString(), 'HTTP/1.1 100 Continue\r\n\r\n');
    c.write('hello');
    const [r] = await c.responses(1);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body.toString()).bodyBytes, 5);
    assert.ok(!c.take().includes('100 Continue'));
    c.destroy();
  });

  it('answers other expectations with 417 and closes', async () => {
    const port = await serve(echoHead);
    const { data, closed } = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n');
    const [r] = parseResponses(data, closed);
    assert.equal(r.status, 417);
    assert.equal(header(r, 'connection'), 'close');
    assert.ok(closed);
  });
});

describe('native-free: framing', () => {
  it('HTTP/1.1, unknown length → chunked, trailers kept', async () => {
    const port = await serve(streamParts(['ab', 'cd', ''], ['X-Checksum', '42']));
    const { data, closed } = await rawExchange(port, GET(), 100);
    const [r] = parseResponses(data, closed);
    assert.ok(r.chunked);
    assert.equal(header(r, 'content-length'), undefined);
    assert.equal(r.body.toString(), 'abcd');
    assert.equal(header(r, 'x-checksum'), '42');
  });

  it('HTTP/1.0, unknown length → close-delimited, never chunked (even with TE: chunked)', async () => {
    const port = await serve(streamParts(['ab', 'cd'], ['X-Checksum', '42']));
    for (const req of ['GET / HTTP/1.0\r\n\r\n', 'GET / HTTP/1.0\r\nTE: chunked\r\nConnection: keep-alive\r\n\r\n']) {
      const { data, closed } = await rawExchange(port, req, 500);
      assert.ok(!data.toString('latin1').toLowerCase().includes('transfer-encoding'), req);
      const [r] = parseResponses(data, closed);
      assert.ok(r.closeDelimited, req);
      assert.equal(r.body.toString(), 'abcd');
      assert.equal(header(r, 'connection'), 'close');
      assert.ok(closed, 'closed to end the body');
    }
  });

  it('known length → Content-Length, no chunked; duplicate fields kept', async () => {
    const headers = ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-Reason', 'yes'];
    const port = await serve((_h, ds) => {
      ds.writeHead(201, 'Made', headers, 5, false);
      ds.writeBody(Buffer.from('hello'));
      ds.end(['X-Dropped', '1']);
    });
    const { data, closed } = await rawExchange(port, GET(), 100);
    const [r] = parseResponses(data, closed);
    assert.equal(r.status, 201);
    assert.equal(r.reason, 'Made');
    assert.equal(header(r, 'content-length'), '5');
    assert.equal(header(r, 'transfer-encoding'), undefined);
    assert.equal(headerCount(r, 'set-cookie'), 2);
    assert.equal(r.body.toString(), 'hello');
    assert.equal(headers.length, 6, 'the caller’s list is left as it was');
    assert.ok(!data.includes('X-Dropped'));
  });

  it('a head whose body comes later leaves on its own, the body after it', async () => {
    const port = await serve((_h, ds) => {
      ds.writeHead(200, 'OK', ['Content-Type', 'text/plain'], 5, false);
      setTimeout(() => {
        ds.writeBody(Buffer.from('hello'));
        ds.end(null);
      }, 150);
    });
    const c = new Client(port);
    await c.ready();
    c.write(GET());
    const head = (await c.until((b) => b.includes('\r\n\r\n'))).toString('latin1');
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n[^]*Content-Length: 5\r\n[^]*\r\n\r\n$/, 'the head alone');
    const [r] = parseResponses(await c.until((b) => b.includes('hello')), false);
    assert.equal(r.body.toString(), 'hello');
    c.destroy();
  });

  it('heads written in one turn on several connections all leave before their bodies', async () => {
    const waiting: Downstream[] = [];
    const port = await serve((_h, ds) => {
      waiting.push(ds);
      if (waiting.length < 3) return;
      for (const d of waiting) d.writeHead(200, 'OK', [], -1, false);
      setTimeout(() => {
        for (const d of waiting) {
          d.writeBody(Buffer.from('late'));
          d.end(null);
        }
      }, 150);
    });
    const clients = [new Client(port), new Client(port), new Client(port)];
    await Promise.all(clients.map((c) => c.ready()));
    for (const c of clients) {
      c.write(GET());
      await delay(20); // in this order: the third request answers all three
    }
    for (const c of clients) {
      const head = (await c.until((b) => b.includes('\r\n\r\n'))).toString('latin1');
      assert.match(head, /^HTTP\/1\.1 200 OK\r\n[^]*Transfer-Encoding: chunked\r\n/);
      assert.ok(!head.includes('late'), 'the head alone');
    }
    for (const c of clients) {
      const [r] = parseResponses(await c.until((b) => b.includes('late\r\n0\r\n\r\n')), false);
      assert.equal(r.body.toString(), 'late');
      c.destroy();
    }
  });

  it('HEAD reports the length and sends no body; the connection stays usable', async () => {
    const port = await serve((head, ds) => {
      ds.writeHead(200, '', ['Content-Type', 'text/plain'], 1234, head.method === 'HEAD');
      ds.writeBody(Buffer.alloc(1234, 120));
      ds.end(null);
    });
    const c = new Client(port);
    c.write('HEAD / HTTP/1.1\r\nHost: a\r\n\r\n');
    c.write('HEAD / HTTP/1.1\r\nHost: a\r\n\r\n');
    const rs = await c.responses(2, [true, true]);
    assert.equal(rs.length, 2);
    for (const r of rs) {
      assert.equal(r.status, 200);
      assert.equal(r.reason, 'OK');
      assert.equal(header(r, 'content-length'), '1234');
    }
    await delay(50);
    assert.ok(!c.take().includes('xxxx'));
    c.destroy();
  });

  it('HEAD with unknown length → neither Content-Length nor chunked', async () => {
    const port = await serve((_h, ds) => {
      ds.writeHead(200, '', [], -1, true);
      ds.end(null);
    });
    const c = new Client(port);
    c.write('HEAD / HTTP/1.1\r\nHost: a\r\n\r\n');
    const [r] = await c.responses(1, [true]);
    assert.equal(header(r, 'content-length'), undefined);
    assert.equal(header(r, 'transfer-encoding'), undefined);
    c.destroy();
  });

  it('204 gets no Content-Length; 304 reports it', async () => {
    const port = await serve((head, ds) => {
      const status = head.path === '/204' ? 204 : 304;
      ds.writeHead(status, '', [], 10, true);
      ds.end(null);
    });
    const c = new Client(port);
    c.write(GET('/204') + GET('/304'));
    const rs = await c.responses(2);
    assert.deepEqual(
      rs.map((r) => [r.status, header(r, 'content-length')]),
      [
        [204, undefined],
        [304, '10'],
      ],
    );
    c.destroy();
  });

  it('relays 103 Early Hints before the final response, not to HTTP/1.0', async () => {
    const port = await serve((_h, ds) => {
      ds.writeInterim(103, '', ['Link', '</a.css>; rel=preload', 'Link', '</b.js>; rel=preload']);
      ds.writeInterim(100, '', []);
      ds.writeHead(200, '', [], 2, false);
      ds.writeBody(Buffer.from('ok'));
      ds.end(null);
    });
    const a = await rawExchange(port, GET(), 100);
    const all = parseResponses(a.data, a.closed);
    assert.deepEqual(
      all.map((r) => r.status),
      [103, 200],
    );
    assert.equal(headerCount(all[0], 'link'), 2);
    const b = await rawExchange(port, 'GET / HTTP/1.0\r\n\r\n', 100);
    assert.deepEqual(
      parseResponses(b.data, b.closed).map((r) => r.status),
      [200],
    );
  });

  it('refuses a head node cannot relay with 502', async () => {
    const port = await serve((_h, ds) => {
      ds.writeHead(200, '', ['X-Bad', 'a\r\nInjected: yes'], 2, false);
      ds.writeBody(Buffer.from('ok'));
      ds.end(null);
    });
    const { data, closed } = await rawExchange(port, GET(), 100);
    const [r] = parseResponses(data, closed);
    assert.equal(r.status, ERR.UPSTREAM_BAD_RESPONSE.status);
    assert.equal(header(r, 'injected'), undefined);
    assert.equal(r.body.toString(), ERR.UPSTREAM_BAD_RESPONSE.reason + '\n');
  });
});

describe('native-free: connections', () => {
  it('reuses a keep-alive connection; honours Connection: close', async () => {
    const port = await serve(echoHead);
    const c = new Client(port);
    c.write(GET('/1'));
    const [r1] = await c.responses(1);
    assert.equal(header(r1, 'connection'), 'keep-alive');
    c.take();
    c.write(GET('/2'));
    const [r2] = await c.responses(1);
    assert.equal(JSON.parse(r2.body.toString()).path, '/2');
    c.take();
    c.write(GET('/3', 'Connection: close\r\n'));
    const [r3] = await c.responses(1);
    assert.equal(header(r3, 'connection'), 'close');
    assert.ok(await c.waitClose());
  });

  it('keeps an HTTP/1.0 connection only when asked and the length is known', async () => {
    const port = await serve(echoHead);
    const c = new Client(port);
    c.write('GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const [r1] = await c.responses(1);
    assert.equal(header(r1, 'connection'), 'keep-alive');
    c.take();
    c.write('GET /2 HTTP/1.0\r\n\r\n');
    const [r2] = await c.responses(1);
    assert.equal(header(r2, 'connection'), 'close');
    assert.ok(await c.waitClose());
  });

  it('answers pipelined requests in order when the proxy finishes them out of order', async () => {
    const port = await serve((head, ds) => {
      const wait = Number(head.query);
      setTimeout(() => ds.respond(200, ['X-Path', head.path], head.path, false), wait);
    });
    const c = new Client(port);
    c.write(GET('/a?90') + GET('/b?10') + GET('/c?50') + GET('/d?0'));
    const rs = await c.responses(4);
    assert.deepEqual(
      rs.map((r) => r.body.toString()),
      ['/a', '/b', '/c', '/d'],
    );
    assert.equal(server!.listener.inflight, 0);
    c.destroy();
  });

  it('respond(close) ends with Connection: close; respond() keeps the connection', async () => {
    const port = await serve((head, ds) => ds.respond(404, ['Content-Type', 'text/plain'], 'nope\n', head.path === '/close'));
    const c = new Client(port);
    c.write(GET('/keep'));
    const [r1] = await c.responses(1);
    assert.equal(r1.status, 404);
    assert.equal(header(r1, 'content-length'), '5');
    assert.equal(header(r1, 'connection'), 'keep-alive');
    c.take();
    c.write(GET('/close'));
    const [r2] = await c.responses(1);
    assert.equal(header(r2, 'connection'), 'close');
    assert.ok(await c.waitClose());
  });

  it('closes an idle keep-alive connection after GATEMESH_IDLE_TIMEOUT_MS', async () => {
    const port = await serve(echoHead, { GATEMESH_IDLE_TIMEOUT_MS: '1500' });
    const c = new Client(port);
    c.write(GET());
    await c.responses(1);
    const t0 = Date.now();
    assert.ok(await c.waitClose(3000));
    const idle = Date.now() - t0;
    assert.ok(idle >= 1400 && idle < 2200, `closed after ${idle} ms`);
  });

  it('a proxy that throws gets a 500, the server keeps serving', async () => {
    const port = await serve((head, ds) => {
      if (head.path === '/boom') throw new Error('bug');
      echoHead(head, ds);
    });
    const a = await rawExchange(port, GET('/boom'), 100);
    assert.equal(parseResponses(a.data, a.closed)[0].status, 500);
    const b = await rawExchange(port, GET('/fine'), 100);
    assert.equal(parseResponses(b.data, b.closed)[0].status, 200);
  });
});

describe('native-free: request body', () => {
  it('streams a chunked body through readBody, with pause/resume', async () => {
    const port = await serve((_head, ds) => {
      const got: Buffer[] = [];
      ds.readBody(
        (chunk, last) => {
          got.push(Buffer.from(chunk)); // only valid during the call
          ds.pauseBody();
          setTimeout(() => ds.resumeBody(), 5);
          if (last) ds.respond(200, [], Buffer.concat(got).toString(), false);
        },
        (reason) => assert.fail(reason),
      );
    });
    const c = new Client(port);
    c.write('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
    await delay(20);
    c.write('4;ext=1\r\ndefg\r\n');
    await delay(20);
    c.write('0\r\nX-T: 1\r\n\r\n');
    const [r] = await c.responses(1);
    assert.equal(r.body.toString(), 'abcdefg');
    c.destroy();
  });

  it('delivers last=true asynchronously for a bodyless request', async () => {
    const events: string[] = [];
    const port = await serve((_head, ds) => {
      ds.readBody(
        (chunk, last) => {
          events.push(`chunk ${chunk.length} ${last}`);
          ds.respond(200, [], 'ok', false);
        },
        () => events.push('error'),
      );
      events.push('readBody returned');
    });
    await rawExchange(port, GET(), 100);
    assert.deepEqual(events, ['readBody returned', 'chunk 0 true']);
  });

  it('a bad chunk mid-body → onError + onAbort for the proxy, 400 + close for the client', async () => {
    const events: string[] = [];
    let ds!: Downstream;
    const port = await serve((_head, d) => {
      ds = d;
      d.onAbort(() => events.push('abort'));
      d.readBody(
        (chunk) => events.push(`chunk ${chunk.toString()}`),
        (reason) => events.push(`error ${reason}`),
      );
    });
    const c = new Client(port);
    c.write('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
    await delay(30);
    c.write('xyz\r\n');
    const [r] = await c.responses(1);
    assert.equal(r.status, 400);
    assert.equal(r.body.toString(), ERR.BAD_CHUNK.reason + '\n');
    assert.ok(await c.waitClose());
    assert.deepEqual(events, ['chunk abc', `error ${ERR.BAD_CHUNK.reason}`, 'abort']);
    assert.ok(ds.done);
    // Everything is a no-op now.
    ds.writeHead(200, '', [], 0, false);
    assert.equal(ds.writeBody(Buffer.from('x')), true);
    ds.end(null);
    ds.abort();
    assert.equal(server!.listener.inflight, 0);
  });

  it('a client that goes away fires onAbort once (reset and half-close alike)', async () => {
    let aborts = 0;
    let ds!: Downstream;
    const port = await serve((_head, d) => {
      ds = d;
      d.onAbort(() => aborts++);
    });
    for (const how of ['destroy', 'end'] as const) {
      aborts = 0;
      const c = new Client(port);
      c.write(GET());
      await delay(30);
      assert.equal(server!.listener.inflight, 1);
      if (how === 'destroy') c.destroy();
      else c.socket.end();
      await delay(50);
      assert.equal(aborts, 1, how);
      assert.ok(ds.done);
      ds.respond(200, [], 'late', false); // no-op, no crash
      await delay(20);
      assert.equal(aborts, 1);
      assert.equal(server!.listener.inflight, 0, how);
      c.destroy();
    }
  });

  it('onAbort registered after the client left still fires; never after end()', async () => {
    let late = 0;
    let ended = 0;
    const port = await serve((head, ds) => {
      if (head.path === '/late') {
        setTimeout(() => ds.onAbort(() => late++), 80);
      } else {
        ds.respond(200, [], 'ok', false);
        ds.onAbort(() => ended++);
      }
    });
    const c = new Client(port);
    c.write(GET('/late'));
    await delay(20);
    c.destroy();
    const d = new Client(port);
    d.write(GET('/ended'));
    await d.responses(1);
    d.destroy();
    await delay(120);
    assert.equal(late, 1);
    assert.equal(ended, 0);
  });
});
