/** Public API of the sidecar agent: the HTTP and socket ingest, the spool-backed publisher and the agent service. */
export { registerAgentMetrics } from './agentMetrics.ts';
export { startAgent } from './agentService.ts';
export type { RunningAgent } from './agentService.ts';
export { LogIngestTarget } from './ingest/IngestTarget.ts';
export type { IngestTarget } from './ingest/IngestTarget.ts';
export { createIngestApp } from './ingest/createIngestApp.ts';
export type { IngestAppOptions } from './ingest/createIngestApp.ts';
export { MAX_EVENTS_PER_REQUEST, parseEventBody } from './ingest/parseEventBody.ts';
export type { ParsedBody } from './ingest/parseEventBody.ts';
export { formatProgress, formatSummary, replaySpool } from './replaySpool.ts';
export type { ReplayOptions, ReplayProgress, ReplaySummary } from './replaySpool.ts';
export { HttpPublishPort } from './ingest/HttpPublishPort.ts';
export type { HttpPublishPortOptions } from './ingest/HttpPublishPort.ts';
export { createIngestServer, DEFAULT_INGEST_SERVER_LIMITS, listenIngest } from './ingest/ingestServer.ts';
export type { IngestServerLimits } from './ingest/ingestServer.ts';
