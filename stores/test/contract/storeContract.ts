/** The triple-store contract: one suite of behaviours every TripleStore adapter must show, run per store. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Parser } from 'n3';
import { DEFAULT_TOPICS, DROP_GRAPH_HEADER, EmbeddedLog, type ProducedRecord } from '@provml/log';
import {
  QueryError,
  QueryTimeoutError,
  selectRows,
  type SparqlJsonResults,
  type TripleStore,
} from '@provml/stores';
import { SinkService } from '@provml/sinks';

/** How the suite gets at one kind of store. */
export interface StoreFixture {
  /** Shown in test names. */
  name: string;
  /** Why the store cannot be had (the suite is then skipped), set by the caller's `beforeAll`. */
  unavailable?: string;
  /** A store on a fresh, empty repository or dataset. */
  fresh(): Promise<TripleStore>;
  /** Drops what `fresh` made. */
  release?(store: TripleStore): Promise<void>;
  /** Stops and starts the server process, data on disk kept (servers only). */
  restart?(): Promise<void>;
  /** Stops the server process (servers only); `start` brings it back on the same data. */
  stop?(): Promise<void>;
  start?(): Promise<void>;
  /** Whether the store keeps query deadlines (`timeoutMs`). Default true. */
  deadlines?: boolean;
  /** A new adapter on the repository of `store` (after a restart). Default: `store` itself. */
  reopen?(store: TripleStore): TripleStore;
}

const EX = 'http://example.org/';
const RDF_TYPE = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#type';
const LABEL = 'http://www.w3.org/2000/01/rdf-schema#label';
const ACTIVITY = 'http://www.w3.org/ns/prov#Activity';
const XSD = 'http://www.w3.org/2001/XMLSchema#';
const G1 = `${EX}graph/run-1`;
const G2 = `${EX}graph/run-2`;
const G3 = `${EX}graph/spec`;

/** A batch over three named graphs with typed, language-tagged and non-ASCII literals. */
export const CONTRACT_BATCH = [
  `<${EX}run-1> <${RDF_TYPE}> <${ACTIVITY}> <${G1}> .`,
  `<${EX}run-1> <${LABEL}> "training run"@en <${G1}> .`,
  `<${EX}run-1> <${EX}epochs> "10"^^<${XSD}integer> <${G1}> .`,
  `<${EX}run-1> <${EX}loss> "0.125"^^<${XSD}double> <${G1}> .`,
  `<${EX}run-2> <${RDF_TYPE}> <${ACTIVITY}> <${G2}> .`,
  `<${EX}run-2> <${LABEL}> "zweiter Lauf – ü \\"quoted\\""@de <${G2}> .`,
  `<${EX}run-2> <${EX}usedPlan> <${EX}plan> <${G2}> .`,
  `<${EX}plan> <${LABEL}> "the plan" <${G3}> .`,
].join('\n');
const BATCH_SIZE = 8;

const FAST_SINK = { initialBackoffMs: 20, maxBackoffMs: 250 };

async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => setTimeout(resolve, 20));
  }
}

/** Registers the contract tests for one store. */
export function storeContract(fixture: StoreFixture): void {
  describe(`TripleStore contract: ${fixture.name}`, () => {
    let store: TripleStore;
    const made: TripleStore[] = [];

    beforeEach(async (ctx) => {
      // skips only outside CI: under CI=true an unavailable server throws in beforeAll instead
      if (fixture.unavailable !== undefined) ctx.skip(fixture.unavailable);
      store = await fixture.fresh();
      made.push(store);
    });

    afterEach(async () => {
      for (const s of made.splice(0)) await fixture.release?.(s);
    });

    const loaded = async (): Promise<TripleStore> => {
      expect(await store.load(CONTRACT_BATCH)).toEqual({ kind: 'success' });
      return store;
    };

    it('loads a batch of N-Quads, each quad into its named graph', async () => {
      await loaded();
      expect(await store.size()).toBe(BATCH_SIZE);
      const rows = await selectRows(
        store,
        'SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g ORDER BY ?g',
      );
      // exactly these graphs: nothing went to the default graph or to a server-named graph
      expect(rows).toEqual([
        { g: G1, n: '4' },
        { g: G2, n: '3' },
        { g: G3, n: '1' },
      ]);
    });

    it('adds nothing when the same batch is loaded again; the same triple in another graph is a new quad', async () => {
      await loaded();
      expect(await store.load(CONTRACT_BATCH)).toEqual({ kind: 'success' });
      expect(await store.size()).toBe(BATCH_SIZE);
      expect(await store.load(`<${EX}run-1> <${RDF_TYPE}> <${ACTIVITY}> <${G2}> .\n`)).toEqual({
        kind: 'success',
      });
      expect(await store.size()).toBe(BATCH_SIZE + 1);
    });

    it('loads an empty body and returns a failure value for malformed N-Quads', async () => {
      expect(await store.load('')).toEqual({ kind: 'success' });
      for (const bad of [`<${EX}s> <${EX}p> "open <${G1}> .\n`, 'this is not N-Quads\n']) {
        const result = await store.load(bad);
        expect(result.kind).toBe('failure');
      }
      expect(await store.size()).toBe(0);
    });

    it('drops one named graph and nothing else; an absent graph drops as a success; a bad IRI fails', async () => {
      await loaded();
      expect(await store.dropGraph(G1)).toEqual({ kind: 'success' });
      expect(await store.size()).toBe(BATCH_SIZE - 4);
      const rows = await selectRows(
        store,
        'SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g ORDER BY ?g',
      );
      expect(rows).toEqual([
        { g: G2, n: '3' },
        { g: G3, n: '1' },
      ]);
      expect(await selectRows(store, `SELECT ?e WHERE { <${EX}run-1> <${EX}epochs> ?e }`)).toEqual([]);
      expect(await store.dropGraph(G1)).toEqual({ kind: 'success' });
      expect(await store.dropGraph(`${EX}graph/never-loaded`)).toEqual({ kind: 'success' });
      for (const bad of ['not an iri', `${EX}a> } ; DROP ALL ; <${EX}b`]) {
        const result = await store.dropGraph(bad);
        expect(result.kind).toBe('failure');
      }
      expect(await store.size()).toBe(BATCH_SIZE - 4);
      // loaded again after the drop: the graph is back
      expect(await store.load(CONTRACT_BATCH)).toEqual({ kind: 'success' });
      expect(await store.size()).toBe(BATCH_SIZE);
    });

    it('a sink applies drop-graph records in order between loads (a source replaced, then withdrawn)', async () => {
      const triples = DEFAULT_TOPICS.triples;
      const log = new EmbeddedLog();
      await log.ensureTopic(triples, 1);
      const drop = (graph: string): ProducedRecord => ({
        key: 'src',
        value: Buffer.alloc(0),
        headers: { [DROP_GRAPH_HEADER]: graph },
      });
      const quad = (label: string, graph: string): ProducedRecord => ({
        key: 'src',
        value: Buffer.from(`<${EX}doc> <${LABEL}> "${label}" <${graph}> .\n`),
      });
      const G4 = `${EX}graph/annotations`;
      log.append(triples, [
        { key: 'wf', value: Buffer.from(`${CONTRACT_BATCH}\n`) },
        drop(G4),
        quad('first', G4),
        drop(G4),
        quad('second', G4),
        drop(G1),
      ]);
      const sink = new SinkService(log, store, FAST_SINK);
      await sink.start();
      try {
        await waitFor(() => log.lag('provml-sink', triples) === 0, 'the sink to apply the records');
      } finally {
        await sink.shutdown();
      }
      expect(await selectRows(store, `SELECT ?l WHERE { <${EX}doc> <${LABEL}> ?l }`)).toEqual([
        { l: 'second' },
      ]);
      expect(await store.size()).toBe(BATCH_SIZE - 4 + 1);
      expect(sink.stats.graphsDropped).toBe(3);
      // withdrawn: a drop with nothing after it
      log.append(triples, [drop(G4)]);
      const again = new SinkService(log, store, FAST_SINK);
      await again.start();
      try {
        await waitFor(() => log.lag('provml-sink', triples) === 0, 'the sink to apply the drop');
      } finally {
        await again.shutdown();
      }
      expect(await selectRows(store, `SELECT ?l WHERE { <${EX}doc> <${LABEL}> ?l }`)).toEqual([]);
      expect(log.records(DEFAULT_TOPICS.deadLetters)).toEqual([]);
    });

    it('queries the union of all graphs as the default graph, joining across graphs', async () => {
      await loaded();
      const activities = await selectRows(store, `SELECT ?s WHERE { ?s a <${ACTIVITY}> } ORDER BY ?s`);
      expect(activities).toEqual([{ s: `${EX}run-1` }, { s: `${EX}run-2` }]);
      const joined = await selectRows(
        store,
        `SELECT ?e ?plan WHERE { <${EX}run-1> <${EX}epochs> ?e . <${EX}run-2> <${EX}usedPlan> ?p . ?p <${LABEL}> ?plan }`,
      );
      expect(joined).toEqual([{ e: '10', plan: 'the plan' }]);
    });

    it('answers JSON with datatypes and language tags, and ASK', async () => {
      await loaded();
      const response = await store.query(
        `SELECT ?o WHERE { <${EX}run-1> ?p ?o FILTER(isLiteral(?o)) } ORDER BY STR(?o)`,
      );
      expect(response.contentType).toBe('application/sparql-results+json');
      const parsed = JSON.parse(response.body) as SparqlJsonResults;
      expect(parsed.head.vars).toEqual(['o']);
      expect(parsed.results.bindings).toEqual([
        { o: { type: 'literal', value: '0.125', datatype: `${XSD}double` } },
        { o: { type: 'literal', value: '10', datatype: `${XSD}integer` } },
        { o: { type: 'literal', value: 'training run', 'xml:lang': 'en' } },
      ]);
      expect(JSON.parse((await store.query(`ASK { <${EX}run-2> ?p ?o }`)).body)).toMatchObject({
        boolean: true,
      });
      expect(JSON.parse((await store.query(`ASK { <${EX}run-9> ?p ?o }`, 'json')).body)).toMatchObject({
        boolean: false,
      });
    });

    it('answers CSV', async () => {
      await loaded();
      const response = await store.query(`SELECT ?s ?l WHERE { ?s <${LABEL}> ?l } ORDER BY ?s`, 'csv');
      expect(response.contentType).toBe('text/csv');
      expect(response.body.split(/\r?\n/)).toEqual([
        's,l',
        `${EX}plan,the plan`,
        `${EX}run-1,training run`,
        `${EX}run-2,"zweiter Lauf – ü ""quoted"""`,
        '',
      ]);
    });

    it('answers CONSTRUCT and DESCRIBE with N-Triples, and Turtle when asked', async () => {
      await loaded();
      const response = await store.query(`CONSTRUCT { ?s a ?t } WHERE { ?s a ?t }`);
      expect(response.contentType).toBe('application/n-triples');
      const quads = new Parser({ format: 'application/n-triples' }).parse(response.body);
      expect(quads.map((q) => q.subject.value).sort()).toEqual([`${EX}run-1`, `${EX}run-2`]);
      for (const q of quads) expect(q.graph.termType).toBe('DefaultGraph');
      const labels = await store.query(`CONSTRUCT WHERE { <${EX}run-2> <${LABEL}> ?l }`, 'n-triples');
      const [label] = new Parser({ format: 'application/n-triples' }).parse(labels.body);
      expect(label?.object).toMatchObject({ value: 'zweiter Lauf – ü "quoted"', language: 'de' });
      const turtle = await store.query(`CONSTRUCT WHERE { <${EX}run-1> ?p ?o }`, 'turtle');
      expect(turtle.contentType).toBe('text/turtle');
      expect(new Parser({ format: 'text/turtle' }).parse(turtle.body)).toHaveLength(4);
      const described = await store.query(`DESCRIBE <${EX}plan>`);
      expect(new Parser({ format: 'application/n-triples' }).parse(described.body).length).toBeGreaterThan(0);
    });

    it.each([
      ['a syntax error', 'SELEC ?s WHERE { ?s ?p ?o }'],
      ['an unclosed group', 'SELECT ?s WHERE { ?s ?p ?o'],
      ['an update', `INSERT DATA { <${EX}x> <${EX}p> "sneaky" }`],
      ['an update after a prologue', `PREFIX ex: <${EX}>\nDELETE WHERE { ?s ?p ?o }`],
    ])('rejects %s with a QueryError and changes nothing', async (_what, sparql) => {
      await loaded();
      const error = await store.query(sparql).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(QueryError);
      expect((error as QueryError).code).toBe('invalid-query');
      expect(await store.size()).toBe(BATCH_SIZE);
    });

    if (fixture.deadlines !== false)
      it('stops a query at its deadline with a QueryTimeoutError and keeps answering', async () => {
        // 300 triples cubed: 27 million solutions, seconds of work for any store
        const many = Array.from({ length: 300 }, (_, i) => `<${EX}s${i}> <${EX}p> "${i}" <${G1}> .`).join(
          '\n',
        );
        expect(await store.load(many)).toEqual({ kind: 'success' });
        const slow = 'SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }';
        const error = await store.query(slow, 'json', { timeoutMs: 500 }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(QueryTimeoutError);
        expect((error as QueryTimeoutError).code).toBe('query-timeout');
        // a server may still be winding the stopped query down for a moment (RDF4J drops connections)
        const count = `SELECT (COUNT(*) AS ?n) WHERE { ?s <${EX}p> ?o }`;
        let rows: Record<string, string>[] = [];
        await waitFor(
          () =>
            selectRows(store, count).then(
              (r) => ((rows = r), true),
              () => false,
            ),
          'the store to answer again',
          30_000,
        );
        expect(rows).toEqual([{ n: '300' }]);
      }, 60_000);

    it('a sink loads the neighbours of a statement the store refuses; only that statement is dead-lettered', async () => {
      const triples = DEFAULT_TOPICS.triples;
      const log = new EmbeddedLog();
      await log.ensureTopic(triples, 1);
      // one record of a workflow execution (quads of several events), one statement the store refuses
      const lines = CONTRACT_BATCH.split('\n');
      const bad = `<${EX}s> <${EX}p> "unterminated <${G1}> .`;
      lines.splice(4, 0, bad);
      log.append(triples, [{ key: 'wf', value: Buffer.from(`${lines.join('\n')}\n`) }]);
      const sink = new SinkService(log, store, FAST_SINK);
      await sink.start();
      try {
        await waitFor(() => log.lag('provml-sink', triples) === 0, 'the sink to load the record');
      } finally {
        await sink.shutdown();
      }
      expect(await store.size()).toBe(BATCH_SIZE);
      expect(log.records(DEFAULT_TOPICS.deadLetters).map((r) => r.value.toString('utf8'))).toEqual([
        `${bad}\n`,
      ]);
    });

    if (fixture.restart !== undefined)
      it('keeps its data across a server restart', async () => {
        await loaded();
        await fixture.restart!();
        const again = fixture.reopen?.(store) ?? store;
        expect(await again.size()).toBe(BATCH_SIZE);
        expect(await selectRows(again, `SELECT ?e WHERE { <${EX}run-1> <${EX}epochs> ?e }`)).toEqual([
          { e: '10' },
        ]);
        expect(await again.load(CONTRACT_BATCH)).toEqual({ kind: 'success' });
        expect(await again.size()).toBe(BATCH_SIZE);
        // a drop is kept across a restart too
        expect(await again.dropGraph(G2)).toEqual({ kind: 'success' });
        await fixture.restart!();
        const third = fixture.reopen?.(again) ?? again;
        expect(await third.size()).toBe(BATCH_SIZE - 3);
      }, 180_000);

    if (fixture.stop !== undefined)
      it('answers retryable while the server is down; the sink loses nothing once it is back', async () => {
        const triples = DEFAULT_TOPICS.triples;
        const log = new EmbeddedLog();
        await log.ensureTopic(triples, 3);
        const record = (i: number): ProducedRecord => {
          const wf = `wf-${i % 4}`;
          return {
            key: wf,
            value: Buffer.from(`<${EX}entity/${i}> <${EX}value> "v${i}" <${EX}graph/${wf}> .\n`),
          };
        };
        log.append(
          triples,
          Array.from({ length: 40 }, (_, i) => record(i)),
        );
        await fixture.stop!();
        try {
          const down = await store.load(CONTRACT_BATCH);
          expect(down.kind).toBe('retryable');
          const sink = new SinkService(log, store, { ...FAST_SINK, maxBatchSize: 7 });
          await sink.start();
          try {
            await waitFor(() => sink.stats.retries >= 3, 'the sink retrying');
            log.append(
              triples,
              Array.from({ length: 60 }, (_, i) => record(40 + i)),
            );
            expect(sink.stats.paused).toBe(true);
            expect(sink.stats.recordsLoaded).toBe(0);
            expect(log.lag('provml-sink', triples)).toBe(100);
          } finally {
            await fixture.start!();
          }
          await waitFor(() => log.lag('provml-sink', triples) === 0, 'the sink catching up');
          await sink.shutdown();
        } finally {
          await fixture.start!(); // idempotent: back up even when an assertion failed
        }
        const again = fixture.reopen?.(store) ?? store;
        expect(await again.size()).toBe(100);
        const rows = await selectRows(
          again,
          `SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s <${EX}value> ?v }`,
        );
        expect(rows).toEqual([{ n: '100' }]);
        expect(log.records(DEFAULT_TOPICS.deadLetters)).toEqual([]);
      }, 180_000);
  });
}
