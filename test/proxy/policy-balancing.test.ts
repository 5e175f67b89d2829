// BackendTrafficPolicy loadBalancer through the real binary, on both front ends: weighted round
// robin accuracy over 10,000 requests (4 worker threads), LeastRequest and PeakEWMA steering away
// from a slow endpoint, Random spreading, ConsistentHash stickiness on a header, cookie, query
// parameter and client IP (and a request without the key still served), and a hot reload that
// switches a backend from RoundRobin to ConsistentHash while serving.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway, tempDir, writeConfig, type RunningGateway } from '../helpers/gateway';
import { faultyUpstreams, load, OK, shares, sleep, slow, type FaultyUpstream } from '../helpers/faulty-upstream';
import { replaceFile, waitForVersion } from '../helpers/reload';

const ep = (u: FaultyUpstream): string => `"${u.address}"`;

function balancingConfig(u: FaultyUpstream[]): string {
  const three = `[${ep(u[0])}, ${ep(u[1])}, ${ep(u[2])}]`;
  const backend = (name: string, lb: string, endpoints = three): string => `  - name: ${name}\n    endpoints: ${endpoints}\n    policy: { loadBalancer: ${lb} }\n`;
  return nativeConfig(`routes:
${['wrr', 'lr', 'ewma', 'random', 'chh', 'chc', 'chq', 'chip', 'ring'].map((b) => `  - name: ${b}\n    match: { path: /${b} }\n    backend: ${b}\n`).join('')}backends:
  - name: wrr
    endpoints:
      - { address: "${u[0].address}", weight: 1 }
      - { address: "${u[1].address}", weight: 3 }
      - { address: "${u[2].address}", weight: 6 }
${backend('lr', '{ type: LeastRequest }')}${backend('ewma', '{ type: PeakEWMA, peakEWMA: { decay: 200ms } }')}${backend('random', '{ type: Random }')}${backend(
    'chh',
    '{ type: ConsistentHash, consistentHash: { type: Header, header: { name: x-user } } }',
  )}${backend('chc', '{ type: ConsistentHash, consistentHash: { type: Cookie, cookie: { name: session } } }')}${backend(
    'chq',
    '{ type: ConsistentHash, consistentHash: { type: QueryParam, queryParam: { name: user } } }',
  )}${backend('chip', '{ type: ConsistentHash, consistentHash: { type: SourceIP } }')}${backend(
    'ring',
    '{ type: ConsistentHash, consistentHash: { type: Header, header: { name: x-user }, algorithm: RingHash } }',
  )}`);
}

/** Requests with `keys` distinct key values, `rounds` times each (interleaved); checks stickiness and spread. */
async function checkSticky(port: number, keys: number, rounds: number, make: (key: number) => { path: string; headers?: Record<string, string> }): Promise<void> {
  const results = await load(port, keys * rounds, 8, (i) => make(i % keys));
  const owner = new Map<number, string>();
  results.forEach((r, i) => {
    assert.equal(r.status, 200);
    const k = i % keys;
    const seen = owner.get(k);
    if (seen === undefined) owner.set(k, r.upstream);
    else assert.equal(r.upstream, seen, `key ${k}: answered by ${seen}, then by ${r.upstream}`);
  });
  const used = new Set(owner.values());
  assert.ok(used.size >= 2, `${keys} keys all landed on ${[...used].join(', ')}: not hashed`);
}

/** A request without the hashed key is still served, by some endpoint (random). */
async function checkKeyless(port: number, path: string): Promise<void> {
  const results = await load(port, 30, 4, () => ({ path }));
  for (const r of results) assert.equal(r.status, 200);
  assert.ok(new Set(results.map((r) => r.upstream)).size >= 2, 'keyless requests spread (random endpoint)');
}

for (const fe of FRONTENDS) {
  describe(`load balancing [${fe}]`, () => {
    let gw: RunningGateway;
    let u: FaultyUpstream[];

    before(async () => {
      u = await faultyUpstreams('u', 3);
      // 4 threads: the balancers' shared state and per-thread schedules are what is under test.
      // Trusted proxy 127.0.0.1: the client IP hashed is the X-Forwarded-For hop (a header only).
      gw = await startGateway(fe, balancingConfig(u), { GATEMESH_THREADS: '4', GATEMESH_TRUSTED_PROXIES: '127.0.0.1' });
    });
    after(async () => {
      assert.equal(await gw.stop(), 0);
      await Promise.all(u.map((x) => x.close()));
    });
    const resetAll = (): void => {
      for (const x of u) {
        x.reset();
        x.behave = () => OK;
      }
    };

    it('RoundRobin with endpoint weights 1:3:6 matches the weights within 1 % over 10,000 requests', async () => {
      resetAll();
      const results = await load(gw.port, 10_000, 16, () => ({ path: '/wrr' }));
      assert.ok(results.every((r) => r.status === 200));
      const s = shares(results);
      const want = { u0: 1000, u1: 3000, u2: 6000 };
      for (const [name, n] of Object.entries(want)) {
        const got = s[name] ?? 0;
        assert.ok(Math.abs(got - n) <= 100, `${name}: ${got} of 10,000, want ${n} ± 1 % (${JSON.stringify(s)})`);
      }
      assert.equal(u[0].hits.length + u[1].hits.length + u[2].hits.length, 10_000, 'every request reached an upstream once');
    });

    it('RoundRobin is smooth: the heavy endpoint never gets a long burst', async () => {
      resetAll();
      // One keep-alive connection stays on one thread: one smooth sequence. Weights 1:3:6 give
      // u2 at most 2 in a row (nginx: c b c a c b c c b c ...), never 6.
      const results = await load(gw.port, 100, 1, () => ({ path: '/wrr' }));
      let run = 0;
      let longest = 0;
      for (const r of results) {
        run = r.upstream === 'u2' ? run + 1 : 0;
        longest = Math.max(longest, run);
      }
      assert.ok(longest <= 2, `u2 answered ${longest} in a row`);
    });

    it('LeastRequest sends less to a slow endpoint', async () => {
      resetAll();
      const even = shares(await load(gw.port, 300, 8, () => ({ path: '/lr' })));
      for (const name of ['u0', 'u1', 'u2']) assert.ok((even[name] ?? 0) >= 50, `all fast: ${JSON.stringify(even)}`);
      u[2].behave = () => slow(60);
      const s = shares(await load(gw.port, 600, 16, () => ({ path: '/lr' })));
      assert.ok((s.u2 ?? 0) < 600 * 0.15, `slow u2 got ${s.u2} of 600 (a third would be 200): ${JSON.stringify(s)}`);
      assert.ok((s.u2 ?? 0) >= 1, 'it still gets some (power of two choices)');
    });

    it('PeakEWMA shifts traffic away from a slow endpoint, and back once it is fast again', async () => {
      resetAll();
      // One request at a time: in-flight counts are equal, only the latency (EWMA) tells them apart.
      u[0].behave = () => slow(50);
      const s1 = shares(await load(gw.port, 300, 1, () => ({ path: '/ewma' })));
      assert.ok((s1.u0 ?? 0) < 300 * 0.1, `slow u0 got ${s1.u0} of 300 (a third would be 100): ${JSON.stringify(s1)}`);
      // u0 recovers, u1 turns slow. After 1 s (5 × the 200 ms decay) u0's estimate has decayed
      // back to a fast one's, so it is tried again; u1 is avoided from its first slow answer.
      u[0].behave = () => OK;
      u[1].behave = () => slow(50);
      await sleep(1000);
      const s2 = shares(await load(gw.port, 300, 1, () => ({ path: '/ewma' })));
      assert.ok((s2.u1 ?? 0) < 300 * 0.1, `slow u1 got ${s2.u1} of 300: ${JSON.stringify(s2)}`);
      assert.ok((s2.u0 ?? 0) >= 1, `u0 is fast again and gets traffic again: ${JSON.stringify(s2)}`);
    });

    it('Random spreads over every endpoint, in no fixed order', async () => {
      resetAll();
      const results = await load(gw.port, 900, 1, () => ({ path: '/random' }));
      const s = shares(results);
      for (const name of ['u0', 'u1', 'u2']) assert.ok(Math.abs((s[name] ?? 0) - 300) <= 80, `${name}: ${s[name]} of 900: ${JSON.stringify(s)}`);
      // Round robin never picks the same endpoint twice in a row; random does about a third of the time.
      let repeats = 0;
      for (let i = 1; i < results.length; i++) if (results[i].upstream === results[i - 1].upstream) repeats++;
      assert.ok(repeats > 150 && repeats < 450, `${repeats} repeats in 899 picks`);
    });

    it('ConsistentHash on a header is sticky, and a request without it is served', async () => {
      resetAll();
      await checkSticky(gw.port, 40, 5, (k) => ({ path: '/chh', headers: { 'x-user': `user-${k}` } }));
      await checkKeyless(gw.port, '/chh');
    });

    it('ConsistentHash on a cookie is sticky, and a request without it is served', async () => {
      resetAll();
      await checkSticky(gw.port, 40, 5, (k) => ({ path: '/chc', headers: { cookie: `theme=dark; session=s${k}; lang=en` } }));
      await checkKeyless(gw.port, '/chc');
    });

    it('ConsistentHash on a query parameter is sticky, and a request without it is served', async () => {
      resetAll();
      await checkSticky(gw.port, 40, 5, (k) => ({ path: `/chq?page=${k % 3}&user=id${k}` }));
      await checkKeyless(gw.port, '/chq?page=1');
    });

    it('ConsistentHash on the client IP is sticky (new connection per request)', async () => {
      resetAll();
      const keys = 30;
      const results = await load(gw.port, keys * 4, 8, (i) => ({ path: '/chip', headers: { 'x-forwarded-for': `198.51.100.${i % keys}` } }), true);
      const owner = new Map<number, string>();
      results.forEach((r, i) => {
        assert.equal(r.status, 200);
        const seen = owner.get(i % keys);
        if (seen === undefined) owner.set(i % keys, r.upstream);
        else assert.equal(r.upstream, seen, `client 198.51.100.${i % keys} moved from ${seen} to ${r.upstream}`);
      });
      assert.ok(new Set(owner.values()).size >= 2, 'client IPs spread over the endpoints');
      // The socket peer itself (no X-Forwarded-For) is a key too: always the same endpoint.
      const plain = await load(gw.port, 20, 4, () => ({ path: '/chip' }), true);
      assert.equal(new Set(plain.map((r) => r.upstream)).size, 1, JSON.stringify(shares(plain)));
    });

    it('ConsistentHash RingHash is sticky too', async () => {
      resetAll();
      await checkSticky(gw.port, 40, 4, (k) => ({ path: '/ring', headers: { 'x-user': `ring-${k}` } }));
      await checkKeyless(gw.port, '/ring');
    });
  });

  describe(`load balancing hot reload [${fe}]`, () => {
    let gw: RunningGateway;
    let u: FaultyUpstream[];
    let file: string;
    const text = (lb: string): string =>
      nativeConfig(`routes:
  - name: api
    match: { path: /api }
    backend: api
backends:
  - name: api
    endpoints: [${u.map(ep).join(', ')}]
    policy: { loadBalancer: ${lb} }
`);

    before(async () => {
      u = await faultyUpstreams('h', 3);
      file = writeConfig(text('{ type: RoundRobin }'), 'gatemesh.yaml', tempDir());
      gw = await startGateway(fe, '', {}, file);
    });
    after(async () => {
      assert.equal(await gw.stop(), 0);
      await Promise.all(u.map((x) => x.close()));
    });

    it('RoundRobin → ConsistentHash: serves throughout and applies the new balancer', async () => {
      const sameKey = { path: '/api', headers: { 'x-user': 'alice' } };
      const before = shares(await load(gw.port, 30, 1, () => sameKey));
      assert.deepEqual(before, { h0: 10, h1: 10, h2: 10 }, 'round robin ignores the header');
      // Keep a stream of requests going while the file changes.
      let stop = false;
      const during: number[] = [];
      const background = (async () => {
        while (!stop) for (const r of await load(gw.port, 10, 2, () => sameKey)) during.push(r.status);
      })();
      replaceFile(file, text('{ type: ConsistentHash, consistentHash: { type: Header, header: { name: x-user } } }'));
      await waitForVersion(gw, 2);
      stop = true;
      await background;
      assert.ok(during.length > 0 && during.every((s) => s === 200), `statuses while reloading: ${[...new Set(during)].join(',')}`);
      const after1 = shares(await load(gw.port, 30, 4, () => sameKey));
      assert.equal(Object.keys(after1).length, 1, `one key, one endpoint after the reload: ${JSON.stringify(after1)}`);
      assert.equal(Object.values(after1)[0], 30);
    });
  });
}
