/** Public API of the sinks: the triple-store port, its adapters and the sink service. */
export { selectRows, queryForm, isGraphForm, RESULT_MEDIA_TYPES } from './TripleStore.ts';
export type {
  TripleStore,
  StoreResult,
  QueryResponse,
  ResultFormat,
  QueryForm,
  QueryOptions,
  SparqlJsonResults,
} from './TripleStore.ts';
export { OxigraphEmbeddedStore } from './OxigraphEmbeddedStore.ts';
export type { OxigraphEmbeddedStoreOptions } from './OxigraphEmbeddedStore.ts';
export { QueryError, QueryTimeoutError } from './QueryErrors.ts';
export { SinkService } from './SinkService.ts';
export type { SinkOptions, SinkStats } from './SinkService.ts';
export {
  Rdf4jStore,
  listRepositories,
  createRdf4jRepository,
  deleteRdf4jRepository,
  rdf4jNativeRepositoryConfig,
} from './Rdf4jStore.ts';
export type { Rdf4jStoreOptions } from './Rdf4jStore.ts';
export { SparqlProtocolStore, defaultResultFormat, isRetryableStatus } from './SparqlProtocolStore.ts';
export type { SparqlProtocolStoreOptions, UnionDefaultGraph } from './SparqlProtocolStore.ts';
export { createStore, parseStoreConfig } from './createStore.ts';
export type { StoreConfig, ResolvedStoreConfig, CreateStoreOptions } from './createStore.ts';
