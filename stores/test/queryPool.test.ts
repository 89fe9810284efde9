/** OxigraphEmbeddedStore with a pool of query threads: side-by-side queries, deadlines that replace a thread, heavy queries kept to their share, answers within a byte budget, exact serialisation. */
import { afterEach, describe, expect, it } from 'vitest';
import oxigraph from 'oxigraph';
import {
  AnswerTooLargeError,
  OxigraphEmbeddedStore,
  QueryTimeoutError,
  TooManyQueriesError,
  selectRows,
  type OxigraphEmbeddedStoreOptions,
  type QueryCaller,
} from '@provml/stores';

const EX = 'https://example.org/pool/';
/** 300 quads: a three-way cartesian product over them runs for minutes. */
const DATA = Array.from({ length: 300 }, (_, i) => `<${EX}s${i}> <${EX}p> "${i}" <${EX}g> .`).join('\n');
const CARTESIAN = 'SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }';
const COUNT = `SELECT (COUNT(*) AS ?n) WHERE { ?s <${EX}p> ?o }`;

const open: OxigraphEmbeddedStore[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** A store with two query threads holding DATA; `who` is the caller of every query. */
async function pool(
  options: OxigraphEmbeddedStoreOptions = {},
  who: { caller?: QueryCaller } = {},
): Promise<OxigraphEmbeddedStore> {
  const store = new OxigraphEmbeddedStore({ queryWorkers: 2, caller: () => who.caller, ...options });
  open.push(store);
  await store.ready();
  expect(await store.load(DATA)).toEqual({ kind: 'success' });
  return store;
}

const count = async (store: OxigraphEmbeddedStore): Promise<string> =>
  (await selectRows(store, COUNT, { timeoutMs: 5000 }))[0]!.n!;

const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('query threads side by side', () => {
  it('answers a quick query while another thread runs a slow one', async () => {
    const store = await pool();
    const slow = rejection(store.query(CARTESIAN, 'json', { timeoutMs: 3000 }));
    await new Promise((r) => setTimeout(r, 100));
    const started = performance.now();
    expect(JSON.parse((await store.query('ASK {}')).body)).toMatchObject({ boolean: true });
    expect(await count(store)).toBe('300');
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await slow).toBeInstanceOf(QueryTimeoutError);
  });

  it('replaces the thread of a query past its deadline from the loads (no dump); the other keeps its data', async () => {
    const store = await pool({ localCopy: false });
    expect(await rejection(store.query(CARTESIAN, 'json', { timeoutMs: 300 }))).toBeInstanceOf(
      QueryTimeoutError,
    );
    expect(store.queryThreadRestarts).toBe(1);
    // a load after the deadline reaches the replacement too (replayed or sent)
    await store.load(`<${EX}late> <${EX}p> "late" <${EX}g> .`);
    for (let i = 0; i < 4; i++) expect(await count(store)).toBe('301');
    await new Promise((r) => setTimeout(r, 300));
    expect(store.queryStats()).toMatchObject({ ready: 2, workers: 2 });
    expect(await store.size()).toBe(301);
  });

  it('drops a graph on every thread, and a replacement replays the drop in order (the journal)', async () => {
    const store = await pool({ localCopy: false });
    expect(await store.load(`<${EX}other> <${EX}p> "kept" <${EX}h> .`)).toEqual({ kind: 'success' });
    // enough quads elsewhere for the cartesian query below to run past its deadline
    expect(await store.load(DATA.replaceAll(`${EX}p>`, `${EX}q>`).replaceAll(`${EX}g>`, `${EX}h>`))).toEqual({
      kind: 'success',
    });
    expect(await store.dropGraph(`${EX}g`)).toEqual({ kind: 'success' });
    expect(await store.load(`<${EX}again> <${EX}p> "after the drop" <${EX}g> .`)).toEqual({
      kind: 'success',
    });
    expect(await Promise.all([count(store), count(store)])).toEqual(['2', '2']);
    expect(await rejection(store.query(CARTESIAN, 'json', { timeoutMs: 300 }))).toBeInstanceOf(
      QueryTimeoutError,
    );
    expect(store.queryThreadRestarts).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 4; i++) expect(await count(store)).toBe('2');
    expect(await store.size()).toBe(302);
  });

  it('answers after a load with what the load added, on every thread', async () => {
    const store = await pool({ localCopy: false });
    for (let i = 0; i < 6; i++) {
      await store.load(`<${EX}n${i}> <${EX}p> "n${i}" <${EX}g> .`);
      const answers = await Promise.all([count(store), count(store)]);
      expect(answers).toEqual([String(301 + i), String(301 + i)]);
    }
  });
});

describe('saturation', () => {
  it('is reported once a query has waited a second for a thread, and clears', async () => {
    const store = await pool({ queryWorkers: 1 });
    const slow = rejection(store.query(CARTESIAN, 'json', { timeoutMs: 2000 }));
    const waiting = store.query('ASK {}', 'json', { timeoutMs: 10_000 });
    expect(store.saturation()).toBeNull();
    await new Promise((r) => setTimeout(r, 1300));
    expect(store.saturation()).toMatch(/^saturated: 1 of 1 query threads busy .* 1 queries waiting/);
    expect(await slow).toBeInstanceOf(QueryTimeoutError);
    expect(JSON.parse((await waiting).body)).toMatchObject({ boolean: true });
    expect(store.saturation()).toBeNull();
  });
});

describe('heavy queries', () => {
  it('moves a second heavy query off the last free thread; a third client is answered at once', async () => {
    const who: { caller?: QueryCaller } = {};
    const store = await pool({ heavyAfterMs: 200 }, who);
    who.caller = { client: 'a', untrusted: true };
    const a = rejection(store.query(CARTESIAN, 'json', { timeoutMs: 4000 }));
    who.caller = { client: 'b', untrusted: true };
    const b = rejection(store.query(CARTESIAN, 'json', { timeoutMs: 4000 }));
    await new Promise((r) => setTimeout(r, 700));
    expect(store.queryStats()).toMatchObject({ preempted: 1, heavy: 1 });
    who.caller = { client: 'c', untrusted: true };
    const started = performance.now();
    expect(JSON.parse((await store.query('ASK {}')).body)).toMatchObject({ boolean: true });
    expect(performance.now() - started).toBeLessThan(1000);
    // a view of the server (trusted) gets the free thread too
    who.caller = { client: 'b', untrusted: false };
    expect(await count(store)).toBe('300');
    expect(await a).toBeInstanceOf(QueryTimeoutError);
    expect(await b).toBeInstanceOf(QueryTimeoutError);
  });

  it('refuses a client a second heavy query while its first runs', async () => {
    const who: { caller?: QueryCaller } = { caller: { client: 'a', untrusted: true } };
    const store = await pool({ heavyAfterMs: 100 }, who);
    const first = rejection(store.query(CARTESIAN, 'json', { timeoutMs: 2000 }));
    await new Promise((r) => setTimeout(r, 400));
    const second = await rejection(store.query(CARTESIAN, 'json', { timeoutMs: 2000 }));
    expect(second).toBeInstanceOf(TooManyQueriesError);
    expect((second as TooManyQueriesError).code).toBe('too-many-queries');
    expect(store.queryStats()?.refused).toBe(1);
    // another client is not refused
    who.caller = { client: 'b', untrusted: true };
    expect(JSON.parse((await store.query('ASK {}')).body)).toMatchObject({ boolean: true });
    expect(await first).toBeInstanceOf(QueryTimeoutError);
  });
});

describe('answers within the byte budget', () => {
  const BIG = Array.from(
    { length: 200 },
    (_, i) => `<${EX}big${i}> <${EX}text> "${'x'.repeat(1000)}${i}" <${EX}g> .`,
  ).join('\n');

  it('refuses an answer over the budget with AnswerTooLargeError naming the limit; keeps answering', async () => {
    const store = await pool({ maxResultBytes: 100_000 });
    await store.load(BIG);
    const select = await rejection(store.query(`SELECT ?o WHERE { ?s <${EX}text> ?o }`));
    expect(select).toBeInstanceOf(AnswerTooLargeError);
    expect((select as AnswerTooLargeError).message).toContain('100000 bytes');
    expect((select as AnswerTooLargeError).code).toBe('result-too-large');
    const graph = await rejection(store.query(`CONSTRUCT WHERE { ?s <${EX}text> ?o }`));
    expect(graph).toBeInstanceOf(AnswerTooLargeError);
    const csv = await rejection(store.query(`SELECT ?o WHERE { ?s <${EX}text> ?o }`, 'csv'));
    expect(csv).toBeInstanceOf(AnswerTooLargeError);
    const some = await store.query(`SELECT ?o WHERE { ?s <${EX}text> ?o } LIMIT 50`);
    expect(JSON.parse(some.body).results.bindings).toHaveLength(50);
  });

  it('writes SPARQL JSON and N-Triples as Oxigraph does (variables, unbound ones, datatypes, languages, blank nodes)', async () => {
    const store = await pool();
    const reference = new oxigraph.Store();
    const extra = [
      `<${EX}x> <${EX}label> "caf\u00e9 \\"quoted\\" \\n line"@fr <${EX}g2> .`,
      `<${EX}x> <${EX}when> "2026-01-01T00:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> <${EX}g2> .`,
      `_:b1 <${EX}p> <${EX}x> <${EX}g2> .`,
      `<${EX}x> <${EX}p> "plain" <${EX}g2> .`,
    ].join('\n');
    await store.load(extra);
    reference.load(`${DATA}\n${extra}`, { format: 'application/n-quads' });
    const ask = (q: string, format: 'application/sparql-results+json' | 'application/n-triples') =>
      reference.query(q, { use_default_graph_as_union: true, results_format: format }) as string;
    for (const q of [
      `SELECT ?z ?s ?o WHERE { ?s ?p ?o FILTER(?s != <${EX}s1>) OPTIONAL { ?s <${EX}none> ?z } } ORDER BY ?s ?o`,
      `SELECT * WHERE { ?s ?p ?o FILTER(isBlank(?s) || ?s = <${EX}x>) } ORDER BY ?p`,
      `SELECT ?nothing WHERE { ?s <${EX}absent> ?nothing }`,
      `SELECT (COUNT(*) AS ?n) (SAMPLE(?o) AS ?one) WHERE { ?s <${EX}label> ?o }`,
    ]) {
      const ours = JSON.parse((await store.query(q, 'json')).body) as {
        head: unknown;
        results: { bindings: Record<string, { type: string }>[] };
      };
      const theirs = JSON.parse(ask(q, 'application/sparql-results+json')) as typeof ours;
      expect(ours.head).toEqual(theirs.head);
      // blank node labels are the store's own
      const noBlank = (r: typeof ours) =>
        r.results.bindings.map((b) =>
          Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.type === 'bnode' ? 'bnode' : v])),
        );
      expect(noBlank(ours)).toEqual(noBlank(theirs));
    }
    const construct = `CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o FILTER(?s = <${EX}x>) }`;
    const lines = (t: string) => t.split('\n').filter(Boolean).sort();
    expect(lines((await store.query(construct)).body)).toEqual(
      lines(ask(construct, 'application/n-triples')),
    );
    expect((await store.query(`CONSTRUCT WHERE { ?s <${EX}absent> ?o }`)).body).toBe('');
    expect(JSON.parse((await store.query(`ASK { <${EX}x> ?p ?o }`)).body)).toEqual({
      head: {},
      boolean: true,
    });
  });

  it('replaces a thread whose memory a query grew past the headroom', async () => {
    const store = await pool({ memoryHeadroomBytes: 8 * 2 ** 20 });
    await store.load(BIG);
    await store.load(
      BIG.replaceAll('big', 'more').replaceAll('"x', '"y').split('\n').slice(0, 100).join('\n'),
    );
    // a product of the 300 long literals: a ~180 MB string built inside the query thread
    await rejection(
      store.query(
        `SELECT (STRLEN(GROUP_CONCAT(CONCAT(?a, ?b))) AS ?n) WHERE { ?x <${EX}text> ?a . ?y <${EX}text> ?b }`,
        'json',
        { timeoutMs: 20_000 },
      ),
    );
    expect(store.queryStats()!.replaced).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(await count(store)).toBe('300');
  });
});
