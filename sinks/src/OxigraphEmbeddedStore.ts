/** The embedded store adapter: Oxigraph (WebAssembly) in process, loaded in batches without transactions. */
import oxigraph from 'oxigraph';
import { ProvmlError } from '@provml/schemas';
import {
  isGraphForm,
  RESULT_MEDIA_TYPES,
  queryForm,
  type QueryResponse,
  type ResultFormat,
  type StoreResult,
  type TripleStore,
} from './TripleStore.ts';

/** A query the store refused: syntax error or not a read-only query. */
export class QueryError extends ProvmlError {
  constructor(message: string, cause?: unknown) {
    super('invalid-query', message, { cause });
  }
}

/** Oxigraph in memory. Loads use `no_transaction` (much faster; a failed load may leave part of it). */
export class OxigraphEmbeddedStore implements TripleStore {
  readonly store = new oxigraph.Store();

  load(nquads: string): Promise<StoreResult> {
    try {
      this.store.load(nquads, { format: 'application/n-quads', no_transaction: true });
      return Promise.resolve({ kind: 'success' });
    } catch (error) {
      return Promise.resolve({ kind: 'failure', error: error as Error });
    }
  }

  query(sparql: string, format?: ResultFormat): Promise<QueryResponse> {
    const graphForm = isGraphForm(queryForm(sparql));
    const f: ResultFormat = format ?? (graphForm ? 'n-triples' : 'json');
    try {
      const body = this.store.query(sparql, {
        use_default_graph_as_union: true,
        results_format: RESULT_MEDIA_TYPES[f],
      });
      if (typeof body !== 'string') throw new Error('unexpected non-serialised result');
      return Promise.resolve({ contentType: RESULT_MEDIA_TYPES[f], body });
    } catch (error) {
      return Promise.reject(new QueryError((error as Error).message, error));
    }
  }

  size(): Promise<number> {
    return Promise.resolve(this.store.size);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
