/** Public API of the sinks: the triple-store port, its adapters and the sink service. */
export { selectRows, queryForm, isGraphForm } from './TripleStore.ts';
export type {
  TripleStore,
  StoreResult,
  QueryResponse,
  ResultFormat,
  QueryForm,
  SparqlJsonResults,
} from './TripleStore.ts';
export { OxigraphEmbeddedStore, QueryError } from './OxigraphEmbeddedStore.ts';
export { SinkService } from './SinkService.ts';
export type { SinkOptions, SinkStats } from './SinkService.ts';
