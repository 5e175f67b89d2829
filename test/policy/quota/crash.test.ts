// Crash simulation: a child process charging a quota is SIGKILLed; what the SQLite file holds
// must be within one sync interval of what was charged, and a restart resumes from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';

import { createQuotaLimiter, createQuotaStore, createQuotaTable } from '../../../src/policy/quota';
import { input, policy, results, rule, silentLogger } from './fixtures';

const CHILD = path.join(__dirname, 'crash-child.js');
/** Timer jitter and the sync's own duration, ms, on a loaded CI machine. */
const SLACK_MS = 150;

interface Report {
  charged: number;
  t: number;
  syncs: number;
}

test('SIGKILL loses at most one sync interval of charges; a restart resumes from the file', async (t) => {
  const cases: { desc: string; syncMs: number; runMs: number }[] = [
    { desc: 'syncMs 200, killed after ~1.1 s', syncMs: 200, runMs: 1100 },
    { desc: 'syncMs 500, killed after ~1.3 s', syncMs: 500, runMs: 1300 },
  ];
  for (const c of cases) {
    const db = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gatemesh-quota-crash-')), 'quotas.db');
    const child = fork(CHILD, [db, String(c.syncMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const reports: Report[] = [];
    await new Promise<void>((resolve, reject) => {
      child.on('message', (m: Report | { ready: true }) => {
        if ('ready' in m) resolve();
        else reports.push(m);
      });
      child.once('exit', (code) => reject(new Error(`child exited early: ${code}`)));
    });
    await new Promise((r) => setTimeout(r, c.runMs));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    const killedAt = Date.now();
    await exited;
    assert.ok(reports.length > 10, `${c.desc}: the child ran`);
    const last = reports[reports.length - 1];

    const conn = new Database(db, { readonly: true });
    const stored = (conn.prepare('SELECT COALESCE(SUM(count), 0) AS n FROM quota_counts').get() as { n: number }).n;
    conn.close();

    // Everything charged up to one sync interval (plus slack) before the kill is in the file…
    const oldEnough = reports.filter((r) => r.t <= killedAt - c.syncMs - SLACK_MS);
    const mustHave = oldEnough.length === 0 ? 0 : oldEnough[oldEnough.length - 1].charged;
    assert.ok(stored >= mustHave, `${c.desc}: stored ${stored} ≥ charged ${mustHave} one sync interval before the kill`);
    // …and nothing more than was charged (one unreported batch of 5 at most).
    assert.ok(stored <= last.charged + 5, `${c.desc}: stored ${stored} ≤ charged ${last.charged} + 5`);
    assert.ok(stored > 0, `${c.desc}: at least one sync happened`);
    const lost = last.charged - stored;
    const perInterval = Math.round((last.charged / (last.t - reports[0].t)) * c.syncMs);
    t.diagnostic(`${c.desc}: charged ≥ ${last.charged}, stored ${stored}, lost ${lost} (one sync interval ≈ ${perInterval} charges)`);
    assert.ok(lost <= perInterval + Math.ceil((SLACK_MS / c.syncMs) * perInterval) + 5, `${c.desc}: lost ${lost} ≤ one interval`);

    // Restart: a new table and store on the file resume from what was stored.
    const table = createQuotaTable(64);
    const store = await createQuotaStore({ table, sqlitePath: db, syncMs: 60_000, logger: silentLogger });
    const q = createQuotaLimiter(policy([rule({ requests: 1_000_000_000 })]), table);
    const res = results(1);
    q.check(input('crash-key'), res);
    assert.equal(res[0].remaining, 1_000_000_000 - stored - 1, `${c.desc}: resumed`);
    await store.close();
  }
});
