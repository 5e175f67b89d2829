// Endpoint health: active checks (main thread), passive outlier detection and Retry-After holds
// (every worker), one SharedArrayBuffer per backend. The balancer reads EndpointAvailability.
export { healthSharedBytes, initHealthShared, sweepHealthShared } from './shared';
export { createEndpointHealth, type EndpointAvailability, type EndpointHealth, type EndpointHealthState } from './endpoint-health';
export { createHealthChecker, type HealthChecker, type HealthCheckerOptions, type HealthLogger, type CheckedBackend, type ActiveCheckStatus } from './checker';
export { parseRetryAfter } from './retry-after';
