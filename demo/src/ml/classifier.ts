/** A small seismic-facies tile classifier in plain TypeScript: tile features, a one-hidden-layer MLP, SGD epochs, JSON models. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ValidationError } from '@provml/schemas';
import { createGaussian, createRandom } from '../random.ts';

/** Per-feature mean and standard deviation, applied as `(x - mean) / std` before the first layer. */
export interface Standardizer {
  mean: number[];
  std: number[];
}

/** Options of {@link createClassifier}. */
export interface ClassifierOptions {
  /** Length of every feature vector (see {@link featureSize}). */
  inputSize: number;
  /** Hidden ReLU units; 0 makes it a softmax regression. Default 32. */
  hidden?: number;
  /** Number of classes; labels are 0 … classes - 1. */
  classes: number;
  /** Seed of the weight initialisation. */
  seed: number;
  /** Input standardisation, usually {@link fitStandardizer} over the training features. Default: none. */
  standardizer?: Standardizer;
}

/** A classifier's complete state as plain JSON; {@link loadClassifier} restores it exactly. */
export interface ClassifierJSON {
  kind: 'provml-mlp';
  version: 1;
  inputSize: number;
  hidden: number;
  classes: number;
  seed: number;
  standardizer: Standardizer | null;
  /** Row-major `hidden × inputSize` (empty when hidden = 0). */
  w1: number[];
  b1: number[];
  /** Row-major `classes × (hidden || inputSize)`. */
  w2: number[];
  b2: number[];
}

/** A trainable softmax classifier over fixed-length feature vectors. */
export interface Classifier {
  readonly inputSize: number;
  readonly hidden: number;
  readonly classes: number;
  /** One mini-batch SGD step on the batch's mean cross-entropy; returns that loss (before the step). */
  trainBatch(x: readonly Float32Array[], y: readonly number[], learningRate: number): number;
  /** Mean cross-entropy and the fraction of correct predictions. */
  evaluate(x: readonly Float32Array[], y: readonly number[]): { loss: number; accuracy: number };
  /** Most probable class of each input. */
  predict(x: readonly Float32Array[]): number[];
  toJSON(): ClassifierJSON;
}

const invalid = (path: string, message: string): ValidationError =>
  new ValidationError(`${path ? `${path}: ` : ''}${message}`, [{ path, message }]);

const isCount = (v: unknown, min: number): boolean => Number.isInteger(v) && (v as number) >= min;

/** Cells per side of the downsampled grid for a tile size. */
const gridOf = (tileSize: number): number => Math.min(4, tileSize);

/** Length of {@link tileFeatures}' vector for a tile size: two `g × g` grids (g = min(4, size)) plus 3. */
export const featureSize = (tileSize: number): number => 2 * gridOf(tileSize) ** 2 + 3;

/**
 * Features of one tile, in this order:
 * - the tile downsampled to a `g × g` grid (g = min(4, size); cells of near-equal size) of block means,
 *   and the same grid of block RMS amplitudes — the mean keeps polarity, the RMS keeps where the energy is
 *   (oscillating wavelets average out within a block);
 * - the tile mean and standard deviation;
 * - ln(RMS amplitude), i.e. the tile's energy on a log scale.
 *
 * All but the last are divided by the tile's RMS amplitude, so they describe the pattern independently of
 * the cube's amplitude scale, while the last carries the absolute level (layers often differ in
 * reflectivity). Dataset-wide standardisation is left to {@link fitStandardizer}. A tile without energy
 * gives zeros and ln(1e-30).
 */
export function tileFeatures(tile: { pixels: Float32Array; size: number }): Float32Array {
  const { pixels, size } = tile;
  if (pixels.length !== size * size || size < 1)
    throw invalid('pixels', `has ${pixels.length} values, not ${size}²`);
  const g = gridOf(size);
  const out = new Float32Array(featureSize(size));
  let sum = 0;
  let sumSquares = 0;
  for (let i = 0; i < pixels.length; i++) {
    sum += pixels[i]!;
    sumSquares += pixels[i]! * pixels[i]!;
  }
  const n = pixels.length;
  const rms = Math.sqrt(sumSquares / n);
  const inv = rms > 0 ? 1 / rms : 0;
  for (let br = 0; br < g; br++) {
    const r0 = Math.floor((br * size) / g);
    const r1 = Math.floor(((br + 1) * size) / g);
    for (let bc = 0; bc < g; bc++) {
      const c0 = Math.floor((bc * size) / g);
      const c1 = Math.floor(((bc + 1) * size) / g);
      let s = 0;
      let ss = 0;
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) {
          const v = pixels[r * size + c]!;
          s += v;
          ss += v * v;
        }
      }
      const count = (r1 - r0) * (c1 - c0);
      out[br * g + bc] = (s / count) * inv;
      out[g * g + br * g + bc] = Math.sqrt(ss / count) * inv;
    }
  }
  const mean = sum / n;
  out[2 * g * g] = mean * inv;
  out[2 * g * g + 1] = Math.sqrt(Math.max(0, sumSquares / n - mean * mean)) * inv;
  out[2 * g * g + 2] = Math.log(Math.max(rms, 1e-30));
  return out;
}

/**
 * Per-feature mean and standard deviation over a set of feature vectors (a constant feature gets std 1).
 * @throws ValidationError when `x` is empty or the vectors differ in length.
 */
export function fitStandardizer(x: readonly Float32Array[]): Standardizer {
  const size = x[0]?.length;
  if (size === undefined) throw invalid('x', 'needs at least one feature vector');
  const mean = new Array<number>(size).fill(0);
  const sq = new Array<number>(size).fill(0);
  x.forEach((v, i) => {
    if (v.length !== size) throw invalid(`x[${i}]`, `has ${v.length} features, not ${size}`);
    for (let f = 0; f < size; f++) mean[f]! += v[f]!;
  });
  for (let f = 0; f < size; f++) mean[f]! /= x.length;
  for (const v of x) for (let f = 0; f < size; f++) sq[f]! += (v[f]! - mean[f]!) ** 2;
  const std = sq.map((s) => Math.sqrt(s / x.length) || 1);
  return { mean, std };
}

interface Weights {
  w1: Float64Array;
  b1: Float64Array;
  w2: Float64Array;
  b2: Float64Array;
}

function checkShape(inputSize: unknown, hidden: unknown, classes: unknown, standardizer: unknown): void {
  if (!isCount(inputSize, 1)) throw invalid('inputSize', `${String(inputSize)} is not a positive integer`);
  if (!isCount(hidden, 0)) throw invalid('hidden', `${String(hidden)} is not a non-negative integer`);
  if (!isCount(classes, 1)) throw invalid('classes', `${String(classes)} is not a positive integer`);
  if (standardizer === undefined || standardizer === null) return;
  const { mean, std } = standardizer as Partial<Standardizer>;
  const ok = (a: unknown, positive: boolean): boolean =>
    Array.isArray(a) &&
    a.length === inputSize &&
    a.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0));
  if (!ok(mean, false) || !ok(std, true))
    throw invalid('standardizer', `needs ${String(inputSize)} finite means and positive deviations`);
}

function build(
  inputSize: number,
  hidden: number,
  classes: number,
  seed: number,
  standardizer: Standardizer | null,
  weights: Weights,
): Classifier {
  const width = hidden > 0 ? hidden : inputSize;
  const { w1, b1, w2, b2 } = weights;
  const shift = new Float64Array(inputSize);
  const scale = new Float64Array(inputSize).fill(1);
  if (standardizer)
    for (let i = 0; i < inputSize; i++) {
      shift[i] = standardizer.mean[i]!;
      scale[i] = 1 / standardizer.std[i]!;
    }
  // scratch buffers, reused by every call
  const a = new Float64Array(inputSize);
  const h = hidden > 0 ? new Float64Array(hidden) : a;
  const p = new Float64Array(classes);
  const dh = new Float64Array(hidden);
  const g1 = new Float64Array(w1.length);
  const gb1 = new Float64Array(hidden);
  const g2 = new Float64Array(w2.length);
  const gb2 = new Float64Array(classes);

  /** Forward pass into a, h, p; returns the example's cross-entropy for `label`. */
  const forward = (x: Float32Array, label: number): number => {
    for (let i = 0; i < inputSize; i++) a[i] = (x[i]! - shift[i]!) * scale[i]!;
    for (let j = 0; j < hidden; j++) {
      let z = b1[j]!;
      const row = j * inputSize;
      for (let i = 0; i < inputSize; i++) z += w1[row + i]! * a[i]!;
      h[j] = z > 0 ? z : 0;
    }
    let max = -Infinity;
    for (let k = 0; k < classes; k++) {
      let z = b2[k]!;
      const row = k * width;
      for (let j = 0; j < width; j++) z += w2[row + j]! * h[j]!;
      p[k] = z;
      if (z > max) max = z;
    }
    const logitOfLabel = p[label]!;
    let total = 0;
    for (let k = 0; k < classes; k++) {
      p[k] = Math.exp(p[k]! - max);
      total += p[k]!;
    }
    for (let k = 0; k < classes; k++) p[k]! /= total;
    return Math.log(total) + max - logitOfLabel;
  };

  const check = (x: readonly Float32Array[], y: readonly number[]): void => {
    if (x.length !== y.length) throw invalid('y', `has ${y.length} labels for ${x.length} inputs`);
    if (x.length === 0) throw invalid('x', 'needs at least one example');
    for (let n = 0; n < x.length; n++) {
      if (x[n]!.length !== inputSize)
        throw invalid(`x[${n}]`, `has ${x[n]!.length} features, not ${inputSize}`);
      const label = y[n]!;
      if (!Number.isInteger(label) || label < 0 || label >= classes)
        throw invalid(`y[${n}]`, `${label} is not a class 0–${classes - 1}`);
    }
  };

  const argmax = (): number => {
    let best = 0;
    for (let k = 1; k < classes; k++) if (p[k]! > p[best]!) best = k;
    return best;
  };

  return {
    inputSize,
    hidden,
    classes,
    trainBatch(x, y, learningRate) {
      check(x, y);
      if (!(learningRate > 0 && Number.isFinite(learningRate)))
        throw invalid('learningRate', `${learningRate} is not a positive number`);
      g1.fill(0);
      gb1.fill(0);
      g2.fill(0);
      gb2.fill(0);
      let loss = 0;
      for (let n = 0; n < x.length; n++) {
        const label = y[n]!;
        loss += forward(x[n]!, label);
        p[label]! -= 1; // p is now dLoss/dLogits
        dh.fill(0);
        for (let k = 0; k < classes; k++) {
          const d = p[k]!;
          gb2[k]! += d;
          const row = k * width;
          for (let j = 0; j < width; j++) {
            g2[row + j]! += d * h[j]!;
            if (hidden > 0) dh[j]! += d * w2[row + j]!;
          }
        }
        for (let j = 0; j < hidden; j++) {
          if (h[j]! <= 0) continue;
          const d = dh[j]!;
          gb1[j]! += d;
          const row = j * inputSize;
          for (let i = 0; i < inputSize; i++) g1[row + i]! += d * a[i]!;
        }
      }
      const step = learningRate / x.length;
      for (let i = 0; i < w1.length; i++) w1[i]! -= step * g1[i]!;
      for (let i = 0; i < b1.length; i++) b1[i]! -= step * gb1[i]!;
      for (let i = 0; i < w2.length; i++) w2[i]! -= step * g2[i]!;
      for (let i = 0; i < b2.length; i++) b2[i]! -= step * gb2[i]!;
      return loss / x.length;
    },
    evaluate(x, y) {
      check(x, y);
      let loss = 0;
      let correct = 0;
      for (let n = 0; n < x.length; n++) {
        loss += forward(x[n]!, y[n]!);
        if (argmax() === y[n]) correct++;
      }
      return { loss: loss / x.length, accuracy: correct / x.length };
    },
    predict(x) {
      return x.map((v, n) => {
        if (v.length !== inputSize) throw invalid(`x[${n}]`, `has ${v.length} features, not ${inputSize}`);
        forward(v, 0);
        return argmax();
      });
    },
    toJSON() {
      return {
        kind: 'provml-mlp',
        version: 1,
        inputSize,
        hidden,
        classes,
        seed,
        standardizer: standardizer && { mean: [...standardizer.mean], std: [...standardizer.std] },
        w1: Array.from(w1),
        b1: Array.from(b1),
        w2: Array.from(w2),
        b2: Array.from(b2),
      };
    },
  };
}

/**
 * Creates a classifier: with `hidden > 0` a one-hidden-layer MLP (ReLU, He-initialised), with `hidden = 0`
 * a softmax regression; softmax output and cross-entropy loss either way. Deterministic for a seed.
 * @throws ValidationError on a non-integer or too small size, or a standardizer of the wrong length.
 */
export function createClassifier(options: ClassifierOptions): Classifier {
  const { inputSize, hidden = 32, classes, seed, standardizer } = options;
  checkShape(inputSize, hidden, classes, standardizer);
  const gaussian = createGaussian(createRandom(seed));
  const width = hidden > 0 ? hidden : inputSize;
  const init = (length: number, sd: number): Float64Array => {
    const w = new Float64Array(length);
    for (let i = 0; i < length; i++) w[i] = gaussian() * sd;
    return w;
  };
  const weights = {
    w1: init(hidden * inputSize, Math.sqrt(2 / inputSize)),
    b1: new Float64Array(hidden),
    w2: init(classes * width, Math.sqrt(1 / width)),
    b2: new Float64Array(classes),
  };
  const copy = standardizer ? { mean: [...standardizer.mean], std: [...standardizer.std] } : null;
  return build(inputSize, hidden, classes, seed, copy, weights);
}

/**
 * Restores a classifier from {@link Classifier.toJSON}'s output; weights are restored bit for bit.
 * @throws ValidationError when `json` is not a valid classifier of this kind and version.
 */
export function loadClassifier(json: unknown): Classifier {
  if (typeof json !== 'object' || json === null) throw invalid('', 'a classifier must be a JSON object');
  const j = json as Partial<Record<keyof ClassifierJSON, unknown>>;
  if (j.kind !== 'provml-mlp' || j.version !== 1)
    throw invalid('kind', `${String(j.kind)} v${String(j.version)} is not provml-mlp v1`);
  checkShape(j.inputSize, j.hidden, j.classes, j.standardizer);
  if (typeof j.seed !== 'number') throw invalid('seed', 'is not a number');
  const inputSize = j.inputSize as number;
  const hidden = j.hidden as number;
  const classes = j.classes as number;
  const width = hidden > 0 ? hidden : inputSize;
  const vector = (name: 'w1' | 'b1' | 'w2' | 'b2', length: number): Float64Array => {
    const v = j[name];
    if (
      !Array.isArray(v) ||
      v.length !== length ||
      !v.every((e) => typeof e === 'number' && Number.isFinite(e))
    )
      throw invalid(name, `must be ${length} finite numbers`);
    return Float64Array.from(v as number[]);
  };
  const weights = {
    w1: vector('w1', hidden * inputSize),
    b1: vector('b1', hidden),
    w2: vector('w2', classes * width),
    b2: vector('b2', classes),
  };
  const s = (j.standardizer ?? null) as Standardizer | null;
  return build(inputSize, hidden, classes, j.seed, s && { mean: [...s.mean], std: [...s.std] }, weights);
}

/**
 * Splits items into mini-batches of `batchSize` (the last may be smaller) after a seeded Fisher–Yates
 * shuffle. Use it to drive {@link Classifier.trainBatch} yourself when each batch needs wrapping.
 * @throws ValidationError when `batchSize` is not a positive integer.
 */
export function epochBatches<T>(items: readonly T[], batchSize: number, seed: number): T[][] {
  if (!isCount(batchSize, 1)) throw invalid('batchSize', `${batchSize} is not a positive integer`);
  const order = [...items];
  const random = createRandom(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const k = Math.floor(random() * (i + 1));
    [order[i], order[k]] = [order[k]!, order[i]!];
  }
  const batches: T[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  return batches;
}

/**
 * One epoch: shuffles the tiles with `seed` (pass a different seed per epoch), takes an SGD step per
 * mini-batch on {@link tileFeatures}, and calls `onBatch(index, loss)` synchronously after each step.
 * @returns the epoch's mean loss over examples (each batch's loss as measured before its own step).
 */
export function trainEpoch(
  classifier: Classifier,
  tiles: readonly { pixels: Float32Array; size: number; label: number }[],
  batchSize: number,
  learningRate: number,
  seed: number,
  onBatch?: (index: number, loss: number) => void,
): number {
  let total = 0;
  let count = 0;
  epochBatches(tiles, batchSize, seed).forEach((batch, index) => {
    const loss = classifier.trainBatch(
      batch.map((t) => tileFeatures(t)),
      batch.map((t) => t.label),
      learningRate,
    );
    total += loss * batch.length;
    count += batch.length;
    onBatch?.(index, loss);
  });
  return count > 0 ? total / count : 0;
}

/**
 * Writes a model file, JSON `{ model: classifier.toJSON(), meta }`, creating its folder if needed.
 * @returns the number of bytes written.
 */
export async function saveModel(
  path: string,
  classifier: Classifier,
  meta: Record<string, unknown> = {},
): Promise<number> {
  const text = JSON.stringify({ model: classifier.toJSON(), meta });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text, 'utf8');
  return Buffer.byteLength(text, 'utf8');
}

/**
 * Reads a model file written by {@link saveModel}.
 * @throws ValidationError when the file is not JSON or holds no valid classifier.
 */
export async function readModel(
  path: string,
): Promise<{ classifier: Classifier; meta: Record<string, unknown> }> {
  const text = await readFile(path, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(
      `${path}: not JSON: ${(error as Error).message}`,
      [{ path: '', message: 'not JSON' }],
      {
        file: path,
      },
    );
  }
  const { model, meta } = (parsed ?? {}) as { model?: unknown; meta?: unknown };
  const isObject = typeof meta === 'object' && meta !== null && !Array.isArray(meta);
  return { classifier: loadClassifier(model), meta: isObject ? (meta as Record<string, unknown>) : {} };
}
