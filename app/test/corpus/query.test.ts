/**
 * Bad-input corpus of the query API (`corpus/query/*.json`): injection through REST parameters,
 * updates, LOAD and SERVICE through /sparql (also hidden by `\u` escapes), enormous, deep and slow
 * queries. Each runs against every store (embedded Oxigraph, RDF4J Server, Oxigraph server) and gets
 * its status and error code; the endpoint keeps answering, the data stays as it was, and no store
 * makes a request to the trap listener that SERVICE and LOAD cases name (`http://LISTENER/…`).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@provml/schemas';
import { createStore, type TripleStore } from '@provml/stores';
import { ensureOxigraph, stopStore } from '../../../deploy/local/stores.ts';
import type { EmbeddedStack } from '../../src/embedded/EmbeddedStack.ts';
import { createQueryApp, type QueryAppOptions } from '@provml/query-api';
import { rdf4jRepositoryStore } from '../../../deploy/testing/rdf4jServices.ts';
import { sparql, startStack } from '../../../deploy/testing/stack.ts';
import { expand, loadCases, textBytes, type CorpusCase, type TextPart } from './corpus.ts';

interface QueryRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  /** Query-string parameters. */
  query?: Record<string, unknown>;
  /** A raw query string, for repeated parameters. */
  search?: string;
  /** An application/sparql-query body. */
  sparql?: unknown;
  /** A form body. */
  form?: Record<string, unknown>;
  body?: string;
  /** A raw body as text parts (`{ hex }` for bytes in another encoding). */
  bytes?: TextPart[];
  contentType?: string;
  /** The Accept header. Default: SPARQL JSON results, or N-Triples for a graph. */
  accept?: string;
  /** Sent to an endpoint with small limits (1 s timeout, 1000 rows). */
  limits?: boolean;
  /** Sent to an endpoint without the nesting check (1 s parse deadline): the deadline alone must hold. */
  deadlineOnly?: boolean;
}

interface QueryExpect {
  status: number | number[];
  error?: string;
  /** Solutions of the (JSON) answer. */
  rows?: number;
  /** The first solution's values (JSON answer). */
  first?: Record<string, string>;
  /** The answer of an ASK (JSON). */
  boolean?: boolean;
  /** A pattern the body matches. */
  bodyMatches?: string;
}

const cases = loadCases('query');
const CI = process.env.CI === 'true';
/** The graphs of the corpus data (as the embedded stack's annotations of sources corpus and corpus-2). */
const GRAPHS = ['urn:provml:graph/domain/corpus', 'urn:provml:graph/domain/corpus-2'];
const DATA =
  '<https://ex.org/corpus-well> <https://w3id.org/provml/ns#annotates> <file:///data/corpus.sgy> .\n';
const CHECK =
  'SELECT DISTINCT ?a WHERE { ?a <https://w3id.org/provml/ns#annotates> <file:///data/corpus.sgy> }';

/** An HTTP server that records every request: where SERVICE and LOAD cases point. */
interface Trap {
  server: Server;
  origin: string;
  requests: string[];
}

async function startTrap(): Promise<Trap> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(500).end();
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, origin: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

async function listen(options: QueryAppOptions): Promise<{ server: Server; url: string }> {
  const server = createQueryApp(options).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function close(server: Server | undefined): Promise<void> {
  if (server === undefined) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** One store behind three endpoints: default settings, small limits, and no nesting check. */
interface Target {
  name: string;
  /** Why the store could not be had (the target's cases are skipped, except under CI). */
  unavailable?: string;
  store?: TripleStore;
  url: string;
  limitedUrl: string;
  deadlineOnlyUrl: string;
  servers: Server[];
  release: () => Promise<void>;
}

/** Endpoints over `store` next to `url` (the default one, when the store comes with it). */
async function endpoints(
  target: Pick<Target, 'name' | 'release'>,
  store: TripleStore,
  registry: Registry,
  url?: string,
): Promise<Target> {
  const base = { store, registry, logger: silentLogger };
  const servers: Server[] = [];
  const at = async (options: QueryAppOptions): Promise<string> => {
    const { server, url: at } = await listen(options);
    servers.push(server);
    return at;
  };
  return {
    ...target,
    store,
    url: url ?? (await at(base)),
    limitedUrl: await at({ ...base, queryTimeoutMs: 1000, maxResultRows: 1000 }),
    deadlineOnlyUrl: await at({ ...base, parseTimeoutMs: 1000, maxQueryNesting: Number.MAX_SAFE_INTEGER }),
    servers,
  };
}

/** A store server's target: the corpus data loaded, endpoints over it; unavailable outside CI if it fails. */
async function serverTarget(
  name: string,
  open: () => Promise<{ store: TripleStore; release: () => Promise<void> }>,
): Promise<Target> {
  try {
    const { store, release } = await open();
    // the same triple in two graphs: the union default graph must hold it once
    const loaded = await store.load(GRAPHS.map((g) => DATA.replace(/ \.\n$/, ` <${g}> .\n`)).join(''));
    if (loaded.kind !== 'success') throw loaded.error;
    return await endpoints({ name, release }, store, new Registry());
  } catch (error) {
    if (CI) throw error;
    const none = async (): Promise<void> => {};
    return {
      name,
      unavailable: (error as Error).message,
      url: '',
      limitedUrl: '',
      deadlineOnlyUrl: '',
      servers: [],
      release: none,
    };
  }
}

describe('bad-input corpus: query API', () => {
  let stack: EmbeddedStack;
  let trap: Trap;
  const targets: Target[] = [];
  const target = (name: string): Target => targets.find((t) => t.name === name)!;

  beforeAll(async () => {
    trap = await startTrap();
    stack = await startStack();
    await stack.annotate(DATA, 'corpus');
    await stack.annotate(DATA, 'corpus-2');
    await stack.settle();
    targets.push(
      await endpoints(
        { name: 'embedded', release: async () => {} },
        stack.store,
        stack.metrics.registry,
        stack.queryUrl,
      ),
    );
    targets.push(await serverTarget('rdf4j', () => rdf4jRepositoryStore('corpus-query')));
    targets.push(
      await serverTarget('oxigraph-server', async () => {
        // the shared instance: the corpus data goes into a graph of its own and stays (loads are idempotent)
        const info = await ensureOxigraph();
        const store = await createStore({ store: 'sparql', url: info.url, timeoutMs: 30_000 });
        return {
          store,
          release: async () => {
            await store.close();
            if (!info.reused) await stopStore('oxigraph');
          },
        };
      }),
    );
  }, 300_000);

  afterAll(async () => {
    for (const t of targets) {
      for (const server of t.servers) await close(server);
      await t.release();
    }
    await stack?.shutdown();
    await close(trap?.server);
  }, 120_000);

  const runs: (CorpusCase & { store: string })[] = ['embedded', 'rdf4j', 'oxigraph-server'].flatMap((store) =>
    cases.map((c) => ({ ...c, store })),
  );

  // a case with `pending` states a contract the code does not meet yet (the reason names file and
  // behaviour); `pendingOn` does for some stores only
  it.each(runs)('$store $name: $description', async (c) => {
    if (typeof c.pending === 'string') return void console.warn(`pending ${c.name}: ${c.pending}`);
    const pendingHere = (c.pendingOn as Record<string, string> | undefined)?.[c.store];
    if (pendingHere !== undefined)
      return void console.warn(`pending ${c.name} on ${c.store}: ${pendingHere}`);
    const t = target(c.store);
    if (t.unavailable !== undefined) return void console.warn(`skipping ${c.store}: ${t.unavailable}`);
    const r = c.request as QueryRequest;
    const expected = c.expect as QueryExpect;
    const base = r.limits === true ? t.limitedUrl : r.deadlineOnly === true ? t.deadlineOnlyUrl : t.url;
    const text = (value: unknown): string => String(expand(value)).replaceAll('LISTENER', trap.origin);
    const search =
      r.search ??
      (r.query === undefined
        ? ''
        : `?${new URLSearchParams(Object.entries(expand(r.query) as Record<string, string>)).toString()}`);
    const accept = r.accept ?? 'application/sparql-results+json, application/n-triples;q=0.5';
    const init: RequestInit = { method: r.method, headers: { accept } };
    if (r.sparql !== undefined) {
      init.body = text(r.sparql);
      init.headers = { ...init.headers, 'content-type': 'application/sparql-query' };
    } else if (r.form !== undefined) {
      init.body = new URLSearchParams(expand(r.form) as Record<string, string>).toString();
      init.headers = { ...init.headers, 'content-type': 'application/x-www-form-urlencoded' };
    } else if (r.bytes !== undefined) {
      init.body = textBytes(r.bytes);
      init.headers = { ...init.headers, 'content-type': r.contentType ?? 'application/sparql-query' };
    } else if (r.body !== undefined) {
      init.body = r.body;
      init.headers = { ...init.headers, 'content-type': r.contentType ?? 'text/plain' };
    }
    trap.requests.length = 0;
    const response = await fetch(`${base}${r.path}${search}`, init);
    const body = await response.text();
    expect(trap.requests, 'the store made no request to the trap').toEqual([]);
    const statuses = Array.isArray(expected.status) ? expected.status : [expected.status];
    expect(statuses, body.slice(0, 500)).toContain(response.status);
    if (expected.error !== undefined)
      expect((JSON.parse(body) as { error: string }).error, body.slice(0, 500)).toBe(expected.error);
    if (expected.rows !== undefined)
      expect((JSON.parse(body) as { results: { bindings: unknown[] } }).results.bindings).toHaveLength(
        expected.rows,
      );
    if (expected.first !== undefined) {
      const first = (JSON.parse(body) as { results: { bindings: Record<string, { value: string }>[] } })
        .results.bindings[0];
      expect(Object.fromEntries(Object.entries(first ?? {}).map(([k, v]) => [k, v.value]))).toEqual(
        expected.first,
      );
    }
    if (expected.boolean !== undefined)
      expect((JSON.parse(body) as { boolean: boolean }).boolean).toBe(expected.boolean);
    if (expected.bodyMatches !== undefined) expect(body).toMatch(new RegExp(expected.bodyMatches));
    // the endpoint still answers, and the data is as it was
    expect(await sparql(base, CHECK)).toEqual([{ a: 'https://ex.org/corpus-well' }]);
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
  });

  it.each(['embedded', 'rdf4j', 'oxigraph-server'])(
    '%s: left the store as it was: nothing inserted, deleted or loaded',
    async (name) => {
      const t = target(name);
      if (t.unavailable !== undefined) return void console.warn(`skipping ${name}: ${t.unavailable}`);
      const rows = await sparql(t.url, 'SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { <urn:x> ?p ?o } }');
      expect(rows).toEqual([{ n: '0' }]);
      expect(await sparql(t.url, CHECK)).toHaveLength(1);
    },
  );

  it.each(['rdf4j', 'oxigraph-server'])(
    '%s: the trap sees a SERVICE request the administrator allowed (so it would see a smuggled one)',
    async (name) => {
      const t = target(name);
      if (t.unavailable !== undefined) return void console.warn(`skipping ${name}: ${t.unavailable}`);
      const { server, url } = await listen({
        store: t.store!,
        registry: new Registry(),
        logger: silentLogger,
        allowService: true,
      });
      try {
        trap.requests.length = 0;
        const query = `SELECT * WHERE { SERVICE SILENT <http://${trap.origin}/allowed> { ?s ?p ?o } }`;
        await sparql(url, query);
        expect(trap.requests.some((line) => line.includes('/allowed'))).toBe(true);
      } finally {
        await close(server);
      }
    },
  );
});
