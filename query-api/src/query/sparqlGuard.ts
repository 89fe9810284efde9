/**
 * What `/sparql` lets through: a query is parsed (sparqljs) before any store sees it; updates (LOAD,
 * INSERT, DROP, …) are refused, SERVICE is refused unless an administrator allowed federation, and a
 * query without a small enough LIMIT gets one just past the result-size limit, so the store never
 * produces more than the limit can tell apart from "too large".
 */
import sparqljs from 'sparqljs';
import { ProvmlError } from '@provml/schemas';
import { QueryError, type QueryForm } from '@provml/stores';

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

/** Deepest nesting of groups and brackets the parser is given (its time grows faster than depth). */
export const MAX_NESTING = 64;

/**
 * Deepest nesting of `{ ( [` in a query, outside strings, IRIs and comments: checked in one pass
 * before parsing, because the parser's time grows faster than linearly with depth (a 60 kB query of
 * nested braces would hold the event loop for minutes).
 */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      const long = text.startsWith(c.repeat(3), i);
      const end = long ? c.repeat(3) : c;
      i += end.length;
      while (i < text.length && !text.startsWith(end, i)) i += text[i] === '\\' ? 2 : 1;
      i += end.length - 1;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '<' && /^<[^\s<>"{}|^`\\]*>/.test(text.slice(i, i + 2048))) {
      i = text.indexOf('>', i);
    } else if (c === '{' || c === '(' || c === '[') max = Math.max(max, ++depth);
    else if (c === '}' || c === ')' || c === ']') depth--;
  }
  return max;
}

/** Parses and checks a query against the policy; throws QueryError or ForbiddenOperationError. */
export function guardQuery(text: string, policy: GuardPolicy): GuardedQuery {
  const depth = nestingDepth(text);
  if (depth > MAX_NESTING)
    throw new QueryError(
      `the query nests groups or brackets ${depth} deep; at most ${MAX_NESTING} levels are accepted`,
    );
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
