// Concurrency limit (ConcurrencyPolicy): in-flight cap across threads, bounded global queue, optional gradient limit.
export {
  concurrencySharedBytes,
  createConcurrencyLimiter,
  type ConcurrencyLimiter,
  type ConcurrencyWaiter,
} from './concurrency';
