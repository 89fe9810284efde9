/** The triple-store port: bulk loads of N-Quads, dropping a named graph, and read-only SPARQL queries over the union of all graphs. */
import { isAbsoluteIri, ValidationError, type Outcome } from '@provml/schemas';

/** Outcome of a load: expected failures are values. */
export type StoreResult = Outcome;

/** Result formats a query may be asked for. */
export type ResultFormat = 'json' | 'xml' | 'csv' | 'tsv' | 'n-triples' | 'turtle';

/** Media type asked for each result format (the `Accept` header of a query). */
export const RESULT_MEDIA_TYPES: Readonly<Record<ResultFormat, string>> = {
  json: 'application/sparql-results+json',
  xml: 'application/sparql-results+xml',
  csv: 'text/csv',
  tsv: 'text/tab-separated-values',
  'n-triples': 'application/n-triples',
  turtle: 'text/turtle',
};

/** A query's answer, already serialised. */
export interface QueryResponse {
  contentType: string;
  body: string;
}

/**
 * The RDF dataset of a query (SPARQL 1.1 §13, Protocol §2.1.4): the default graph is the merge of
 * `defaultGraphs` (none: an empty default graph), `GRAPH` ranges over `namedGraphs` only.
 */
export interface QueryDataset {
  defaultGraphs: readonly string[];
  namedGraphs: readonly string[];
}

/** Per-query settings. */
export interface QueryOptions {
  /** Longest the query may run, ms; past it the adapter stops waiting and throws QueryTimeoutError. */
  timeoutMs?: number;
  /**
   * The dataset to query instead of the union of all graphs: the query's own FROM / FROM NAMED, or
   * the protocol's `default-graph-uri` / `named-graph-uri`. Adapters pass it to the store explicitly
   * (Oxigraph would otherwise let its union default graph override a FROM clause).
   */
  dataset?: QueryDataset;
}

/** A SPARQL query form, as detected before running it. */
export type QueryForm = 'SELECT' | 'ASK' | 'CONSTRUCT' | 'DESCRIBE';

/** A triple store (embedded Oxigraph, RDF4J/GraphDB, any SPARQL 1.1 store). */
export interface TripleStore {
  /** Loads N-Quads (each quad in its own named graph). Loading the same quads twice adds nothing. */
  load(nquads: string): Promise<StoreResult>;
  /**
   * Removes every quad of the named graph `graph` (an absolute IRI); a graph that holds nothing is a
   * success too. Loads and drops take effect in the order they are called (a replaced annotation
   * source: its graph dropped, then its new quads loaded).
   */
  dropGraph(graph: string): Promise<StoreResult>;
  /**
   * Runs a read-only query with the union of all graphs as default graph, or over `options.dataset`.
   * The union is the stores' own: a triple stated in two graphs matches twice (the `/sparql` guard
   * rewrites queries so that it matches once, see query-api's setSemantics).
   * @param format wanted format: `json` for SELECT/ASK, `n-triples` or `turtle` for CONSTRUCT/DESCRIBE.
   * @throws QueryError for a syntax error or an update; QueryTimeoutError past `options.timeoutMs`.
   */
  query(sparql: string, format?: ResultFormat, options?: QueryOptions): Promise<QueryResponse>;
  /** Number of quads held, when the store can tell cheaply. */
  size(): Promise<number>;
  close(): Promise<void>;
}

/**
 * What a store replays to rebuild itself (the embedded store's replicas): N-Quads documents, and the
 * drops of named graphs between them, in the order they were applied.
 */
export type StoreChange = string | { dropGraph: string };

/**
 * The graph IRI in `<…>` for a SPARQL update or a protocol parameter.
 * @throws ValidationError when it is not an absolute IRI (or holds what an IRI reference may not)
 */
export function graphIriRef(graph: string): string {
  if (!isAbsoluteIri(graph))
    throw new ValidationError('not a graph IRI', [
      { path: 'graph', message: `<${graph}> is not an absolute IRI` },
    ]);
  return `<${graph}>`;
}

/** The SPARQL JSON results of a SELECT. */
export interface SparqlJsonResults {
  head: { vars: string[] };
  results: {
    bindings: Record<string, { type: string; value: string; datatype?: string; 'xml:lang'?: string }>[];
  };
}

/** Runs a SELECT and returns plain rows (variable → value string), for internal callers and tests. */
export async function selectRows(
  store: TripleStore,
  sparql: string,
  options?: QueryOptions,
): Promise<Record<string, string>[]> {
  const response = await store.query(sparql, 'json', options);
  const parsed = JSON.parse(response.body) as SparqlJsonResults;
  return parsed.results.bindings.map((b) =>
    Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.value])),
  );
}

const PROLOGUE_THEN_FORM =
  /^\s*(?:(?:PREFIX\s+[^\s:]*:\s*<[^>]*>|BASE\s+<[^>]*>|#[^\n]*(?:\n|$))\s*)*(SELECT|ASK|CONSTRUCT|DESCRIBE)\b/i;

/** The form of a query (after its prologue), or undefined when it is none of the four read forms. */
export function queryForm(sparql: string): QueryForm | undefined {
  return PROLOGUE_THEN_FORM.exec(sparql)?.[1]?.toUpperCase() as QueryForm | undefined;
}

/** Whether a query form answers with a graph (CONSTRUCT/DESCRIBE) rather than results. */
export const isGraphForm = (form: QueryForm | undefined): boolean =>
  form === 'CONSTRUCT' || form === 'DESCRIBE';
