/**
 * Runs a guarded `/sparql` query within the deadline and the result-size limits: results are fetched
 * from the store as SPARQL JSON (or N-Triples for graphs), counted, and only then turned into the
 * format the client asked for, so the row limit is exact whatever the format; the byte limit holds for
 * what the store answered and for what the client gets.
 */
import { Parser, Writer } from 'n3';
import { ProvmlError } from '@provml/schemas';
import {
  RESULT_MEDIA_TYPES,
  type ResultFormat,
  type SparqlJsonResults,
  type TripleStore,
} from '@provml/stores';
import { toRdfXml } from './rdfXml.ts';
import { toDelimited, toXml, type AskJson } from './resultFormats.ts';
import type { GuardedQuery } from './sparqlGuard.ts';

/** An answer larger than the endpoint's result-size limit (rows or bytes). */
export class ResultTooLargeError extends ProvmlError {
  constructor(limit: number, what: 'solutions' | 'triples' | 'bytes') {
    // the byte limit is an option of the query app, not yet a setting of the configurations
    const setting = what === 'bytes' ? '' : ' (query.maxResultRows)';
    super(
      'result-too-large',
      `the answer has more than ${limit} ${what}, the limit of this endpoint${setting}; add a LIMIT, page with OFFSET, or narrow the query`,
      { context: { limit, what } },
    );
  }
}

/**
 * Checks that an answer fits the byte limit (UTF-8), and returns it.
 * @throws ResultTooLargeError naming the limit
 */
export function withinBytes(body: string, maxBytes: number): string {
  if (Buffer.byteLength(body) > maxBytes) throw new ResultTooLargeError(maxBytes, 'bytes');
  return body;
}

/** A format an answer can be written in: the stores' result formats, and RDF/XML (written here). */
export type AnswerFormat = ResultFormat | 'rdf-xml';

/** Media type of RDF/XML. */
export const RDF_XML = 'application/rdf+xml';

/** Limits of one answer. */
export interface AnswerLimits {
  timeoutMs: number;
  maxResultRows: number;
  /** Largest answer, bytes: as the store gives it and as the client gets it. */
  maxResultBytes: number;
}

/** The answer, serialised in `format`. */
export async function answerSparql(
  store: TripleStore,
  query: GuardedQuery,
  format: AnswerFormat,
  limits: AnswerLimits,
): Promise<{ contentType: string; body: string }> {
  const options = { timeoutMs: limits.timeoutMs, dataset: query.dataset };
  const bytes = limits.maxResultBytes;
  if (query.form === 'CONSTRUCT' || query.form === 'DESCRIBE') {
    const body = withinBytes((await store.query(query.text, 'n-triples', options)).body, bytes);
    const triples = new Parser({ format: 'application/n-triples' }).parse(body);
    if (triples.length > limits.maxResultRows) throw new ResultTooLargeError(limits.maxResultRows, 'triples');
    if (format === 'n-triples') return { contentType: RESULT_MEDIA_TYPES['n-triples'], body };
    if (format === 'rdf-xml') return { contentType: RDF_XML, body: withinBytes(toRdfXml(triples), bytes) };
    return {
      contentType: RESULT_MEDIA_TYPES.turtle,
      body: withinBytes(new Writer({ format: 'text/turtle' }).quadsToString(triples), bytes),
    };
  }
  const body = withinBytes((await store.query(query.text, 'json', options)).body, bytes);
  const results = JSON.parse(body) as SparqlJsonResults | AskJson;
  if ('results' in results && results.results.bindings.length > limits.maxResultRows)
    throw new ResultTooLargeError(limits.maxResultRows, 'solutions');
  if (format === 'json') return { contentType: RESULT_MEDIA_TYPES.json, body };
  if (format === 'xml')
    return { contentType: RESULT_MEDIA_TYPES.xml, body: withinBytes(toXml(results), bytes) };
  if ('boolean' in results) return { contentType: RESULT_MEDIA_TYPES.json, body };
  const delimited = format === 'csv' ? 'csv' : 'tsv';
  return {
    contentType: RESULT_MEDIA_TYPES[delimited],
    body: withinBytes(toDelimited(results, delimited), bytes),
  };
}
