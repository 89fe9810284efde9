/** The seismic survey data model shared by the demo's generator, SEG-Y code, curation and preparation. */

/** Regular 3-D survey geometry: inline/crossline grid, samples per trace, map coordinates. */
export interface SurveyGeometry {
  /** Number of inlines and the first inline number. */
  inlines: number;
  firstInline: number;
  /** Number of crosslines and the first crossline number. */
  crosslines: number;
  firstCrossline: number;
  /** Samples per trace and the sample interval in microseconds. */
  samples: number;
  sampleIntervalUs: number;
  /** Map coordinates (metres, projected CRS) of inline 0 / crossline 0. */
  originX: number;
  originY: number;
  /** Map displacement from one inline to the next, and from one crossline to the next (metres). */
  inlineStepX: number;
  inlineStepY: number;
  crosslineStepX: number;
  crosslineStepY: number;
  /** SEG-Y coordinate scalar (bytes 71–72): negative = divide by its absolute value. E.g. -100. */
  coordinateScalar: number;
}

/** Amplitudes of every trace: trace `(il, xl)` (0-based) starts at `((il * crosslines) + xl) * samples`. */
export interface SeismicCube {
  geometry: SurveyGeometry;
  data: Float32Array;
}

/**
 * The interpreted layer model: `horizons[h][il * crosslines + xl]` is the depth (in samples, fractional)
 * of horizon h at a trace; horizons are ordered top to bottom. A sample above horizon 0 is class 0,
 * between horizon h-1 and h is class h, below the last is class `horizons.length`.
 */
export interface LayerModel {
  horizons: Float32Array[];
}

/** Index of trace `(il, xl)` (0-based) in a cube or layer model. */
export const traceIndex = (g: SurveyGeometry, il: number, xl: number): number => il * g.crosslines + xl;

/** Map coordinates (metres) of trace `(il, xl)` (0-based). */
export function traceCoordinates(g: SurveyGeometry, il: number, xl: number): { x: number; y: number } {
  return {
    x: g.originX + il * g.inlineStepX + xl * g.crosslineStepX,
    y: g.originY + il * g.inlineStepY + xl * g.crosslineStepY,
  };
}

/** Layer class of one sample of a trace. */
export function layerAt(model: LayerModel, trace: number, sample: number): number {
  let c = 0;
  while (c < model.horizons.length && sample >= model.horizons[c]![trace]!) c++;
  return c;
}
