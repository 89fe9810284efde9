/**
 * The server adapters keep the byte limit and pass deadlines on: a real Oxigraph server and RDF4J
 * Server cut an answer off at maxResultBytes; a streamed answer the server cancelled at its own
 * deadline is a timeout; Fuseki is sent the deadline as `timeout`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AnswerTooLargeError,
  QueryTimeoutError,
  Rdf4jStore,
  SparqlProtocolStore,
  createRdf4jRepository,
  deleteRdf4jRepository,
  type TripleStore,
} from '@provml/stores';
import { ensureOxigraph, ensureRdf4j, stopStore } from '../../deploy/local/stores.ts';

const EX = 'https://example.org/limits/';
/** 200 literals of ~1 kB in one graph: ~230 kB as SPARQL JSON. */
const BIG = Array.from(
  { length: 200 },
  (_, i) => `<${EX}s${i}> <${EX}text> "${'z'.repeat(1000)}${i}" <${EX}g> .`,
).join('\n');
const SELECT = `SELECT ?o WHERE { ?s <${EX}text> ?o }`;

const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

async function cutsOff(store: TripleStore): Promise<void> {
  expect(await store.load(BIG)).toEqual({ kind: 'success' });
  const error = await rejection(store.query(SELECT, 'json', { timeoutMs: 10_000 }));
  expect(error).toBeInstanceOf(AnswerTooLargeError);
  expect((error as Error).message).toContain('50000 bytes');
  const some = await store.query(`${SELECT} LIMIT 10`, 'json', { timeoutMs: 10_000 });
  expect(JSON.parse(some.body).results.bindings).toHaveLength(10);
}

describe('server adapters: byte limit', () => {
  // servers of this file's own (instances and ports), stopped after it when it started them
  const started: string[] = [];
  afterAll(async () => {
    for (const instance of started) await stopStore(instance);
  });

  it('Oxigraph server: an answer over maxResultBytes is cut off with AnswerTooLargeError', async () => {
    const oxigraph = await ensureOxigraph({ instance: 'oxigraph-limits', port: 17893 });
    if (!oxigraph.reused) started.push('oxigraph-limits');
    const { url } = oxigraph;
    const store = new SparqlProtocolStore({
      queryEndpoint: `${url}/query`,
      storeEndpoint: `${url}/store`,
      maxResultBytes: 50_000,
    });
    await cutsOff(store);
  }, 120_000);

  it('RDF4J Server: an answer over maxResultBytes is cut off with AnswerTooLargeError', async () => {
    const rdf4j = await ensureRdf4j({ instance: 'rdf4j-limits', port: 18097 });
    if (!rdf4j.reused) started.push('rdf4j-limits');
    const { url } = rdf4j;
    const id = `limits-${randomUUID()}`;
    await createRdf4jRepository(url, id);
    try {
      await cutsOff(new Rdf4jStore({ serverUrl: url, repository: id, maxResultBytes: 50_000 }));
    } finally {
      await deleteRdf4jRepository(url, id);
    }
  }, 180_000);
});

describe('server adapters: deadlines', () => {
  let server: Server;
  let url = '';
  const forms: URLSearchParams[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        forms.push(new URLSearchParams(body));
        res.writeHead(200, { 'content-type': 'application/sparql-results+json' });
        if (forms[forms.length - 1]!.get('query')!.includes('cancel'))
          // what Oxigraph server streams when its --timeout-s stops a query under way
          res.end('{"head":{"vars":["n"]},"results":{"bindings":[The SPARQL operation has been cancelled');
        else res.end('{"head":{},"boolean":true}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads a streamed answer the server cancelled as a QueryTimeoutError', async () => {
    const store = new SparqlProtocolStore({ queryEndpoint: `${url}/query`, storeEndpoint: `${url}/store` });
    const error = await rejection(
      store.query('SELECT * WHERE { ?cancel ?p ?o }', 'json', { timeoutMs: 5000 }),
    );
    expect(error).toBeInstanceOf(QueryTimeoutError);
  });

  it('sends Fuseki the deadline as `timeout` (seconds); Oxigraph gets none', async () => {
    const fuseki = new SparqlProtocolStore({
      queryEndpoint: `${url}/sparql`,
      storeEndpoint: `${url}/data`,
      unionDefaultGraph: 'jena',
    });
    await fuseki.query('ASK {}', 'json', { timeoutMs: 2500 });
    expect(forms[forms.length - 1]!.get('timeout')).toBe('3');
    expect(forms[forms.length - 1]!.get('default-graph-uri')).toBe('urn:x-arq:UnionGraph');
    const oxigraph = new SparqlProtocolStore({
      queryEndpoint: `${url}/query`,
      storeEndpoint: `${url}/store`,
    });
    await oxigraph.query('ASK {}', 'json', { timeoutMs: 2500 });
    expect(forms[forms.length - 1]!.has('timeout')).toBe(false);
  });
});
