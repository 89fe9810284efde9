/** Learning-data preparation (tiles, noise, split, tile-set files) and the tile classifier, on small hand-built cubes. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '@provml/schemas';
import { createGaussian, createRandom } from '../src/random.ts';
import type { LayerModel, SeismicCube, SurveyGeometry } from '../src/survey.ts';
import {
  createClassifier,
  epochBatches,
  featureSize,
  fitStandardizer,
  loadClassifier,
  readModel,
  saveModel,
  tileFeatures,
  trainEpoch,
} from '../src/ml/classifier.ts';
import {
  cutTiles,
  decodeTileSet,
  encodeTileSet,
  filterTiles,
  noiseLevel,
  readTileSet,
  splitTiles,
  writeTileSet,
} from '../src/ml/tiles.ts';
import type { Tile } from '../src/ml/tiles.ts';

const geometry = (inlines: number, crosslines: number, samples: number): SurveyGeometry => ({
  inlines,
  firstInline: 100,
  crosslines,
  firstCrossline: 200,
  samples,
  sampleIntervalUs: 4000,
  originX: 0,
  originY: 0,
  inlineStepX: 25,
  inlineStepY: 0,
  crosslineStepX: 0,
  crosslineStepY: 25,
  coordinateScalar: -100,
});

/** A cube whose amplitude names its own position: il·10000 + xl·100 + sample (0-based). */
const positionalCube = (g: SurveyGeometry): SeismicCube => {
  const data = new Float32Array(g.inlines * g.crosslines * g.samples);
  for (let il = 0; il < g.inlines; il++)
    for (let xl = 0; xl < g.crosslines; xl++)
      for (let s = 0; s < g.samples; s++)
        data[(il * g.crosslines + xl) * g.samples + s] = il * 10000 + xl * 100 + s;
  return { geometry: g, data };
};

const layerModel = (g: SurveyGeometry, ...depths: ((il: number, xl: number) => number)[]): LayerModel => ({
  horizons: depths.map((depth) => {
    const h = new Float32Array(g.inlines * g.crosslines);
    for (let il = 0; il < g.inlines; il++)
      for (let xl = 0; xl < g.crosslines; xl++) h[il * g.crosslines + xl] = depth(il, xl);
    return h;
  }),
});

const flat = (g: SurveyGeometry, ...depths: number[]): LayerModel =>
  layerModel(g, ...depths.map((d) => () => d));

describe('cutTiles', () => {
  it('cuts floor(crosslines/size) × floor(samples/size) tiles per inline, at the right positions', () => {
    const g = geometry(4, 10, 13);
    const tiles = cutTiles(positionalCube(g), flat(g), { inlineStart: 101, inlineEnd: 102, tileSize: 4 });
    expect(tiles).toHaveLength(2 * 2 * 3);
    expect(tiles.map((t) => [t.inline, t.crossline, t.sample])).toEqual([
      [101, 200, 0],
      [101, 200, 4],
      [101, 200, 8],
      [101, 204, 0],
      [101, 204, 4],
      [101, 204, 8],
      [102, 200, 0],
      [102, 200, 4],
      [102, 200, 8],
      [102, 204, 0],
      [102, 204, 4],
      [102, 204, 8],
    ]);
    for (const t of tiles) {
      expect(t.size).toBe(4);
      const il = t.inline - 100;
      const xl0 = t.crossline - 200;
      const expected = Array.from(
        { length: 16 },
        (_, i) => il * 10000 + (xl0 + Math.floor(i / 4)) * 100 + t.sample + (i % 4),
      );
      expect(Array.from(t.pixels)).toEqual(expected);
      expect(t.noise).toBe(noiseLevel(t.pixels, 4));
    }
  });

  it('labels each tile with the layer of its centre sample at its centre trace', () => {
    const g = geometry(2, 8, 16);
    const flatTiles = cutTiles(positionalCube(g), flat(g, 5.5, 10), {
      inlineStart: 100,
      inlineEnd: 101,
      tileSize: 4,
    });
    // centre samples 2, 6, 10, 14 against horizons at 5.5 and 10 (a sample on a horizon is below it)
    expect(flatTiles.map((t) => t.label)).toEqual([0, 1, 2, 2, 0, 1, 2, 2, 0, 1, 2, 2, 0, 1, 2, 2]);

    const g2 = geometry(3, 12, 12);
    const dipping = layerModel(g2, (il, xl) => xl + il + 0.5);
    const tiles = cutTiles(positionalCube(g2), dipping, { inlineStart: 100, inlineEnd: 102, tileSize: 3 });
    expect(tiles).toHaveLength(3 * 4 * 4);
    for (const t of tiles) {
      const il = t.inline - 100;
      const centreTrace = t.crossline - 200 + 1;
      const centreSample = t.sample + 1;
      expect(t.label).toBe(centreSample >= centreTrace + il + 0.5 ? 1 : 0);
    }
    expect(new Set(tiles.map((t) => t.label))).toEqual(new Set([0, 1]));
  });

  it('takes an inclusive inline range in survey numbers and rejects one outside the survey', () => {
    const g = geometry(3, 8, 8);
    const cube = positionalCube(g);
    const layers = flat(g, 4);
    const cut = (inlineStart: number, inlineEnd: number, tileSize = 4): Tile[] =>
      cutTiles(cube, layers, { inlineStart, inlineEnd, tileSize });
    expect(cut(100, 100).map((t) => t.inline)).toEqual([100, 100, 100, 100]);
    expect(new Set(cut(100, 102).map((t) => t.inline))).toEqual(new Set([100, 101, 102]));
    expect(cut(102, 102)).toHaveLength(4);
    for (const [start, end] of [
      [99, 101],
      [100, 103],
      [0, 2],
      [101, 100],
      [100.5, 101],
    ] as const)
      expect(() => cut(start, end), `${start}–${end}`).toThrow(ValidationError);
    expect(() => cut(100, 100, 0)).toThrow(ValidationError);
    expect(() => cut(100, 100, 9)).toThrow(ValidationError);
    expect(() => cut(100, 100, 2.5)).toThrow(ValidationError);
    expect(() =>
      cutTiles({ geometry: g, data: new Float32Array(5) }, layers, {
        inlineStart: 100,
        inlineEnd: 100,
        tileSize: 4,
      }),
    ).toThrow(ValidationError);
  });
});

const SIZE = 16;

/** A laterally coherent tile (the same wavelet-like trace on every row), optionally with random noise. */
const tile = (noise: number, seed: number, amplitude = 1): Float32Array => {
  const gaussian = createGaussian(createRandom(seed));
  const pixels = new Float32Array(SIZE * SIZE);
  for (let r = 0; r < SIZE; r++)
    for (let c = 0; c < SIZE; c++)
      pixels[r * SIZE + c] = amplitude * (Math.sin(0.7 * c + 0.05 * r) + noise * gaussian());
  return pixels;
};

describe('noiseLevel', () => {
  it('is higher for a noisy tile than for a smooth one, about 1 for pure noise', () => {
    const smooth = noiseLevel(tile(0, 1), SIZE);
    const slightly = noiseLevel(tile(0.1, 2), SIZE);
    const noisy = noiseLevel(tile(1, 3), SIZE);
    expect(smooth).toBeLessThan(0.05);
    expect(slightly).toBeGreaterThan(smooth);
    expect(noisy).toBeGreaterThan(slightly);
    const gaussian = createGaussian(createRandom(4));
    const pure = Float32Array.from({ length: SIZE * SIZE }, () => gaussian());
    expect(noiseLevel(pure, SIZE)).toBeGreaterThan(0.7);
    expect(noiseLevel(pure, SIZE)).toBeLessThan(1.3);
  });

  it('is scale-invariant', () => {
    for (const seed of [5, 6, 7]) {
      const base = tile(0.3, seed);
      const level = noiseLevel(base, SIZE);
      expect(noiseLevel(tile(0.3, seed, 10), SIZE)).toBeCloseTo(level, 6);
      expect(
        noiseLevel(
          base.map((v) => v * 8),
          SIZE,
        ),
      ).toBe(level);
    }
  });

  it('treats a tile without energy as pure noise and a constant one as clean', () => {
    expect(noiseLevel(new Float32Array(SIZE * SIZE), SIZE)).toBe(1);
    expect(noiseLevel(new Float32Array(SIZE * SIZE).fill(3), SIZE)).toBe(0);
    expect(() => noiseLevel(new Float32Array(10), SIZE)).toThrow(ValidationError);
  });
});

describe('filterTiles and splitTiles', () => {
  it('drops exactly the tiles above the threshold', () => {
    const tiles = [0.1, 0.5, 0.50001, 0.9, 0, 0.5].map((noise, id) => ({ id, noise }));
    const { kept, dropped } = filterTiles(tiles, 0.5);
    expect(kept.map((t) => t.id)).toEqual([0, 1, 4, 5]);
    expect(dropped).toBe(2);
    expect(filterTiles(tiles, Infinity)).toEqual({ kept: tiles, dropped: 0 });
    expect(() => filterTiles(tiles, NaN)).toThrow(ValidationError);
  });

  it('splits deterministically into disjoint parts that cover every tile', () => {
    const items = Array.from({ length: 101 }, (_, i) => i);
    const a = splitTiles(items, 0.2, 42);
    expect(splitTiles(items, 0.2, 42)).toEqual(a);
    expect(a.validation).toHaveLength(20);
    expect(a.training).toHaveLength(81);
    expect([...a.training, ...a.validation].sort((x, y) => x - y)).toEqual(items);
    expect(a.training.filter((i) => a.validation.includes(i))).toEqual([]);
    expect(a.validation).toEqual([...a.validation].sort((x, y) => x - y));
    expect(splitTiles(items, 0.2, 43).validation).not.toEqual(a.validation);
    expect(splitTiles(items, 0, 1)).toEqual({ training: items, validation: [] });
    expect(splitTiles(items, 1, 1)).toEqual({ training: [], validation: items });
    expect(() => splitTiles(items, 1.5, 1)).toThrow(ValidationError);
  });
});

describe('tile set files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provml-tiles-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const sample = (): Tile[] => {
    const g = geometry(2, 8, 12);
    const cube = positionalCube(g);
    const gaussian = createGaussian(createRandom(9));
    cube.data.forEach((v, i) => (cube.data[i] = v * 1e-3 + gaussian()));
    return cutTiles(cube, flat(g, 3.5, 7.25), { inlineStart: 100, inlineEnd: 101, tileSize: 4 });
  };

  it('round-trips tiles, labels, positions and meta exactly', async () => {
    const tiles = sample();
    const meta = { noiseThreshold: 0.8, source: 'file:///tmp/netherlands.sgy', inlines: [100, 101] };
    const path = join(dir, 'train.pmlt');
    const bytes = await writeTileSet(path, tiles, meta);
    expect(bytes).toBe((await readFile(path)).length);
    const set = await readTileSet(path);
    expect(set).toEqual({ tileSize: 4, classes: 3, meta, tiles });
    expect(set.tiles[5]!.pixels).toBeInstanceOf(Float32Array);
    expect(Buffer.from(encodeTileSet(set.tiles, set.meta))).toEqual(await readFile(path));
    expect(decodeTileSet(encodeTileSet([], {}))).toEqual({ tileSize: 0, classes: 0, meta: {}, tiles: [] });
  });

  it('rejects a corrupted file', async () => {
    const good = encodeTileSet(sample(), { a: 1 });
    const view = new DataView(good.buffer);
    const headerLength = view.getUint32(8, true);
    const corrupt = (change: (b: Uint8Array) => Uint8Array): Uint8Array => change(good.slice());
    const bad: [string, Uint8Array][] = [
      ['magic', corrupt((b) => ((b[0] = 0x58), b))],
      ['version', corrupt((b) => ((b[4] = 2), b))],
      ['truncated', good.slice(0, good.length - 1)],
      ['extra byte', Uint8Array.from([...good, 0])],
      ['tiny', good.slice(0, 6)],
      ['header length', corrupt((b) => (new DataView(b.buffer).setUint32(8, 1e6, true), b))],
      ['header JSON', corrupt((b) => ((b[12] = 0x5b), b))],
      ['label', corrupt((b) => ((b[12 + headerLength] = 7), b))],
    ];
    for (const [name, bytes] of bad) {
      expect(() => decodeTileSet(bytes), name).toThrow(ValidationError);
    }
    const path = join(dir, 'bad.pmlt');
    await writeFile(path, bad[0]![1]);
    await expect(readTileSet(path)).rejects.toBeInstanceOf(ValidationError);
    await expect(readTileSet(path)).rejects.toThrow(/magic/);
  });

  it('refuses to write tiles of mixed size or labels beyond a byte', () => {
    const tiles = sample();
    expect(() => encodeTileSet([...tiles, { ...tiles[0]!, size: 2, pixels: new Float32Array(4) }])).toThrow(
      ValidationError,
    );
    expect(() => encodeTileSet([{ ...tiles[0]!, label: 256 }])).toThrow(ValidationError);
  });
});

/** Separable synthetic facies: the class decides where the energy sits and how strong it is. */
const syntheticTiles = (count: number, seed: number): Tile[] => {
  const random = createRandom(seed);
  const gaussian = createGaussian(random);
  return Array.from({ length: count }, (_, n) => {
    const label = n % 3;
    const phase = random() * 2 * Math.PI;
    const scale = 500 * (0.8 + 0.4 * random());
    const pixels = new Float32Array(SIZE * SIZE);
    for (let r = 0; r < SIZE; r++)
      for (let c = 0; c < SIZE; c++) {
        const envelope =
          label === 0 ? (c < SIZE / 2 ? 1 : 0.2) : label === 1 ? (c < SIZE / 2 ? 0.2 : 1) : 0.35;
        pixels[r * SIZE + c] = scale * (envelope * Math.sin(0.9 * c + phase) + 0.15 * gaussian());
      }
    return { inline: 0, crossline: 0, sample: 0, size: SIZE, pixels, label, noise: noiseLevel(pixels, SIZE) };
  });
};

describe('classifier', () => {
  const training = syntheticTiles(600, 1);
  const validation = syntheticTiles(300, 2);
  const standardizer = fitStandardizer(training.map((t) => tileFeatures(t)));
  const features = (tiles: Tile[]): Float32Array[] => tiles.map((t) => tileFeatures(t));
  const train = (seed: number, epochs: number, hidden?: number) => {
    const classifier = createClassifier({
      inputSize: featureSize(SIZE),
      hidden,
      classes: 3,
      seed,
      standardizer,
    });
    const losses = Array.from({ length: epochs }, (_, e) =>
      trainEpoch(classifier, training, 32, 0.1, seed * 1000 + e),
    );
    return { classifier, losses };
  };

  it('computes fixed-length, scale-free features', () => {
    for (const size of [1, 3, 5, 16]) {
      expect(tileFeatures({ pixels: new Float32Array(size * size).fill(1), size })).toHaveLength(
        featureSize(size),
      );
    }
    expect(featureSize(16)).toBe(35);
    const t = training[0]!;
    const a = tileFeatures(t);
    const b = tileFeatures({ pixels: t.pixels.map((v) => v * 4), size: SIZE });
    expect(Array.from(b.subarray(0, 34))).toEqual(Array.from(a.subarray(0, 34)));
    expect(b[34]! - a[34]!).toBeCloseTo(Math.log(4), 5);
  });

  it('learns a separable problem, with the loss falling over epochs', () => {
    for (const hidden of [undefined, 0]) {
      const { classifier, losses } = train(7, 6, hidden);
      expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! / 2);
      for (let e = 1; e < losses.length; e++) expect(losses[e]!).toBeLessThan(losses[e - 1]! * 1.05);
      const result = classifier.evaluate(
        features(validation),
        validation.map((t) => t.label),
      );
      expect(result.accuracy).toBeGreaterThan(0.95);
      expect(result.loss).toBeLessThan(0.3);
    }
  });

  it('reports each batch and is deterministic for a seed', () => {
    const seen: [number, number][] = [];
    const classifier = createClassifier({ inputSize: featureSize(SIZE), classes: 3, seed: 3, standardizer });
    const mean = trainEpoch(classifier, training, 64, 0.1, 11, (index, loss) => seen.push([index, loss]));
    expect(seen.map(([i]) => i)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    const sizes = epochBatches(training, 64, 11).map((b) => b.length);
    expect(sizes).toEqual([...Array<number>(9).fill(64), 24]);
    expect(mean).toBeCloseTo(seen.reduce((s, [, l], i) => s + l * sizes[i]!, 0) / training.length, 12);
    expect(train(5, 3).losses).toEqual(train(5, 3).losses);
    expect(train(5, 3).losses).not.toEqual(train(6, 3).losses);
    expect(epochBatches(training, 32, 1)).toEqual(epochBatches(training, 32, 1));
  });

  it('round-trips through JSON and a model file to identical predictions', async () => {
    const { classifier } = train(9, 2);
    const x = features(validation);
    const json = classifier.toJSON();
    const restored = loadClassifier(JSON.parse(JSON.stringify(json)));
    expect(restored.toJSON()).toEqual(json);
    expect(restored.predict(x)).toEqual(classifier.predict(x));
    expect(
      restored.evaluate(
        x,
        validation.map((t) => t.label),
      ),
    ).toEqual(
      classifier.evaluate(
        x,
        validation.map((t) => t.label),
      ),
    );

    const dir = await mkdtemp(join(tmpdir(), 'provml-model-'));
    try {
      const path = join(dir, 'models', 'run-a', 'model.json');
      const bytes = await saveModel(path, classifier, { epochs: 2, learningRate: 0.1 });
      expect(bytes).toBe((await readFile(path)).length);
      const read = await readModel(path);
      expect(read.meta).toEqual({ epochs: 2, learningRate: 0.1 });
      expect(read.classifier.toJSON()).toEqual(json);
      expect(read.classifier.predict(x)).toEqual(classifier.predict(x));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(() => loadClassifier({ ...json, w2: json.w2.slice(1) })).toThrow(ValidationError);
    expect(() => loadClassifier({ ...json, kind: 'other' })).toThrow(ValidationError);
  });

  it('rejects malformed batches', () => {
    const classifier = createClassifier({ inputSize: 3, classes: 2, seed: 1 });
    const x = [new Float32Array(3)];
    expect(() => classifier.trainBatch(x, [2], 0.1)).toThrow(ValidationError);
    expect(() => classifier.trainBatch(x, [0, 1], 0.1)).toThrow(ValidationError);
    expect(() => classifier.trainBatch([new Float32Array(2)], [0], 0.1)).toThrow(ValidationError);
    expect(() => classifier.trainBatch([], [], 0.1)).toThrow(ValidationError);
    expect(() => classifier.trainBatch(x, [0], -1)).toThrow(ValidationError);
    expect(() => createClassifier({ inputSize: 3, classes: 0, seed: 1 })).toThrow(ValidationError);
  });
});
