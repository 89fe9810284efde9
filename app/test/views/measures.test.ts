/**
 * /v1/measures on a lifecycle that is not seismic (a text classifier, captured through an embedded
 * stack): the declared measures come from its spec, the series from each run's task executions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeasureDeclaration, MeasureSeries, RunRow } from '@provml/query-api';
import type { EmbeddedStack } from '../../src/embedded/EmbeddedStack.ts';
import { startStack } from '../../../deploy/testing/stack.ts';
import {
  CLASSIFIER_EPOCHS,
  CLASSIFIER_SPEC,
  CLASSIFIER_RUNS,
  captureClassifierRuns,
  macroF1,
  perplexity,
  trainNll,
} from '../fixtures/comparisonRuns.ts';

type Measures = { measures: MeasureDeclaration[]; series: MeasureSeries[] };

describe('/v1/measures', () => {
  let stack: EmbeddedStack;
  let runs: RunRow[];
  beforeAll(async () => {
    stack = await startStack();
    await captureClassifierRuns(stack);
    runs = ((await (await fetch(`${stack.queryUrl}/v1/runs`)).json()) as { runs: RunRow[] }).runs;
  }, 60_000);
  afterAll(() => stack.shutdown());

  const get = async (query: string): Promise<{ status: number; body: Measures }> => {
    const response = await fetch(`${stack.queryUrl}/v1/measures?${query}`);
    return { status: response.status, body: (await response.json()) as Measures };
  };
  const trainingOf = (id: string): string =>
    runs.find((r) => r.training.startsWith(`urn:provml:execution/${id}/`))!.training;

  it('lists the measures the spec declares, with their tasks, and every series of one run', async () => {
    expect(runs).toHaveLength(CLASSIFIER_RUNS.length);
    const run = CLASSIFIER_RUNS[0]!;
    const { status, body } = await get(new URLSearchParams({ training: trainingOf(run.id) }).toString());
    expect(status).toBe(200);
    expect(body.measures).toEqual([
      { name: 'final_f1', task: 'training', semantics: 'evaluation-measure' },
      { name: 'macro_f1', task: 'evaluation', semantics: 'evaluation-measure' },
      { name: 'perplexity', task: 'evaluation', semantics: 'evaluation-measure' },
      { name: 'train_nll', task: 'epoch', semantics: 'evaluation-measure' },
    ]);
    const series = (measure: string) => body.series.find((s) => s.measure === measure)!;
    const epochs = [...Array(CLASSIFIER_EPOCHS).keys()];
    expect(series('macro_f1').task).toBe('evaluation');
    expect(series('macro_f1').points.map((p) => [p.step, p.value])).toEqual(
      epochs.map((e) => [e, macroF1(run, e)]),
    );
    expect(series('perplexity').points.map((p) => p.value)).toEqual(epochs.map((e) => perplexity(run, e)));
    expect(series('train_nll').points.map((p) => p.value)).toEqual(epochs.map((e) => trainNll(run, e)));
    expect(series('final_f1').points.map((p) => p.value)).toEqual([macroF1(run, CLASSIFIER_EPOCHS - 1)]);
    // the model-hyperparameter `epoch` is no measure
    expect(body.series.map((s) => s.measure).sort()).toEqual([
      'final_f1',
      'macro_f1',
      'perplexity',
      'train_nll',
    ]);
  });

  it('gives one series per run for one measure when the parameter is repeated', async () => {
    const query = new URLSearchParams({ measure: 'macro_f1' });
    for (const r of CLASSIFIER_RUNS) query.append('training', trainingOf(r.id));
    const { status, body } = await get(query.toString());
    expect(status).toBe(200);
    expect(body.series).toHaveLength(CLASSIFIER_RUNS.length);
    for (const r of CLASSIFIER_RUNS) {
      const s = body.series.find((x) => x.training === trainingOf(r.id))!;
      expect(s.measure).toBe('macro_f1');
      expect(s.points.map((p) => p.value)).toEqual(
        [...Array(CLASSIFIER_EPOCHS).keys()].map((e) => macroF1(r, e)),
      );
    }
  });

  it('gives the declarations alone with series=none', async () => {
    const training = trainingOf(CLASSIFIER_RUNS[1]!.id);
    const { body } = await get(new URLSearchParams({ training, series: 'none' }).toString());
    expect(body.measures.map((m) => m.name)).toEqual(['final_f1', 'macro_f1', 'perplexity', 'train_nll']);
    expect(body.series).toEqual([]);
  });

  it('orders a series by time, not by the text of the time (fractions without trailing zeros)', async () => {
    // evaluations 100 ms, 120 ms and 900 ms into a second: stored as …:00.1Z, …:00.12Z, …:00.9Z
    const second = Date.UTC(2026, 0, 1, 12, 0, 0) * 1000;
    const times = [100_000, 120_000, 900_000].map((us) => second + us);
    const event = (
      task: string,
      tex: string,
      parent: string | null,
      phase: string,
      time: number,
      values = {},
    ) => ({
      eventId: `order/${tex}/${phase}`,
      workflow: CLASSIFIER_SPEC.workflow,
      workflowExecution: 'clf-order',
      task,
      taskExecution: tex,
      parentTaskExecution: parent,
      phase,
      time,
      values,
      dataRefs:
        task === 'training' && phase === 'begin'
          ? [{ name: 'corpus', uri: 'file:///corpora/order.jsonl' }]
          : [],
      ...(phase === 'end' ? { status: 'finished' } : {}),
    });
    const events = [
      event('training', 'tr', null, 'begin', second, { learning_rate: 0.1 }),
      ...times.flatMap((t, i) => [
        event('evaluation', `v${i}`, 'tr', 'begin', t),
        event('evaluation', `v${i}`, 'tr', 'end', t + 10, { macro_f1: i / 10 }),
      ]),
      event('training', 'tr', null, 'end', second + 1_000_000),
    ];
    const posted = await fetch(`${stack.ingestUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: events.map((e) => JSON.stringify(e)).join('\n'),
    });
    expect(posted.status, await posted.clone().text()).toBe(202);
    await stack.settle();
    const training = (
      (await (await fetch(`${stack.queryUrl}/v1/runs?hp.learning_rate=0.1`)).json()) as { runs: RunRow[] }
    ).runs.find((r) => r.training.startsWith('urn:provml:execution/clf-order/'))!.training;
    const { body } = await get(new URLSearchParams({ training, measure: 'macro_f1' }).toString());
    expect(body.series[0]!.points.map((p) => p.value)).toEqual([0, 0.1, 0.2]);
  });

  it('refuses a missing or malformed training and a measure that is no name', async () => {
    expect((await get('')).status).toBe(400);
    expect((await get('training=not-an-iri')).status).toBe(400);
    const training = encodeURIComponent(trainingOf(CLASSIFIER_RUNS[0]!.id));
    expect((await get(`training=${training}&measure=${encodeURIComponent('x") || true')}`)).status).toBe(400);
  });
});
