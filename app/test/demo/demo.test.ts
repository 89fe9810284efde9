/** The O&G lifecycle demo end to end: Q1–Q6 answers checked against what the workflows actually did. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryCaptureExporter, init, MultiCaptureExporter } from '@provml/capture-agent';
import { encodeCaptureEvent, type CaptureEvent } from '@provml/schemas';
import { LogCaptureExporter } from '@provml/log';
import {
  answerQueries,
  demoParameters,
  type Answer,
  resolveDemoConfig,
  type DemoConfig,
  runDemo,
  type DemoReport,
} from '@provml/demo';
import type { EmbeddedStack } from '../../src/embedded/EmbeddedStack.ts';
import { LIFECYCLE_CLASSES, provmlClasses, startStack } from '../../../deploy/testing/stack.ts';

interface Scenario {
  stack: EmbeddedStack;
  report: DemoReport;
  events: CaptureEvent[];
  answers: Map<string, Answer>;
  dir: string;
}

/** Runs the demo into a fresh embedded stack, keeping a copy of every capture event. */
async function scenario(overrides: Partial<DemoConfig>): Promise<Scenario> {
  const dir = await mkdtemp(join(tmpdir(), 'provml-demo-'));
  const stack = await startStack();
  const copy = new InMemoryCaptureExporter();
  const config = resolveDemoConfig({ ...overrides, outputDir: dir });
  const report = await runDemo(
    {
      capture: (spec) =>
        init({
          spec,
          env: {},
          exporter: new MultiCaptureExporter([
            new LogCaptureExporter(stack.log.producer(), encodeCaptureEvent),
            copy,
          ]),
        }),
      annotate: (turtle, source) => stack.annotate(turtle, source),
    },
    config,
  );
  await stack.settle();
  const answers = new Map((await answerQueries(stack.store, report)).map((a) => [a.name, a]));
  return { stack, report, events: copy.events, answers, dir };
}

/** Durations (s) of every execution of `task` under parent execution `parent`, from the captured events. */
function durations(events: CaptureEvent[], task: string, parent?: string): Map<string, number> {
  const begins = new Map<string, CaptureEvent>();
  const out = new Map<string, number>();
  for (const e of events) {
    if (e.task !== task) continue;
    if (e.phase === 'begin') begins.set(e.taskExecution, e);
    else {
      const b = begins.get(e.taskExecution)!;
      if (parent === undefined || b.parentTaskExecution === parent)
        out.set(e.taskExecution, (e.time - b.time) / 1e6);
    }
  }
  return out;
}

/** Answers of each finished scenario, compared at the end. */
const finished: Map<string, Answer>[] = [];

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const rowsOf = (s: Scenario, q: string): Record<string, string>[] => s.answers.get(q)!.rows;

const SCENARIOS: [string, Partial<DemoConfig>][] = [
  ['the default demo', {}],
  [
    'another seed and other slice ranges',
    {
      seed: 7,
      survey: { name: 'f3-variant', inlines: 40, crosslines: 40, samples: 96 },
      preparations: [
        {
          name: 'north',
          inlineStart: 110,
          inlineEnd: 121,
          tileSize: 8,
          noiseThreshold: 1.5,
          validationFraction: 0.25,
        },
        {
          name: 'south',
          inlineStart: 122,
          inlineEnd: 139,
          tileSize: 12,
          noiseThreshold: 0.8,
          validationFraction: 0.2,
        },
      ],
      trainings: [
        { name: 'n1', preparation: 'north', learningRate: 0.1, epochs: 2, batchSize: 20, hiddenUnits: 8 },
        { name: 'n2', preparation: 'north', learningRate: 0.03, epochs: 3, batchSize: 50, hiddenUnits: 0 },
        { name: 's1', preparation: 'south', learningRate: 0.1, epochs: 2, batchSize: 32, hiddenUnits: 12 },
      ],
    },
  ],
];

describe.each(SCENARIOS)('demo lifecycle: %s', (_, overrides) => {
  let s: Scenario;
  beforeAll(async () => {
    s = await scenario(overrides);
    finished.push(s.answers);
  }, 120_000);
  afterAll(async () => {
    await s?.stack.shutdown();
    if (s !== undefined) await rm(s.dir, { recursive: true, force: true });
  });

  const firstRun = () => s.report.trainings[0]!;
  const prepOf = (run: { preparation: string }) =>
    s.report.preparations.find((p) => p.name === run.preparation)!;

  it('Q1: the raw file, its extent, slice count, basin and field behind the best model', () => {
    const { curation, config } = s.report;
    expect(rowsOf(s, 'q1')).toEqual([
      {
        rawFile: curation.rawFile,
        boundingBox: JSON.stringify(curation.boundingBox),
        crs: curation.crs,
        slices: String(config.survey.inlines),
        basin: config.annotations.basin,
        field: config.annotations.field,
      },
    ]);
    expect(curation.numSlices).toBe(config.survey.inlines);
  });

  it('Q2: tile size, noise threshold and slice range behind the model’s training set', () => {
    const p = prepOf(firstRun());
    expect(
      rowsOf(s, 'q2').map((r) => [
        r.trainingSet,
        +r.inlineStart!,
        +r.inlineEnd!,
        +r.tileSize!,
        +r.noiseThreshold!,
      ]),
    ).toEqual([[p.trainingSet, p.inlineStart, p.inlineEnd, p.tileSize, p.noiseThreshold]]);
  });

  it('Q3: hyperparameters and evaluations of the model with least loss for the training set', () => {
    const set = prepOf(firstRun()).trainingSet;
    const candidates = s.report.trainings
      .filter((t) => t.trainingSet === set)
      .flatMap((t) => t.epochResults.map((e) => ({ run: t, e })));
    const best = candidates.reduce((a, b) => (b.e.loss < a.e.loss ? b : a));
    const rows = rowsOf(s, 'q3');
    // the model is the version of its file that the epoch wrote
    expect(new Set(rows.map((r) => r.model))).toEqual(new Set([expect.stringMatching(/\/version\//)]));
    expect(new Set(rows.map((r) => decodeURIComponent(r.model!.split('/').pop()!)))).toEqual(
      new Set([best.e.model]),
    );
    const byName = Object.fromEntries(rows.map((r) => [`${r.kind}:${r.name}`, Number(r.value)]));
    expect(byName).toEqual({
      'hyperparameter:learning_rate': best.run.learningRate,
      'hyperparameter:epochs': best.run.epochs,
      'hyperparameter:batch_size': best.run.batchSize,
      'hyperparameter:hidden_units': best.run.hiddenUnits,
      'model-hyperparameter:epoch': best.e.epoch,
      'evaluation:loss': best.e.loss,
      'evaluation:accuracy': best.e.accuracy,
      'evaluation:val_loss': best.e.valLoss,
      'evaluation:val_accuracy': best.e.valAccuracy,
    });
  });

  it('Q4: min/mean/max batch time of every epoch, as captured', () => {
    const set = prepOf(firstRun()).trainingSet;
    const runs = s.report.trainings.filter((t) => t.trainingSet === set);
    const rows = rowsOf(s, 'q4');
    expect(rows).toHaveLength(runs.reduce((n, r) => n + r.epochs, 0));
    for (const row of rows) {
      const epochId = decodeURIComponent(row.epoch!.split('/').pop()!);
      const batches = [...durations(s.events, 'batch', epochId).values()];
      expect(Number(row.batches)).toBe(batches.length);
      expect(Number(row.minBatchSeconds)).toBeCloseTo(Math.min(...batches), 9);
      expect(Number(row.maxBatchSeconds)).toBeCloseTo(Math.max(...batches), 9);
      expect(Number(row.meanBatchSeconds)).toBeCloseTo(mean(batches), 9);
    }
    for (const run of runs) {
      const tiles = prepOf(run).trainingTiles;
      expect(run.epochResults.every((e) => e.batches === Math.ceil(tiles / run.batchSize))).toBe(true);
    }
  });

  it('Q5: mean batch and epoch times and evaluations of the runs on data from the slice range', () => {
    const p = prepOf(firstRun());
    const runs = s.report.trainings.filter((t) => t.preparation === p.name);
    const rows = rowsOf(s, 'q5');
    expect(rows.map((r) => r.trainingSet)).toEqual(runs.map(() => p.trainingSet));
    for (const run of runs) {
      const row = rows.find(
        (r) => Number(r.learningRate) === run.learningRate && Number(r.batchSize) === run.batchSize,
      )!;
      const stageBegin = s.events.find(
        (e) => e.task === 'training' && e.phase === 'begin' && e.workflowExecution === run.workflowExecution,
      )!;
      const epochs = durations(s.events, 'epoch', stageBegin.taskExecution);
      const batches = [...epochs.keys()].flatMap((id) => [...durations(s.events, 'batch', id).values()]);
      expect(Number(row.meanEpochSeconds)).toBeCloseTo(mean([...epochs.values()]), 9);
      expect(Number(row.meanBatchSeconds)).toBeCloseTo(mean(batches), 9);
      expect(Number(row.finalLoss)).toBe(run.finalLoss);
      expect(Number(row.finalAccuracy)).toBe(run.finalAccuracy);
      expect(Number(row.epochs)).toBe(run.epochs);
    }
  });

  it('Q6: the raw file, slice count, basin and field behind Q5’s training sets', () => {
    const p = prepOf(firstRun());
    const { curation, config } = s.report;
    expect(rowsOf(s, 'q6')).toEqual([
      {
        trainingSet: p.trainingSet,
        rawFile: curation.rawFile,
        slices: String(config.survey.inlines),
        basin: config.annotations.basin,
        field: config.annotations.field,
      },
    ]);
  });

  it('asks about what the demo did: parameters come from the report', () => {
    const params = demoParameters(s.report);
    expect(params.q5).toEqual({
      inlineStart: s.report.config.preparations[0]!.inlineStart,
      inlineEnd: s.report.config.preparations[0]!.inlineEnd,
    });
    expect(s.events.length).toBe(s.report.events);
  });

  it('uses the Table II classes the lifecycle exercises', async () => {
    const classes = await provmlClasses(s.stack.queryUrl);
    for (const c of LIFECYCLE_CLASSES) expect(classes.has(c), c).toBe(true);
  });
});

describe('two demo configurations', () => {
  it('give different answers (nothing is canned)', () => {
    expect(finished).toHaveLength(2);
    const [a, b] = finished as [Map<string, Answer>, Map<string, Answer>];
    for (const q of ['q1', 'q2', 'q3', 'q5']) expect(a.get(q)!.rows).not.toEqual(b.get(q)!.rows);
  });
});
