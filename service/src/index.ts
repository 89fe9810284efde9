/** Public API of what every deployable process shares: its configuration, bearer auth, the Kafka log of a configuration, metrics and command-line plumbing. */
export { DEFAULT_PORTS, PORT_ENV, SERVICE_ENV, resolveServiceConfig, topicNames } from './ServiceConfig.ts';
export type { ServiceConfig, ServiceName } from './ServiceConfig.ts';
export { resolveAuth } from './auth/AuthConfig.ts';
export { BearerAuth, tokenId } from './auth/BearerAuth.ts';
export {
  authMiddleware,
  ingestRouteScopes,
  pathOf,
  queryRouteScopes,
  roleOf,
  sendJson,
  tokenIdOf,
} from './auth/authMiddleware.ts';
export type { ResponseLocals } from './auth/authMiddleware.ts';
export { createMetrics } from './createMetrics.ts';
export type { MetricSources, Metrics } from './createMetrics.ts';
export { PROCESS_METRIC_NAMES } from './processMetrics.ts';
export { gauge, mirroredCounter, registerStats } from './statMetrics.ts';
export type { StatMetric } from './statMetrics.ts';
export { connectLog, kafkaLogOptions, requireBroker } from './kafkaLog.ts';
export { claimInstanceId } from './InstanceIdClaim.ts';
export type { InstanceIdClaim } from './InstanceIdClaim.ts';
export type { RunningService } from './kafkaLog.ts';
export { eventCodec, registryCodec } from './registryCodec.ts';
export type { EventCodec } from './registryCodec.ts';
export { closeServer, listen, metricsRoute, urlOf } from './http.ts';
export {
  exitWithError,
  onSignals,
  portAdvice,
  runningLine,
  serviceConfigFromArgs,
} from './serviceCommand.ts';
export { SHARED_ENV, SHARED_SETTINGS } from './settings.ts';
