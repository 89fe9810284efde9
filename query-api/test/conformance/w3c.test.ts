/**
 * The W3C SPARQL 1.1 Protocol tests and the CSV/TSV result format tests, read from their manifests
 * (copied from w3c/rdf-tests under w3c/), run against `/sparql` of the embedded stack and of the query
 * API over a real RDF4J Server and the shared Oxigraph server. The endpoint is read-only: a request
 * that is an update must be refused with 403 `read-only` (the update tests then stop: their later
 * requests check the update's effect). Every test passes or is listed in EXCLUDED with its reason.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Parser, Writer, DataFactory, type Term } from 'n3';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@provml/schemas';
import { createStore, type TripleStore } from '@provml/stores';
import { createQueryApp } from '@provml/query-api';
import { ensureOxigraph, stopStore } from '../../../deploy/local/stores.ts';
import { rdf4jRepositoryStore } from '../../../deploy/testing/rdf4jServices.ts';
import { startStack } from '../../../deploy/testing/stack.ts';
import {
  protocolTests,
  resultFormatTests,
  w3cFile,
  type ProtocolRequest,
  type ResultFormatTest,
} from './w3cManifest.ts';

const CI = process.env.CI === 'true';
const STORES = ['embedded', 'rdf4j', 'oxigraph-server'] as const;
type StoreName = (typeof STORES)[number];

/**
 * Tests not run, by test id and store, each with its reason (documented in
 * docs/conformance/sparql-protocol.md). None of the protocol tests.
 */
const OXIGRAPH_LITERALS =
  'Oxigraph stores "1.0E6"^^xsd:double as "1000000" and "-3"^^xsd:negativeInteger as an xsd:integer ' +
  '(literal normalisation on load, oxigraph/oxigraph#526; docs/oxigraph-literal-canonicalisation.md)';
const EXCLUDED: Readonly<Record<string, Partial<Record<StoreName, string>>>> = {
  csv03: { embedded: OXIGRAPH_LITERALS, 'oxigraph-server': OXIGRAPH_LITERALS },
  tsv03: { embedded: OXIGRAPH_LITERALS, 'oxigraph-server': OXIGRAPH_LITERALS },
};

/** The graph a result format test's data file is loaded into (the query names it by default-graph-uri). */
const dataGraph = (file: string): string => `urn:provml:w3c/sparql11/${file}`;

/** Every graph the suites load (a server that keeps data between runs has them emptied first). */
function suiteGraphs(): string[] {
  const graphs = new Set<string>();
  for (const t of protocolTests()) for (const g of t.graphs) graphs.add(g.name);
  for (const t of resultFormatTests()) graphs.add(dataGraph(t.data));
  return [...graphs];
}

/** Every data file of both suites as N-Quads, each in its graph. */
function suiteData(): string {
  const quads: string[] = [];
  const add = (file: string, graph: string): void => {
    const triples = new Parser({ baseIRI: `urn:provml:w3c/sparql11/${file}` }).parse(w3cFile(file));
    const g = DataFactory.namedNode(graph);
    quads.push(
      new Writer({ format: 'application/n-quads' }).quadsToString(
        triples.map((t) => DataFactory.quad(t.subject, t.predicate, t.object, g)),
      ),
    );
  };
  const graphs = new Map<string, string>();
  for (const t of protocolTests()) for (const g of t.graphs) graphs.set(g.file, g.name);
  for (const [file, name] of graphs) add(file, name);
  for (const file of new Set(resultFormatTests().map((t) => t.data))) add(file, dataGraph(file));
  return quads.join('');
}

interface Target {
  name: StoreName;
  url?: string;
  unavailable?: string;
  release: () => Promise<void>;
}

async function listen(store: TripleStore): Promise<{ server: Server; url: string }> {
  const server = createQueryApp({ store, registry: new Registry(), logger: silentLogger }).listen(
    0,
    '127.0.0.1',
  );
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** A store server behind a query API, the suites' data loaded; unavailable outside CI when it fails. */
async function serverTarget(
  name: StoreName,
  open: () => Promise<{ store: TripleStore; release: () => Promise<void> }>,
): Promise<Target> {
  try {
    const { store, release } = await open();
    const loaded = await store.load(suiteData());
    if (loaded.kind !== 'success') throw loaded.error;
    const { server, url } = await listen(store);
    return {
      name,
      url,
      release: async () => {
        await close(server);
        await release();
      },
    };
  } catch (error) {
    if (CI) throw error;
    return { name, unavailable: (error as Error).message, release: async () => {} };
  }
}

/** A request body in the encoding the manifest names (UTF-16: big-endian with a byte order mark). */
function encode(body: { chars: string; encoding: string }): Buffer {
  if (body.encoding.toUpperCase() === 'UTF-16')
    return Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(body.chars, 'utf16le').swap16()]);
  return Buffer.from(body.chars, 'utf8');
}

/** Whether a request is a SPARQL update (by media type, form field or query parameter). */
const isUpdate = (r: ProtocolRequest): boolean =>
  (r.headers['content-type'] ?? '').startsWith('application/sparql-update') ||
  /(^|&)update=/.test(r.body?.chars ?? '') ||
  /[?&]update=/.test(r.absolutePath);

const mediaType = (response: Response): string =>
  (response.headers.get('content-type') ?? '').split(';')[0]!.trim();

const FORMATS: Readonly<Record<NonNullable<ProtocolRequest['expectedFormat']>, readonly string[]>> = {
  boolean: ['application/sparql-results+json', 'application/sparql-results+xml'],
  tabular: [
    'application/sparql-results+json',
    'application/sparql-results+xml',
    'text/csv',
    'text/tab-separated-values',
  ],
  RDF: ['application/n-triples', 'text/turtle', 'application/rdf+xml'],
};

/** Sends one request of a protocol test and checks its response; returns false to stop the test. */
async function check(url: string, r: ProtocolRequest): Promise<boolean> {
  const response = await fetch(`${url}${r.absolutePath}`, {
    method: r.method,
    headers: r.headers,
    body: r.body === undefined ? undefined : encode(r.body),
  });
  const text = await response.text();
  if (isUpdate(r) && r.statusClasses.includes(2)) {
    // read-only: the update is refused, and the requests that check its effect are not sent
    expect(response.status, text).toBe(403);
    expect((JSON.parse(text) as { error: string }).error).toBe('read-only');
    return false;
  }
  expect(r.statusClasses, `HTTP ${response.status}: ${text.slice(0, 300)}`).toContain(
    Math.floor(response.status / 100),
  );
  if (r.expectedFormat !== undefined) expect(FORMATS[r.expectedFormat]).toContain(mediaType(response));
  if (r.expectedFormat === 'RDF' && mediaType(response) !== 'application/rdf+xml')
    expect(() => new Parser({ format: mediaType(response) }).parse(text)).not.toThrow();
  if (r.expectedBoolean !== undefined) {
    const value =
      mediaType(response) === 'application/sparql-results+json'
        ? (JSON.parse(text) as { boolean: boolean }).boolean
        : /<boolean>\s*(true|false)\s*<\/boolean>/.exec(text)?.[1] === 'true';
    expect(value).toBe(r.expectedBoolean);
  }
  return true;
}

/** Rows of a CSV or TSV document (RFC 4180 quoting for CSV), line ends LF or CRLF. */
function rows(text: string, format: 'csv' | 'tsv'): string[][] {
  const lines = text.replace(/\r?\n$/, '').split(/\r?\n/);
  if (format === 'tsv') return lines.map((line) => line.split('\t'));
  return lines.map((line) => {
    const cells: string[] = [];
    for (const m of line.matchAll(/("(?:[^"]|"")*"|[^,]*)(,|$)/g)) {
      if (m.index === line.length && cells.length > 0 && !line.endsWith(',')) break;
      const cell = m[1]!;
      cells.push(cell.startsWith('"') ? cell.slice(1, -1).replaceAll('""', '"') : cell);
      if (m[2] === '') break;
    }
    return cells;
  });
}

const NUMERIC = /#(integer|decimal|double|float)$/;

/** A TSV cell as an RDF term (Turtle syntax), or undefined when unbound. */
function tsvTerm(cell: string): Term | undefined {
  if (cell === '') return undefined;
  return new Parser({ format: 'text/turtle' }).parse(`<urn:s> <urn:p> ${cell} .`)[0]!.object;
}

/** Two result cells are the same term: blank nodes match any blank node; numbers compare by value. */
function sameCell(actual: string, expected: string, format: 'csv' | 'tsv'): boolean {
  if (format === 'csv') return expected.startsWith('_:') ? actual.startsWith('_:') : actual === expected;
  const a = tsvTerm(actual);
  const e = tsvTerm(expected);
  if (a === undefined || e === undefined) return a === e;
  if (e.termType === 'BlankNode') return a.termType === 'BlankNode';
  if (e.termType !== 'Literal' || a.termType !== 'Literal') return a.equals(e);
  if (NUMERIC.test(e.datatype.value) && a.datatype.equals(e.datatype))
    return Number(a.value) === Number(e.value);
  return a.equals(e);
}

async function checkResultFormat(url: string, t: ResultFormatTest): Promise<void> {
  const query = new URLSearchParams({ query: w3cFile(t.query), 'default-graph-uri': dataGraph(t.data) });
  const response = await fetch(`${url}/sparql?${query.toString()}`, {
    headers: { accept: t.format === 'csv' ? 'text/csv' : 'text/tab-separated-values' },
  });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(mediaType(response)).toBe(t.format === 'csv' ? 'text/csv' : 'text/tab-separated-values');
  const actual = rows(text, t.format);
  const expected = rows(w3cFile(t.expected), t.format);
  expect(actual[0], 'header').toEqual(expected[0]);
  expect(actual.length, text).toBe(expected.length);
  expected.forEach((row, i) => {
    if (i === 0) return;
    expect(actual[i]!.length, `row ${i}`).toBe(row.length);
    row.forEach((cell, j) =>
      expect(
        sameCell(actual[i]![j]!, cell, t.format),
        `row ${i} column ${j}: ${actual[i]![j]} vs ${cell}`,
      ).toBe(true),
    );
  });
}

describe('W3C SPARQL 1.1 Protocol and CSV/TSV result format tests', () => {
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  const targets: Target[] = [];
  const target = (name: StoreName): Target => targets.find((t) => t.name === name)!;

  beforeAll(async () => {
    stack = await startStack();
    const loaded = await stack.store.load(suiteData());
    if (loaded.kind !== 'success') throw loaded.error;
    targets.push({ name: 'embedded', url: stack.queryUrl, release: async () => {} });
    targets.push(await serverTarget('rdf4j', () => rdf4jRepositoryStore('w3c-protocol')));
    targets.push(
      await serverTarget('oxigraph-server', async () => {
        // the shared instance: the suites' graphs have names of their own; emptied first, since a
        // blank node loaded again is a new one (Graph Store Protocol DELETE, 404 when absent)
        const info = await ensureOxigraph();
        for (const graph of suiteGraphs()) {
          const deleted = await fetch(`${info.url}/store?graph=${encodeURIComponent(graph)}`, {
            method: 'DELETE',
          });
          if (!deleted.ok && deleted.status !== 404)
            throw new Error(`DELETE ${graph}: HTTP ${deleted.status}`);
        }
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
    for (const t of targets) await t.release();
    await stack?.shutdown();
  }, 120_000);

  const run = (id: string, store: StoreName, body: (url: string) => Promise<void>) => async () => {
    const excluded = EXCLUDED[id]?.[store];
    if (excluded !== undefined) return void console.warn(`excluded ${id} on ${store}: ${excluded}`);
    const t = target(store);
    if (t.unavailable !== undefined) return void console.warn(`skipping ${store}: ${t.unavailable}`);
    await body(t.url!);
  };

  for (const store of STORES) {
    describe(store, () => {
      for (const test of protocolTests())
        it(
          `${test.id}: ${test.name}`,
          run(test.id, store, async (url) => {
            for (const request of test.requests) if (!(await check(url, request))) break;
          }),
        );
      for (const test of resultFormatTests())
        it(
          `${test.id}: ${test.name}`,
          run(test.id, store, (url) => checkResultFormat(url, test)),
        );
    });
  }

  it('runs every test of both manifests', () => {
    expect(protocolTests()).toHaveLength(34);
    expect(resultFormatTests()).toHaveLength(6);
  });
});
