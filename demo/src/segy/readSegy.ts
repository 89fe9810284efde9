/** Decodes a SEG-Y rev 1 file (IEEE or IBM float samples) and rebuilds the regular survey grid it holds. */
import { readFile } from 'node:fs/promises';
import { ValidationError, type ValidationIssue } from '@provml/schemas';
import type { SeismicCube, SurveyGeometry } from '../survey.ts';
import { decodeEbcdic } from './ebcdic.ts';
import type { FieldSpec, SegyBinaryHeader, SegyTraceHeader } from './SegyFormat.ts';
import {
  BINARY_HEADER_FIELDS,
  BINARY_HEADER_OFFSET,
  FIRST_TRACE_OFFSET,
  MEASUREMENT_FEET,
  SAMPLE_BYTES,
  SampleFormat,
  TEXT_HEADER_BYTES,
  TEXT_HEADER_LINE_CHARS,
  TEXT_HEADER_LINES,
  TRACE_HEADER_BYTES,
  TRACE_HEADER_FIELDS,
  readField,
  unscaleCoordinate,
} from './SegyFormat.ts';

/** One decoded trace: its header as stored, and the values a caller wants with the scalar applied. */
export interface SegyTrace {
  /** Header fields exactly as stored (coordinates still scaled integers). */
  header: SegyTraceHeader;
  inline: number;
  crossline: number;
  cdp: number;
  /** CDP (bin centre) and source coordinates in metres, coordinate scalar applied. */
  cdpX: number;
  cdpY: number;
  sourceX: number;
  sourceY: number;
  /** Amplitudes, converted to native floats (a copy, not a view of the file). */
  samples: Float32Array;
}

/** A decoded SEG-Y file. */
export interface SegyFile {
  /**
   * The 40 card images as ASCII, without their `C 1 ` … `C40 ` prefixes and with trailing spaces trimmed:
   * the shape `encodeSegy` takes, so a header can be read, amended and written again. A card that
   * lacks the prefix is returned whole.
   */
  textHeader: string[];
  /** How the textual header was stored: EBCDIC per the standard, or ASCII (a common deviation). */
  textEncoding: 'ebcdic' | 'ascii';
  binaryHeader: SegyBinaryHeader;
  traces: SegyTrace[];
}

/** Largest distance (metres) a trace may lie from the fitted regular grid in {@link surveyFromSegy}. */
export const GRID_TOLERANCE_M = 0.5;

/** The `C 1 ` … `C40 ` prefix of a card image (the space after the number may be missing on short cards). */
const CARD_PREFIX = /^C[ \d]\d(?: |$)/;

/** ASCII `C`, the first byte of an ASCII textual header (EBCDIC `C` is 0xC3). */
const ASCII_C = 0x43;

/**
 * Converts a 4-byte IBM System/360 single-precision float (given as its 32 bits) to a number:
 * sign bit, 7-bit base-16 exponent biased by 64, 24-bit fraction. E.g. 0xC276A000 = -118.625.
 */
export function ibmToFloat(bits: number): number {
  const fraction = bits & 0x00ffffff;
  if (fraction === 0) return 0;
  const exponent = (bits >>> 24) & 0x7f;
  const value = (fraction / 0x1000000) * Math.pow(16, exponent - 64);
  return bits >>> 31 === 1 ? -value : value;
}

/**
 * Decodes a SEG-Y rev 1 file (pure). Reads sample formats 1 (IBM float) and 5 (IEEE float), skips
 * extended textual headers, and requires fixed-length traces.
 * @throws ValidationError when the file is shorter than its headers, uses another sample format, or its
 *   trace bytes do not match the samples per trace.
 */
export function decodeSegy(buf: Uint8Array): SegyFile {
  if (buf.length < FIRST_TRACE_OFFSET) {
    invalid(
      `SEG-Y file is ${buf.length} bytes, shorter than its ${FIRST_TRACE_OFFSET}-byte textual and binary headers`,
      'file',
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const textEncoding = buf[0] === ASCII_C ? 'ascii' : 'ebcdic';
  const textHeader: string[] = [];
  for (let line = 0; line < TEXT_HEADER_LINES; line++) {
    const card = buf.subarray(line * TEXT_HEADER_LINE_CHARS, (line + 1) * TEXT_HEADER_LINE_CHARS);
    const text = textEncoding === 'ascii' ? Buffer.from(card).toString('latin1') : decodeEbcdic(card);
    textHeader.push(text.replace(CARD_PREFIX, '').trimEnd());
  }

  const binaryHeader = readFields(view, BINARY_HEADER_OFFSET, BINARY_HEADER_FIELDS);
  const { sampleFormat, samplesPerTrace, extendedTextHeaders } = binaryHeader;
  if (sampleFormat !== SampleFormat.IEEE_FLOAT32 && sampleFormat !== SampleFormat.IBM_FLOAT32) {
    invalid(
      `unsupported SEG-Y data sample format code ${sampleFormat} (binary header bytes 3225-3226); only 1 (4-byte IBM float) and 5 (4-byte IEEE float) are read`,
      'binaryHeader.sampleFormat',
    );
  }
  if (samplesPerTrace === 0)
    invalid(
      'SEG-Y binary header gives 0 samples per trace (bytes 3221-3222)',
      'binaryHeader.samplesPerTrace',
    );
  if (extendedTextHeaders < 0) {
    invalid(
      `SEG-Y file declares a variable number of extended textual headers (${extendedTextHeaders}); not supported`,
      'binaryHeader.extendedTextHeaders',
    );
  }

  const tracesAt = FIRST_TRACE_OFFSET + extendedTextHeaders * TEXT_HEADER_BYTES;
  const traceBytes = TRACE_HEADER_BYTES + samplesPerTrace * SAMPLE_BYTES;
  const traceArea = buf.length - tracesAt;
  if (traceArea < 0 || traceArea % traceBytes !== 0) {
    invalid(
      `SEG-Y trace length mismatch: ${traceArea} bytes after the headers are not a whole number of ${traceBytes}-byte traces (240-byte header + ${samplesPerTrace} samples × ${SAMPLE_BYTES} bytes)`,
      'traces',
    );
  }

  const ibm = sampleFormat === SampleFormat.IBM_FLOAT32;
  const traces: SegyTrace[] = [];
  for (let t = 0, base = tracesAt; base < buf.length; t++, base += traceBytes) {
    const header = readFields(view, base, TRACE_HEADER_FIELDS);
    if (header.samples !== 0 && header.samples !== samplesPerTrace) {
      invalid(
        `SEG-Y trace length mismatch: trace ${t + 1} header gives ${header.samples} samples (bytes 115-116), the binary header ${samplesPerTrace}`,
        `traces[${t}].samples`,
      );
    }
    const samples = new Float32Array(samplesPerTrace);
    const dataAt = base + TRACE_HEADER_BYTES;
    for (let s = 0; s < samplesPerTrace; s++) {
      const at = dataAt + s * SAMPLE_BYTES;
      samples[s] = ibm ? ibmToFloat(view.getUint32(at, false)) : view.getFloat32(at, false);
    }
    const scalar = header.coordinateScalar;
    traces.push({
      header,
      inline: header.inline,
      crossline: header.crossline,
      cdp: header.cdp,
      cdpX: unscaleCoordinate(header.cdpX, scalar),
      cdpY: unscaleCoordinate(header.cdpY, scalar),
      sourceX: unscaleCoordinate(header.sourceX, scalar),
      sourceY: unscaleCoordinate(header.sourceY, scalar),
      samples,
    });
  }
  return { textHeader, textEncoding, binaryHeader, traces };
}

/** Reads and decodes a SEG-Y file (see {@link decodeSegy}). */
export async function readSegy(path: string): Promise<SegyFile> {
  return decodeSegy(await readFile(path));
}

/**
 * Rebuilds the regular survey grid of a decoded post-stack file: inline/crossline ranges from the trace
 * headers (consecutive numbers, every (inline, crossline) exactly once, in any order), origin and
 * inline/crossline steps by a least-squares fit of the CDP coordinates. This is the curation step's
 * coordinate check.
 * @throws ValidationError when the traces do not fill the grid, a pair repeats, coordinates are not in
 *   metres, or any trace's CDP lies more than `toleranceM` (default 0.5 m) from the fitted grid.
 */
export function surveyFromSegy(
  file: SegyFile,
  toleranceM: number = GRID_TOLERANCE_M,
): { geometry: SurveyGeometry; cube: SeismicCube } {
  const { traces, binaryHeader } = file;
  const first = traces[0];
  if (first === undefined) invalid('SEG-Y file holds no traces', 'traces');
  if (binaryHeader.measurementSystem === MEASUREMENT_FEET) {
    invalid(
      'SEG-Y coordinates are in feet (binary header bytes 3255-3256); the survey grid needs metres',
      'binaryHeader.measurementSystem',
    );
  }
  const badUnits = traces.find((t) => t.header.coordinateUnits !== 0 && t.header.coordinateUnits !== 1);
  if (badUnits !== undefined) {
    invalid(
      `SEG-Y trace at inline ${badUnits.inline} crossline ${badUnits.crossline} has coordinate units ${badUnits.header.coordinateUnits} (bytes 89-90); only 1 (length) is a map grid`,
      'traces.coordinateUnits',
    );
  }

  let minIl = Infinity,
    maxIl = -Infinity,
    minXl = Infinity,
    maxXl = -Infinity;
  for (const t of traces) {
    minIl = Math.min(minIl, t.inline);
    maxIl = Math.max(maxIl, t.inline);
    minXl = Math.min(minXl, t.crossline);
    maxXl = Math.max(maxXl, t.crossline);
  }
  const inlines = maxIl - minIl + 1;
  const crosslines = maxXl - minXl + 1;
  if (inlines * crosslines !== traces.length) {
    invalid(
      `SEG-Y traces do not form a regular grid: ${traces.length} traces for inlines ${minIl}-${maxIl} × crosslines ${minXl}-${maxXl} (${inlines * crosslines} bins)`,
      'traces',
    );
  }
  const slotOf = new Int32Array(traces.length).fill(-1);
  traces.forEach((t, k) => {
    const slot = (t.inline - minIl) * crosslines + (t.crossline - minXl);
    if (slotOf[slot] !== -1) {
      invalid(`SEG-Y grid has two traces at inline ${t.inline} crossline ${t.crossline}`, `traces[${k}]`);
    }
    slotOf[slot] = k;
  });

  // Least squares of x = ox + i·ax + j·bx (likewise y) over the full grid; i and j are orthogonal there,
  // so each step is a simple regression on its own index. Coordinates are taken relative to the first
  // trace to keep the sums small.
  const mi = (inlines - 1) / 2;
  const mj = (crosslines - 1) / 2;
  let sx = 0,
    sy = 0,
    six = 0,
    siy = 0,
    sjx = 0,
    sjy = 0,
    sii = 0,
    sjj = 0;
  for (const t of traces) {
    const di = t.inline - minIl - mi;
    const dj = t.crossline - minXl - mj;
    const x = t.cdpX - first.cdpX;
    const y = t.cdpY - first.cdpY;
    sx += x;
    sy += y;
    six += di * x;
    siy += di * y;
    sjx += dj * x;
    sjy += dj * y;
    sii += di * di;
    sjj += dj * dj;
  }
  const n = traces.length;
  const inlineStepX = sii > 0 ? six / sii : 0;
  const inlineStepY = sii > 0 ? siy / sii : 0;
  const crosslineStepX = sjj > 0 ? sjx / sjj : 0;
  const crosslineStepY = sjj > 0 ? sjy / sjj : 0;
  const originX = first.cdpX + sx / n - inlineStepX * mi - crosslineStepX * mj;
  const originY = first.cdpY + sy / n - inlineStepY * mi - crosslineStepY * mj;

  const issues: ValidationIssue[] = [];
  let worst = { distance: 0, inline: 0, crossline: 0 };
  traces.forEach((t, k) => {
    const i = t.inline - minIl;
    const j = t.crossline - minXl;
    const dx = originX + i * inlineStepX + j * crosslineStepX - t.cdpX;
    const dy = originY + i * inlineStepY + j * crosslineStepY - t.cdpY;
    const distance = Math.hypot(dx, dy);
    if (distance > toleranceM) {
      issues.push({
        path: `traces[${k}]`,
        message: `inline ${t.inline} crossline ${t.crossline} lies ${distance.toFixed(2)} m off the regular grid`,
      });
      if (distance > worst.distance) worst = { distance, inline: t.inline, crossline: t.crossline };
    }
  });
  if (issues.length > 0) {
    throw new ValidationError(
      `SEG-Y CDP coordinates are not a regular grid: ${issues.length} trace(s) lie more than ${toleranceM} m off it (worst: inline ${worst.inline} crossline ${worst.crossline}, ${worst.distance.toFixed(2)} m)`,
      issues,
    );
  }

  const samples = binaryHeader.samplesPerTrace;
  const geometry: SurveyGeometry = {
    inlines,
    firstInline: minIl,
    crosslines,
    firstCrossline: minXl,
    samples,
    sampleIntervalUs: binaryHeader.sampleIntervalUs || first.header.sampleIntervalUs,
    originX,
    originY,
    inlineStepX,
    inlineStepY,
    crosslineStepX,
    crosslineStepY,
    coordinateScalar: first.header.coordinateScalar,
  };
  const data = new Float32Array(n * samples);
  slotOf.forEach((k, slot) => data.set(traces[k]!.samples, slot * samples));
  return { geometry, cube: { geometry, data } };
}

/** Reads every field of a header. */
function readFields<K extends string>(
  view: DataView,
  base: number,
  specs: { readonly [P in K]: FieldSpec },
): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const key of Object.keys(specs) as K[]) out[key] = readField(view, base, specs[key]);
  return out;
}

/** Throws the ValidationError every decoding failure is. */
function invalid(message: string, path: string): never {
  throw new ValidationError(message, [{ path, message }]);
}
