// Child process for crash.test.ts: a gatemesh-like process charging a quota at a steady rate
// with a QuotaStore on SQLite, reporting every batch to the parent, until it is SIGKILLed.
//   node crash-child.js <db> <syncMs>
import { createQuotaLimiter, createQuotaStore, createQuotaTable, QUOTA_ALLOWED } from '../../../src/policy/quota';
import { input, policy, results, rule, silentLogger } from './fixtures';

async function main(): Promise<void> {
  const [db, syncMs] = [process.argv[2], Number(process.argv[3])];
  const table = createQuotaTable(64);
  const store = await createQuotaStore({ table, sqlitePath: db, syncMs, logger: silentLogger });
  const q = createQuotaLimiter(policy([rule({ requests: 1_000_000_000 })]), table);
  const res = results(1);
  const req = input('crash-key');
  let charged = 0;
  // 5 requests every 5 ms (~1000/s); each batch is reported before the next one is charged.
  setInterval(() => {
    for (let i = 0; i < 5; i++) if (q.check(req, res) === QUOTA_ALLOWED) charged++;
    process.send!({ charged, t: Date.now(), syncs: store.stats().syncs });
  }, 5);
  process.send!({ ready: true });
}

if (process.send !== undefined) void main();
