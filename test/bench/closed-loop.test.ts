import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrkOutput } from '../../bench/harness/closed-loop';

// fastify-proxy in new-conn before its hop-by-hop fix (wrk 4.1, full run of 2026-11-26): every other request a 400
// on a reused connection, then a read error.
const FASTIFY_NEW_CONN = `Running 4s test @ http://127.0.0.1:41037/small
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.58ms   18.90ms 158.08ms   95.15%
    Req/Sec    11.13k     3.04k   14.43k    82.05%
  Latency Distribution
     50%    6.48ms
     75%    7.70ms
     90%   12.89ms
     99%  112.86ms
  43636 requests in 4.01s, 8.49MB read
  Socket errors: connect 0, read 21817, write 0, timeout 0
  Non-2xx or 3xx responses: 21817
Requests/sec:  10891.42
Transfer/sec:      2.12MB
`;

const CLEAN = `Running 4s test @ http://127.0.0.1:41000/small
  1 threads and 50 connections
  Latency Distribution
     50%    2.10ms
     75%    2.50ms
     90%    3.00ms
     99%    4.00ms
  50000 requests in 4.00s, 9.00MB read
Requests/sec:  12500.00
Transfer/sec:      2.25MB
`;

const cases: { desc: string; out: string; rps: number; non2xx: number; errors: number; failures: Record<string, number> }[] = [
  {
    desc: 'status and socket errors are kept apart, by kind',
    out: FASTIFY_NEW_CONN,
    rps: 10891.42 - 21817 / 4,
    non2xx: 21817,
    errors: 21817,
    failures: { 'status ≥ 400 (wrk)': 21817, 'read errors (wrk)': 21817 },
  },
  { desc: 'a clean run has no failures', out: CLEAN, rps: 12500, non2xx: 0, errors: 0, failures: {} },
  {
    desc: 'every socket error kind',
    out: CLEAN.replace('Requests/sec', '  Socket errors: connect 1, read 2, write 3, timeout 4\nRequests/sec'),
    rps: 12500,
    non2xx: 0,
    errors: 10,
    failures: { 'connect errors (wrk)': 1, 'read errors (wrk)': 2, 'write errors (wrk)': 3, 'timeouts (wrk)': 4 },
  },
];

for (const c of cases) {
  test(`parseWrkOutput: ${c.desc}`, () => {
    const r = parseWrkOutput(c.out, 4);
    assert.ok(r);
    assert.equal(r.rps, c.rps);
    assert.equal(r.non2xx, c.non2xx);
    assert.equal(r.errors, c.errors);
    assert.deepEqual(r.failures, c.failures);
  });
}

test('parseWrkOutput: no summary is null (the caller reports wrk failed)', () => {
  assert.equal(parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused\n', 4), null);
});
