/**
 * The store contract against every store: embedded Oxigraph, a real RDF4J Server and a real Oxigraph
 * server, both started by this suite (own instances, own ports and data) through deploy/local/stores.ts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DependencyError, ValidationError } from '@provml/schemas';
import {
  OxigraphEmbeddedStore,
  Rdf4jStore,
  SparqlProtocolStore,
  createRdf4jRepository,
  createStore,
  deleteRdf4jRepository,
  parseStoreConfig,
  type TripleStore,
} from '@provml/stores';
import { ensureOxigraph, ensureRdf4j, restartStore, stopStore } from '../../../deploy/local/stores.ts';
import { storeContract, type StoreFixture } from './storeContract.ts';

const CI = process.env['CI'] === 'true';
const EX = 'http://example.org/';
const RDF4J = { instance: 'rdf4j-test', port: Number(process.env['PROVML_TEST_RDF4J_PORT'] ?? 18090) };
const OXIGRAPH = {
  instance: 'oxigraph-test',
  port: Number(process.env['PROVML_TEST_OXIGRAPH_PORT'] ?? 17879),
};

/**
 * Starts (or reuses) a server for the suite. When it cannot be had the suite is skipped with the
 * reason printed, except under CI=true, where that is a failure.
 */
async function provision(
  fixture: StoreFixture,
  start: () => Promise<{ reused: boolean; readyMs: number }>,
): Promise<boolean> {
  const started = performance.now();
  try {
    const info = await start();
    console.log(
      `${fixture.name}: ${info.reused ? 'reused a running server' : `started, ready in ${info.readyMs} ms`} (${Math.round(performance.now() - started)} ms with fetching)`,
    );
    return !info.reused;
  } catch (error) {
    if (CI) throw error;
    fixture.unavailable = `${fixture.name} unavailable, contract tests skipped (they fail under CI=true): ${(error as Error).message}`;
    console.warn(fixture.unavailable);
    return false;
  }
}

storeContract({
  name: 'embedded Oxigraph',
  fresh: () => Promise.resolve(new OxigraphEmbeddedStore()),
  deadlines: false, // queries run on the caller's thread
});

storeContract({
  name: 'embedded Oxigraph (query thread)',
  fresh: () => Promise.resolve(new OxigraphEmbeddedStore({ queryThread: true })),
  release: (store) => store.close(),
});

// RDF4J Server: a new repository (native store, on disk) per test
let rdf4jUrl = '';
const repositoryOf = new Map<TripleStore, string>();
const rdf4j: StoreFixture = {
  name: 'RDF4J Server',
  async fresh() {
    const id = `contract-${randomUUID()}`;
    await createRdf4jRepository(rdf4jUrl, id);
    const store = new Rdf4jStore({ serverUrl: rdf4jUrl, repository: id, timeoutMs: 10_000 });
    await store.checkRepository();
    repositoryOf.set(store, id);
    return store;
  },
  async release(store) {
    await deleteRdf4jRepository(rdf4jUrl, repositoryOf.get(store)!);
    repositoryOf.delete(store);
  },
  restart: async () => void (await restartStore('rdf4j', RDF4J)),
  stop: async () => void (await stopStore(RDF4J.instance)),
  start: async () => void (await ensureRdf4j(RDF4J)),
};
let stopRdf4jAfter = false;
beforeAll(async () => {
  stopRdf4jAfter = await provision(rdf4j, async () => {
    const info = await ensureRdf4j(RDF4J);
    rdf4jUrl = info.url;
    return info;
  });
}, 300_000);
afterAll(async () => {
  if (stopRdf4jAfter) await stopStore(RDF4J.instance);
});
storeContract(rdf4j);

// Oxigraph server: the suite's own instance, emptied before each test
let oxigraphUrl = '';
const oxigraph: StoreFixture = {
  name: 'Oxigraph server',
  async fresh() {
    const response = await fetch(`${oxigraphUrl}/update`, {
      method: 'POST',
      headers: { 'content-type': 'application/sparql-update' },
      body: 'CLEAR ALL',
    });
    if (!response.ok) throw new Error(`CLEAR ALL: HTTP ${response.status} ${await response.text()}`);
    return new SparqlProtocolStore({
      queryEndpoint: `${oxigraphUrl}/query`,
      storeEndpoint: `${oxigraphUrl}/store`,
      timeoutMs: 10_000,
    });
  },
  restart: async () => void (await restartStore('oxigraph', OXIGRAPH)),
  stop: async () => void (await stopStore(OXIGRAPH.instance)),
  start: async () => void (await ensureOxigraph(OXIGRAPH)),
};
let stopOxigraphAfter = false;
beforeAll(async () => {
  stopOxigraphAfter = await provision(oxigraph, async () => {
    const info = await ensureOxigraph(OXIGRAPH);
    oxigraphUrl = info.url;
    return info;
  });
}, 300_000);
afterAll(async () => {
  if (stopOxigraphAfter) await stopStore(OXIGRAPH.instance);
});
storeContract(oxigraph);

// the same suite over the graph-per-request load path (for stores that take no N-Quads)
storeContract({
  ...oxigraph,
  name: 'Oxigraph server, one Graph Store Protocol request per graph',
  get unavailable() {
    return oxigraph.unavailable;
  },
  async fresh() {
    await oxigraph.fresh();
    return new SparqlProtocolStore({
      queryEndpoint: `${oxigraphUrl}/query`,
      storeEndpoint: `${oxigraphUrl}/store`,
      loadMode: 'graphs',
      timeoutMs: 10_000,
    });
  },
  restart: undefined,
  stop: undefined,
  start: undefined,
});

// and over Oxigraph's bulk loader (`?no_transaction`, the `bulkLoad` option)
storeContract({
  ...oxigraph,
  name: 'Oxigraph server, bulk loader',
  get unavailable() {
    return oxigraph.unavailable;
  },
  async fresh() {
    await oxigraph.fresh();
    return new SparqlProtocolStore({
      queryEndpoint: `${oxigraphUrl}/query`,
      storeEndpoint: `${oxigraphUrl}/store`,
      loadParams: { no_transaction: '' },
      timeoutMs: 10_000,
    });
  },
  restart: undefined,
  stop: undefined,
  start: undefined,
});

describe('store choice as configuration', () => {
  it.each([
    [{ store: 'graphdb' }, "store must be one of 'oxigraph-embedded', 'rdf4j', 'sparql'"],
    [{ store: 'rdf4j', repository: 'r' }, 'url:'],
    [{ store: 'rdf4j', url: 'localhost:8080/rdf4j-server', repository: 'r' }, 'url: must be an http(s) URL'],
    [
      { store: 'rdf4j', url: 'http://127.0.0.1:1/x', repository: 'a b' },
      'repository: must be a repository id',
    ],
    [{ store: 'sparql' }, 'url: give url, or both queryEndpoint and storeEndpoint'],
    [{ store: 'sparql', url: 'http://127.0.0.1:1', flavour: 'fuseki' }, 'flavour'],
  ])('rejects %j with a message naming the setting', (config, message) => {
    const error = (() => {
      try {
        parseStoreConfig(config);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toContain(message);
  });

  it('makes the embedded store, and endpoints from a SPARQL base URL', async () => {
    expect(await createStore({ store: 'oxigraph-embedded' })).toBeInstanceOf(OxigraphEmbeddedStore);
    expect(parseStoreConfig({ store: 'sparql', url: 'http://h:3030/ds/', flavor: 'fuseki' })).toMatchObject({
      url: 'http://h:3030/ds',
    });
  });

  it('says when nothing answers at the URL (retriable)', async () => {
    const error = await createStore({
      store: 'rdf4j',
      url: 'http://127.0.0.1:18999/rdf4j-server',
      repository: 'r',
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DependencyError);
    expect((error as DependencyError).retriable).toBe(true);
    expect((error as DependencyError).message).toContain('wrong URL, or the server is down');
    const sparql = await createStore({ store: 'sparql', url: 'http://127.0.0.1:18999' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(sparql).toBeInstanceOf(DependencyError);
    expect((sparql as DependencyError).message).toContain('wrong URL, or the server is down');
  });

  it('says when the URL is not an RDF4J server, or the repository is missing, and can create it', async (ctx) => {
    // skips only outside CI: under CI=true an unavailable server throws in beforeAll instead
    if (rdf4j.unavailable !== undefined || oxigraph.unavailable !== undefined)
      ctx.skip('servers unavailable');
    await expect(createStore({ store: 'rdf4j', url: oxigraphUrl, repository: 'r' })).rejects.toThrow(
      /is not an RDF4J Server or GraphDB URL/,
    );
    const id = `config-${randomUUID()}`;
    const missing = await createStore({ store: 'rdf4j', url: rdf4jUrl, repository: id }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(missing).toBeInstanceOf(ValidationError);
    expect((missing as ValidationError).message).toContain(
      `repository "${id}" does not exist on ${rdf4jUrl}`,
    );
    expect((missing as ValidationError).issues).toEqual([
      { path: 'repository', message: 'no such repository' },
    ]);
    try {
      const store = await createStore({
        store: 'rdf4j',
        url: `${rdf4jUrl}/`,
        repository: id,
        createRepository: true,
      });
      expect(store).toBeInstanceOf(Rdf4jStore);
      expect(await store.load(`<${EX}a> <${EX}b> <${EX}c> <${EX}g> .\n`)).toEqual({ kind: 'success' });
      expect(await store.size()).toBe(1);
    } finally {
      await deleteRdf4jRepository(rdf4jUrl, id);
    }
  });

  it('checks that a SPARQL URL is a SPARQL endpoint', async (ctx) => {
    // skips only outside CI: under CI=true an unavailable server throws in beforeAll instead
    if (rdf4j.unavailable !== undefined || oxigraph.unavailable !== undefined)
      ctx.skip('servers unavailable');
    await expect(createStore({ store: 'sparql', url: rdf4jUrl })).rejects.toThrow(
      /is not a SPARQL query endpoint/,
    );
    const store = await createStore({ store: 'sparql', url: oxigraphUrl });
    expect(store).toBeInstanceOf(SparqlProtocolStore);
  });
});
