/** The embedded store adapter: Oxigraph (WebAssembly) in process, loaded in batches without transactions. */
import oxigraph from 'oxigraph';
import { OxigraphQueryWorker } from './OxigraphQueryWorker.ts';
import { QueryError } from './QueryErrors.ts';
import {
  isGraphForm,
  RESULT_MEDIA_TYPES,
  queryForm,
  type QueryOptions,
  type QueryResponse,
  type ResultFormat,
  type StoreResult,
  type TripleStore,
} from './TripleStore.ts';

/** Settings of the embedded store. */
export interface OxigraphEmbeddedStoreOptions {
  /**
   * Answer queries on a replica in a worker thread, so that query deadlines (`timeoutMs`) are kept and
   * a long query does not stall the process. Costs a second copy of the data. Default false: queries
   * run synchronously on the caller's thread and deadlines are not enforced.
   */
  queryThread?: boolean;
}

/** Oxigraph in memory. Loads use `no_transaction` (much faster; a failed load may leave part of it). */
export class OxigraphEmbeddedStore implements TripleStore {
  readonly store = new oxigraph.Store();
  private readonly thread: OxigraphQueryWorker | undefined;

  constructor(options: OxigraphEmbeddedStoreOptions = {}) {
    this.thread = options.queryThread
      ? new OxigraphQueryWorker(() => this.store.dump({ format: 'application/n-quads' }))
      : undefined;
  }

  /** Replicas rebuilt after a query ran past its deadline (0 without a query thread). */
  get queryThreadRestarts(): number {
    return this.thread?.restarts ?? 0;
  }

  load(nquads: string): Promise<StoreResult> {
    try {
      this.store.load(nquads, { format: 'application/n-quads', no_transaction: true });
      this.thread?.load(nquads);
      return Promise.resolve({ kind: 'success' });
    } catch (error) {
      return Promise.resolve({ kind: 'failure', error: error as Error });
    }
  }

  query(sparql: string, format?: ResultFormat, options: QueryOptions = {}): Promise<QueryResponse> {
    const graphForm = isGraphForm(queryForm(sparql));
    const f: ResultFormat = format ?? (graphForm ? 'n-triples' : 'json');
    const contentType = RESULT_MEDIA_TYPES[f];
    if (this.thread !== undefined)
      return this.thread
        .query(sparql, contentType, options.timeoutMs)
        .then((body) => ({ contentType, body }));
    try {
      const body = this.store.query(sparql, {
        use_default_graph_as_union: true,
        results_format: contentType,
      });
      if (typeof body !== 'string') throw new Error('unexpected non-serialised result');
      return Promise.resolve({ contentType, body });
    } catch (error) {
      return Promise.reject(new QueryError((error as Error).message, error));
    }
  }

  size(): Promise<number> {
    return Promise.resolve(this.store.size);
  }

  close(): Promise<void> {
    return this.thread?.close() ?? Promise.resolve();
  }
}
