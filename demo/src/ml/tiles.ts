/** Learning-data preparation: cut labelled tiles from inline slices, measure and filter noise, split, and store tile sets. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ValidationError, type ValidationIssue } from '@provml/schemas';
import { createRandom } from '../random.ts';
import { layerAt, traceIndex } from '../survey.ts';
import type { LayerModel, SeismicCube } from '../survey.ts';

/**
 * A square piece of one inline slice. The slice is a crossline × sample image; `pixels` is row-major
 * with one row per crossline (trace) and one column per sample, so
 * `pixels[r * size + c]` is the amplitude of crossline `crossline + r` at sample `sample + c`.
 */
export interface Tile {
  /** Survey inline number (not a 0-based index). */
  inline: number;
  /** Crossline number of the tile's first row. */
  crossline: number;
  /** 0-based sample index of the tile's first column. */
  sample: number;
  /** Edge length in pixels. */
  size: number;
  /** `size * size` amplitudes, row-major (crossline rows, sample columns). */
  pixels: Float32Array;
  /** Layer class at the tile's centre pixel (see {@link cutTiles}). */
  label: number;
  /** {@link noiseLevel} of `pixels`. */
  noise: number;
}

/** Parameters of {@link cutTiles}; both inline bounds are survey inline numbers, inclusive. */
export interface CutOptions {
  inlineStart: number;
  inlineEnd: number;
  /** Edge length of the square tiles, in pixels (crosslines and samples). */
  tileSize: number;
}

/** A tile set as stored by {@link writeTileSet}. */
export interface TileSet {
  tileSize: number;
  /** Number of classes: the largest label + 1 (0 for an empty set). */
  classes: number;
  meta: Record<string, unknown>;
  tiles: Tile[];
}

const invalid = (path: string, message: string): ValidationError =>
  new ValidationError(`${path ? `${path}: ` : ''}${message}`, [{ path, message }]);

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/**
 * Cuts non-overlapping `tileSize × tileSize` tiles from every inline slice in
 * `[inlineStart, inlineEnd]`. Per inline there are `floor(crosslines / tileSize) × floor(samples / tileSize)`
 * tiles, starting at crossline index 0 and sample 0; the remainder at the far edges is left out. Tiles come
 * ordered by inline, then crossline, then sample.
 *
 * `label` is `layerAt` of the centre pixel: trace `crossline index + floor(tileSize / 2)`, sample
 * `sample + floor(tileSize / 2)` — the exact centre for odd sizes, the one just below and after it for even.
 *
 * @throws ValidationError when the inline range is not inside the survey or reversed, `tileSize` is not a
 *   positive integer no larger than the slice, or the cube / layer model do not match the geometry.
 */
export function cutTiles(cube: SeismicCube, layers: LayerModel, options: CutOptions): Tile[] {
  const g = cube.geometry;
  const { inlineStart, inlineEnd, tileSize } = options;
  const lastInline = g.firstInline + g.inlines - 1;
  const issues: ValidationIssue[] = [];
  const traces = g.inlines * g.crosslines;
  if (cube.data.length !== traces * g.samples)
    issues.push({
      path: 'cube.data',
      message: `has ${cube.data.length} values, geometry needs ${traces * g.samples}`,
    });
  layers.horizons.forEach((h, i) => {
    if (h.length !== traces)
      issues.push({
        path: `layers.horizons[${i}]`,
        message: `has ${h.length} depths, geometry needs ${traces}`,
      });
  });
  for (const [path, v] of [
    ['inlineStart', inlineStart],
    ['inlineEnd', inlineEnd],
  ] as const) {
    if (!isInt(v) || v < g.firstInline || v > lastInline)
      issues.push({ path, message: `${v} is not an inline of the survey (${g.firstInline}–${lastInline})` });
  }
  if (issues.length === 0 && inlineStart > inlineEnd)
    issues.push({ path: 'inlineEnd', message: `${inlineEnd} is before inlineStart ${inlineStart}` });
  if (!isInt(tileSize) || tileSize < 1 || tileSize > Math.min(g.crosslines, g.samples))
    issues.push({
      path: 'tileSize',
      message: `${tileSize} must be an integer from 1 to ${Math.min(g.crosslines, g.samples)} (the slice's smaller side)`,
    });
  if (issues.length > 0)
    throw new ValidationError(
      `Cannot cut tiles: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
      issues,
    );

  const tiles: Tile[] = [];
  const across = Math.floor(g.crosslines / tileSize);
  const down = Math.floor(g.samples / tileSize);
  const half = Math.floor(tileSize / 2);
  for (let inline = inlineStart; inline <= inlineEnd; inline++) {
    const il = inline - g.firstInline;
    for (let tx = 0; tx < across; tx++) {
      const xl0 = tx * tileSize;
      for (let ts = 0; ts < down; ts++) {
        const s0 = ts * tileSize;
        const pixels = new Float32Array(tileSize * tileSize);
        for (let r = 0; r < tileSize; r++) {
          const start = traceIndex(g, il, xl0 + r) * g.samples + s0;
          pixels.set(cube.data.subarray(start, start + tileSize), r * tileSize);
        }
        tiles.push({
          inline,
          crossline: g.firstCrossline + xl0,
          sample: s0,
          size: tileSize,
          pixels,
          label: layerAt(layers, traceIndex(g, il, xl0 + half), s0 + half),
          noise: noiseLevel(pixels, tileSize),
        });
      }
    }
  }
  return tiles;
}

function median(values: Float64Array): number {
  values.sort();
  const n = values.length;
  const m = n >> 1;
  return n % 2 === 1 ? values[m]! : (values[m - 1]! + values[m]!) / 2;
}

/** 1 / (Φ⁻¹(3/4) · √2): turns the MAD of a difference of two i.i.d. Gaussians into their σ. */
const MAD_TO_SIGMA = 1 / (0.6744897501960817 * Math.SQRT2);

/**
 * Robust noise-to-signal estimate of a tile, 0 for a laterally coherent tile, about 1 for pure random
 * noise; higher = noisier.
 *
 * Reflections are laterally continuous, so a trace is well predicted by its neighbour while random noise
 * is not. The estimate therefore takes first differences along the crossline direction (between adjacent
 * rows), whose spread is `σ·√2` for i.i.d. noise of deviation σ and small for coherent signal. The spread
 * is measured by the median absolute deviation (scaled to σ), so a few spikes or a single dipping event
 * crossing the tile do not dominate, and divided by the tile's RMS amplitude, so the value is
 * scale-invariant (multiplying all amplitudes by k leaves it unchanged). Differences along the sample axis
 * are not used: they mostly measure the wavelet's own oscillation, i.e. signal. Strongly dipping
 * reflectors raise the value somewhat. A tile with no energy at all has no signal and counts as 1.
 *
 * @param pixels `size × size` amplitudes, row-major with crossline rows (as in {@link Tile}).
 */
export function noiseLevel(pixels: Float32Array, size: number): number {
  if (pixels.length !== size * size) throw invalid('pixels', `has ${pixels.length} values, not ${size}²`);
  let sumSquares = 0;
  for (let i = 0; i < pixels.length; i++) sumSquares += pixels[i]! * pixels[i]!;
  if (sumSquares === 0) return 1;
  if (size < 2) return 0;
  const rms = Math.sqrt(sumSquares / pixels.length);
  const diffs = new Float64Array((size - 1) * size);
  for (let i = 0; i < diffs.length; i++) diffs[i] = pixels[i + size]! - pixels[i]!;
  const centre = median(diffs.slice());
  for (let i = 0; i < diffs.length; i++) diffs[i] = Math.abs(diffs[i]! - centre);
  return (median(diffs) * MAD_TO_SIGMA) / rms;
}

/**
 * Noise filter: keeps tiles whose `noise` is at most `threshold` and counts those above it.
 * @throws ValidationError when `threshold` is NaN.
 */
export function filterTiles<T extends { noise: number }>(
  tiles: readonly T[],
  threshold: number,
): { kept: T[]; dropped: number } {
  if (Number.isNaN(threshold)) throw invalid('threshold', 'is NaN');
  const kept = tiles.filter((t) => t.noise <= threshold);
  return { kept, dropped: tiles.length - kept.length };
}

/**
 * Deterministic split: a seeded Fisher–Yates shuffle picks `round(length × validationFraction)` tiles for
 * validation; the rest are for training. Each part keeps the input order. Same tiles + seed → same split.
 * @throws ValidationError when `validationFraction` is not within [0, 1].
 */
export function splitTiles<T>(
  tiles: readonly T[],
  validationFraction: number,
  seed: number,
): { training: T[]; validation: T[] } {
  if (!(validationFraction >= 0 && validationFraction <= 1))
    throw invalid('validationFraction', `${validationFraction} is not within [0, 1]`);
  const order = Array.from(tiles.keys());
  const random = createRandom(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const inValidation = new Uint8Array(tiles.length);
  for (const i of order.slice(0, Math.round(tiles.length * validationFraction))) inValidation[i] = 1;
  const training: T[] = [];
  const validation: T[] = [];
  tiles.forEach((t, i) => (inValidation[i] ? validation : training).push(t));
  return { training, validation };
}

const MAGIC = 'PMLT';
const VERSION = 1;
const PREAMBLE = 12;

/**
 * Encodes a tile set (pure). Layout, all little-endian:
 * `'PMLT'` · uint32 version (1) · uint32 header length · UTF-8 JSON header
 * `{ tileSize, count, classes, meta }` · `count` labels (uint8) · `count × tileSize²` pixels (float32) ·
 * `count × 3` positions (int32: inline, crossline, sample). `noise` is not stored; it is recomputed on read.
 * @throws ValidationError when tiles differ in size, a label is not an integer 0–255, or pixels are missing.
 */
export function encodeTileSet(tiles: readonly Tile[], meta: Record<string, unknown> = {}): Uint8Array {
  const tileSize = tiles[0]?.size ?? 0;
  let classes = 0;
  tiles.forEach((t, i) => {
    if (t.size !== tileSize)
      throw invalid(`tiles[${i}].size`, `${t.size} differs from the first tile's ${tileSize}`);
    if (t.pixels.length !== tileSize * tileSize)
      throw invalid(`tiles[${i}].pixels`, `has ${t.pixels.length} values, not ${tileSize}²`);
    if (!isInt(t.label) || t.label < 0 || t.label > 255)
      throw invalid(`tiles[${i}].label`, `${t.label} is not an integer 0–255`);
    classes = Math.max(classes, t.label + 1);
  });
  const header = Buffer.from(JSON.stringify({ tileSize, count: tiles.length, classes, meta }), 'utf8');
  const area = tileSize * tileSize;
  const labelsAt = PREAMBLE + header.length;
  const pixelsAt = labelsAt + tiles.length;
  const positionsAt = pixelsAt + tiles.length * area * 4;
  const out = new Uint8Array(positionsAt + tiles.length * 12);
  const view = new DataView(out.buffer);
  out.set(Buffer.from(MAGIC, 'latin1'), 0);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, header.length, true);
  out.set(header, PREAMBLE);
  tiles.forEach((t, i) => {
    out[labelsAt + i] = t.label;
    const base = pixelsAt + i * area * 4;
    for (let p = 0; p < area; p++) view.setFloat32(base + p * 4, t.pixels[p]!, true);
    view.setInt32(positionsAt + i * 12, t.inline, true);
    view.setInt32(positionsAt + i * 12 + 4, t.crossline, true);
    view.setInt32(positionsAt + i * 12 + 8, t.sample, true);
  });
  return out;
}

/**
 * Decodes bytes written by {@link encodeTileSet} (pure), recomputing each tile's `noise`.
 * @throws ValidationError when the magic, version, header or length is wrong, or a label is not below `classes`.
 */
export function decodeTileSet(bytes: Uint8Array): TileSet {
  if (bytes.length < PREAMBLE) throw invalid('', `${bytes.length} bytes is too short for a tile set`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = Buffer.from(bytes.subarray(0, 4)).toString('latin1');
  if (magic !== MAGIC) throw invalid('magic', `${JSON.stringify(magic)} is not ${MAGIC}`);
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw invalid('version', `${version} is not supported (expected ${VERSION})`);
  const headerLength = view.getUint32(8, true);
  if (PREAMBLE + headerLength > bytes.length)
    throw invalid('headerLength', `${headerLength} runs past the end of the ${bytes.length}-byte file`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(PREAMBLE, PREAMBLE + headerLength)).toString('utf8'));
  } catch (error) {
    throw invalid('header', `is not JSON: ${(error as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw invalid('header', 'is not a JSON object');
  const { tileSize, count, classes, meta } = header as Record<string, unknown>;
  if (!isInt(tileSize) || tileSize < 0) throw invalid('header.tileSize', `${String(tileSize)} is not a size`);
  if (!isInt(count) || count < 0) throw invalid('header.count', `${String(count)} is not a count`);
  if (!isInt(classes) || classes < 0 || classes > 256)
    throw invalid('header.classes', `${String(classes)} is not a class count`);
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
    throw invalid('header.meta', 'is not a JSON object');
  const area = tileSize * tileSize;
  const labelsAt = PREAMBLE + headerLength;
  const pixelsAt = labelsAt + count;
  const positionsAt = pixelsAt + count * area * 4;
  const expected = positionsAt + count * 12;
  if (bytes.length !== expected)
    throw invalid('', `file has ${bytes.length} bytes, header promises ${expected}`);
  const tiles: Tile[] = [];
  for (let i = 0; i < count; i++) {
    const label = bytes[labelsAt + i]!;
    if (label >= classes) throw invalid(`labels[${i}]`, `${label} is not below classes (${classes})`);
    const pixels = new Float32Array(area);
    const base = pixelsAt + i * area * 4;
    for (let p = 0; p < area; p++) pixels[p] = view.getFloat32(base + p * 4, true);
    tiles.push({
      inline: view.getInt32(positionsAt + i * 12, true),
      crossline: view.getInt32(positionsAt + i * 12 + 4, true),
      sample: view.getInt32(positionsAt + i * 12 + 8, true),
      size: tileSize,
      pixels,
      label,
      noise: noiseLevel(pixels, tileSize),
    });
  }
  return { tileSize, classes, meta: meta as Record<string, unknown>, tiles };
}

/**
 * Writes a tile set file (format: {@link encodeTileSet}), creating its folder if needed.
 * @returns the number of bytes written.
 */
export async function writeTileSet(
  path: string,
  tiles: readonly Tile[],
  meta: Record<string, unknown> = {},
): Promise<number> {
  const bytes = encodeTileSet(tiles, meta);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  return bytes.length;
}

/**
 * Reads a tile set file written by {@link writeTileSet}.
 * @throws ValidationError when the file is not a valid tile set (I/O errors pass through unchanged).
 */
export async function readTileSet(path: string): Promise<TileSet> {
  const bytes = await readFile(path);
  try {
    return decodeTileSet(bytes);
  } catch (error) {
    if (error instanceof ValidationError)
      throw new ValidationError(`${path}: ${error.message}`, error.issues, { file: path });
    throw error;
  }
}
