// The thread side of OxigraphQueryWorker: a replica of the embedded store that answers queries, so a
// query that runs too long can be stopped by ending this thread (Oxigraph's queries are synchronous).
// Plain JavaScript so that it starts the same under tsx, vitest and compiled builds.
import { parentPort } from 'node:worker_threads';
import oxigraph from 'oxigraph';

const store = new oxigraph.Store();

parentPort.on('message', (message) => {
  if (message.type === 'load') {
    store.load(message.nquads, { format: 'application/n-quads', no_transaction: true });
    return;
  }
  try {
    const body = store.query(message.sparql, {
      use_default_graph_as_union: true,
      results_format: message.mediaType,
    });
    parentPort.postMessage({ id: message.id, body: String(body) });
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) });
  }
});
