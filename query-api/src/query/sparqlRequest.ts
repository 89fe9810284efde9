/**
 * Reads a SPARQL 1.1 Protocol query request (§2.1: GET, POST form, POST direct) into the query text
 * and its protocol dataset (§2.1.4 `default-graph-uri` / `named-graph-uri`), or the reason it is not
 * one: an update (this endpoint is read-only), several queries, a body that is not UTF-8, a graph
 * parameter that is not an absolute IRI.
 */
import type { Request } from 'express';
import type { QueryDataset } from '@provml/stores';

/** A request the endpoint answers with an error: status, code and message. */
export interface ProtocolProblem {
  status: number;
  error: string;
  message: string;
}

/** A query request as the protocol defines it. */
export interface SparqlRequest {
  query: string;
  dataset?: QueryDataset;
}

const problem = (status: number, error: string, message: string): { problem: ProtocolProblem } => ({
  problem: { status, error, message },
});

/** Every value of a parameter, from the URL and from a form body. */
function values(req: Request, name: string): unknown[] {
  const all: unknown[] = [];
  for (const source of [
    req.query,
    typeof req.body === 'object' && !Buffer.isBuffer(req.body) ? req.body : {},
  ])
    if (source !== null && typeof source === 'object' && name in source) {
      const v = (source as Record<string, unknown>)[name];
      all.push(...(Array.isArray(v) ? (v as unknown[]) : [v]));
    }
  return all;
}

/** An absolute IRI (RFC 3987: a scheme, no characters that IRIs exclude). */
const ABSOLUTE_IRI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>"{}|\\^`]*$/;

/** The charset parameter of a Content-Type, lower-cased, if any. */
function charsetOf(req: Request): string | undefined {
  return /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.get('content-type') ?? '')?.[1]?.toLowerCase();
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * The text of an `application/sparql-query` body (§2.1.3: UTF-8, the only encoding the protocol
 * allows): a declared other charset is 415, bytes that are not UTF-8, or UTF-16 (NUL bytes, a
 * UTF-16 byte order mark), are 400.
 */
function directBody(req: Request): string | { problem: ProtocolProblem } {
  const charset = charsetOf(req);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')
    return problem(
      415,
      'unsupported-charset',
      `a query body must be UTF-8 (SPARQL 1.1 Protocol §2.1.3); charset=${charset} is not accepted`,
    );
  const bytes = req.body as Buffer;
  if (bytes[0] === 0xfe || bytes[0] === 0xff || bytes.includes(0))
    return problem(400, 'bad-encoding', 'the query body looks like UTF-16; send it as UTF-8');
  try {
    return UTF8.decode(bytes);
  } catch {
    return problem(
      400,
      'bad-encoding',
      'the query body is not valid UTF-8 (e.g. ISO-8859-1); send it as UTF-8',
    );
  }
}

/** The protocol's dataset, or undefined when the request names no graphs. */
function datasetOf(req: Request): QueryDataset | { problem: ProtocolProblem } | undefined {
  const defaults = values(req, 'default-graph-uri');
  const named = values(req, 'named-graph-uri');
  if (defaults.length === 0 && named.length === 0) return undefined;
  for (const iri of [...defaults, ...named])
    if (typeof iri !== 'string' || !ABSOLUTE_IRI.test(iri))
      return problem(
        400,
        'invalid-graph-uri',
        `default-graph-uri and named-graph-uri take absolute IRIs; ${JSON.stringify(iri)} is not one`,
      );
  return { defaultGraphs: defaults as string[], namedGraphs: named as string[] };
}

/** Reads a query request; see the file comment. */
export function readSparqlRequest(req: Request): SparqlRequest | { problem: ProtocolProblem } {
  if (req.is('application/sparql-update') || values(req, 'update').length > 0)
    return problem(403, 'read-only', 'this endpoint is read-only: SPARQL updates are not accepted');
  const direct = req.method === 'POST' && Buffer.isBuffer(req.body) && req.is('application/sparql-query');
  let queries = values(req, 'query');
  if (direct) {
    const text = directBody(req);
    if (typeof text !== 'string') return text;
    queries = [text];
  }
  if (queries.length > 1)
    return problem(400, 'multiple-queries', 'give one query per request (the query parameter is repeated)');
  const query = queries[0];
  if (typeof query !== 'string' || query.trim() === '')
    return problem(
      400,
      'missing-query',
      "give the query as ?query=, a form field 'query' (application/x-www-form-urlencoded), or an application/sparql-query body",
    );
  const dataset = datasetOf(req);
  if (dataset !== undefined && 'problem' in dataset) return dataset;
  return dataset === undefined ? { query } : { query, dataset };
}
