// GATEMESH_TRUSTED_PROXIES end to end, on both front ends (README, HTTP behaviour, "Hop-by-hop"):
// from a peer in one of the listed CIDRs the client's X-Forwarded-For is kept and the peer
// appended (the de-facto X-Forwarded-For list, as nginx's proxy_add_x_forwarded_for; RFC 7239 §5.2
// for its standard form), and its X-Forwarded-Proto/-Host are kept; from any other peer they are
// replaced. The untrusted default (no variable) is covered in proxy.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { echoUpstream, rawRequest } from '../helpers/servers';

type Echo = Awaited<ReturnType<typeof echoUpstream>>;

/** What the echo upstream saw, from a raw response (the body is its JSON). */
function seenHeaders(raw: string): Record<string, string> {
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  return (JSON.parse(body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1)) as { headers: Record<string, string> }).headers;
}

const settings = [
  { value: '127.0.0.1/32', trusted: true },
  // A comma-separated list (spaces allowed); the peer falls in the second CIDR.
  { value: '10.0.0.0/8, 127.0.0.0/8', trusted: true },
  // Set, but not to a range holding the peer: the client's values are not trusted.
  { value: '10.0.0.0/8', trusted: false },
];

for (const fe of FRONTENDS) {
  for (const s of settings) {
    describe(`GATEMESH_TRUSTED_PROXIES=${s.value} [${fe}]`, () => {
      let gw: RunningGateway;
      let echo: Echo;

      before(async () => {
        echo = await echoUpstream();
        gw = await startGateway(fe, nativeConfig(`routes:\n  - name: r\n    backend: echo\nbackends:\n  - name: echo\n    endpoints: ["127.0.0.1:${echo.port}"]\n`), {
          GATEMESH_TRUSTED_PROXIES: s.value,
        });
      });
      after(async () => {
        // The upstream is closed even when the gateway never started: an open server keeps the run alive.
        try {
          if (gw) assert.equal(await gw.stop(), 0);
        } finally {
          await echo?.close();
        }
      });

      it(
        s.trusted
          ? "the client's X-Forwarded-For gets the peer appended; X-Forwarded-Proto/-Host are kept"
          : "the client's X-Forwarded-* are replaced by the peer's own",
        async () => {
          const r = await rawRequest(gw.port, 'GET / HTTP/1.1\r\nHost: gw.test\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: public.example\r\n\r\n');
          assert.equal(r.status, 200, r.raw);
          const h = seenHeaders(r.raw);
          assert.equal(h['x-forwarded-for'], s.trusted ? '203.0.113.7, 127.0.0.1' : '127.0.0.1');
          assert.equal(h['x-forwarded-proto'], s.trusted ? 'https' : 'http');
          assert.equal(h['x-forwarded-host'], s.trusted ? 'public.example' : 'gw.test');
        },
      );

      it('without a client X-Forwarded-For the peer alone is sent, and Proto/Host are set', async () => {
        const r = await rawRequest(gw.port, 'GET / HTTP/1.1\r\nHost: gw.test\r\n\r\n');
        assert.equal(r.status, 200, r.raw);
        const h = seenHeaders(r.raw);
        assert.equal(h['x-forwarded-for'], '127.0.0.1');
        assert.equal(h['x-forwarded-proto'], 'http');
        assert.equal(h['x-forwarded-host'], 'gw.test');
      });

      if (s.trusted) {
        it('several X-Forwarded-For fields are kept as one list, in order, then the peer (RFC 9110 §5.3)', async () => {
          const r = await rawRequest(gw.port, 'GET / HTTP/1.1\r\nHost: gw.test\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 198.51.100.2, 192.0.2.9\r\n\r\n');
          assert.equal(r.status, 200, r.raw);
          assert.equal(seenHeaders(r.raw)['x-forwarded-for'], '203.0.113.7, 198.51.100.2, 192.0.2.9, 127.0.0.1');
        });
      }
    });
  }
}
