/** The store adapter for any SPARQL 1.1 server (Oxigraph server, Fuseki): Graph Store Protocol loads and drops, Protocol queries. */
import { DataFactory, Parser, Writer, type Quad } from 'n3';
import { DependencyError, silentLogger, type Logger } from '@provml/schemas';
import { QueryError, QueryTimeoutError } from './QueryErrors.ts';
import { AnswerTooLargeError } from './QueryLimitErrors.ts';
import {
  graphIriRef,
  isGraphForm,
  queryForm,
  RESULT_MEDIA_TYPES,
  type QueryDataset,
  type QueryOptions,
  type QueryResponse,
  type ResultFormat,
  type StoreResult,
  type TripleStore,
} from './TripleStore.ts';

/** The format a query gets when none is asked: N-Triples for CONSTRUCT/DESCRIBE, JSON otherwise. */
export const defaultResultFormat = (sparql: string): ResultFormat =>
  isGraphForm(queryForm(sparql)) ? 'n-triples' : 'json';

/**
 * Whether an HTTP status answering a load means "try again later" rather than "this data is bad".
 * Only 400 (parse error), 413 (too large: the sink splits the batch), 415 and 422 reject the data;
 * everything else (5xx, 429, and also 401/403/404, a store misconfigured or a repository missing) keeps
 * the batch waiting instead of dead-lettering good records.
 */
export const isRetryableStatus = (status: number): boolean => ![400, 413, 415, 422].includes(status);

/** How the union of all graphs is made the default graph of a query. */
export type UnionDefaultGraph =
  /** Oxigraph server: the `union-default-graph` query parameter. */
  | 'oxigraph'
  /** Apache Jena Fuseki: `default-graph-uri=urn:x-arq:UnionGraph`. */
  | 'jena'
  /** The server does it already (Oxigraph `--union-default-graph`, Fuseki `tdb2:unionDefaultGraph`). */
  | 'server';

const UNION_PARAMS: Readonly<Record<UnionDefaultGraph, readonly [string, string][]>> = {
  oxigraph: [['union-default-graph', '']],
  jena: [['default-graph-uri', 'urn:x-arq:UnionGraph']],
  server: [],
};

/** Endpoints and behaviour of a SPARQL 1.1 store. */
export interface SparqlProtocolStoreOptions {
  /** SPARQL 1.1 Protocol query endpoint: Oxigraph `http://host:7878/query`, Fuseki `http://host:3030/ds/sparql`. */
  queryEndpoint: string;
  /** SPARQL 1.1 Graph Store Protocol endpoint: Oxigraph `http://host:7878/store`, Fuseki `http://host:3030/ds/data`. */
  storeEndpoint: string;
  /**
   * `dataset` (default): the whole batch in one POST of N-Quads to `storeEndpoint` without a graph
   * parameter; Oxigraph and Fuseki load it as a dataset, each quad into its graph. `graphs`: the batch is
   * grouped by graph and each group POSTed as N-Triples to `storeEndpoint?graph=<iri>` (`?default` for the
   * default graph), for stores that only take triples. Never a triple format without a graph parameter:
   * Oxigraph would put it into a new graph with a random name. In `graphs` mode a blank node shared by
   * two graphs of a batch becomes two blank nodes.
   */
  loadMode?: 'dataset' | 'graphs';
  /** Extra query parameters of every load, e.g. `{ no_transaction: '' }` for Oxigraph's bulk loader. */
  loadParams?: Readonly<Record<string, string>>;
  /** How queries see the union of all graphs. Default `oxigraph`. */
  unionDefaultGraph?: UnionDefaultGraph;
  /** Limit of each HTTP request, ms. Default 60000. */
  timeoutMs?: number;
  /**
   * Largest answer, bytes: the response is read up to it, then the connection is closed and the
   * query fails with AnswerTooLargeError. Default 64 MiB.
   */
  maxResultBytes?: number;
  /**
   * Send a query's deadline to the server as the `timeout` parameter (seconds), so that the server
   * stops evaluating: Fuseki honours it. Oxigraph server takes no per-query deadline (start it with
   * `--timeout-s`; it then ends a streamed answer with a cancellation notice, read here as a
   * timeout). Default: true with `unionDefaultGraph: 'jena'`.
   */
  forwardTimeout?: boolean;
  /** Extra headers of every request (e.g. `authorization`). */
  headers?: Readonly<Record<string, string>>;
  logger?: Logger;
}

/** What Oxigraph server writes into a streamed answer it stops at its `--timeout-s`. */
const OXIGRAPH_CANCELLED = 'The SPARQL operation has been cancelled';

/**
 * A response body up to `maxBytes`: past it the read is cancelled (closing the connection, which
 * also stops a server streaming the answer) and AnswerTooLargeError thrown.
 */
export async function readLimited(response: Response, maxBytes: number): Promise<string> {
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  // leaving the loop early cancels the stream
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new AnswerTooLargeError(maxBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/** The start of a response body, for error messages. */
async function excerpt(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/** A SPARQL 1.1 store over HTTP. Loads are idempotent (RDF set semantics) except for blank nodes. */
export class SparqlProtocolStore implements TripleStore {
  private readonly loadMode: 'dataset' | 'graphs';
  private readonly union: readonly [string, string][];
  private readonly timeoutMs: number;
  private readonly maxResultBytes: number;
  private readonly forwardTimeout: boolean;
  private readonly logger: Logger;

  constructor(private readonly options: SparqlProtocolStoreOptions) {
    this.loadMode = options.loadMode ?? 'dataset';
    this.union = UNION_PARAMS[options.unionDefaultGraph ?? 'oxigraph'];
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxResultBytes = options.maxResultBytes ?? 64 * 2 ** 20;
    this.forwardTimeout = options.forwardTimeout ?? options.unionDefaultGraph === 'jena';
    this.logger = options.logger ?? silentLogger;
  }

  async load(nquads: string): Promise<StoreResult> {
    if (nquads.trim() === '') return { kind: 'success' };
    if (this.loadMode === 'dataset') return this.post([], 'application/n-quads', nquads);
    let groups: Map<string, Quad[]>;
    try {
      groups = groupByGraph(new Parser({ format: 'application/n-quads' }).parse(nquads));
    } catch (error) {
      return { kind: 'failure', error: error as Error };
    }
    for (const [graph, quads] of groups) {
      const triples = quads.map((q) => DataFactory.quad(q.subject, q.predicate, q.object));
      const body = new Writer({ format: 'application/n-triples' }).quadsToString(triples);
      const result = await this.post(
        graph === '' ? [['default', '']] : [['graph', graph]],
        'application/n-triples',
        body,
      );
      if (result.kind !== 'success') return result;
    }
    return { kind: 'success' };
  }

  /**
   * Graph Store Protocol `DELETE storeEndpoint?graph=<iri>`; a graph the store does not hold (404) is
   * already dropped.
   */
  async dropGraph(graph: string): Promise<StoreResult> {
    try {
      graphIriRef(graph);
    } catch (error) {
      return { kind: 'failure', error: error as Error };
    }
    const url = withParams(this.options.storeEndpoint, [['graph', graph]]);
    return this.send('DELETE', url, { ...this.options.headers }, undefined, [404]);
  }

  private post(params: [string, string][], contentType: string, body: string): Promise<StoreResult> {
    const url = withParams(this.options.storeEndpoint, [
      ...params,
      ...Object.entries(this.options.loadParams ?? {}),
    ]);
    return this.send('POST', url, { ...this.options.headers, 'content-type': contentType }, body);
  }

  /** One change request to the store; `alsoOk` statuses count as success. */
  private async send(
    method: 'POST' | 'DELETE',
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
    alsoOk: readonly number[] = [],
  ): Promise<StoreResult> {
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      this.logger.debug('store unreachable', { url, error });
      return { kind: 'retryable', error: unreachable(url, error) };
    }
    if (response.ok || alsoOk.includes(response.status)) {
      await response.body?.cancel();
      return { kind: 'success' };
    }
    const error = new DependencyError(
      'store-rejected',
      `${method} ${url}: HTTP ${response.status} ${await excerpt(response)}`,
      {
        retriable: isRetryableStatus(response.status),
        context: { status: response.status },
      },
    );
    return { kind: error.retriable ? 'retryable' : 'failure', error };
  }

  async query(sparql: string, format?: ResultFormat, options: QueryOptions = {}): Promise<QueryResponse> {
    const f = format ?? defaultResultFormat(sparql);
    const limit = options.timeoutMs;
    const signal = AbortSignal.timeout(limit ?? this.timeoutMs);
    const extra: [string, string][] =
      options.dataset === undefined ? this.union.map(([k, v]) => [k, v]) : datasetParams(options.dataset);
    if (this.forwardTimeout && limit !== undefined)
      extra.push(['timeout', String(Math.max(1, Math.ceil(limit / 1000)))]);
    try {
      const response = await this.ask(sparql, RESULT_MEDIA_TYPES[f], extra, signal);
      const body = await readLimited(response, this.maxResultBytes);
      // a server that stops a streamed answer at its own deadline has already sent 200
      if (body.lastIndexOf(OXIGRAPH_CANCELLED) >= Math.max(0, body.length - 200))
        throw new QueryTimeoutError(limit ?? this.timeoutMs);
      return {
        contentType: baseType(response.headers.get('content-type')) ?? RESULT_MEDIA_TYPES[f],
        body,
      };
    } catch (error) {
      // closing the connection is all the protocol offers: the server may finish the query unseen
      if (limit !== undefined && signal.aborted) throw new QueryTimeoutError(limit, error);
      throw error;
    }
  }

  /** Sends a query (form-encoded POST); answers the OK response or throws QueryError / DependencyError. */
  private async ask(
    sparql: string,
    accept: string,
    extra: readonly [string, string][],
    signal = AbortSignal.timeout(this.timeoutMs),
  ): Promise<Response> {
    const form = new URLSearchParams([['query', sparql], ...extra]);
    let response: Response;
    try {
      response = await fetch(this.options.queryEndpoint, {
        method: 'POST',
        headers: { ...this.options.headers, 'content-type': 'application/x-www-form-urlencoded', accept },
        body: form,
        signal,
      });
    } catch (error) {
      if (signal.aborted) throw error;
      throw unreachable(this.options.queryEndpoint, error);
    }
    if (response.ok) return response;
    const detail = await excerpt(response);
    if (response.status === 400) throw new QueryError(detail || 'malformed query');
    if (response.status === 406) throw new QueryError(`no ${accept} answer for this query form: ${detail}`);
    throw new DependencyError(
      'query-failed',
      `query at ${this.options.queryEndpoint}: HTTP ${response.status} ${detail}`,
      {
        retriable: response.status >= 500 || response.status === 429,
        context: { status: response.status },
      },
    );
  }

  /** Quads in the store: the default graph's triples plus every named graph's (asked without union). */
  async size(): Promise<number> {
    const response = await this.ask(
      'SELECT (COUNT(*) AS ?n) WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }',
      RESULT_MEDIA_TYPES.json,
      [],
    );
    const parsed = (await response.json()) as { results: { bindings: { n?: { value: string } }[] } };
    return Number(parsed.results.bindings[0]?.n?.value ?? 0);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The protocol's dataset parameters (§2.1.4). A dataset with named graphs only gets no
 * `default-graph-uri`, which the protocol reads as "default graph of the service", so the empty
 * default graph is asked for with a graph name no store holds.
 */
export function datasetParams(dataset: QueryDataset): [string, string][] {
  const defaults = dataset.defaultGraphs.length === 0 ? [EMPTY_GRAPH] : dataset.defaultGraphs;
  return [
    ...defaults.map((iri): [string, string] => ['default-graph-uri', iri]),
    ...dataset.namedGraphs.map((iri): [string, string] => ['named-graph-uri', iri]),
  ];
}

/** A graph name that holds nothing: the default graph of a dataset declared with named graphs only. */
export const EMPTY_GRAPH = 'urn:provml:dataset/empty-default-graph';

/** Quads grouped by graph IRI ('' for the default graph), in first-seen order. */
function groupByGraph(quads: readonly Quad[]): Map<string, Quad[]> {
  const groups = new Map<string, Quad[]>();
  for (const q of quads) {
    if (q.graph.termType === 'BlankNode')
      throw new Error(`a blank node graph name (_:${q.graph.value}) cannot be addressed`);
    const key = q.graph.termType === 'DefaultGraph' ? '' : q.graph.value;
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = []));
    group.push(q);
  }
  return groups;
}

/** `url` with query parameters added; a value '' gives a bare `name` (`?default`, `?union-default-graph`). */
function withParams(url: string, params: readonly (readonly [string, string])[]): string {
  if (params.length === 0) return url;
  const query = params
    .map(([k, v]) => (v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
    .join('&');
  return `${url}${url.includes('?') ? '&' : '?'}${query}`;
}

/** The media type of a Content-Type header, without parameters. */
export const baseType = (header: string | null): string | undefined =>
  header === null ? undefined : header.split(';')[0]!.trim().toLowerCase();

/** A retriable error for a request that got no HTTP answer (refused, reset, timed out). */
function unreachable(url: string, error: unknown): DependencyError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (error as Error).message;
  return new DependencyError('store-unreachable', `no answer from ${url}: ${why}`, {
    retriable: true,
    cause: error,
  });
}
