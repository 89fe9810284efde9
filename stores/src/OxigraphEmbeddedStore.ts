/** The embedded store adapter: Oxigraph (WebAssembly) in process, loaded in batches without transactions. */
import oxigraph from 'oxigraph';
import type { Logger } from '@provml/schemas';
import { OxigraphQueryPool, type QueryCaller, type QueryPoolStats } from './OxigraphQueryWorker.ts';
import { QueryError } from './QueryErrors.ts';
import { AnswerTooLargeError } from './QueryLimitErrors.ts';
import {
  isGraphForm,
  RESULT_MEDIA_TYPES,
  queryForm,
  type QueryOptions,
  type QueryResponse,
  graphIriRef,
  type ResultFormat,
  type StoreChange,
  type StoreResult,
  type TripleStore,
} from './TripleStore.ts';

/** Settings of the embedded store. */
export interface OxigraphEmbeddedStoreOptions {
  /** One query thread (`queryWorkers: 1`); kept for callers of the first version. */
  queryThread?: boolean;
  /**
   * Answer queries on replicas in this many worker threads, so that query deadlines (`timeoutMs`)
   * are kept, a long query does not stall the process and queries run side by side. Each thread
   * holds a copy of the data. Default 0: queries run synchronously on the caller's thread and
   * deadlines are not enforced.
   */
  queryWorkers?: number;
  /**
   * Everything loaded so far, as batches of N-Quads documents and the graph drops between them, in
   * order: what a new replica replays (the embedded stack gives its triples topic). Default: the
   * store keeps every load and drop in memory for it.
   */
  replay?: () => AsyncIterable<readonly StoreChange[]>;
  /**
   * Keep a full copy on the caller's thread too (`store`). Default: only without query threads;
   * with them, every read goes to a replica and the caller's thread holds no data.
   */
  localCopy?: boolean;
  /** Largest answer in bytes (serialised in the query thread, refused past it). Default 64 MiB. */
  maxResultBytes?: number;
  /** Query threads: a query running longer is heavy (see OxigraphQueryPool). Default 1000 ms. */
  heavyAfterMs?: number;
  /** Query threads: heavy queries one client may run at once. Default 1. */
  maxHeavyPerClient?: number;
  /** Query threads: a replica that grew by more than this answering a query is replaced. Default 256 MiB. */
  memoryHeadroomBytes?: number;
  /** Query threads: who asks the query being run (client address, untrusted text). */
  caller?: () => QueryCaller | undefined;
  logger?: Logger;
}

/** Oxigraph in memory. Loads use `no_transaction` (much faster; a failed load may leave part of it). */
export class OxigraphEmbeddedStore implements TripleStore {
  private readonly local: oxigraph.Store | undefined;
  private readonly pool: OxigraphQueryPool | undefined;
  /** Every load and drop, when the replicas have no other source to replay. */
  private readonly journal: StoreChange[] | undefined;
  private readonly maxResultBytes: number;

  constructor(options: OxigraphEmbeddedStoreOptions = {}) {
    const workers = options.queryWorkers ?? (options.queryThread === true ? 1 : 0);
    this.maxResultBytes = options.maxResultBytes ?? 64 * 2 ** 20;
    this.local = (options.localCopy ?? workers === 0) ? new oxigraph.Store() : undefined;
    if (workers > 0) {
      const journal = options.replay === undefined ? (this.journal = []) : undefined;
      this.pool = new OxigraphQueryPool({
        workers,
        replay:
          options.replay ??
          async function* () {
            // each load is one part, so a load the store refused is passed over alone
            for (let i = 0; i < journal!.length; i += 64) {
              yield journal!.slice(i, i + 64);
              await new Promise<void>((resolve) => setImmediate(resolve));
            }
          },
        maxResultBytes: this.maxResultBytes,
        heavyAfterMs: options.heavyAfterMs,
        maxHeavyPerClient: options.maxHeavyPerClient,
        memoryHeadroomBytes: options.memoryHeadroomBytes,
        caller: options.caller,
        logger: options.logger,
      });
    }
  }

  /** The copy on the caller's thread. @throws Error when this store keeps none (`localCopy`). */
  get store(): oxigraph.Store {
    if (this.local === undefined)
      throw new Error(
        'this store keeps no copy on the caller’s thread: query it (every read goes to a replica)',
      );
    return this.local;
  }

  /** Resolves once the query threads' first replicas are built (at once without threads). */
  ready(): Promise<void> {
    return this.pool?.ready() ?? Promise.resolve();
  }

  /** Threads ended (a query past its deadline, a crash, memory) and replaced (0 without threads). */
  get queryThreadRestarts(): number {
    return this.pool?.stats().replaced ?? 0;
  }

  /** The query threads' state (undefined without threads). */
  queryStats(): QueryPoolStats | undefined {
    return this.pool?.stats();
  }

  /** Why the query side cannot take a query at once (all threads busy, no replica ready), or null. */
  saturation(): string | null {
    return this.pool?.saturation() ?? null;
  }

  load(nquads: string): Promise<StoreResult> {
    return this.apply(nquads);
  }

  dropGraph(graph: string): Promise<StoreResult> {
    try {
      graphIriRef(graph);
    } catch (error) {
      return Promise.resolve({ kind: 'failure', error: error as Error });
    }
    return this.apply({ dropGraph: graph });
  }

  /** Applies a load or a drop to the local copy and to every replica, in order. */
  private apply(change: StoreChange): Promise<StoreResult> {
    if (this.local !== undefined) {
      try {
        if (typeof change === 'string')
          this.local.load(change, { format: 'application/n-quads', no_transaction: true });
        else this.local.update(`DROP SILENT GRAPH ${graphIriRef(change.dropGraph)}`);
      } catch (error) {
        return Promise.resolve({ kind: 'failure', error: error as Error });
      }
    }
    if (this.pool === undefined) return Promise.resolve({ kind: 'success' });
    // journalled before it is sent, so that a replica built meanwhile cannot miss it
    this.journal?.push(change);
    const result = this.pool.load(change);
    // with a local copy its outcome is the answer; replicas get the change before any later query
    return this.local === undefined ? result : Promise.resolve({ kind: 'success' });
  }

  query(sparql: string, format?: ResultFormat, options: QueryOptions = {}): Promise<QueryResponse> {
    const graphForm = isGraphForm(queryForm(sparql));
    const f: ResultFormat = format ?? (graphForm ? 'n-triples' : 'json');
    const contentType = RESULT_MEDIA_TYPES[f];
    if (this.pool !== undefined)
      return this.pool
        .query(
          sparql,
          contentType,
          options.timeoutMs,
          queryForm(sparql) === undefined ? undefined : graphForm,
          options.dataset,
        )
        .then((body) => ({ contentType, body }));
    try {
      const { dataset } = options;
      const body = this.store.query(sparql, {
        ...(dataset === undefined
          ? { use_default_graph_as_union: true }
          : {
              default_graph: dataset.defaultGraphs.map((iri) => oxigraph.namedNode(iri)),
              named_graphs: dataset.namedGraphs.map((iri) => oxigraph.namedNode(iri)),
            }),
        results_format: contentType,
      });
      if (typeof body !== 'string') throw new Error('unexpected non-serialised result');
      if (body.length * 3 > this.maxResultBytes && Buffer.byteLength(body, 'utf8') > this.maxResultBytes)
        return Promise.reject(new AnswerTooLargeError(this.maxResultBytes));
      return Promise.resolve({ contentType, body });
    } catch (error) {
      return Promise.reject(new QueryError((error as Error).message, error));
    }
  }

  size(): Promise<number> {
    return this.local !== undefined ? Promise.resolve(this.local.size) : this.pool!.count();
  }

  close(): Promise<void> {
    return this.pool?.close() ?? Promise.resolve();
  }
}
