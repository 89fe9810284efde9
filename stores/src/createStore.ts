/** Store choice as configuration: `oxigraph-embedded | rdf4j | sparql`, validated, turned into a checked adapter. */
import { DependencyError, ValidationError, silentLogger, type Logger } from '@provml/schemas';
import { OxigraphEmbeddedStore } from './OxigraphEmbeddedStore.ts';
import { Rdf4jStore, createRdf4jRepository, listRepositories } from './Rdf4jStore.ts';
import { SparqlProtocolStore, type UnionDefaultGraph } from './SparqlProtocolStore.ts';
import type { TripleStore } from './TripleStore.ts';
import type { StoreConfig } from './storeConfig.ts';
import { parseStoreConfig } from './storeConfig.ts';

const SPARQL_FLAVORS: Readonly<
  Record<'oxigraph' | 'fuseki', { query: string; store: string; union: UnionDefaultGraph }>
> = {
  oxigraph: { query: '/query', store: '/store', union: 'oxigraph' },
  fuseki: { query: '/sparql', store: '/data', union: 'jena' },
};

/** Options of {@link createStore}. */
export interface CreateStoreOptions {
  logger?: Logger;
  /** Check that the server answers and the repository exists before returning. Default true. */
  check?: boolean;
}

/**
 * The adapter a configuration names, checked against its server: a wrong URL or a missing repository
 * fails here with a message that says which, rather than as a sink retrying forever.
 *
 * @throws ValidationError for a bad configuration, a URL that is not such a store, a missing repository
 * @throws DependencyError (retriable) when nothing answers at the URL
 */
export async function createStore(
  config: StoreConfig,
  options: CreateStoreOptions = {},
): Promise<TripleStore> {
  const c = parseStoreConfig(config);
  const logger = options.logger ?? silentLogger;
  const check = options.check ?? true;
  switch (c.store) {
    case 'oxigraph-embedded':
      return new OxigraphEmbeddedStore();
    case 'rdf4j': {
      const auth = { username: c.username, password: c.password };
      if (c.createRepository && !(await listRepositories(c.url, auth)).includes(c.repository)) {
        await createRdf4jRepository(c.url, c.repository, auth);
        logger.info('created repository', { url: c.url, repository: c.repository });
      }
      const store = new Rdf4jStore({
        serverUrl: c.url,
        repository: c.repository,
        timeoutMs: c.timeoutMs,
        logger,
        ...auth,
      });
      if (check) await store.checkRepository();
      return store;
    }
    case 'sparql': {
      const flavor = SPARQL_FLAVORS[c.flavor];
      const store = new SparqlProtocolStore({
        queryEndpoint: c.queryEndpoint ?? `${c.url}${flavor.query}`,
        storeEndpoint: c.storeEndpoint ?? `${c.url}${flavor.store}`,
        loadMode: c.loadMode,
        loadParams: c.bulkLoad ? { no_transaction: '' } : undefined,
        unionDefaultGraph: c.unionDefaultGraph ?? flavor.union,
        timeoutMs: c.timeoutMs,
        logger,
      });
      if (check) await checkSparql(store, c.queryEndpoint ?? `${c.url}${flavor.query}`);
      return store;
    }
  }
}

/** A SPARQL endpoint answers `ASK {}`; anything else is a wrong URL. */
async function checkSparql(store: SparqlProtocolStore, endpoint: string): Promise<void> {
  try {
    const answer = await store.query('ASK {}', 'json');
    if (typeof (JSON.parse(answer.body) as { boolean?: unknown }).boolean === 'boolean') return;
  } catch (error) {
    if (error instanceof DependencyError && error.code === 'store-unreachable')
      throw new DependencyError('store-unreachable', `${error.message}: wrong URL, or the server is down`, {
        retriable: true,
        cause: error,
      });
    throw new ValidationError(`${endpoint} is not a SPARQL query endpoint: ${(error as Error).message}`, [
      { path: 'queryEndpoint', message: 'not a SPARQL endpoint' },
    ]);
  }
  throw new ValidationError(`${endpoint} is not a SPARQL query endpoint: ASK {} gave no boolean`, [
    { path: 'queryEndpoint', message: 'not a SPARQL endpoint' },
  ]);
}
