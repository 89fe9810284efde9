/** Public API of the triple stores: the store port (load, drop a graph, query) and its RDF4J, SPARQL-protocol and embedded Oxigraph adapters. */
export { OxigraphEmbeddedStore } from './OxigraphEmbeddedStore.ts';
export type { OxigraphEmbeddedStoreOptions } from './OxigraphEmbeddedStore.ts';
export type { QueryCaller, QueryPoolStats } from './OxigraphQueryWorker.ts';
export { QueryError, QueryTimeoutError } from './QueryErrors.ts';
export { AnswerTooLargeError, TooManyQueriesError } from './QueryLimitErrors.ts';
export {
  Rdf4jStore,
  createRdf4jRepository,
  deleteRdf4jRepository,
  listRepositories,
  rdf4jNativeRepositoryConfig,
} from './Rdf4jStore.ts';
export type { Rdf4jStoreOptions } from './Rdf4jStore.ts';
export { SparqlProtocolStore, defaultResultFormat, isRetryableStatus } from './SparqlProtocolStore.ts';
export type { SparqlProtocolStoreOptions, UnionDefaultGraph } from './SparqlProtocolStore.ts';
export { RESULT_MEDIA_TYPES, graphIriRef, isGraphForm, queryForm, selectRows } from './TripleStore.ts';
export type {
  QueryForm,
  QueryDataset,
  QueryOptions,
  QueryResponse,
  ResultFormat,
  SparqlJsonResults,
  StoreChange,
  StoreResult,
  TripleStore,
} from './TripleStore.ts';
export { createStore } from './createStore.ts';
export { parseStoreConfig, storeConfigSchema } from './storeConfig.ts';
export type { CreateStoreOptions } from './createStore.ts';
export type { ResolvedStoreConfig, StoreConfig } from './storeConfig.ts';
