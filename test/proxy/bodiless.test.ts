// Bodiless responses (RFC 9112 §6.3 rule 1) on both front ends: a 204, and a HEAD or 304 whose
// upstream sent no Content-Length, go out without a Content-Length of ours (RFC 9110 §8.6: none
// in a 204) and leave the connection usable for the next request.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import net from 'node:net';
import { parseRaw, rawUpstream, type RawResponse, type TestServer } from '../helpers/servers';

/** Sends `req`, waits for the answer, sends it again on the same connection (not pipelined:
 *  uws does not serve a second pipelined request while the first is in flight). */
function twice(port: number, req: string): Promise<RawResponse> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let raw = '';
    let sent = 1;
    let timer: NodeJS.Timeout | undefined;
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(parseRaw(raw, closed));
    };
    sock.on('data', (d) => {
      raw += d.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (sent === 1) {
          sent = 2;
          sock.write(req);
        } else done(false);
      }, 150);
    });
    sock.on('error', () => {});
    sock.on('close', () => done(true));
    sock.write(req);
    timer = setTimeout(() => done(false), 2000);
  });
}

const cases = [
  { desc: '204 without Content-Length', request: 'GET /r204 HTTP/1.1\r\nHost: h\r\n\r\n', status: 204 },
  { desc: 'HEAD answered without Content-Length', request: 'HEAD /head HTTP/1.1\r\nHost: h\r\n\r\n', status: 200 },
  { desc: '304 without Content-Length', request: 'GET /r304 HTTP/1.1\r\nHost: h\r\n\r\n', status: 304 },
];

for (const fe of FRONTENDS) {
  describe(`bodiless responses [${fe}]`, () => {
    let gw: RunningGateway;
    let up: TestServer;

    before(async () => {
      // Answers each request by its path; none of the answers has a Content-Length.
      up = await rawUpstream((sock, received) => {
        let answered = 0;
        sock.on('data', () => {
          const heads = received().split('\r\n\r\n').length - 1;
          for (; answered < heads; answered++) {
            const line = received().split('\r\n\r\n')[answered].split('\r\n')[0];
            if (line.includes('/r204')) sock.write('HTTP/1.1 204 No Content\r\nx-up: 1\r\n\r\n');
            else if (line.includes('/r304')) sock.write('HTTP/1.1 304 Not Modified\r\netag: "a"\r\n\r\n');
            else sock.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n'); // HEAD: no body follows
          }
        });
      });
      gw = await startGateway(
        fe,
        nativeConfig(`routes:
  - name: up
    backend: up
backends:
  - name: up
    endpoints: ["127.0.0.1:${up.port}"]
`),
      );
    });

    after(async () => {
      await gw?.stop();
      await up?.close();
    });

    for (const c of cases) {
      it(c.desc, async () => {
        // Twice on one connection: the second answer shows the first left nothing behind.
        const r = await twice(gw.port, c.request);
        assert.equal(r.status, c.status, r.raw);
        assert.equal(r.headers['content-length'], undefined, r.raw);
        assert.equal(r.headers['transfer-encoding'], undefined, r.raw);
        const heads = r.raw.split('\r\n\r\n').filter((x) => x.startsWith('HTTP/1.1 '));
        assert.equal(heads.length, 2, r.raw);
        assert.equal(r.raw.endsWith('\r\n\r\n'), true, 'no body bytes: ' + JSON.stringify(r.raw));
      });
    }
  });
}
