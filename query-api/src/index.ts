/** Public API of the query API package: the apps, the embedded stack and its configuration. */
export { EmbeddedStack } from './embedded/EmbeddedStack.ts';
export { resolveEmbeddedConfig, EMBEDDED_ENV } from './embedded/EmbeddedConfig.ts';
export type { EmbeddedConfig } from './embedded/EmbeddedConfig.ts';
export { createQueryApp } from './query/createQueryApp.ts';
export type { QueryAppOptions } from './query/createQueryApp.ts';
export { createIngestApp } from './ingest/createIngestApp.ts';
export type { IngestAppOptions } from './ingest/createIngestApp.ts';
export { LogIngestTarget } from './ingest/IngestTarget.ts';
export type { IngestTarget } from './ingest/IngestTarget.ts';
export { parseEventBody, MAX_EVENTS_PER_REQUEST } from './ingest/parseEventBody.ts';
export type { ParsedBody } from './ingest/parseEventBody.ts';
export { createMetrics } from './metrics/createMetrics.ts';
export type { Metrics, MetricSources } from './metrics/createMetrics.ts';
