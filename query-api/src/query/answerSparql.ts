/**
 * Runs a guarded `/sparql` query within the deadline and the result-size limit: results are fetched
 * from the store as SPARQL JSON (or N-Triples for graphs), counted, and only then turned into the
 * format the client asked for, so the limit is exact whatever the format.
 */
import { Parser, Writer } from 'n3';
import { ProvmlError } from '@provml/schemas';
import {
  RESULT_MEDIA_TYPES,
  type ResultFormat,
  type SparqlJsonResults,
  type TripleStore,
} from '@provml/stores';
import { toDelimited, toXml, type AskJson } from './resultFormats.ts';
import type { GuardedQuery } from './sparqlGuard.ts';

/** An answer larger than the endpoint's result-size limit. */
export class ResultTooLargeError extends ProvmlError {
  constructor(limit: number, what: 'solutions' | 'triples') {
    super(
      'result-too-large',
      `the answer has more than ${limit} ${what}, the limit of this endpoint (query.maxResultRows); add a LIMIT, page with OFFSET, or narrow the query`,
      { context: { limit } },
    );
  }
}

/** Limits of one answer. */
export interface AnswerLimits {
  timeoutMs: number;
  maxResultRows: number;
}

/** The answer, serialised in `format`. */
export async function answerSparql(
  store: TripleStore,
  query: GuardedQuery,
  format: ResultFormat,
  limits: AnswerLimits,
): Promise<{ contentType: string; body: string }> {
  const options = { timeoutMs: limits.timeoutMs };
  if (query.form === 'CONSTRUCT' || query.form === 'DESCRIBE') {
    const { body } = await store.query(query.text, 'n-triples', options);
    const triples = new Parser({ format: 'application/n-triples' }).parse(body);
    if (triples.length > limits.maxResultRows) throw new ResultTooLargeError(limits.maxResultRows, 'triples');
    if (format === 'n-triples') return { contentType: RESULT_MEDIA_TYPES['n-triples'], body };
    return {
      contentType: RESULT_MEDIA_TYPES.turtle,
      body: new Writer({ format: 'text/turtle' }).quadsToString(triples),
    };
  }
  const { body } = await store.query(query.text, 'json', options);
  const results = JSON.parse(body) as SparqlJsonResults | AskJson;
  if ('results' in results && results.results.bindings.length > limits.maxResultRows)
    throw new ResultTooLargeError(limits.maxResultRows, 'solutions');
  if (format === 'json') return { contentType: RESULT_MEDIA_TYPES.json, body };
  if (format === 'xml') return { contentType: RESULT_MEDIA_TYPES.xml, body: toXml(results) };
  if ('boolean' in results) return { contentType: RESULT_MEDIA_TYPES.json, body };
  return {
    contentType: RESULT_MEDIA_TYPES[format],
    body: toDelimited(results, format === 'csv' ? 'csv' : 'tsv'),
  };
}
