/**
 * What `/sparql` lets through: a query is read as a SPARQL parser reads it (codepoint escapes decoded
 * first, §19.2), its nesting checked by a tokenizer, then parsed off the event loop (sparqljs, with a
 * deadline) before any store sees it; updates (LOAD, INSERT, DROP, …) are refused, SERVICE is refused
 * unless an administrator allowed federation, and the store is given the query generated from that
 * parse, never the client's text, with a LIMIT just past the result-size limit, so the store never
 * produces more than the limit can tell apart from "too large", and with its default graph read as a
 * set (setSemantics.mjs); its dataset (FROM, or the protocol's graph parameters) goes to the store
 * explicitly.
 */
import { ProvmlError } from '@provml/schemas';
import { QueryError, type QueryDataset, type QueryForm } from '@provml/stores';
import { decodeCodepointEscapes, hasCodepointEscape } from './codepointEscapes.ts';
import type { SparqlParser } from './SparqlParseWorker.ts';
import { nestingDepth } from './sparqlTokens.ts';

/** An operation this endpoint refuses by policy (not a syntax error). */
export class ForbiddenOperationError extends ProvmlError {
  constructor(
    code: 'read-only' | 'forbidden-operation',
    message: string,
    readonly operation: string,
  ) {
    super(code, message, { context: { operation } });
  }
}

/** Policy of the endpoint. */
export interface GuardPolicy {
  /** Allow `SERVICE` (federated queries to other endpoints). Default false: an admin setting. */
  allowService: boolean;
  /** Most solutions a query may produce; the LIMIT given to the store is one more. */
  maxResultRows: number;
  /** Deepest nesting of groups and brackets given to the parser. Default MAX_NESTING. */
  maxNesting?: number;
  /** Base IRI of the query's relative IRIs (the endpoint's URL). Default: none. */
  baseIri?: string;
  /** The protocol's dataset (`default-graph-uri` / `named-graph-uri`), replacing the query's FROM. */
  dataset?: QueryDataset;
}

/** A query that passed the guard, ready for the store. */
export interface GuardedQuery {
  form: QueryForm;
  /**
   * The text to send: generated from the checked parse, relative IRIs resolved, the default graph
   * read as a set, with a LIMIT at most one past `maxResultRows`.
   */
  text: string;
  /** The dataset to give the store (the protocol's, or the query's FROM / FROM NAMED); none: the union. */
  dataset?: QueryDataset;
  /** Whether the text reads a merged default graph as a set (rewritten by setSemantics.mjs). */
  setSemantics: boolean;
}

/** Deepest nesting of groups and brackets the parser is given (its time grows faster than depth). */
export const MAX_NESTING = 64;

/**
 * Reads, parses and checks a query against the policy; what it returns is what the store may run.
 * @throws QueryError (syntax, nesting, escapes), ForbiddenOperationError, or the parser's
 * QueryTooComplexError / ParserBusyError
 */
export async function guardQuery(
  text: string,
  policy: GuardPolicy,
  parser: SparqlParser,
): Promise<GuardedQuery> {
  const decoded = decodeCodepointEscapes(text);
  const maxNesting = policy.maxNesting ?? MAX_NESTING;
  const depth = nestingDepth(decoded);
  if (depth > maxNesting)
    throw new QueryError(
      `the query nests groups or brackets ${depth} deep; at most ${maxNesting} levels are accepted`,
    );
  const parsed = await parser.parse(decoded, {
    limitAtMost: policy.maxResultRows + 1,
    baseIri: policy.baseIri,
    dataset: policy.dataset,
  });
  if (parsed.type === 'update') {
    const operations = parsed.operations.join(', ');
    throw new ForbiddenOperationError(
      'read-only',
      `this endpoint is read-only: SPARQL updates (${operations}) are not accepted; provenance is written through the ingest`,
      operations,
    );
  }
  if (!policy.allowService && parsed.service)
    throw new ForbiddenOperationError(
      'forbidden-operation',
      'SERVICE (federated query) is not allowed here; an administrator can allow it (query.allowService)',
      'SERVICE',
    );
  // a store that decodes escapes before parsing (RDF4J) must read the same query as one that does not
  if (hasCodepointEscape(parsed.text))
    throw new QueryError('the query cannot be written without a \\u escape that a store would decode first');
  return { form: parsed.form, text: parsed.text, dataset: parsed.dataset, setSemantics: parsed.setSemantics };
}
