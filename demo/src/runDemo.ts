/** The O&G lifecycle demo: three kinds of workflow, run by different people, linked only by the data they exchange. */
import { join } from 'node:path';
import type { Capture } from '@provml/capture-agent';
import { horizonsJson, runCuration, type CurationResult } from './curation.ts';
import type { DemoConfig } from './DemoConfig.ts';
import { writeFileDeep } from './files.ts';
import { runPreparation, type PreparationResult } from './preparation.ts';
import { generateSurvey } from './segy/generateSurvey.ts';
import { encodeSegy } from './segy/writeSegy.ts';
import { runTraining, type TrainingResult } from './training.ts';
import { DEMO_SPECS } from './specs.ts';

/** What the demo needs from the system it runs in. */
export interface DemoHost {
  /** A capture session for a spec (the embedded stack's, or one with a Kafka exporter). */
  capture(spec: unknown): Promise<Capture>;
  /**
   * Publishes domain annotations (Turtle) as the document of `source` (it replaces what that source
   * said before); returns the number of triples.
   */
  annotate(turtle: string, source: string): Promise<number>;
}

/** Everything the demo did: the ground truth its provenance answers are checked against. */
export interface DemoReport {
  config: DemoConfig;
  rawSegyPath: string;
  curation: CurationResult;
  preparations: PreparationResult[];
  trainings: TrainingResult[];
  /** Capture events recorded by the three workflows. */
  events: number;
}

/** Runs generation, curation, every preparation variant and every training run, in order. */
export async function runDemo(
  host: DemoHost,
  config: DemoConfig,
  progress: (line: string) => void = () => undefined,
): Promise<DemoReport> {
  const sessions: Capture[] = [];
  const session = async (spec: unknown): Promise<Capture> => {
    const c = await host.capture(spec);
    sessions.push(c);
    return c;
  };

  const { cube, layers, textHeader } = generateSurvey({
    seed: config.seed,
    inlines: config.survey.inlines,
    crosslines: config.survey.crosslines,
    samples: config.survey.samples,
  });
  const rawSegyPath = join(config.outputDir, 'raw', `${config.survey.name}.sgy`);
  const rawHorizonsPath = join(config.outputDir, 'raw', `${config.survey.name}.horizons.json`);
  await writeFileDeep(rawSegyPath, encodeSegy(cube, textHeader));
  await writeFileDeep(rawHorizonsPath, horizonsJson(layers));
  const g = cube.geometry;
  progress(
    `survey      ${rawSegyPath} (${g.inlines} inlines × ${g.crosslines} crosslines × ${g.samples} samples, seed ${config.seed})`,
  );

  const curation = await runCuration(
    await session(DEMO_SPECS.curation),
    config,
    { segyPath: rawSegyPath, horizonsPath: rawHorizonsPath },
    (turtle, source) => host.annotate(turtle, source),
  );
  progress(
    `curation    ${curation.numTraces} traces, inlines ${curation.inlineRange.join('–')}, ${curation.annotationTriples} annotation triples`,
  );

  const preparer = await session(DEMO_SPECS.preparation);
  const preparations: PreparationResult[] = [];
  for (const variant of config.preparations) {
    const p = await runPreparation(preparer, config, curation, variant);
    preparations.push(p);
    progress(
      `preparation ${p.name}: inlines ${p.inlineStart}–${p.inlineEnd}, ${p.tilesCut} tiles, ${p.tilesDropped} dropped as noisy, ${p.trainingTiles} training / ${p.validationTiles} validation`,
    );
  }

  const trainer = await session(DEMO_SPECS.training);
  const trainings: TrainingResult[] = [];
  for (const [i, run] of config.trainings.entries()) {
    const data = preparations.find((p) => p.name === run.preparation)!;
    const t = await runTraining(trainer, config, data, run, config.seed + i + 1);
    trainings.push(t);
    progress(
      `training    ${t.name} on ${data.name}: lr ${t.learningRate}, ${t.epochs} epochs × ${t.epochResults[0]!.batches} batches, loss ${t.finalLoss.toFixed(3)}, accuracy ${(t.finalAccuracy * 100).toFixed(1)}%`,
    );
  }
  for (const s of sessions) await s.flush();
  const events = sessions.reduce((n, s) => n + s.stats.enqueued, 0);
  return { config, rawSegyPath, curation, preparations, trainings, events };
}
