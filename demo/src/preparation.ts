/** The model trainer's learning-data preparation: tiles from an inline range, noise filter, labels, train/validation split. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Capture } from '@provml/capture-agent';
import type { CurationResult } from './curation.ts';
import { parseHorizons } from './curation.ts';
import type { DemoConfig, PreparationConfig } from './DemoConfig.ts';
import { fileUri } from './files.ts';
import { cutTiles, filterTiles, splitTiles, writeTileSet } from './ml/tiles.ts';
import { decodeSegy, surveyFromSegy } from './segy/readSegy.ts';

/** What one preparation variant did and wrote. */
export interface PreparationResult extends PreparationConfig {
  trainingSet: string;
  trainingPath: string;
  validationSet: string;
  validationPath: string;
  tilesCut: number;
  tilesDropped: number;
  trainingTiles: number;
  validationTiles: number;
}

/** Runs one preparation variant on the curated cube. */
export async function runPreparation(
  capture: Capture,
  config: DemoConfig,
  curated: CurationResult,
  variant: PreparationConfig,
): Promise<PreparationResult> {
  const run = capture.workflowExecution(`preparation-${variant.name}-${config.seed}`);
  const dir = join(config.outputDir, 'tiles', variant.name);
  const trainingPath = join(dir, 'training.pmlt');
  const validationPath = join(dir, 'validation.pmlt');
  const root = run.begin('prepare', {
    values: {
      inline_start: variant.inlineStart,
      inline_end: variant.inlineEnd,
      tile_size: variant.tileSize,
      noise_threshold: variant.noiseThreshold,
      validation_fraction: variant.validationFraction,
      seed: config.seed,
    },
    dataRefs: [
      { name: 'curated_file', uri: curated.curatedFile, store: 'project-fs' },
      { name: 'horizons_file', uri: curated.horizonsFile, store: 'project-fs' },
    ],
  });
  try {
    const { cube, geometry } = surveyFromSegy(decodeSegy(await readFile(curated.curatedPath)));
    const layers = parseHorizons(
      await readFile(curated.horizonsPath, 'utf8'),
      geometry.inlines * geometry.crosslines,
    );
    const tiles = await root.run('cut-tiles', {}, (t) => {
      const cut = cutTiles(cube, layers, variant);
      t.set('tiles_cut', cut.length);
      return cut;
    });
    const { kept, dropped } = await root.run('filter-noise', {}, (t) => {
      const filtered = filterTiles(tiles, variant.noiseThreshold);
      t.set('tiles_kept', filtered.kept.length).set('tiles_dropped', filtered.dropped);
      return filtered;
    });
    const split = await root.run('split', {}, async (t) => {
      const s = splitTiles(kept, variant.validationFraction, config.seed);
      const meta = {
        preparation: variant.name,
        inlineStart: variant.inlineStart,
        inlineEnd: variant.inlineEnd,
      };
      await writeTileSet(trainingPath, s.training, { ...meta, split: 'training' });
      await writeTileSet(validationPath, s.validation, { ...meta, split: 'validation' });
      t.set('training_tiles', s.training.length)
        .set('validation_tiles', s.validation.length)
        .set('training_tile_size', variant.tileSize)
        .set('validation_tile_size', variant.tileSize)
        .addDataRef('training_set', fileUri(trainingPath), 'project-fs')
        .addDataRef('validation_set', fileUri(validationPath), 'project-fs');
      return s;
    });
    root.end();
    return {
      ...variant,
      trainingSet: fileUri(trainingPath),
      trainingPath,
      validationSet: fileUri(validationPath),
      validationPath,
      tilesCut: tiles.length,
      tilesDropped: dropped,
      trainingTiles: split.training.length,
      validationTiles: split.validation.length,
    };
  } catch (error) {
    root.end({ status: 'failed' });
    throw error;
  }
}
