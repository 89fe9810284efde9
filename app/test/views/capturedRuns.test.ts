/**
 * Runs captured the way training scripts send them, through the HTTP ingest of an embedded stack, and
 * read back through the views and Q1–Q6: NaN and infinities stay numbers and never win; values and
 * data references of one task execution are linked whichever of its events carried them; two runs
 * writing the same model path stay two models.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedStack } from '../../src/embedded/EmbeddedStack.ts';
import type { LineageGraph, BestModel, ModelRow } from '@provml/query-api';
import { PREFIXES, sparql, startStack } from '../../../deploy/testing/stack.ts';

const SPEC = {
  workflow: 'fit',
  phase: 'learning',
  tasks: [
    {
      id: 'training',
      stage: 'training',
      inputs: [
        { name: 'learning_rate', semantics: 'hyperparameter' },
        { name: 'training_set', semantics: 'dataset-reference' },
      ],
      outputs: [{ name: 'final_loss', semantics: 'evaluation-measure' }],
    },
    {
      id: 'epoch',
      parent: 'training',
      outputs: [
        { name: 'epoch', semantics: 'model-hyperparameter' },
        { name: 'loss', semantics: 'evaluation-measure' },
        { name: 'model', semantics: 'model-reference' },
      ],
    },
    {
      id: 'validation',
      parent: 'training',
      stage: 'validation',
      inputs: [{ name: 'model', semantics: 'model-reference' }],
      outputs: [{ name: 'val_loss', semantics: 'evaluation-measure' }],
    },
  ],
};

type Values = Record<string, number | string>;
type Refs = Record<string, string>;

/** Builds the events of one workflow execution in the order a script sends them. */
class Run {
  readonly events: object[] = [];
  private time = 1_767_225_600_000_000;
  constructor(readonly id: string) {}

  private event(
    task: string,
    tex: string,
    parent: string | null,
    phase: 'begin' | 'end',
    values: Values,
    refs: Refs,
  ) {
    this.time += 1000;
    this.events.push({
      eventId: `${this.id}/${tex}/${phase}`,
      workflow: SPEC.workflow,
      workflowExecution: this.id,
      task,
      taskExecution: tex,
      parentTaskExecution: parent,
      phase,
      time: this.time,
      values,
      dataRefs: Object.entries(refs).map(([name, uri]) => ({ name, uri })),
      ...(phase === 'end' ? { status: 'finished' } : {}),
    });
  }
  begin(task: string, tex: string, parent: string | null, values: Values = {}, refs: Refs = {}): this {
    this.event(task, tex, parent, 'begin', values, refs);
    return this;
  }
  end(task: string, tex: string, parent: string | null, values: Values = {}, refs: Refs = {}): this {
    this.event(task, tex, parent, 'end', values, refs);
    return this;
  }
}

describe('captured runs through the views', () => {
  let stack: EmbeddedStack;
  beforeAll(async () => {
    stack = await startStack();
    const response = await fetch(`${stack.ingestUrl}/v1/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(SPEC),
    });
    expect(response.status).toBe(201);
  });
  afterAll(() => stack.shutdown());

  async function send(...runs: Run[]): Promise<void> {
    const body = runs.flatMap((r) => r.events.map((e) => JSON.stringify(e))).join('\n');
    const response = await fetch(`${stack.ingestUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body,
    });
    expect(response.status, await response.clone().text()).toBe(202);
    await stack.settle();
  }

  async function api<T>(path: string, params: Record<string, string>): Promise<{ status: number; body: T }> {
    const response = await fetch(`${stack.queryUrl}${path}?${new URLSearchParams(params).toString()}`);
    return { status: response.status, body: (await response.json()) as T };
  }

  /**
   * One training as `provml_client`'s `training.epochs()` and its README send it: the epoch number on
   * each epoch's begin, a validation inside the epoch with the model on its begin and the loss on its
   * end, the model file on the epoch's end.
   */
  function pythonStyleRun(
    id: string,
    set: string,
    learningRate: number,
    valLosses: number[],
    model: (e: number) => string,
  ): Run {
    const run = new Run(id).begin(
      'training',
      'tr',
      null,
      { learning_rate: learningRate },
      { training_set: set },
    );
    valLosses.forEach((valLoss, e) =>
      run
        .begin('epoch', `e${e}`, 'tr', { epoch: e })
        .begin('validation', `v${e}`, 'tr', {}, { model: model(e) })
        .end('validation', `v${e}`, 'tr', { val_loss: valLoss })
        .end('epoch', `e${e}`, 'tr', { loss: valLoss + 0.1 }, { model: model(e) }),
    );
    return run.end('training', 'tr', null, { final_loss: valLosses[valLosses.length - 1]! });
  }

  it('finds the best model by val_loss with its epoch when the epoch came on begin and the model on end', async () => {
    const set = 'file:///sets/begin-end.npz';
    await send(
      pythonStyleRun('begin-end', set, 0.01, [0.9, 0.4, 0.6], (e) => `file:///models/begin-end/e${e}.pt`),
    );
    const best = await api<BestModel>('/v1/models/best', { trainingSet: set, measure: 'val_loss' });
    expect(best.status, JSON.stringify(best.body)).toBe(200);
    expect(best.body.uri).toBe('file:///models/begin-end/e1.pt');
    expect(best.body.value).toBe(0.4);
    expect(best.body.modelHyperparameters).toEqual({ epoch: 1 });
    expect(best.body.hyperparameters).toEqual({ learning_rate: 0.01 });
    expect(best.body.evaluations).toEqual({ loss: 0.5, val_loss: 0.4 });
    const q3 = await api<{ rows: Record<string, string>[] }>('/v1/queries/q3', { trainingSet: set });
    expect(q3.body.rows.find((r) => r.kind === 'model-hyperparameter')).toMatchObject({
      name: 'epoch',
      value: '1',
    });
  });

  it('keeps two runs that write the same model paths apart: two models each, with their own numbers', async () => {
    const set = 'file:///sets/shared.npz';
    const path = (e: number) => `file:///models/shared/model-epoch-${e}.json`;
    const runs = {
      'lr-a': { learningRate: 0.5, valLosses: [0.9, 0.5, 0.7] },
      'lr-b': { learningRate: 2.0, valLosses: [0.8, 0.6, 0.3] },
    };
    await send(
      ...Object.entries(runs).map(([id, r]) => pythonStyleRun(id, set, r.learningRate, r.valLosses, path)),
    );
    const runOf = (training: string) =>
      Object.entries(runs).find(([id]) => training.startsWith(`urn:provml:execution/${id}/`))!;

    const { body } = await api<{ models: ModelRow[] }>('/v1/models', { trainingSet: set });
    expect(body.models).toHaveLength(6);
    expect(new Set(body.models.map((m) => m.model)).size).toBe(6);
    for (const m of body.models) {
      const [, r] = runOf(m.training);
      const e = Number(/model-epoch-(\d)/.exec(m.uri)![1]);
      expect(m.evaluations, m.model).toEqual({ loss: r.valLosses[e]! + 0.1, val_loss: r.valLosses[e] });
    }

    for (const [direction, run, epoch, value] of [
      ['min', 'lr-b', 2, 0.3],
      ['max', 'lr-a', 0, 0.9],
    ] as const) {
      const best = await api<BestModel>('/v1/models/best', {
        trainingSet: set,
        measure: 'val_loss',
        direction,
      });
      expect(best.body.uri).toBe(path(epoch));
      expect(best.body.value).toBe(value);
      expect(best.body.training).toMatch(new RegExp(`^urn:provml:execution/${run}/`));
      expect(best.body.hyperparameters).toEqual({ learning_rate: runs[run].learningRate });
      expect(best.body.modelHyperparameters).toEqual({ epoch });
      expect(best.body.evaluations).toEqual({ loss: value + 0.1, val_loss: value });
    }

    // lineage back from one run's model never reaches the other run, though it reaches the shared file
    const [a, b] = ['lr-a', 'lr-b'].map((run) =>
      body.models.find((m) => m.training.startsWith(`urn:provml:execution/${run}/`) && m.uri === path(1)),
    );
    const back = await api<LineageGraph>('/v1/lineage/backward', { entity: b!.model });
    const ids = back.body.nodes.map((n) => n.id);
    expect(ids).toContain(path(1));
    expect(ids).toContain(set);
    expect(ids).not.toContain(a!.model);
    expect(ids.filter((id) => id.startsWith('urn:provml:execution/lr-a'))).toEqual([]);

    const q3 = await api<{ rows: Record<string, string>[] }>('/v1/queries/q3', { trainingSet: set });
    const q3Model = q3.body.rows[0]!.model!;
    expect(q3.body.rows.every((r) => r.model === q3Model)).toBe(true);
    const lr = q3.body.rows.find((r) => r.name === 'learning_rate')!.value;
    const q3Run = body.models.find((m) => m.model === q3Model)!;
    expect(Number(lr)).toBe(runOf(q3Run.training)[1].learningRate);
    expect(
      q3.body.rows
        .filter((r) => r.kind === 'evaluation')
        .map((r) => Number(r.value))
        .sort(),
    ).toEqual([q3Run.evaluations.val_loss, q3Run.evaluations.loss].sort());
  });

  it('keeps NaN and infinities as xsd:double, and never ranks them best in either direction', async () => {
    const set = 'file:///sets/non-finite.npz';
    const losses: (number | string)[] = [0.5, 0.3, 'NaN', 'Infinity', '-Infinity'];
    const run = new Run('non-finite').begin(
      'training',
      'tr',
      null,
      { learning_rate: 0.1 },
      { training_set: set },
    );
    losses.forEach((loss, i) =>
      run
        .begin('epoch', `e${i}`, 'tr', { epoch: i })
        .end('epoch', `e${i}`, 'tr', { loss }, { model: `file:///models/non-finite/e${i}.pt` }),
    );
    await send(run.end('training', 'tr', null, { final_loss: 'NaN' }));

    const stored = await sparql(
      stack.queryUrl,
      `${PREFIXES} SELECT ?v WHERE { GRAPH <urn:provml:graph/execution/non-finite> {
        ?x provml:valueName "loss" ; prov:value ?v } FILTER(datatype(?v) = xsd:double && (?v != ?v || ABS(?v) = "INF"^^xsd:double)) }`,
    );
    expect(stored).toHaveLength(3);

    const least = await api<BestModel>('/v1/models/best', { trainingSet: set, measure: 'loss' });
    expect(least.status).toBe(200);
    expect(least.body.uri).toBe('file:///models/non-finite/e1.pt');
    expect(least.body.value).toBe(0.3);
    const most = await api<BestModel>('/v1/models/best', {
      trainingSet: set,
      measure: 'loss',
      direction: 'max',
    });
    expect(most.body.uri).toBe('file:///models/non-finite/e0.pt');
    expect(most.body.value).toBe(0.5);
    const onlyNaN = await api<{ message: string }>('/v1/models/best', {
      trainingSet: set,
      measure: 'final_loss',
    });
    expect(onlyNaN.status).toBe(404);

    const q3 = await api<{ rows: Record<string, string>[] }>('/v1/queries/q3', { trainingSet: set });
    expect(new Set(q3.body.rows.map((r) => r.model))).toEqual(new Set([least.body.model]));

    const { body } = await api<{ models: ModelRow[] }>('/v1/models', { trainingSet: set });
    expect(body.models.map((m) => m.evaluations.loss)).toEqual([0.5, 0.3, 'NaN', 'INF', '-INF']);
  });
});
