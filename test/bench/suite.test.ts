import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plainServer as server } from '../helpers/servers';
import http from 'node:http';
import { SCENARIOS } from '../../bench/harness/scenarios';
import { allProxies, isPoliciesOff } from '../../bench/harness/proxies';
import { closesAfterClose, planSuite, proxiesFor, slowestForRates } from '../../bench/harness/suite';

const NEW_CONN = SCENARIOS.find((s) => s.id === 'new-conn')!;


const cases: { desc: string; handler: http.RequestListener; open: boolean }[] = [
  { desc: 'a server that honours Connection: close passes', handler: (_q, r) => r.end('ok'), open: false },
  {
    // What @fastify/reply-from did with nginx's `connection: keep-alive`: node:http then keeps the socket open.
    desc: 'a server that relays `connection: keep-alive` to a close request is caught',
    handler: (_q, r) => r.setHeader('connection', 'keep-alive').end('ok'),
    open: true,
  },
];

for (const c of cases) {
  test(`closesAfterClose: ${c.desc}`, async () => {
    const s = await server(c.handler);
    try {
      const why = await closesAfterClose(s.port, NEW_CONN);
      if (c.open) assert.match(why ?? '', /kept the connection open .*RFC 9112 §9\.6/);
      else assert.equal(why, null);
    } finally {
      await s.close();
    }
  });
}


test('proxiesFor: -nopolicy rows only in the policies scenario, only with their base selected', () => {
  const specs = allProxies({ only: ['nginx', 'gatemesh-uws'] });
  for (const sc of SCENARIOS) {
    const names = proxiesFor(specs, sc).map((p) => p.name);
    assert.deepEqual(names, sc.id === 'policies' ? ['direct', 'nginx', 'gatemesh-uws', 'gatemesh-uws-nopolicy'] : ['direct', 'nginx', 'gatemesh-uws'], sc.id);
  }
});

test('planSuite: per-scenario proxy counts (the variants add steps to policies only)', () => {
  const specs = allProxies({ only: ['nginx', 'gatemesh-uws', 'gatemesh-native-free'] });
  const s = { warmupMs: 1000, rounds: 3, throughputMs: 2000, ratePcts: [50], latencyMs: 3000 };
  const small = SCENARIOS.filter((x) => x.id === 'small-get');
  const pol = SCENARIOS.filter((x) => x.id === 'policies');
  // small-get: 4 proxies (direct, nginx, 2 gatemesh); policies: 6. Steps: 1 + n + rounds × n × (1 + rates).
  assert.equal(planSuite(small, specs, s).steps, 1 + 4 + 3 * 4 * 2);
  assert.equal(planSuite(pol, specs, s).steps, 1 + 6 + 3 * 6 * 2);
  assert.equal(planSuite([...small, ...pol], specs, s).steps, 1 + 4 + 3 * 4 * 2 + 1 + 6 + 3 * 6 * 2);
  // seconds: n × (2 start + 1 warm-up + 3 × 2 throughput + 3 × 3.5 latency) = n × 19.5
  assert.equal(planSuite(pol, specs, s).seconds, 6 * 19.5);
});

const kinds: Record<string, 'ceiling' | 'peer' | 'gatemesh'> = {
  direct: 'ceiling',
  nginx: 'peer',
  'gatemesh-uws': 'gatemesh',
  'gatemesh-uws-nopolicy': 'gatemesh',
};
const rateCases: { desc: string; medians: Record<string, number>; want: number }[] = [
  { desc: 'the slowest proxy, ceiling excluded', medians: { direct: 100, nginx: 70, 'gatemesh-uws': 50 }, want: 50 },
  { desc: 'a -nopolicy row never lowers the rate', medians: { direct: 100, nginx: 70, 'gatemesh-uws': 50, 'gatemesh-uws-nopolicy': 40 }, want: 50 },
  { desc: 'nor raises it', medians: { direct: 100, nginx: 70, 'gatemesh-uws': 50, 'gatemesh-uws-nopolicy': 90 }, want: 50 },
  { desc: 'a -nopolicy row alone still gives a rate', medians: { direct: 100, 'gatemesh-uws-nopolicy': 60 }, want: 60 },
  { desc: 'only the ceiling ran', medians: { direct: 100 }, want: 100 },
];
for (const c of rateCases) {
  test(`slowestForRates: ${c.desc}`, () => {
    assert.equal(slowestForRates(new Map(Object.entries(c.medians)), (n) => kinds[n]), c.want);
    assert.ok(Object.keys(kinds).some(isPoliciesOff));
  });
}
