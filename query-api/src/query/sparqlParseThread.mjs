// The thread side of SparqlParseWorker: parses a /sparql query (sparqljs), reports what the guard
// decides on, and writes the query again from its parse, so that the store never sees the client's text.
// Plain JavaScript so that it starts the same under tsx, vitest and compiled builds.
import { parentPort } from 'node:worker_threads';
import sparqljs from 'sparqljs';

/** Whether any node of a parse is a SERVICE pattern (in WHERE, subqueries, EXISTS, anywhere). */
function hasService(node) {
  if (Array.isArray(node)) return node.some(hasService);
  if (node === null || typeof node !== 'object') return false;
  if (node.type === 'service') return true;
  return Object.values(node).some(hasService);
}

/**
 * What the guard needs to know of `text`: an update's operations, or a query's form, whether it uses
 * SERVICE, and its text generated from the parse with a LIMIT of at most `limitAtMost` (ASK has none).
 */
function describe(text, limitAtMost) {
  const parsed = new sparqljs.Parser().parse(text);
  if (parsed.type === 'update')
    return {
      type: 'update',
      operations: parsed.updates.map((u) => ('type' in u ? u.type : u.updateType)),
    };
  const form = parsed.queryType;
  if (form !== 'ASK' && (parsed.limit === undefined || parsed.limit > limitAtMost))
    parsed.limit = limitAtMost;
  return {
    type: 'query',
    form,
    service: hasService(parsed),
    text: new sparqljs.Generator().stringify(parsed),
  };
}

parentPort.on('message', ({ id, text, limitAtMost }) => {
  try {
    parentPort.postMessage({ id, parsed: describe(text, limitAtMost) });
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
parentPort.postMessage({ ready: true });
