// HTTP/1.1 pipelining (RFC 9112 §9.3.2) on both front ends, several requests in one write.
// native-free answers every request, in order. uws cannot: uWebSockets.js closes a connection on
// which a request arrives while an earlier response is still pending (an asynchronous handler, as
// every proxied request is; uNetworking/uWebSockets.js#277, "wontfix"). What gatemesh guarantees
// there is what §9.3.2 lets a pipelining client rely on: the connection closes without a partial or
// out-of-order answer, and a retry on a new connection is served.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { echoUpstream, rawRequest, request, type TestServer } from '../helpers/servers';

const req = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`;

/** Every response head's status and the echoed request URL, in the order they arrived. */
function answers(raw: string): { status: number; url: string }[] {
  const out: { status: number; url: string }[] = [];
  const re = /HTTP\/1\.1 (\d{3})[^]*?\r\n\r\n(\{[^\n]*?"url":"([^"]*)")?/g;
  for (let m = re.exec(raw); m !== null; m = re.exec(raw)) out.push({ status: Number(m[1]), url: m[3] ?? '' });
  return out;
}

for (const fe of FRONTENDS) {
  describe(`pipelined requests [${fe}]`, () => {
    let gw: RunningGateway;
    let up: TestServer;

    before(async () => {
      up = await echoUpstream();
      gw = await startGateway(fe, nativeConfig(`routes:
  - name: all
    backend: up
backends:
  - name: up
    endpoints: ["127.0.0.1:${up.port}"]
`));
    });
    after(async () => {
      await gw.stop();
      await up.close();
    });

    it(fe === 'native-free' ? 'answers three pipelined GETs in order' : 'closes the connection without a partial answer, and a retry is served', async () => {
      const r = await rawRequest(gw.port, req('/one') + req('/two') + req('/three'), 600);
      const got = answers(r.raw);
      if (fe === 'native-free') {
        assert.deepEqual(got, [
          { status: 200, url: '/one' },
          { status: 200, url: '/two' },
          { status: 200, url: '/three' },
        ]);
        return;
      }
      assert.equal(r.closed, true, 'the connection is closed');
      // Whatever did arrive is whole answers to a prefix of the requests, in order.
      got.forEach((a, i) => assert.deepEqual(a, { status: 200, url: ['/one', '/two', '/three'][i] }));
      // A client retrying on a new connection is served.
      const again = await request(gw.port, { path: '/two' });
      assert.equal(again.status, 200);
    });

    it('keeps serving after the pipelined connection', async () => {
      for (const p of ['/a', '/b']) assert.equal((await request(gw.port, { path: p })).status, 200);
    });
  });
}
