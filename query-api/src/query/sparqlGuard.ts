/**
 * What `/sparql` lets through: a query is parsed (sparqljs) before any store sees it; updates (LOAD,
 * INSERT, DROP, …) are refused, SERVICE is refused unless an administrator allowed federation, and a
 * query without a small enough LIMIT gets one just past the result-size limit, so the store never
 * produces more than the limit can tell apart from "too large".
 */
import sparqljs from 'sparqljs';
import { ProvmlError } from '@provml/schemas';
import { QueryError, type QueryForm } from '@provml/sinks';

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
}

/** A query that passed the guard, ready for the store. */
export interface GuardedQuery {
  form: QueryForm;
  /** The text to send: the original, or regenerated with a LIMIT just past `maxResultRows`. */
  text: string;
}

/** Whether any node of a parsed query is a SERVICE pattern. */
function hasService(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(hasService);
  if (node === null || typeof node !== 'object') return false;
  if ((node as { type?: unknown }).type === 'service') return true;
  return Object.values(node).some(hasService);
}

/** Parses and checks a query against the policy; throws QueryError or ForbiddenOperationError. */
export function guardQuery(text: string, policy: GuardPolicy): GuardedQuery {
  let parsed: sparqljs.SparqlQuery;
  try {
    parsed = new sparqljs.Parser().parse(text);
  } catch (error) {
    throw new QueryError(`not a SPARQL 1.1 query: ${(error as Error).message}`, error);
  }
  if (parsed.type === 'update') {
    const operations = parsed.updates.map((u) => ('type' in u ? u.type : u.updateType)).join(', ');
    throw new ForbiddenOperationError(
      'read-only',
      `this endpoint is read-only: SPARQL updates (${operations}) are not accepted; provenance is written through the ingest`,
      operations,
    );
  }
  if (!policy.allowService && hasService(parsed.where))
    throw new ForbiddenOperationError(
      'forbidden-operation',
      'SERVICE (federated query) is not allowed here; an administrator can allow it (query.allowService)',
      'SERVICE',
    );
  const form = parsed.queryType;
  if (form === 'ASK') return { form, text };
  const cap = policy.maxResultRows + 1;
  const { limit } = parsed as { limit?: number }; // every form but ASK takes solution modifiers
  if (limit !== undefined && limit <= cap) return { form, text };
  return {
    form,
    text: new sparqljs.Generator().stringify({ ...parsed, limit: cap } as sparqljs.SparqlQuery),
  };
}
