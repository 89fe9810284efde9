/**
 * Q4, Q5 and the timing and runs views read the batch and epoch statistics the processor records
 * when an execution ends (provml:TimingStatistics). Checked on the demo lifecycle against the batch
 * and epoch durations themselves. For executions that have none (still running, or begun before a
 * processor restart), in a copy of the store without them: the views aggregate the durations, the
 * catalogue queries (one SPARQL text each, kept bounded) leave those figures out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataFactory, Parser, Writer, type Quad } from 'n3';
import { PROVML } from '@provml/schemas';
import { OxigraphEmbeddedStore, selectRows, type TripleStore } from '@provml/stores';
import { demoParameters, type DemoReport } from '@provml/demo';
import { loadQueries, runQuery, listRuns, epochTiming, PREFIXES } from '@provml/query-api';
import { startDemoStack, type DemoStack } from '../../deploy/testing/stack.ts';

interface Figures {
  count: number;
  min: number;
  mean: number;
  max: number;
}

const figures = (xs: readonly number[]): Figures => ({
  count: xs.length,
  min: Math.min(...xs),
  mean: xs.reduce((a, b) => a + b, 0) / xs.length,
  max: Math.max(...xs),
});

const close = (actual: Figures, expected: Figures, what: string): void => {
  expect(actual.count, what).toBe(expected.count);
  for (const k of ['min', 'mean', 'max'] as const)
    expect(actual[k], `${what} ${k}`).toBeCloseTo(expected[k], 9);
};

/** The durations themselves: each batch's seconds with its epoch and training, each epoch's seconds. */
async function durations(store: TripleStore): Promise<{
  batches: { training: string; epoch: string; seconds: number }[];
  epochs: { training: string; epoch: string; seconds: number }[];
}> {
  const select = (body: string) => selectRows(store, `${PREFIXES}\n${body}`);
  const batches = await select(`SELECT DISTINCT ?training ?epoch ?batch ?seconds WHERE {
    ?batch provml:executesTask/rdfs:label "batch" ; provml:partOfExecution ?epoch ; provml:durationSeconds ?seconds .
    ?epoch provml:partOfExecution ?training }`);
  const epochs = await select(`SELECT DISTINCT ?training ?epoch ?seconds WHERE {
    ?epoch provml:executesTask/rdfs:label "epoch" ; provml:partOfExecution ?training ; provml:durationSeconds ?seconds }`);
  const num = (r: Record<string, string>) => ({
    training: r.training!,
    epoch: r.epoch!,
    seconds: Number(r.seconds),
  });
  return { batches: batches.map(num), epochs: epochs.map(num) };
}

/** A copy of `store` without any timing statistics: every graph's triples (CONSTRUCT) but those. */
async function withoutStatistics(store: TripleStore): Promise<OxigraphEmbeddedStore> {
  const graphs = await selectRows(store, 'SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }');
  const kept: Quad[] = [];
  for (const { g } of graphs) {
    const body = (
      await store.query(`CONSTRUCT { ?s ?p ?o } WHERE { GRAPH <${g!}> { ?s ?p ?o } }`, 'n-triples')
    ).body;
    const triples = new Parser({ format: 'N-Triples' }).parse(body);
    const statistics = new Set(
      triples.filter((t) => t.object.value === PROVML.TimingStatistics).map((t) => t.subject.value),
    );
    for (const t of triples)
      if (t.predicate.value !== PROVML.hasTimingStatistics && !statistics.has(t.subject.value))
        kept.push(DataFactory.quad(t.subject, t.predicate, t.object, DataFactory.namedNode(g!)));
  }
  const copy = new OxigraphEmbeddedStore();
  expect(await copy.load(new Writer({ format: 'N-Quads' }).quadsToString(kept))).toEqual({ kind: 'success' });
  expect(await copy.size()).toBe(kept.length);
  return copy;
}

describe('timing statistics in Q4, Q5 and the views', () => {
  let demo: DemoStack;
  let report: DemoReport;
  let recorded: TripleStore;
  let bare: OxigraphEmbeddedStore;
  beforeAll(async () => {
    demo = await startDemoStack();
    report = demo.report;
    recorded = demo.stack.store;
    bare = await withoutStatistics(recorded);
  }, 120_000);
  afterAll(async () => {
    await bare.close();
    await demo.close();
  });

  it('records statistics on every ended epoch and training of the demo', async () => {
    const [{ n }] = (await selectRows(
      recorded,
      `${PREFIXES}\nSELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?x provml:hasTimingStatistics ?s }`,
    )) as [{ n: string }];
    expect(Number(n)).toBeGreaterThan(0);
    const [{ n: left }] = (await selectRows(
      bare,
      `${PREFIXES}\nSELECT (COUNT(*) AS ?n) WHERE { ?x provml:hasTimingStatistics ?s }`,
    )) as [{ n: string }];
    expect(Number(left)).toBe(0);
  });

  for (const variant of ['recorded statistics', 'no statistics (aggregated from the durations)'] as const) {
    const recordedVariant = variant === 'recorded statistics';
    const storeOf = (): TripleStore => (recordedVariant ? recorded : bare);

    it(`gives each epoch's batch figures in Q4 and the timing view — ${variant}`, async () => {
      const store = storeOf();
      const { batches } = await durations(store);
      const trainingSet = demoParameters(report).q4.trainingSet as string;
      const rows = await runQuery(store, loadQueries().get('q4')!, { trainingSet });
      const view = (await epochTiming({ store }, { trainingSet })).epochs;
      expect(view.length).toBeGreaterThan(0);
      // the catalogue query answers from recorded statistics only
      expect(rows.length).toBe(recordedVariant ? view.length : 0);
      for (const e of view) {
        const expected = figures(batches.filter((b) => b.epoch === e.epoch).map((b) => b.seconds));
        close(
          { count: e.batches, min: e.minBatchSeconds!, mean: e.meanBatchSeconds!, max: e.maxBatchSeconds! },
          expected,
          `view ${e.epoch}`,
        );
        const row = rows.find((r) => r.epoch === e.epoch);
        if (!recordedVariant) continue;
        expect(row, e.epoch).toBeDefined();
        const q4 = {
          count: Number(row!.batches),
          min: Number(row!.minBatchSeconds),
          mean: Number(row!.meanBatchSeconds),
          max: Number(row!.maxBatchSeconds),
        };
        close(q4, expected, `q4 ${e.epoch}`);
        expect(row!.epochNumber).toBe(e.epochNumber === null ? undefined : String(e.epochNumber));
      }
    });

    it(`gives each training's mean batch and epoch seconds in Q5 and the runs view — ${variant}`, async () => {
      const store = storeOf();
      const { batches, epochs } = await durations(store);
      const range = demoParameters(report).q5;
      const rows = await runQuery(store, loadQueries().get('q5')!, range);
      // the catalogue query lists the trainings that ended with statistics
      if (recordedVariant) expect(rows.length).toBeGreaterThan(0);
      else expect(rows).toEqual([]);
      const { runs } = await listRuns({ store }, {});
      expect(runs.length).toBe(report.trainings.length);
      const means = (training: string) => ({
        batch: figures(batches.filter((b) => b.training === training).map((b) => b.seconds)).mean,
        epoch: figures(epochs.filter((e) => e.training === training).map((e) => e.seconds)).mean,
      });
      for (const row of rows) {
        expect(Number(row.meanBatchSeconds), `q5 ${row.training}`).toBeCloseTo(means(row.training!).batch, 9);
        expect(Number(row.meanEpochSeconds), `q5 ${row.training}`).toBeCloseTo(means(row.training!).epoch, 9);
      }
      for (const run of runs) {
        expect(run.meanBatchSeconds!, `runs ${run.training}`).toBeCloseTo(means(run.training).batch, 9);
        expect(run.meanEpochSeconds!, `runs ${run.training}`).toBeCloseTo(means(run.training).epoch, 9);
      }
    });
  }
});
