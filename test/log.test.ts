// The access-log line: valid JSON with pino's leading keys, every field, strings escaped; and the
// writer: batches to a file in order, stdout flushed at exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { accessLine, createAccessLog, encodeAccessLine, type AccessRecord } from '../src/log';
import type { Settings } from '../src/env';
import { nativeConfig, startGateway } from './helpers/gateway';
import { echoUpstream } from './helpers/servers';

const cases: { desc: string; rec: AccessRecord }[] = [
  {
    desc: 'a plain 200',
    rec: { method: 'GET', path: '/a', route: 'r/rule0', endpoint: '127.0.0.1:80', status: 200, bytes: 5, bytes_in: 0, duration_ms: 1.25, upstream_ms: 0.5, attempts: 1, client: '127.0.0.1' },
  },
  {
    desc: 'an error with reason and flags, strings needing escapes',
    rec: {
      method: 'GET',
      path: '/q"uote\\\\back\u0001',
      route: '-',
      endpoint: '-',
      status: 429,
      bytes: 0,
      bytes_in: 0,
      duration_ms: 0.1,
      upstream_ms: -1,
      attempts: 0,
      client: '::1',
      error: 'GATEMESH_ERR_RATE_LIMITED',
      reason: 'rate limit exceeded: policy "p"',
      flags: 'RL',
    },
  },
  {
    desc: 'no attempts field',
    rec: { method: 'PUT', path: '/', route: 'x', endpoint: '-', status: 404, bytes: 0, bytes_in: 3, duration_ms: 0, upstream_ms: -1, client: '10.0.0.1' },
  },
];

for (const c of cases) {
  test(`access line: ${c.desc}`, () => {
    const line = accessLine(c.rec);
    assert.ok(line.endsWith('}\n'));
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.equal(parsed.level, 30);
    assert.ok(!Number.isNaN(Date.parse(parsed.time as string)));
    assert.deepEqual(Object.keys(parsed).slice(0, 2), ['level', 'time']);
    const { level: _l, time: _t, ...rest } = parsed;
    assert.deepEqual(rest, JSON.parse(JSON.stringify(c.rec)));
  });
}


// A sequence of records drawn from small pools, so fields repeat and change in every combination,
// must give each record's own line (the batch writer's memos are held to accessLine below).
test('access line: memoised runs never leak between records (property)', () => {
  const pick = <T>(xs: T[]) => fc.constantFrom(...xs);
  const record = fc.record(
    {
      method: pick(['GET', 'POST']),
      path: pick(['/a', '/b', '/q"x', '/é']),
      route: pick(['r/rule0', '-']),
      endpoint: pick(['127.0.0.1:80', '-']),
      status: pick([200, 404]),
      bytes: pick([0, 5]),
      bytes_in: pick([0, 7]),
      duration_ms: fc.double({ min: 0, max: 100, noNaN: true }),
      upstream_ms: fc.oneof(fc.constant(-1), fc.double({ min: 0, max: 100, noNaN: true })),
      attempts: pick([0, 1, undefined]),
      client: pick(['127.0.0.1', '::1']),
      error: pick([undefined, 'GATEMESH_ERR_NO_ROUTE']),
      flags: pick([undefined, 'RL']),
    },
    { requiredKeys: ['method', 'path', 'route', 'endpoint', 'status', 'bytes', 'bytes_in', 'duration_ms', 'upstream_ms', 'client'] },
  );
  const time = fc.oneof(fc.constantFrom(1700000000000, 1700000000001, 1700000000999, 1700000001000), fc.integer({ min: 0, max: 4e12 }));
  fc.assert(
    fc.property(fc.array(fc.tuple(record, time), { minLength: 1, maxLength: 20 }), (seq) => {
      for (const [r, t] of seq) {
        const parsed = JSON.parse(accessLine(r as AccessRecord, t)) as Record<string, unknown>;
        assert.equal(parsed.time, new Date(t).toISOString());
        const { level: _l, time: _t, ...rest } = parsed;
        const expected = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
        expected.duration_ms = Math.round(r.duration_ms * 1000) / 1000;
        if (r.upstream_ms >= 0) expected.upstream_ms = Math.round(r.upstream_ms * 1000) / 1000;
        assert.deepEqual(rest, expected);
      }
    }),
    { numRuns: 300 },
  );
});

// The batch writer encodes lines itself (encodeAccessLine: byte memos, digits); accessLine is the
// reference format. Same record and time, same bytes, whatever the fields hold: strings to escape
// or non-ASCII, durations that print oddly (NaN, Infinity, -0, 1e21). Each step changes one field
// of the record (or the time, or nothing), so every memoised field is at some point the only one
// that changed.
test('access line bytes: encodeAccessLine writes accessLine byte for byte, nothing outside the line (property)', () => {
  const text = fc.oneof(fc.constantFrom('/a', '-', 'r/rule0', '127.0.0.1:80', '::1', 'GET'), fc.string({ unit: 'binary', maxLength: 12 }));
  const count = fc.oneof(fc.constantFrom(0, 5, 200), fc.nat(), fc.constant(2 ** 40));
  const duration = fc.oneof(
    fc.constantFrom(-1, -0, 0, 0.0004, 0.0005, 1.9995, 999.9999, 1e12, 1e15, 1e21, NaN, Infinity, -Infinity),
    fc.double({ min: 0, max: 100, noNaN: true }),
    fc.double(),
  );
  const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  const values = {
    method: text,
    path: text,
    route: text,
    endpoint: text,
    status: count,
    bytes: count,
    bytes_in: count,
    duration_ms: duration,
    upstream_ms: duration,
    attempts: optional(fc.oneof(fc.constantFrom(0, 1, 2), fc.nat())),
    client: text,
    error: optional(fc.constantFrom('GATEMESH_ERR_NO_ROUTE', 'GATEMESH_ERR_RATE_LIMITED')),
    reason: optional(text),
    flags: optional(fc.constantFrom('RL', 'UO,RB', 'DG')),
  };
  const fields = Object.keys(values) as (keyof typeof values)[];
  const time = fc.oneof(fc.constantFrom(1700000000000, 1700000000001, 1700000000999.5, 1700000001000), fc.integer({ min: 0, max: 4e12 }));
  const step = fc.record({ field: fc.constantFrom(...fields, 'time' as const, 'none' as const), values: fc.record(values), time, at: fc.nat(64) });
  fc.assert(
    fc.property(fc.record(values), time, fc.array(step, { minLength: 1, maxLength: 30 }), (first, t0, steps) => {
      const r = { ...first } as AccessRecord;
      let t = t0;
      for (const s of steps) {
        if (s.field === 'time') t = s.time;
        else if (s.field !== 'none') (r as unknown as Record<string, unknown>)[s.field] = s.values[s.field];
        const expected = Buffer.from(accessLine(r, t), 'latin1');
        const dst = Buffer.alloc(s.at + expected.length + 128, 0xee);
        const end = encodeAccessLine(r, t, dst, s.at);
        assert.equal(end, s.at + expected.length);
        assert.equal(dst.subarray(s.at, end).toString('latin1'), expected.toString('latin1'));
        assert.ok(dst.subarray(0, s.at).every((b) => b === 0xee) && dst.subarray(end).every((b) => b === 0xee));
      }
    }),
    { numRuns: 500 },
  );
});

test('access line bytes: a line that may not fit writes nothing and answers -1', () => {
  const r = rec(1, '/small');
  const dst = Buffer.alloc(64, 0xee);
  assert.equal(encodeAccessLine(r, 1700000000000, dst, 0), -1);
  assert.ok(dst.every((b) => b === 0xee));
  const big = Buffer.alloc(4096);
  const end = encodeAccessLine(r, 1700000000000, big, 4096 - 100);
  assert.equal(end, -1);
});

function rec(i: number, p: string): AccessRecord {
  return { method: 'GET', path: p, route: 'r/rule0', endpoint: '127.0.0.1:80', status: 200, bytes: i, bytes_in: 0, duration_ms: i / 7, upstream_ms: -1, client: '127.0.0.1' };
}

test('access log to a file: every line, in order, across batches; non-ASCII and a line longer than a batch', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatemesh-log-'));
  const file = path.join(dir, 'sub', 'access.log');
  const log = createAccessLog({ accessLog: file } as Settings);
  const paths: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const p = i === 1500 ? '/' + 'x'.repeat(40000) : i % 3 === 0 ? `/é/${i}/☃` : `/p/${i}`;
    paths.push(p);
    log.write(rec(i, p));
  }
  log.flush();
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.pop(), '', 'ends with a newline');
  assert.equal(lines.length, 2000);
  lines.forEach((l, i) => {
    const j = JSON.parse(l) as Record<string, unknown>;
    assert.equal(j.path, paths[i]);
    assert.equal(j.bytes, i);
    assert.equal(j.duration_ms, Math.round((i / 7) * 1000) / 1000);
    assert.equal(j.upstream_ms, -1);
  });
  fs.rmSync(dir, { recursive: true, force: true });
});

test('access log on stdout (GATEMESH_ACCESS_LOG=on): lines reach stdout by the flush at exit', () => {
  const logModule = path.join(__dirname, '..', 'src', 'log.js');
  const script = `const { createAccessLog } = require(${JSON.stringify(logModule)});
const log = createAccessLog({ accessLog: 'on', accessLogBufferBytes: 1 << 24 });
for (let i = 0; i < 3; i++) log.write({ method: 'GET', path: '/s/' + i, route: '-', endpoint: '-', status: 404, bytes: 0, bytes_in: 0, duration_ms: 0.5, upstream_ms: -1, client: '::1' });
log.flush();`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.map((l) => l.path), ['/s/0', '/s/1', '/s/2']);
});

test('access log: a line carries the time given at write(), not the time its batch was formatted', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatemesh-log-'));
  const file = path.join(dir, 'access.log');
  const log = createAccessLog({ accessLog: file } as Settings);
  const times = [Date.UTC(2026, 0, 1, 0, 0, 0, 5), Date.UTC(2026, 0, 1, 0, 0, 1, 7)];
  for (const t of times) log.write(rec(1, '/t'), t);
  await new Promise((r) => setTimeout(r, 20));
  log.write(rec(2, '/t'));
  log.flush();
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { time: string });
  assert.deepEqual(lines.slice(0, 2).map((l) => l.time), times.map((t) => new Date(t).toISOString()));
  // Without a time, write() reads the clock itself (within this test's few milliseconds).
  assert.ok(Math.abs(Date.parse(lines[2].time) - Date.now()) < 5000);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('access log on stdout: a reader that stops costs bounded memory, drops whole lines, says so, and the gateway keeps serving', async () => {
  const up = await echoUpstream();
  const gw = await startGateway(
    'uws',
    nativeConfig(`routes:\n  - name: r\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:${up.port}"]\n`),
    { GATEMESH_FRONTEND: 'auto', GATEMESH_ACCESS_LOG: 'on', GATEMESH_ACCESS_LOG_BUFFER_BYTES: '65536' },
  );
  try {
    // Nobody reads the gateway's stdout from now on (the pipe holds ~64 KiB, then writes wait).
    gw.proc.stdout!.removeAllListeners('data');
    gw.proc.stdout!.pause();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const one = (): Promise<number> =>
      new Promise((resolve, reject) => {
        http
          .get({ port: gw.port, host: '127.0.0.1', path: '/x', agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          })
          .on('error', reject);
      });
    // ~2,400 lines of ~250 B: far more than the pipe and the 64 KiB allowed to wait.
    const sent = 2400;
    for (let i = 0; i < sent; i += 8) {
      const codes = await Promise.all(Array.from({ length: 8 }, one));
      assert.deepEqual(codes, Array(8).fill(200));
    }
    for (let i = 0; i < 100 && !/stdout is not being read/.test(gw.stderr()); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(gw.stderr(), /access log: stdout is not being read; 65536 bytes are waiting/);
    // Reading again: what arrives is whole JSON lines, fewer than were logged, and the gap is reported.
    let out = '';
    gw.proc.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
    gw.proc.stdout!.resume();
    assert.equal(await one(), 200);
    for (let i = 0; i < 150 && !/stdout is read again; \d+ bytes of lines were dropped/.test(gw.stderr()); i++) {
      await new Promise((r) => setTimeout(r, 20));
      if (i % 25 === 24) await one(); // a new line to write, once the old ones are out
    }
    assert.match(gw.stderr(), /stdout is read again; \d+ bytes of lines were dropped/);
    const lines = out.trim().split('\n');
    for (const l of lines) assert.equal((JSON.parse(l) as { status: number }).status, 200);
    assert.ok(lines.length < sent, `${lines.length} lines of ${sent} arrived`);
    agent.destroy();
  } finally {
    await gw.stop();
    await up.close();
  }
});
