/** Public API of the sinks: the sink service that bulk-loads the triples topic into a triple store. */
export { SinkService } from './SinkService.ts';
export type { SinkOptions, SinkStats } from './SinkService.ts';
