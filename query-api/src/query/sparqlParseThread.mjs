// The thread side of SparqlParseWorker: parses a /sparql query (sparqljs), reports what the guard
// decides on, and writes the query again from its parse, so that the store never sees the client's text.
// Plain JavaScript so that it starts the same under tsx, vitest and compiled builds.
import { parentPort } from 'node:worker_threads';
import sparqljs from 'sparqljs';
import { expandWildcard, readDefaultGraphAsSet } from './setSemantics.mjs';

/** Whether any node of a parse is a SERVICE pattern (in WHERE, subqueries, EXISTS, anywhere). */
function hasService(node) {
  if (Array.isArray(node)) return node.some(hasService);
  if (node === null || typeof node !== 'object') return false;
  if (node.type === 'service') return true;
  return Object.values(node).some(hasService);
}

const iris = (terms) => terms.map((t) => t.value);

/**
 * What the guard needs to know of `text`: an update's operations, or a query's form, whether it uses
 * SERVICE, its dataset (the protocol's `dataset` if given, else its FROM / FROM NAMED), and its text
 * generated from the parse, relative IRIs resolved against `baseIri`, the default graph read as a set
 * (setSemantics.mjs) and a LIMIT of at most `limitAtMost` (ASK has none).
 */
function describe(text, { limitAtMost, baseIri, dataset }) {
  const parsed = new sparqljs.Parser({ baseIRI: baseIri }).parse(text);
  if (parsed.type === 'update')
    return {
      type: 'update',
      operations: parsed.updates.map((u) => ('type' in u ? u.type : u.updateType)),
    };
  const form = parsed.queryType;
  if (form !== 'ASK' && (parsed.limit === undefined || parsed.limit > limitAtMost))
    parsed.limit = limitAtMost;
  const own =
    parsed.from === undefined
      ? undefined
      : { defaultGraphs: iris(parsed.from.default), namedGraphs: iris(parsed.from.named) };
  // the protocol's dataset replaces the query's (Protocol §2.1.4)
  if (dataset !== undefined) delete parsed.from;
  const setSemantics = readDefaultGraphAsSet(parsed, text, dataset);
  expandWildcard(parsed);
  return {
    type: 'query',
    form,
    service: hasService(parsed),
    dataset: dataset ?? own,
    setSemantics,
    text: new sparqljs.Generator().stringify(parsed),
  };
}

parentPort.on('message', ({ id, text, options }) => {
  try {
    parentPort.postMessage({ id, parsed: describe(text, options) });
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
parentPort.postMessage({ ready: true });
