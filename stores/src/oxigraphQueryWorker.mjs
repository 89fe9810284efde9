// The thread side of OxigraphQueryWorker: one replica of the embedded store that loads what it is sent,
// in order, and answers queries, so that a query that runs too long can be stopped by ending this
// thread (Oxigraph's queries are synchronous). Answers are serialised here with a byte budget: an
// answer over the budget is refused before any of it leaves the thread, and never built as one string.
// Plain JavaScript so that it starts the same under tsx, vitest and compiled builds.
import { Buffer } from 'node:buffer';
import { parentPort } from 'node:worker_threads';

const { WebAssembly } = globalThis;

// The WebAssembly memory of Oxigraph, to report how much this replica holds: its instance is caught
// as the module creates it (Oxigraph does not export it).
let wasmMemory;
const Instance = WebAssembly.Instance;
WebAssembly.Instance = new Proxy(Instance, {
  construct(target, args) {
    const instance = Reflect.construct(target, args);
    wasmMemory ??= instance.exports.memory;
    return instance;
  },
});
const { default: oxigraph } = await import('oxigraph');
WebAssembly.Instance = Instance;

const store = new oxigraph.Store();
/** An empty store: evaluating a query there gives its projected variables at almost no cost. */
const empty = new oxigraph.Store();
const memory = () => wasmMemory?.buffer.byteLength ?? 0;

const QUERY_OPTIONS = { use_default_graph_as_union: true };

/**
 * Evaluation options: the union of all graphs, or the dataset asked for (a FROM / FROM NAMED clause or
 * the protocol's graph parameters), given explicitly since the union flag would override FROM.
 */
function queryOptions(dataset) {
  if (dataset === undefined) return QUERY_OPTIONS;
  return {
    default_graph: dataset.defaultGraphs.map((iri) => oxigraph.namedNode(iri)),
    named_graphs: dataset.namedGraphs.map((iri) => oxigraph.namedNode(iri)),
  };
}

/** An answer over the byte budget. */
class TooLarge extends Error {}

/** Collects strings up to a byte budget. */
class Budget {
  constructor(maxBytes) {
    this.maxBytes = maxBytes;
    this.bytes = 0;
    this.parts = [];
  }
  push(text) {
    this.bytes += Buffer.byteLength(text, 'utf8');
    if (this.bytes > this.maxBytes) throw new TooLarge();
    this.parts.push(text);
  }
  text() {
    return this.parts.join('');
  }
}

const XSD_STRING = 'http://www.w3.org/2001/XMLSchema#string';
const RDF_LANG_STRING = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#langString';

/** A term in SPARQL JSON results (as Oxigraph writes it). */
function jsonTerm(term) {
  switch (term.termType) {
    case 'NamedNode':
      return { type: 'uri', value: term.value };
    case 'BlankNode':
      return { type: 'bnode', value: term.value };
    case 'Literal': {
      const out = { type: 'literal', value: term.value };
      if (term.language) out['xml:lang'] = term.language;
      else if (term.datatype.value !== XSD_STRING && term.datatype.value !== RDF_LANG_STRING)
        out.datatype = term.datatype.value;
      return out;
    }
    case 'Quad':
      return {
        type: 'triple',
        value: {
          subject: jsonTerm(term.subject),
          predicate: jsonTerm(term.predicate),
          object: jsonTerm(term.object),
        },
      };
    default:
      return { type: 'literal', value: String(term.value) };
  }
}

/** Frees the WebAssembly side of answer terms now rather than at some later garbage collection. */
function free(solutions) {
  for (const row of solutions)
    if (row instanceof Map) for (const term of row.values()) term.free?.();
    else row.free?.();
}

/** The projected variables of a SELECT, in order (from the same query on the empty store). */
function variables(sparql, solutions) {
  try {
    if (!/\bSERVICE\b/i.test(sparql))
      return JSON.parse(empty.query(sparql, { ...QUERY_OPTIONS, results_format: 'json' })).head.vars;
  } catch {
    // fall back to the variables bound in the answer
  }
  const seen = new Set();
  for (const row of solutions) for (const v of row.keys()) seen.add(v);
  return [...seen];
}

/**
 * Serialises an answer within `maxBytes`: SPARQL JSON and N-Triples here, other formats by Oxigraph.
 * `graph` says whether the query is a CONSTRUCT or DESCRIBE (when the caller could tell).
 */
function answer(sparql, mediaType, maxBytes, graph, dataset) {
  const options = queryOptions(dataset);
  const json = mediaType === 'application/sparql-results+json';
  const ntriples = mediaType === 'application/n-triples';
  if (!json && !ntriples) {
    const body = String(store.query(sparql, { ...options, results_format: mediaType }));
    if (Buffer.byteLength(body, 'utf8') > maxBytes) throw new TooLarge();
    return body;
  }
  const result = store.query(sparql, options);
  if (typeof result === 'boolean') {
    if (!json) throw new Error(`an ASK answer cannot be written as ${mediaType}`);
    return JSON.stringify({ head: {}, boolean: result });
  }
  try {
    const isGraph = result.length > 0 ? !(result[0] instanceof Map) : (graph ?? ntriples);
    if (isGraph !== ntriples)
      throw new Error(`${isGraph ? 'a graph' : 'solutions'} cannot be written as ${mediaType}`);
    const out = new Budget(maxBytes);
    if (isGraph) {
      for (const quad of result) out.push(`${quad.toString()} .\n`);
      return out.text();
    }
    out.push(`{"head":{"vars":${JSON.stringify(variables(sparql, result))}},"results":{"bindings":[`);
    result.forEach((row, i) => {
      const binding = {};
      for (const [name, term] of row) binding[name] = jsonTerm(term);
      out.push(i === 0 ? JSON.stringify(binding) : `,${JSON.stringify(binding)}`);
    });
    out.push(']}}');
    return out.text();
  } finally {
    free(result);
  }
}

const LOAD_OPTIONS = { format: 'application/n-quads', no_transaction: true };

/** Removes a named graph (its IRI checked by the caller's port). */
function dropGraph(graph) {
  store.update(`DROP SILENT GRAPH <${graph}>`);
}

/** Loads N-Quads documents; a document the parser refuses is passed over and the others are loaded. */
function loadParts(parts) {
  if (parts.length === 0) return;
  try {
    store.load(parts.join('\n'), LOAD_OPTIONS);
  } catch (error) {
    if (error instanceof WebAssembly.RuntimeError) throw error;
    for (const part of parts)
      try {
        store.load(part, LOAD_OPTIONS);
      } catch (partError) {
        // refused by the store when it was first loaded too (the sink dead-lettered it)
        if (partError instanceof WebAssembly.RuntimeError) throw partError;
      }
  }
}

/**
 * Loads N-Quads or drops a graph; with `parts` (a replay: documents and `{ dropGraph }` in order),
 * the documents between two drops are loaded together.
 */
function load(message) {
  if (message.dropGraph !== undefined) return dropGraph(message.dropGraph);
  if (message.parts === undefined) return store.load(message.nquads, LOAD_OPTIONS);
  let run = [];
  for (const part of message.parts)
    if (typeof part === 'string') run.push(part);
    else {
      loadParts(run);
      run = [];
      dropGraph(part.dropGraph);
    }
  loadParts(run);
}

const reply = (message) => parentPort.postMessage({ ...message, memory: memory() });

parentPort.on('message', (message) => {
  if (message.type === 'load') {
    try {
      load(message);
      reply({ type: 'loaded', id: message.id });
    } catch (error) {
      reply({
        type: 'loaded',
        id: message.id,
        error: error instanceof Error ? error.message : String(error),
        // Oxigraph aborted (out of WebAssembly memory): this replica cannot be trusted any more
        kind: error instanceof WebAssembly.RuntimeError ? 'crashed' : undefined,
      });
    }
    return;
  }
  if (message.type === 'size') {
    reply({ type: 'size', id: message.id, size: store.size });
    return;
  }
  try {
    const body = answer(message.sparql, message.mediaType, message.maxBytes, message.graph, message.dataset);
    reply({ type: 'answer', id: message.id, body });
  } catch (error) {
    if (error instanceof TooLarge)
      reply({ type: 'answer', id: message.id, error: 'too-large', kind: 'too-large' });
    else if (error instanceof WebAssembly.RuntimeError)
      // Oxigraph aborted (out of WebAssembly memory): this replica cannot be trusted any more
      reply({ type: 'answer', id: message.id, error: error.message, kind: 'crashed' });
    else
      reply({
        type: 'answer',
        id: message.id,
        error: error instanceof Error ? error.message : String(error),
        kind: 'invalid',
      });
  }
});
parentPort.postMessage({ type: 'started', memory: memory() });
