// Quotas: requests per key over long windows (Hour, Day, Month; Calendar-aligned to UTC or
// Rolling), decided on worker threads against one shared table and made durable by the main
// thread's store (SQLite or Redis).
//   main thread: createQuotaTable(maxKeys) at start-up, createQuotaStore({ table, ... }) once quotas exist;
//   worker:      createQuotaLimiter(policy, table) per QuotaPolicy at config apply, check() per request.
export { createQuotaTable, quotaTableStats, type QuotaTableStats } from './table';
export {
  createQuotaLimiter,
  quotaRuleId,
  QUOTA_ALLOWED,
  QUOTA_KEY_MISSING,
  QUOTA_PROBLEM_CONTENT_TYPE,
  QUOTA_PROBLEM_TYPE,
  QUOTA_ROLLING_BUCKETS,
  type QuotaLimiter,
  type QuotaLimiterOptions,
} from './limiter';
export { createQuotaStore, DEFAULT_QUOTA_DB, type QuotaStore, type QuotaStoreOptions, type QuotaStoreStats } from './store';
