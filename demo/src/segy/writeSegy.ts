/** Encodes a seismic cube as a SEG-Y rev 1 file: EBCDIC textual header, binary header, IEEE-float traces. */
import { writeFile } from 'node:fs/promises';
import { ValidationError, type ValidationIssue } from '@provml/schemas';
import type { SeismicCube } from '../survey.ts';
import { traceCoordinates, traceIndex } from '../survey.ts';
import { encodeEbcdic } from './ebcdic.ts';
import type { FieldSpec, SegyBinaryHeader, SegyTraceHeader } from './SegyFormat.ts';
import {
  BINARY_HEADER_FIELDS,
  BINARY_HEADER_OFFSET,
  COORDINATE_UNITS_LENGTH,
  FIELD_RANGE,
  FIRST_TRACE_OFFSET,
  FORMAT_REVISION_1,
  MEASUREMENT_METRES,
  SAMPLE_BYTES,
  SampleFormat,
  SORTING_HORIZONTALLY_STACKED,
  TEXT_HEADER_LINE_CHARS,
  TEXT_HEADER_LINES,
  TRACE_HEADER_BYTES,
  TRACE_HEADER_FIELDS,
  TRACE_ID_SEISMIC,
  cardPrefix,
  scaleCoordinate,
  writeField,
} from './SegyFormat.ts';

/** Characters of a card image left after its `C 1 ` prefix. */
const CARD_TEXT_CHARS = TEXT_HEADER_LINE_CHARS - cardPrefix(1).length;

/**
 * Encodes a cube as SEG-Y rev 1 (pure). Traces are written inline-major (the cube's own order), each
 * with inline/crossline at bytes 189/193, CDP and source X/Y set to the bin centre as integers scaled by
 * the geometry's `coordinateScalar` (e.g. -100: stored = metres × 100), samples as big-endian IEEE floats.
 *
 * Trace header numbering: sequence within line = 1-based crossline position, sequence within file and
 * CDP (ensemble) number = 1-based trace position, field record = inline number, trace within field
 * record = 1-based crossline position.
 *
 * @param textHeader up to 40 lines of printable ASCII, at most 76 characters each; each is written after
 *   its `C 1 ` … `C40 ` prefix and padded with spaces; missing lines are written as bare prefixes.
 * @throws ValidationError when the text header, the cube's size or a header value does not fit.
 */
export function encodeSegy(cube: SeismicCube, textHeader: string[]): Buffer {
  const g = cube.geometry;
  const traces = g.inlines * g.crosslines;
  checkCube(cube, textHeader);

  const traceBytes = TRACE_HEADER_BYTES + g.samples * SAMPLE_BYTES;
  const buf = Buffer.alloc(FIRST_TRACE_OFFSET + traces * traceBytes);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);

  for (let line = 0; line < TEXT_HEADER_LINES; line++) {
    const card = (cardPrefix(line + 1) + (textHeader[line] ?? '')).padEnd(TEXT_HEADER_LINE_CHARS, ' ');
    buf.set(encodeEbcdic(card), line * TEXT_HEADER_LINE_CHARS);
  }

  const binary: SegyBinaryHeader = {
    jobId: 1,
    lineNumber: g.firstInline,
    reelNumber: 1,
    tracesPerEnsemble: g.crosslines,
    auxTracesPerEnsemble: 0,
    sampleIntervalUs: g.sampleIntervalUs,
    samplesPerTrace: g.samples,
    sampleFormat: SampleFormat.IEEE_FLOAT32,
    ensembleFold: 1,
    traceSortingCode: SORTING_HORIZONTALLY_STACKED,
    measurementSystem: MEASUREMENT_METRES,
    formatRevision: FORMAT_REVISION_1,
    fixedLengthTraces: 1,
    extendedTextHeaders: 0,
  };
  writeFields(view, BINARY_HEADER_OFFSET, BINARY_HEADER_FIELDS, binary, 'binaryHeader');

  for (let il = 0; il < g.inlines; il++) {
    for (let xl = 0; xl < g.crosslines; xl++) {
      const t = traceIndex(g, il, xl);
      const base = FIRST_TRACE_OFFSET + t * traceBytes;
      const { x, y } = traceCoordinates(g, il, xl);
      const cdpX = scaleCoordinate(x, g.coordinateScalar);
      const cdpY = scaleCoordinate(y, g.coordinateScalar);
      const header: SegyTraceHeader = {
        sequenceInLine: xl + 1,
        sequenceInFile: t + 1,
        fieldRecord: g.firstInline + il,
        traceInFieldRecord: xl + 1,
        cdp: t + 1,
        traceIdentificationCode: TRACE_ID_SEISMIC,
        coordinateScalar: g.coordinateScalar,
        sourceX: cdpX,
        sourceY: cdpY,
        coordinateUnits: COORDINATE_UNITS_LENGTH,
        samples: g.samples,
        sampleIntervalUs: g.sampleIntervalUs,
        cdpX,
        cdpY,
        inline: g.firstInline + il,
        crossline: g.firstCrossline + xl,
      };
      writeFields(view, base, TRACE_HEADER_FIELDS, header, `trace ${t + 1}`);
      const first = t * g.samples;
      const dataAt = base + TRACE_HEADER_BYTES;
      for (let s = 0; s < g.samples; s++)
        view.setFloat32(dataAt + s * SAMPLE_BYTES, cube.data[first + s]!, false);
    }
  }
  return buf;
}

/** Encodes a cube as SEG-Y rev 1 and writes it to `path` (see {@link encodeSegy}). */
export async function writeSegy(path: string, cube: SeismicCube, textHeader: string[]): Promise<void> {
  await writeFile(path, encodeSegy(cube, textHeader));
}

/** Writes every field of a header, rejecting a value its field cannot hold. */
function writeFields<K extends string>(
  view: DataView,
  base: number,
  specs: { readonly [P in K]: FieldSpec },
  header: Record<K, number>,
  where: string,
): void {
  for (const key of Object.keys(specs) as K[]) {
    const spec = specs[key];
    const value = header[key];
    const [min, max] = FIELD_RANGE[spec.type];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ValidationError(`SEG-Y ${where}: ${key} = ${value} does not fit its ${spec.type} field`, [
        { path: `${where}.${key}`, message: `${value} is not an integer in [${min}, ${max}]` },
      ]);
    }
    writeField(view, base, spec, value);
  }
}

/** Rejects a cube whose data does not match its geometry, and a text header that cannot be written. */
function checkCube(cube: SeismicCube, textHeader: string[]): void {
  const g = cube.geometry;
  const issues: ValidationIssue[] = [];
  for (const key of ['inlines', 'crosslines', 'samples'] as const) {
    if (!Number.isInteger(g[key]) || g[key] < 1) {
      issues.push({ path: `geometry.${key}`, message: `must be a positive integer, got ${g[key]}` });
    }
  }
  const expected = g.inlines * g.crosslines * g.samples;
  if (issues.length === 0 && cube.data.length !== expected) {
    issues.push({
      path: 'data',
      message: `holds ${cube.data.length} samples, the geometry needs ${g.inlines} × ${g.crosslines} × ${g.samples} = ${expected}`,
    });
  }
  if (textHeader.length > TEXT_HEADER_LINES) {
    issues.push({
      path: 'textHeader',
      message: `has ${textHeader.length} lines, at most ${TEXT_HEADER_LINES}`,
    });
  }
  textHeader.forEach((line, i) => {
    if (line.length > CARD_TEXT_CHARS) {
      issues.push({
        path: `textHeader[${i}]`,
        message: `is ${line.length} characters, at most ${CARD_TEXT_CHARS} after the card prefix`,
      });
    } else if (!/^[\x20-\x7e]*$/.test(line)) {
      issues.push({ path: `textHeader[${i}]`, message: 'holds characters outside printable ASCII' });
    }
  });
  if (issues.length > 0) {
    throw new ValidationError(
      `cannot encode SEG-Y: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
      issues,
    );
  }
}
