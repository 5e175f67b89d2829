// Config loading for gatemesh: native YAML and Gateway API manifests → GatewayConfig (model.ts).
export { loadConfig, validateConfig, DEFAULT_CONFIG_PATH } from './load';
export type { LoadResult } from './load';
export { ConfigError, AggregateConfigError } from './config-error';
export { CONTROLLER_NAME } from './gateway-api';
export type * from './model';
