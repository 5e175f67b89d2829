// Circuit breaker per backend (Envoy thresholds), counted across threads.
export {
  BREAKER_DEFAULTS,
  breakerSharedBytes,
  createCircuitBreaker,
  type BreakerOverflows,
  type CircuitBreaker,
} from './circuit-breaker';
