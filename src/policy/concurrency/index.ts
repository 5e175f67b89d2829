// Concurrency limit (ConcurrencyPolicy): in-flight cap across threads, bounded global queue, optional gradient limit.
export {
  concurrencySharedBytes,
  createConcurrencyLimiter,
  readConcurrencyShared,
  type ConcurrencySnapshot,
  type ConcurrencyLimiter,
  type ConcurrencyWaiter,
} from './concurrency';
