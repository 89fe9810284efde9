/** Store choice as configuration: `oxigraph-embedded | rdf4j | sparql`, validated, turned into a checked adapter. */
import { z } from 'zod';
import { DependencyError, ValidationError, silentLogger, type Logger } from '@provml/schemas';
import { OxigraphEmbeddedStore } from './OxigraphEmbeddedStore.ts';
import { Rdf4jStore, createRdf4jRepository, listRepositories } from './Rdf4jStore.ts';
import { SparqlProtocolStore, type UnionDefaultGraph } from './SparqlProtocolStore.ts';
import type { TripleStore } from './TripleStore.ts';

const httpUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL, e.g. http://127.0.0.1:18080/rdf4j-server')
  .transform((s) => s.replace(/\/+$/, ''));

const timeoutMs = z.number().int().positive().optional();

const schema = z.discriminatedUnion(
  'store',
  [
    z.object({ store: z.literal('oxigraph-embedded') }).strict(),
    z
      .object({
        store: z.literal('rdf4j'),
        /** RDF4J Server (`http://host:8080/rdf4j-server`) or GraphDB (`http://host:7200`) base URL. */
        url: httpUrl,
        repository: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be a repository id (letters, digits, _ . -)'),
        /** Create a native repository when it does not exist (RDF4J Server only). Default false. */
        createRepository: z.boolean().default(false),
        username: z.string().optional(),
        password: z.string().optional(),
        timeoutMs,
      })
      .strict(),
    z
      .object({
        store: z.literal('sparql'),
        /** Base URL: Oxigraph `http://host:7878`, Fuseki `http://host:3030/dataset`. */
        url: httpUrl.optional(),
        /** Which endpoint names and union parameter `url` implies. Default `oxigraph`. */
        flavor: z.enum(['oxigraph', 'fuseki']).default('oxigraph'),
        /** Overrides of the endpoints `url` implies. */
        queryEndpoint: httpUrl.optional(),
        storeEndpoint: httpUrl.optional(),
        loadMode: z.enum(['dataset', 'graphs']).optional(),
        unionDefaultGraph: z.enum(['oxigraph', 'jena', 'server']).optional(),
        /**
         * Oxigraph only: load with its bulk loader (`?no_transaction`), 2-3× faster for batches of 10k
         * quads and more (bench/results/store-load.md) but not atomic: a batch that fails halfway may be
         * partly loaded until the sink loads it again (loads are idempotent). Default false.
         */
        bulkLoad: z.boolean().default(false),
        timeoutMs,
      })
      .strict()
      .refine((c) => !c.bulkLoad || c.flavor === 'oxigraph', {
        message: 'bulkLoad is an Oxigraph server option',
        path: ['bulkLoad'],
      })
      .refine(
        (c) => c.url !== undefined || (c.queryEndpoint !== undefined && c.storeEndpoint !== undefined),
        {
          message: 'give url, or both queryEndpoint and storeEndpoint',
          path: ['url'],
        },
      ),
  ],
  { error: () => "store must be one of 'oxigraph-embedded', 'rdf4j', 'sparql'" },
);

/** Which store to use and how to reach it (defaults written on each field). */
export type StoreConfig = z.input<typeof schema>;
/** A validated store configuration, defaults applied. */
export type ResolvedStoreConfig = z.output<typeof schema>;

/**
 * Validates a store configuration.
 * @throws ValidationError naming each bad setting (`store`, `url`, `repository`, …)
 */
export function parseStoreConfig(input: unknown): ResolvedStoreConfig {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({
      path: i.path.map(String).join('.'),
      message: i.message,
    }));
    throw new ValidationError(
      `invalid store configuration: ${issues.map((i) => `${i.path || 'store'}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  return parsed.data;
}

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
