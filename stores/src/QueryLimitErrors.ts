/** Typed refusals of the query side: an answer over the byte limit, a client over its share of heavy queries. */
import { ProvmlError } from '@provml/schemas';

/**
 * An answer larger than the store's byte limit (or a query that needed more memory than a query
 * thread has), refused before it was built whole. HTTP: 422 `result-too-large`.
 */
export class AnswerTooLargeError extends ProvmlError {
  constructor(
    readonly limitBytes: number,
    reason: 'bytes' | 'memory' = 'bytes',
  ) {
    super(
      'result-too-large',
      reason === 'bytes'
        ? `the answer is larger than ${limitBytes} bytes, the limit of this endpoint (query.maxResultBytes); add a LIMIT, page with OFFSET, or select fewer or shorter values`
        : `the query needed more memory than a query thread may use (its answer or an intermediate value is too large; the answer limit is ${limitBytes} bytes); narrow the query`,
      { context: { limitBytes, reason }, retriable: false },
    );
  }
}

/**
 * A client that already runs as many heavy queries as it may (queries past the heavy threshold, or
 * any `/sparql` query of a client whose recent queries were heavy). HTTP: 429 `too-many-queries`.
 */
export class TooManyQueriesError extends ProvmlError {
  constructor(
    readonly client: string,
    readonly limit: number,
  ) {
    super(
      'too-many-queries',
      `${client} already runs ${limit} heavy ${limit === 1 ? 'query' : 'queries'}, the most one client may; wait for ${limit === 1 ? 'it' : 'them'} to finish`,
      { context: { client, limit }, retriable: true },
    );
  }
}
