/** Typed errors of queries: refused by the store, or stopped at their deadline. */
import { ProvmlError } from '@provml/schemas';

/** A query the store refused: syntax error or not a read-only query. */
export class QueryError extends ProvmlError {
  constructor(message: string, cause?: unknown) {
    super('invalid-query', message, { cause });
  }
}

/** A query that ran past its deadline and was stopped (or abandoned) by the store adapter. */
export class QueryTimeoutError extends ProvmlError {
  constructor(
    readonly timeoutMs: number,
    cause?: unknown,
  ) {
    super('query-timeout', `the query ran longer than its limit of ${timeoutMs} ms`, {
      cause,
      retriable: false,
      context: { timeoutMs },
    });
  }
}
