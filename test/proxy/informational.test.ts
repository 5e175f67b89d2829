// Upstream 1xx (informational) responses through the proxy, on both front ends (RFC 9110 §15.2):
// 103 Early Hints (RFC 8297) is relayed ahead of the final response on native-free and dropped on
// uws (README, Front-end differences: uWS 20.30 has no API for a 1xx before the final head); an
// upstream 100 Continue is never relayed (the front end sends the one 100 a client may get).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { rawServer, until, type RawServer } from '../upstream/helpers';

const HINTS = 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n';
const FINAL = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: 1\r\n\r\nfinal';

/** A raw client connection that collects what arrives and can wait for it. */
function client(port: number, request: string) {
  const sock = net.connect(port, '127.0.0.1');
  const state = { raw: '' };
  const waiters: (() => void)[] = [];
  sock.on('data', (d) => {
    state.raw += d.toString('latin1');
    for (const w of waiters.splice(0)) w();
  });
  sock.on('error', () => {});
  sock.write(request);
  return {
    get raw() {
      return state.raw;
    },
    /** Resolves true once `pred(raw)` holds, false after `ms` without it. */
    waitFor(pred: (raw: string) => boolean, ms: number): Promise<boolean> {
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(pred(state.raw)), ms);
        const check = (): void => {
          if (pred(state.raw)) {
            clearTimeout(timer);
            resolve(true);
          } else waiters.push(check);
        };
        check();
      });
    },
    write(data: string) {
      sock.write(data);
    },
    close() {
      sock.destroy();
    },
  };
}

const finalDone = (raw: string): boolean => raw.endsWith('\r\n\r\nfinal');

for (const fe of FRONTENDS) {
  describe(`upstream informational responses [${fe}]`, () => {
    let gw: RunningGateway;
    let hints: RawServer;
    let cont: RawServer;
    /** Sends the held final response of the 103 upstream's connections. */
    const release: (() => void)[] = [];

    before(async () => {
      // 103 at once, the final response only when the test says so: a relayed 103 must reach the
      // client while the final response does not exist yet, or it hints at nothing early.
      hints = await rawServer((sock) => {
        sock.write(HINTS);
        release.push(() => sock.write(FINAL));
      });
      // An unsolicited 100 Continue before the final response, once the whole request is in.
      cont = await rawServer((sock) => sock.write('HTTP/1.1 100 Continue\r\n\r\n' + FINAL));
      gw = await startGateway(
        fe,
        nativeConfig(`routes:
  - name: hints
    match: [{ path: /hints }]
    backend: hints
  - name: cont
    match: [{ path: /cont }]
    backend: cont
backends:
  - name: hints
    endpoints: ["127.0.0.1:${hints.port}"]
  - name: cont
    endpoints: ["127.0.0.1:${cont.port}"]
`),
      );
    });
    after(async () => {
      // Upstreams are closed even when the gateway never started: an open server keeps the run alive.
      try {
        if (gw) assert.equal(await gw.stop(), 0);
      } finally {
        await Promise.all([hints?.close(), cont?.close()]);
      }
    });

    it(
      fe === 'native-free'
        ? '103 Early Hints reaches an HTTP/1.1 client before the final response, with its Link'
        : '103 Early Hints is dropped and the final response served',
      async () => {
        const held = release.length;
        const c = client(gw.port, 'GET /hints HTTP/1.1\r\nHost: h\r\n\r\n');
        try {
          // The upstream has sent its 103 and holds the 200.
          await until(() => release.length > held, 2000, 'the request at the upstream');
          if (fe === 'native-free') {
            assert.ok(await c.waitFor((raw) => raw.includes('\r\n\r\n'), 2000), `103 relayed before the final response exists: ${JSON.stringify(c.raw)}`);
            const interim = c.raw;
            assert.match(interim, /^HTTP\/1\.1 103 [^\r\n]*\r\n/);
            assert.match(interim, /\r\nlink: <\/style\.css>; rel=preload; as=style\r\n/i);
            assert.doesNotMatch(interim, /content-length|transfer-encoding/i, 'a 1xx has no body framing (RFC 9110 §8.6)');
          } else {
            // Nothing reaches the client while only the 103 exists upstream.
            assert.equal(await c.waitFor((raw) => raw.length > 0, 300), false, `nothing before the final response: ${JSON.stringify(c.raw)}`);
          }
          release[release.length - 1]();
          assert.ok(await c.waitFor(finalDone, 2000), JSON.stringify(c.raw));
          const heads = c.raw.match(/^HTTP\/1\.1 \d{3}/gm) ?? [];
          assert.deepEqual(heads, fe === 'native-free' ? ['HTTP/1.1 103', 'HTTP/1.1 200'] : ['HTTP/1.1 200'], JSON.stringify(c.raw));
          const final = c.raw.slice(c.raw.indexOf('HTTP/1.1 200'));
          assert.match(final, /\r\nx-final: 1\r\n/i);
          // The hints belong to the 103; the final response carries only its own fields.
          assert.doesNotMatch(final, /\r\nlink:/i);
          if (fe === 'uws') assert.doesNotMatch(c.raw, / 103 |style\.css/);
        } finally {
          c.close();
        }
      },
    );

    if (fe === 'native-free') {
      // uws never answers an HTTP/1.0 request at all (README, Front-end differences), so this
      // case exists on native-free only. RFC 9110 §15.2: no 1xx to an HTTP/1.0 client.
      it('103 Early Hints is not sent to an HTTP/1.0 client', async () => {
        const held = release.length;
        const c = client(gw.port, 'GET /hints HTTP/1.0\r\nHost: h\r\n\r\n');
        try {
          await until(() => release.length > held, 2000, 'the request at the upstream');
          assert.equal(await c.waitFor((raw) => raw.length > 0, 300), false, `nothing before the final response: ${JSON.stringify(c.raw)}`);
          release[release.length - 1]();
          assert.ok(await c.waitFor(finalDone, 2000), JSON.stringify(c.raw));
          assert.match(c.raw, /^HTTP\/1\.[01] 200 /);
          assert.doesNotMatch(c.raw, / 103 |style\.css/);
        } finally {
          c.close();
        }
      });
    }

    it('an unsolicited upstream 100 Continue is not relayed: only the final response (RFC 9110 §15.2)', async () => {
      const c = client(gw.port, 'GET /cont HTTP/1.1\r\nHost: h\r\n\r\n');
      try {
        assert.ok(await c.waitFor(finalDone, 2000), JSON.stringify(c.raw));
        // Let anything that would follow arrive before looking.
        await c.waitFor(() => false, 100);
        assert.match(c.raw, /^HTTP\/1\.1 200 OK\r\n/);
        assert.doesNotMatch(c.raw, /100 Continue/i);
        assert.equal((c.raw.match(/HTTP\/1\.1 /g) ?? []).length, 1, JSON.stringify(c.raw));
      } finally {
        c.close();
      }
    });

    it('Expect: 100-continue gets exactly one 100 even when the upstream sends its own', async () => {
      const c = client(gw.port, 'POST /cont HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
      try {
        assert.ok(await c.waitFor((raw) => raw.includes('100 Continue\r\n\r\n'), 2000), JSON.stringify(c.raw));
        c.write('hello');
        assert.ok(await c.waitFor(finalDone, 2000), JSON.stringify(c.raw));
        await c.waitFor(() => false, 100);
        assert.equal((c.raw.match(/100 Continue/gi) ?? []).length, 1, JSON.stringify(c.raw));
        assert.deepEqual(c.raw.match(/^HTTP\/1\.1 \d{3}/gm), ['HTTP/1.1 100', 'HTTP/1.1 200'], JSON.stringify(c.raw));
      } finally {
        c.close();
      }
    });
  });
}
