/** The learning workflow: trains a tile classifier, capturing every batch, every epoch (with its model file) and a validation stage per epoch. */
import { join } from 'node:path';
import type { Capture } from '@provml/capture-agent';
import type { DemoConfig, TrainingConfig } from './DemoConfig.ts';
import { fileUri } from './files.ts';
import { createClassifier, featureSize, fitStandardizer, saveModel, tileFeatures } from './ml/classifier.ts';
import { readTileSet } from './ml/tiles.ts';
import type { PreparationResult } from './preparation.ts';
import { createRandom } from './random.ts';

/** One epoch as the trainer saw it. */
export interface EpochResult {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  model: string;
  batches: number;
}

/** What one training run did. */
export interface TrainingResult extends TrainingConfig {
  workflowExecution: string;
  trainingSet: string;
  validationSet: string;
  epochResults: EpochResult[];
  finalLoss: number;
  finalAccuracy: number;
}

/** Fisher–Yates shuffle of 0..n-1 with a seeded generator. */
function permutation(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Trains one run on a prepared training set. */
export async function runTraining(
  capture: Capture,
  config: DemoConfig,
  data: PreparationResult,
  run: TrainingConfig,
  seed: number,
): Promise<TrainingResult> {
  const training = await readTileSet(data.trainingPath);
  const validation = await readTileSet(data.validationPath);
  const x = training.tiles.map(tileFeatures);
  const y = training.tiles.map((t) => t.label);
  const vx = validation.tiles.map(tileFeatures);
  const vy = validation.tiles.map((t) => t.label);
  const classes = Math.max(...y, ...vy) + 1;
  const classifier = createClassifier({
    inputSize: featureSize(data.tileSize),
    hidden: run.hiddenUnits,
    classes,
    seed,
    standardizer: fitStandardizer(x),
  });
  const random = createRandom(seed);
  const wf = capture.workflowExecution(`training-${run.name}-${config.seed}`);
  const stage = wf.begin('training', {
    values: {
      learning_rate: run.learningRate,
      epochs: run.epochs,
      batch_size: run.batchSize,
      hidden_units: run.hiddenUnits,
      seed,
    },
    dataRefs: [{ name: 'training_set', uri: data.trainingSet, store: 'project-fs' }],
  });
  const epochResults: EpochResult[] = [];
  for (let e = 0; e < run.epochs; e++) {
    const epoch = stage.begin('epoch');
    const order = permutation(x.length, random);
    let batches = 0;
    for (let start = 0; start < order.length; start += run.batchSize) {
      const idx = order.slice(start, start + run.batchSize);
      const batch = epoch.begin('batch', { values: { batch_index: batches } });
      const loss = classifier.trainBatch(
        idx.map((i) => x[i]!),
        idx.map((i) => y[i]!),
        run.learningRate,
      );
      batch.end({ values: { batch_loss: loss } });
      batches++;
    }
    const { loss, accuracy } = classifier.evaluate(x, y);
    const modelPath = join(config.outputDir, 'models', run.name, `epoch-${e}.json`);
    await saveModel(modelPath, classifier, { run: run.name, epoch: e, trainingSet: data.trainingSet });
    const model = fileUri(modelPath);
    epoch.end({
      values: { epoch: e, loss, accuracy },
      dataRefs: [{ name: 'model', uri: model, store: 'model-registry' }],
    });
    const val = stage.begin('validation', {
      dataRefs: [{ name: 'validation_set', uri: data.validationSet, store: 'project-fs' }],
    });
    const v = classifier.evaluate(vx, vy);
    val.end({
      values: { val_loss: v.loss, val_accuracy: v.accuracy },
      dataRefs: [{ name: 'model', uri: model, store: 'model-registry' }],
    });
    epochResults.push({ epoch: e, loss, accuracy, valLoss: v.loss, valAccuracy: v.accuracy, model, batches });
  }
  const last = epochResults[epochResults.length - 1]!;
  stage.end({ values: { final_loss: last.loss, final_accuracy: last.accuracy } });
  return {
    ...run,
    workflowExecution: wf.id,
    trainingSet: data.trainingSet,
    validationSet: data.validationSet,
    epochResults,
    finalLoss: last.loss,
    finalAccuracy: last.accuracy,
  };
}
