/**
 * The REST views (executions, models, best model, timing, runs, measures, lineage) checked against what the demo
 * lifecycle did: one suite, run in embedded mode and against the real broker and a server store.
 */
import { expect, it } from 'vitest';
import { demoParameters, type DemoReport } from '@provml/demo';
import type {
  ExecutionRow,
  LineageGraph,
  BestModel,
  MeasureDeclaration,
  MeasureSeries,
  ModelRow,
  RunRow,
  EpochTiming,
} from '@provml/query-api';

/** What the suite needs: the query API's base URL and what the demo did. */
export interface ViewsFixture {
  queryUrl: () => string;
  report: () => DemoReport;
}

async function get<T>(base: string, path: string, params: Record<string, string | number> = {}): Promise<T> {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
  const response = await fetch(`${base}${path}?${query.toString()}`);
  const body = (await response.json()) as T & { message?: string };
  if (response.status !== 200) throw new Error(`${path} ${response.status}: ${body.message}`);
  return body;
}

/** Registers the view tests (call inside a describe with the fixture set up in beforeAll). */
export function viewsContract(fixture: ViewsFixture): void {
  const api = <T>(path: string, params?: Record<string, string | number>): Promise<T> =>
    get<T>(fixture.queryUrl(), path, params);

  it('lists every top-level execution of the lifecycle, finished, with its phase', async () => {
    const report = fixture.report();
    const { executions } = await api<{ executions: ExecutionRow[] }>('/v1/executions');
    const byLabel = (label: string): ExecutionRow[] => executions.filter((e) => e.label === label);
    expect(byLabel('training')).toHaveLength(report.trainings.length);
    expect(byLabel('training').every((e) => e.lifecyclePhase === 'learning')).toBe(true);
    for (const t of report.trainings)
      expect(
        byLabel('training').some((e) =>
          e.workflowExecution.endsWith(encodeURIComponent(t.workflowExecution)),
        ),
        t.workflowExecution,
      ).toBe(true);
    expect(executions.every((e) => e.status === 'finished' && e.durationSeconds! >= 0)).toBe(true);
    const started = executions.map((e) => e.started!);
    expect(started).toEqual([...started].sort().reverse());
    const learning = await api<{ executions: ExecutionRow[] }>('/v1/executions', {
      workflow: 'seismic-training',
    });
    expect(learning.executions.every((e) => e.lifecyclePhase === 'learning')).toBe(true);
    expect(learning.executions.length).toBeGreaterThanOrEqual(report.trainings.length);
    expect(
      (await api<{ executions: ExecutionRow[] }>('/v1/executions', { status: 'failed' })).executions,
    ).toEqual([]);
  });

  it('lists each epoch model with its training, training set and evaluations', async () => {
    const report = fixture.report();
    const { models } = await api<{ models: ModelRow[] }>('/v1/models');
    const expected = report.trainings.flatMap((t) =>
      t.epochResults.map((e) => ({
        model: e.model,
        trainingSet: t.trainingSet,
        loss: e.loss,
        accuracy: e.accuracy,
      })),
    );
    // each model is the version of its file the epoch wrote
    expect(models.map((m) => m.uri).sort()).toEqual(expected.map((e) => e.model).sort());
    for (const e of expected) {
      const m = models.find((x) => x.uri === e.model)!;
      expect(m.model).toBe(`${m.generatedBy}/version/${encodeURIComponent(e.model)}`);
      expect(m.trainingSet).toBe(e.trainingSet);
      expect(m.evaluations.loss).toBeCloseTo(e.loss, 10);
      expect(m.evaluations.accuracy).toBeCloseTo(e.accuracy, 10);
    }
    const set = report.preparations[0]!.trainingSet;
    const ofSet = await api<{ models: ModelRow[] }>('/v1/models', { trainingSet: set });
    expect(ofSet.models.length).toBe(expected.filter((e) => e.trainingSet === set).length);
  });

  it('finds the best model of a training set by any measure, in either direction', async () => {
    const report = fixture.report();
    const set = report.preparations[0]!.trainingSet;
    const epochs = report.trainings
      .filter((t) => t.trainingSet === set)
      .flatMap((t) => t.epochResults.map((e) => ({ ...e, run: t })));
    const least = epochs.reduce((a, b) => (b.loss < a.loss ? b : a));
    const best = await api<BestModel>('/v1/models/best', { trainingSet: set });
    expect(best.uri).toBe(least.model);
    expect(best.model).toMatch(/\/version\//);
    expect(best.value).toBeCloseTo(least.loss, 10);
    expect(best.hyperparameters.learning_rate).toBe(least.run.learningRate);
    expect(best.hyperparameters.batch_size).toBe(least.run.batchSize);
    expect(best.evaluations.accuracy).toBeCloseTo(least.accuracy, 10);
    const most = epochs.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
    const byAccuracy = await api<BestModel>('/v1/models/best', {
      trainingSet: set,
      measure: 'accuracy',
      direction: 'max',
    });
    expect(byAccuracy.value).toBeCloseTo(most.accuracy, 10);
    const missing = await fetch(
      `${fixture.queryUrl()}/v1/models/best?trainingSet=${encodeURIComponent(set)}&measure=no_such_measure`,
    );
    expect(missing.status).toBe(404);
  });

  it('gives min, mean and max batch seconds per epoch of one training execution', async () => {
    const report = fixture.report();
    const { executions } = await api<{ executions: ExecutionRow[] }>('/v1/executions');
    const run = report.trainings[0]!;
    const execution = executions.find(
      (e) =>
        e.label === 'training' && e.workflowExecution.endsWith(encodeURIComponent(run.workflowExecution)),
    )!;
    const { epochs } = await api<{ epochs: EpochTiming[] }>('/v1/timing', { execution: execution.execution });
    expect(epochs.map((e) => e.epochNumber)).toEqual(run.epochResults.map((e) => e.epoch));
    expect(epochs.map((e) => e.batches)).toEqual(run.epochResults.map((e) => e.batches));
    for (const e of epochs) {
      expect(e.minBatchSeconds!).toBeLessThanOrEqual(e.meanBatchSeconds!);
      expect(e.meanBatchSeconds!).toBeLessThanOrEqual(e.maxBatchSeconds!);
      expect(e.maxBatchSeconds!).toBeLessThanOrEqual(e.epochSeconds!);
    }
    const bySet = await api<{ epochs: EpochTiming[] }>('/v1/timing', { trainingSet: run.trainingSet });
    const runsOnSet = report.trainings.filter((t) => t.trainingSet === run.trainingSet);
    expect(bySet.epochs).toHaveLength(runsOnSet.reduce((n, t) => n + t.epochResults.length, 0));
  });

  it('filters runs by slice range, tile size and any hyperparameter', async () => {
    const report = fixture.report();
    const prep = report.preparations[0]!;
    const onPrep = report.trainings.filter((t) => t.trainingSet === prep.trainingSet);
    const bySlices = await api<{ runs: RunRow[] }>('/v1/runs', {
      inlineStart: prep.inlineStart,
      inlineEnd: prep.inlineEnd,
    });
    expect(bySlices.runs.map((r) => r.trainingSet)).toEqual(onPrep.map(() => prep.trainingSet));
    expect(
      bySlices.runs.map((r) => decodeURIComponent(r.workflowExecution!.split('/').pop()!)).sort(),
    ).toEqual(onPrep.map((t) => t.workflowExecution).sort());
    for (const r of bySlices.runs) {
      expect([r.ranks, r.worldSize]).toEqual([null, null]); // not a distributed job
      expect(r.preparation.tile_size).toBe(prep.tileSize);
      expect(r.meanBatchSeconds!).toBeGreaterThan(0);
      expect(r.meanEpochSeconds!).toBeGreaterThan(r.meanBatchSeconds!);
    }
    const losses = bySlices.runs.map((r) => r.outputs.final_loss as number);
    expect(losses).toEqual([...losses].sort((a, b) => a - b));
    const lr = onPrep[0]!.learningRate;
    const byHp = await api<{ runs: RunRow[] }>('/v1/runs', {
      'hp.learning_rate': lr,
      tileSize: prep.tileSize,
    });
    expect(byHp.runs.map((r) => r.hyperparameters.learning_rate)).toEqual(
      report.trainings.filter((t) => t.learningRate === lr).map(() => lr),
    );
    expect((await api<{ runs: RunRow[] }>('/v1/runs', { inlineStart: 99_999 })).runs).toEqual([]);
  });

  it("gives each run's series of a measure and the measures its spec declares", async () => {
    const report = fixture.report();
    const { runs } = await api<{ runs: RunRow[] }>('/v1/runs');
    const trainings = report.trainings.map(
      (t) => runs.find((r) => r.training.includes(`/${encodeURIComponent(t.workflowExecution)}/`))!.training,
    );
    const query = new URLSearchParams({ measure: 'val_loss' });
    for (const t of trainings) query.append('training', t);
    const answer = await fetch(`${fixture.queryUrl()}/v1/measures?${query.toString()}`);
    const body = (await answer.json()) as { measures: MeasureDeclaration[]; series: MeasureSeries[] };
    expect(answer.status).toBe(200);
    expect(body.measures.map((m) => `${m.task}:${m.name}`).sort()).toEqual([
      'batch:batch_loss',
      'epoch:accuracy',
      'epoch:loss',
      'training:final_accuracy',
      'training:final_loss',
      'validation:val_accuracy',
      'validation:val_loss',
    ]);
    expect(body.series).toHaveLength(report.trainings.length);
    report.trainings.forEach((t, i) => {
      const series = body.series.find((s) => s.training === trainings[i])!;
      expect(series.task).toBe('validation');
      expect(series.points.map((p) => p.value)).toEqual(t.epochResults.map((e) => e.valLoss));
    });
  });

  it('walks backward from a model to the raw SEG-Y file and its basin and field, within a depth', async () => {
    const report = fixture.report();
    const file = report.trainings[0]!.epochResults[0]!.model;
    const { models } = await api<{ models: ModelRow[] }>('/v1/models');
    const model = models.find((m) => m.uri === file)!.model;
    const graph = await api<LineageGraph>('/v1/lineage/backward', { entity: model });
    const ids = new Set(graph.nodes.map((n) => n.id));
    expect(ids.has(report.curation.rawFile)).toBe(true);
    expect(ids.has(report.trainings[0]!.trainingSet)).toBe(true);
    const annotation = graph.nodes.find((n) => n.kind === 'annotation')!;
    expect(annotation.properties).toMatchObject({
      basin: report.config.annotations.basin,
      field: report.config.annotations.field,
    });
    expect(graph.edges).toContainEqual({
      source: report.curation.rawFile,
      target: annotation.id,
      relation: 'hasDomainAnnotation',
    });
    expect(graph.nodes.find((n) => n.id === model)!.types).toContain('ModelReferenceValue');
    expect(graph.edges).toContainEqual({ source: model, target: file, relation: 'specializationOf' });
    expect(graph.nodes.some((n) => n.kind === 'activity' && n.label === 'training')).toBe(true);
    for (const e of graph.edges) expect(ids.has(e.source) && ids.has(e.target)).toBe(true);
    const shallow = await api<LineageGraph>('/v1/lineage/backward', { entity: model, depth: 1 });
    expect(shallow.nodes.map((n) => n.id)).not.toContain(report.curation.rawFile);
    expect(shallow.nodes.length).toBeLessThan(graph.nodes.length);
  });

  it('walks forward from the raw file to every model trained on data made from it', async () => {
    const report = fixture.report();
    const graph = await api<LineageGraph>('/v1/lineage/forward', {
      entity: report.curation.rawFile,
      depth: 10,
    });
    const models = report.trainings.flatMap((t) => t.epochResults.map((e) => e.model));
    // the models reached are versions; each leads on to its file
    const fileOf = (id: string) =>
      graph.edges.find((e) => e.source === id && e.relation === 'specializationOf')?.target;
    expect(graph.models!.map(fileOf).sort()).toEqual([...models].sort());
    const ids = new Set(graph.nodes.map((n) => n.id));
    for (const p of report.preparations) expect(ids.has(p.trainingSet)).toBe(true);
  });

  it("answers the paper's Q1–Q6 with rows for the demo's parameters", async () => {
    const params = demoParameters(fixture.report());
    for (const name of ['q1', 'q2', 'q3', 'q4', 'q5', 'q6'] as const) {
      const body = await api<{ rows: Record<string, string>[] }>(
        `/v1/queries/${name}`,
        Object.fromEntries(Object.entries(params[name]).map(([k, v]) => [k, String(v)])),
      );
      expect(body.rows.length, name).toBeGreaterThan(0);
    }
    const q1 = await api<{ rows: Record<string, string>[] }>('/v1/queries/q1', params.q1);
    expect(q1.rows[0]).toMatchObject({
      rawFile: fixture.report().curation.rawFile,
      basin: fixture.report().config.annotations.basin,
    });
  });

  it.each([
    ['/v1/lineage/backward', { entity: 'file:///x> } . ?s ?p ?o . FILTER(true' }],
    ['/v1/lineage/backward', { entity: 'not an iri' }],
    ['/v1/lineage/forward', { entity: 'urn:x', depth: 1000 }],
    ['/v1/models/best', { trainingSet: 'urn:x', measure: 'loss" ; ?p ?o . #' }],
    ['/v1/models/best', { trainingSet: 'urn:x', direction: 'sideways' }],
    ['/v1/runs', { 'hp.learning_rate': '0.1) || true || (1' }],
    ['/v1/runs', { unknownFilter: 1 }],
    ['/v1/executions', { status: 'asleep' }],
    ['/v1/timing', {}],
  ])('refuses bad parameters of %s with 400 naming the parameter: %j', async (path, params) => {
    const query = new URLSearchParams(
      Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]),
    );
    const response = await fetch(`${fixture.queryUrl()}${path}?${query.toString()}`);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; issues: { path: string }[] };
    expect(body.error).toBe('invalid-parameter');
    expect(body.issues.length).toBeGreaterThan(0);
  });
}
