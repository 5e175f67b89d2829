// QuotaStore on SQLite: restart resumes the counts, close() loses nothing, the timer syncs,
// ended windows are cleaned from the table and the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';

import type { QuotaPolicy } from '../../../src/config/model';
import { createQuotaLimiter, createQuotaStore, createQuotaTable, quotaTableStats, QUOTA_ALLOWED } from '../../../src/policy/quota';
import { clock, input, policy, results, rule, silentLogger } from './fixtures';

function tmpDb(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatemesh-quota-'));
  return path.join(dir, 'quotas.db');
}

/** Charges `n` requests for `key`; returns how many passed. */
function charge(p: QuotaPolicy, table: SharedArrayBuffer, now: () => number, key: string, n: number): number {
  const q = createQuotaLimiter(p, table, { now });
  const res = results(p.rules.length);
  let ok = 0;
  for (let i = 0; i < n; i++) if (q.check(input(key), res) === QUOTA_ALLOWED) ok++;
  return ok;
}

/** Stored rows' total (all keys, all fields). */
function storedTotal(db: string): number {
  const conn = new Database(db, { readonly: true });
  try {
    return (conn.prepare('SELECT COALESCE(SUM(count), 0) AS n FROM quota_counts').get() as { n: number }).n;
  } finally {
    conn.close();
  }
}

test('restart: counts written, store closed, reopened on a fresh table → they resume', async () => {
  const cases: { desc: string; policy: QuotaPolicy; before: number; after: number; expectAfter: number }[] = [
    { desc: 'calendar day', policy: policy([rule({ requests: 10 })]), before: 7, after: 10, expectAfter: 3 },
    { desc: 'calendar month', policy: policy([rule({ requests: 10, window: 'Month' })]), before: 4, after: 10, expectAfter: 6 },
    { desc: 'rolling hour', policy: policy([rule({ requests: 10, window: 'Hour', alignment: 'Rolling' })]), before: 9, after: 10, expectAfter: 1 },
    { desc: 'rolling day', policy: policy([rule({ requests: 10, window: 'Day', alignment: 'Rolling' })]), before: 10, after: 5, expectAfter: 0 },
  ];
  for (const c of cases) {
    const db = tmpDb();
    const clk = clock('2024-03-10T10:00:00Z');
    const t1 = createQuotaTable(64);
    const s1 = await createQuotaStore({ table: t1, sqlitePath: db, syncMs: 60_000, logger: silentLogger, now: clk.now });
    assert.equal(s1.backend, 'sqlite');
    assert.equal(charge(c.policy, t1, clk.now, 'k1', c.before), c.before, c.desc);
    await s1.close();
    clk.add(60_000);
    const t2 = createQuotaTable(64);
    const s2 = await createQuotaStore({ table: t2, sqlitePath: db, syncMs: 60_000, logger: silentLogger, now: clk.now });
    assert.equal(s2.stats().loaded, 1, `${c.desc}: loaded`);
    assert.equal(charge(c.policy, t2, clk.now, 'k1', c.after), c.expectAfter, `${c.desc}: after restart`);
    await s2.close();
  }
});

test('charges made before the store opened add to the stored counts', async () => {
  const db = tmpDb();
  const clk = clock('2024-03-10T10:00:00Z');
  const p = policy([rule({ requests: 10 })]);
  const t1 = createQuotaTable(64);
  const s1 = await createQuotaStore({ table: t1, sqlitePath: db, syncMs: 60_000, logger: silentLogger, now: clk.now });
  charge(p, t1, clk.now, 'k1', 6);
  await s1.close();
  // Workers serve before main opens the store (src/shared/policy-host.ts): 2 charges on the new table.
  const t2 = createQuotaTable(64);
  assert.equal(charge(p, t2, clk.now, 'k1', 2), 2);
  const s2 = await createQuotaStore({ table: t2, sqlitePath: db, syncMs: 60_000, logger: silentLogger, now: clk.now });
  assert.equal(charge(p, t2, clk.now, 'k1', 10), 2, '6 stored + 2 local = 8 of 10');
  await s2.close();
  assert.equal(storedTotal(db), 10);
});

test('graceful close loses nothing: every charge is in the file', async () => {
  const db = tmpDb();
  const clk = clock('2024-03-10T10:00:00Z');
  const p = policy([rule({ requests: 1_000_000 }), rule({ name: 'r', requests: 1_000_000, window: 'Hour', alignment: 'Rolling' })]);
  const table = createQuotaTable(4096);
  const store = await createQuotaStore({ table, sqlitePath: db, syncMs: 60_000, logger: silentLogger, now: clk.now });
  let passed = 0;
  for (let k = 0; k < 500; k++) passed += charge(p, table, clk.now, `key-${k}`, 1 + (k % 7));
  clk.add(90_000); // into the next rolling sub-bucket
  for (let k = 0; k < 500; k++) passed += charge(p, table, clk.now, `key-${k}`, 1);
  await store.close();
  // Two rules charged per request.
  assert.equal(storedTotal(db), passed * 2);
});

test('the timer syncs every syncMs without flush()', async () => {
  const db = tmpDb();
  const table = createQuotaTable(64);
  const store = await createQuotaStore({ table, sqlitePath: db, syncMs: 30, logger: silentLogger });
  charge(policy([rule({ requests: 100 })]), table, Date.now, 'k1', 5);
  const deadline = Date.now() + 5000;
  while (storedTotal(db) < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(storedTotal(db), 5);
  assert.ok(store.stats().syncs >= 1);
  await store.close();
});

test('ended windows: the table frees their slots, the file drops their rows, a restart ignores them', async () => {
  const cases: { desc: string; policy: QuotaPolicy; later: number }[] = [
    { desc: 'calendar hour', policy: policy([rule({ requests: 5, window: 'Hour' })]), later: 3_600_000 },
    { desc: 'rolling hour', policy: policy([rule({ requests: 5, window: 'Hour', alignment: 'Rolling' })]), later: 3_600_000 + 60_000 },
  ];
  for (const c of cases) {
    const db = tmpDb();
    const clk = clock('2024-03-10T10:30:00Z');
    const table = createQuotaTable(64, 64);
    const store = await createQuotaStore({ table, sqlitePath: db, syncMs: 60_000, logger: silentLogger, now: clk.now });
    for (let k = 0; k < 20; k++) charge(c.policy, table, clk.now, `key-${k}`, 2);
    await store.flush();
    let st = quotaTableStats(table);
    assert.equal(st.calendarKeys + st.rollingKeys, 20, `${c.desc}: live keys`);
    assert.equal(storedTotal(db), 40, `${c.desc}: stored`);
    // Past the window (and the 60 s grace stored rows get for clock skew between instances).
    clk.add(c.later + 60_001);
    await store.flush(); // windows over: slots retired, rows expired
    st = quotaTableStats(table);
    assert.equal(st.calendarKeys + st.rollingKeys, 0, `${c.desc}: slots freed`);
    assert.ok(st.cleaned >= 20, `${c.desc}: cleaned counted`);
    await store.close();
    assert.equal(storedTotal(db), 0, `${c.desc}: rows deleted`);
    // The freed slots are reusable, and a restart loads nothing: a full window's quota again.
    const t2 = createQuotaTable(64, 64);
    const s2 = await createQuotaStore({ table: t2, sqlitePath: db, syncMs: 60_000, logger: silentLogger, now: clk.now });
    assert.equal(s2.stats().loaded, 0);
    assert.equal(charge(c.policy, table, clk.now, 'key-0', 10), 5, `${c.desc}: old table, new window`);
    assert.equal(charge(c.policy, t2, clk.now, 'key-0', 10), 5, `${c.desc}: new table, new window`);
    await s2.close();
  }
});

test('retired slots are reclaimed: a table of 16 keys serves 200 keys over successive windows', async () => {
  const db = tmpDb();
  const clk = clock('2024-03-10T00:00:00Z');
  const p = policy([rule({ requests: 1, window: 'Hour' })]);
  const table = createQuotaTable(16, 16);
  const store = await createQuotaStore({ table, sqlitePath: db, syncMs: 60_000, logger: silentLogger, now: clk.now });
  for (let h = 0; h < 20; h++) {
    for (let k = 0; k < 10; k++) assert.equal(charge(p, table, clk.now, `h${h}-k${k}`, 2), 1, `hour ${h} key ${k}`);
    clk.add(3_600_000);
    await store.flush(); // retire the hour's keys
    await store.flush(); // nothing new: retired slots swept back to EMPTY
  }
  assert.equal(quotaTableStats(table).full, 0, 'never full: retired slots came back');
  await store.close();
});
