/** A seeded synthetic post-stack survey: dipping, undulating layers, Ricker-wavelet reflections and regional noise. */
import { ValidationError } from '@provml/schemas';
import { createGaussian, createRandom } from '../random.ts';
import type { LayerModel, SeismicCube, SurveyGeometry } from '../survey.ts';
import { traceCoordinates, traceIndex } from '../survey.ts';
import { SampleFormat } from './SegyFormat.ts';

/** A block of the survey whose noise is `factor` times the background (inclusive survey line numbers). */
export interface NoisyRegion {
  inlines: readonly [number, number];
  crosslines: readonly [number, number];
  factor: number;
}

/** Options of {@link generateSurvey}. */
export interface GenerateSurveyOptions {
  /** Seed of everything random; the same options give the same survey, byte for byte. */
  seed: number;
  /** Grid size. Defaults: 64 inlines × 48 crosslines × 128 samples (4 ms, so 508 ms of record). */
  inlines?: number;
  crosslines?: number;
  samples?: number;
  /** Number of horizons (default 4), hence `layers + 1` layer classes. At most `samples / 12`. */
  layers?: number;
  /** Background noise: Gaussian deviation as a fraction of the noise-free cube's RMS amplitude (default 0.1). */
  noise?: number;
  /**
   * Where the noise is stronger; default inlines at 5/8–7/8 of the survey, crosslines in its first half,
   * factor 8. `null` for uniform noise.
   */
  noisyRegion?: NoisyRegion | null;
  /** Peak frequency of the Ricker wavelet in Hz (default 25). */
  waveletHz?: number;
  /** Survey name written in the textual header (default `NETHERLANDS F3 (SYNTHETIC)`). */
  name?: string;
}

/** A generated survey: amplitudes, the true layer model, and a textual header for the SEG-Y file. */
export interface GeneratedSurvey {
  cube: SeismicCube;
  layers: LayerModel;
  /** Lines for `encodeSegy` (without `C 1 ` prefixes; card 39 `SEG Y REV1`, card 40 `END TEXTUAL HEADER`). */
  textHeader: string[];
  /** The noisy block actually used, or `null`. */
  noisyRegion: NoisyRegion | null;
  /** Acoustic impedance (kg/(m²·s)) of each layer class, top to bottom (`layers + 1` values). */
  impedances: number[];
}

/** First inline and crossline numbers, as in the F3 block survey. */
const FIRST_INLINE = 100;
const FIRST_CROSSLINE = 300;
/** Sample interval (µs). */
const SAMPLE_INTERVAL_US = 4000;
/** Map corner of inline 100 / crossline 300 (WGS 84 / UTM zone 31N, metres), near the F3 block. */
const ORIGIN_X = 605835;
const ORIGIN_Y = 6073556;
/** Bin size (m) and the grid's rotation: crosslines advance this many degrees north of east. */
const BIN_M = 25;
const ROTATION_DEG = 1.6;
const COORDINATE_SCALAR = -100;
/** Half-length of the wavelet in periods of its peak frequency: beyond it the Ricker is below e⁻²² of its peak. */
const WAVELET_HALF_PERIODS = 1.5;

/**
 * Generates a plausible layered subsurface and its post-stack seismic response (pure, deterministic per
 * options). Horizons are smooth functions of inline and crossline: a shared regional dip and folding,
 * each horizon following it to its own degree, plus its own gentle undulation; they never cross. Each
 * layer has its own acoustic impedance and its own thin-bed texture (small impedance oscillations that
 * follow the layer's top, so they stay laterally continuous). Reflectivity (the horizons' contrasts
 * placed at their fractional depth, plus the texture's impedance gradient) is convolved with a Ricker
 * wavelet, and Gaussian noise added: `noise × RMS` everywhere, `factor` times more in `noisyRegion`.
 * The defaults generate in a few tens of milliseconds.
 * @throws ValidationError when a size, the layer count, the noise or the region is out of range.
 */
export function generateSurvey(options: GenerateSurveyOptions): GeneratedSurvey {
  const inlines = options.inlines ?? 64;
  const crosslines = options.crosslines ?? 48;
  const samples = options.samples ?? 128;
  const layerCount = options.layers ?? 4;
  const noise = options.noise ?? 0.1;
  const waveletHz = options.waveletHz ?? 25;
  const name = (options.name ?? 'NETHERLANDS F3 (SYNTHETIC)').toUpperCase();
  const region =
    options.noisyRegion === undefined
      ? ({
          inlines: [
            FIRST_INLINE + Math.floor((inlines * 5) / 8),
            FIRST_INLINE + Math.ceil((inlines * 7) / 8) - 1,
          ],
          crosslines: [FIRST_CROSSLINE, FIRST_CROSSLINE + Math.ceil(crosslines / 2) - 1],
          factor: 8,
        } as const)
      : options.noisyRegion;
  checkOptions(
    { ...options, inlines, crosslines, samples, layers: layerCount, noise, waveletHz, name },
    region,
  );

  const theta = (ROTATION_DEG * Math.PI) / 180;
  const geometry: SurveyGeometry = {
    inlines,
    firstInline: FIRST_INLINE,
    crosslines,
    firstCrossline: FIRST_CROSSLINE,
    samples,
    sampleIntervalUs: SAMPLE_INTERVAL_US,
    originX: ORIGIN_X,
    originY: ORIGIN_Y,
    inlineStepX: -BIN_M * Math.sin(theta),
    inlineStepY: BIN_M * Math.cos(theta),
    crosslineStepX: BIN_M * Math.cos(theta),
    crosslineStepY: BIN_M * Math.sin(theta),
    coordinateScalar: COORDINATE_SCALAR,
  };

  const random = createRandom(options.seed);
  const between = (lo: number, hi: number): number => lo + (hi - lo) * random();
  const traces = inlines * crosslines;

  // Structure shared by all horizons: a regional dip and two folds, in samples, over u, v ∈ [0, 1].
  const dipU = between(-0.05, 0.05) * samples;
  const dipV = between(-0.04, 0.04) * samples;
  const folds = [0, 1].map(() => ({
    amplitude: between(0.01, 0.035) * samples,
    ku: between(0.3, 1.5),
    kv: between(0.3, 1.5),
    phase: between(0, 2 * Math.PI),
  }));
  const top = 0.12 * samples;
  const spacing = (0.78 * samples) / layerCount;
  const minGap = Math.max(3, spacing / 4);
  const horizons: Float32Array[] = [];
  for (let h = 0; h < layerCount; h++) {
    const base = top + (h + 0.5 + between(-0.15, 0.15)) * spacing;
    const conform = between(0.5, 1);
    const own = {
      amplitude: between(0.2, 1.2),
      ku: between(0.5, 2.5),
      kv: between(0.5, 2.5),
      phase: between(0, 6.3),
    };
    const depth = new Float32Array(traces);
    for (let il = 0; il < inlines; il++) {
      const u = inlines > 1 ? il / (inlines - 1) : 0;
      for (let xl = 0; xl < crosslines; xl++) {
        const v = crosslines > 1 ? xl / (crosslines - 1) : 0;
        let shared = dipU * (u - 0.5) + dipV * (v - 0.5);
        for (const f of folds)
          shared += f.amplitude * Math.sin(2 * Math.PI * (f.ku * u + f.kv * v) + f.phase);
        const wiggle = own.amplitude * Math.sin(2 * Math.PI * (own.ku * u - own.kv * v) + own.phase);
        const t = traceIndex(geometry, il, xl);
        const above = h > 0 ? horizons[h - 1]![t]! + minGap : 2;
        depth[t] = Math.min(
          Math.max(base + conform * shared + wiggle, above),
          samples - 3 - (layerCount - 1 - h) * minGap,
        );
      }
    }
    horizons.push(depth);
  }

  // Layer impedances (kg/(m²·s)): mostly increasing with depth, with the odd softer layer; never equal.
  const impedances = [between(3.2e6, 4.2e6)];
  for (let h = 0; h < layerCount; h++) {
    const step = between(0.08, 0.25) * (random() < 0.25 ? -1 : 1);
    impedances.push(impedances[h]! * Math.exp(step));
  }
  const contrasts = horizons.map((_, h) => {
    const [z1, z2] = [impedances[h]!, impedances[h + 1]!];
    return (z2 - z1) / (z2 + z1);
  });
  // Thin-bed texture per layer: ln-impedance oscillations as a function of depth below the layer's top.
  const textures = impedances.map(() => {
    const amplitude = between(0.01, 0.05);
    return [0, 1, 2].map(() => ({
      amplitude: amplitude * between(0.3, 1),
      k: (2 * Math.PI) / between(3, 14),
      phase: between(0, 6.3),
    }));
  });

  const dt = SAMPLE_INTERVAL_US / 1e6;
  const ricker = (seconds: number): number => {
    const a = (Math.PI * waveletHz * seconds) ** 2;
    return (1 - 2 * a) * Math.exp(-a);
  };
  const half = Math.ceil(WAVELET_HALF_PERIODS / waveletHz / dt);
  const wavelet = Float64Array.from({ length: 2 * half + 1 }, (_, i) => ricker((i - half) * dt));

  const data = new Float32Array(traces * samples);
  const reflectivity = new Float64Array(samples);
  for (let t = 0; t < traces; t++) {
    // Texture reflectivity ≈ ½·d(ln Z)/dt per sample, inside each layer.
    let layer = 0;
    for (let s = 0; s < samples; s++) {
      while (layer < layerCount && s >= horizons[layer]![t]!) layer++;
      const topOfLayer = layer === 0 ? horizons[0]![t]! : horizons[layer - 1]![t]!;
      let gradient = 0;
      for (const c of textures[layer]!)
        gradient += c.amplitude * c.k * Math.cos(c.k * (s - topOfLayer) + c.phase);
      reflectivity[s] = 0.5 * gradient;
    }
    const out = t * samples;
    for (let s = 0; s < samples; s++) {
      let sum = 0;
      const lo = Math.max(0, s - half);
      const hi = Math.min(samples - 1, s + half);
      for (let r = lo; r <= hi; r++) sum += reflectivity[r]! * wavelet[s - r + half]!;
      data[out + s] = sum;
    }
    // Horizons: the layer contrast placed at its fractional depth, so the wavelet follows the structure exactly.
    for (let h = 0; h < layerCount; h++) {
      const at = horizons[h]![t]!;
      const lo = Math.max(0, Math.ceil(at - half));
      const hi = Math.min(samples - 1, Math.floor(at + half));
      for (let s = lo; s <= hi; s++) data[out + s]! += contrasts[h]! * ricker((s - at) * dt);
    }
  }

  let sumSquares = 0;
  for (const a of data) sumSquares += a * a;
  const rms = Math.sqrt(sumSquares / data.length);
  const gaussian = createGaussian(createRandom((options.seed ^ 0x5eed5eed) >>> 0));
  for (let il = 0; il < inlines; il++) {
    for (let xl = 0; xl < crosslines; xl++) {
      const inRegion =
        region !== null &&
        FIRST_INLINE + il >= region.inlines[0] &&
        FIRST_INLINE + il <= region.inlines[1] &&
        FIRST_CROSSLINE + xl >= region.crosslines[0] &&
        FIRST_CROSSLINE + xl <= region.crosslines[1];
      const sigma = noise * rms * (inRegion ? region.factor : 1);
      const out = traceIndex(geometry, il, xl) * samples;
      for (let s = 0; s < samples; s++) data[out + s]! += sigma * gaussian();
    }
  }

  const textHeader = describe(geometry, { seed: options.seed, name, layerCount, waveletHz, noise, region });
  return { cube: { geometry, data }, layers: { horizons }, textHeader, noisyRegion: region, impedances };
}

/** The textual header lines: survey, CRS, grid, corners, byte locations, model and provenance. */
function describe(
  g: SurveyGeometry,
  m: {
    seed: number;
    name: string;
    layerCount: number;
    waveletHz: number;
    noise: number;
    region: NoisyRegion | null;
  },
): string[] {
  const lastIl = g.firstInline + g.inlines - 1;
  const lastXl = g.firstCrossline + g.crosslines - 1;
  const corner = (il: number, xl: number): string => {
    const { x, y } = traceCoordinates(g, il, xl);
    return `CORNER IL ${g.firstInline + il} XL ${g.firstCrossline + xl}: X ${x.toFixed(2)} Y ${y.toFixed(2)}`;
  };
  const r = m.region;
  const lines = [
    `SURVEY: ${m.name}`.slice(0, 76),
    'AREA: DUTCH SECTOR OF THE NORTH SEA, BLOCK F3',
    'SYNTHETIC DATA GENERATED BY PROVML DEMO',
    `SEED: ${m.seed}`,
    'CRS: WGS 84 / UTM ZONE 31N (EPSG:32631), UNITS: METRES',
    `INLINES: ${g.firstInline}-${lastIl} (BYTES 189-192)`,
    `CROSSLINES: ${g.firstCrossline}-${lastXl} (BYTES 193-196)`,
    `BIN: ${BIN_M} M X ${BIN_M} M, CROSSLINES ${ROTATION_DEG.toFixed(1)} DEG NORTH OF EAST`,
    corner(0, 0),
    corner(0, g.crosslines - 1),
    corner(g.inlines - 1, 0),
    corner(g.inlines - 1, g.crosslines - 1),
    `CDP X/Y BYTES 181-188, SOURCE X/Y 73-80, COORD SCALAR ${g.coordinateScalar} (BYTES 71-72)`,
    `SAMPLES: ${g.samples}, INTERVAL: ${g.sampleIntervalUs / 1000} MS, FORMAT ${SampleFormat.IEEE_FLOAT32} (4-BYTE IEEE FLOAT)`,
    'POST-STACK, TRACES SORTED BY INLINE THEN CROSSLINE',
    `MODEL: ${m.layerCount} HORIZONS, RICKER ${m.waveletHz} HZ, LAYERED IMPEDANCE + THIN BEDS`,
    `NOISE: ${m.noise} X RMS` +
      (r === null
        ? ''
        : `, X${r.factor} IN IL ${r.inlines[0]}-${r.inlines[1]} XL ${r.crosslines[0]}-${r.crosslines[1]}`),
  ];
  while (lines.length < 38) lines.push('');
  lines.push('SEG Y REV1', 'END TEXTUAL HEADER');
  return lines;
}

/** Rejects options that cannot give a sensible survey, naming every problem. */
function checkOptions(
  o: Required<Omit<GenerateSurveyOptions, 'noisyRegion'>>,
  region: NoisyRegion | null,
): void {
  const problems: { path: string; message: string }[] = [];
  const int = (path: string, value: number, min: number, max: number): void => {
    if (!Number.isInteger(value) || value < min || value > max)
      problems.push({ path, message: `must be an integer in [${min}, ${max}], got ${value}` });
  };
  int('seed', o.seed, 0, 0xffffffff);
  int('inlines', o.inlines, 1, 10000);
  int('crosslines', o.crosslines, 1, 10000);
  int('samples', o.samples, 24, 16000);
  int('layers', o.layers, 1, Math.max(1, Math.floor(o.samples / 12)));
  if (!(o.noise >= 0 && Number.isFinite(o.noise)))
    problems.push({ path: 'noise', message: `must be a finite number ≥ 0, got ${o.noise}` });
  if (!(o.waveletHz >= 5 && o.waveletHz <= 100))
    problems.push({ path: 'waveletHz', message: `must be within [5, 100], got ${o.waveletHz}` });
  if (!/^[\x20-\x7e]*$/.test(o.name)) problems.push({ path: 'name', message: 'must be printable ASCII' });
  if (region !== null) {
    if (region.inlines[0] > region.inlines[1] || region.crosslines[0] > region.crosslines[1]) {
      problems.push({ path: 'noisyRegion', message: 'ranges must run from low to high' });
    }
    if (!(region.factor >= 0 && Number.isFinite(region.factor))) {
      problems.push({
        path: 'noisyRegion.factor',
        message: `must be a finite number ≥ 0, got ${region.factor}`,
      });
    }
  }
  if (problems.length > 0) {
    throw new ValidationError(
      `invalid survey options: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
      problems,
    );
  }
}
