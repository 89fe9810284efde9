/** The SEG-Y rev 1 file layout as constants: section sizes, header field offsets and codes (all big-endian). */

/*
 * Source: SEG Y rev 1 Data Exchange Format (SEG Technical Standards Committee, May 2002), sections 3.1
 * (textual file header), 3.2 (binary file header, table 2) and 4 (trace header, table 3). Byte positions
 * were checked against segyio's `lib/include/segyio/segy.h` (enums SEGY_FIELD and SEGY_BINFIELD, which
 * name the same 1-based positions: SEGY_BIN_FORMAT = 3225, SEGY_TR_CDP_X = 181, SEGY_TR_INLINE = 189,
 * SEGY_TR_CROSSLINE = 193, …) and obspy's `obspy/io/segy/header.py`.
 *
 * Offsets below are 0-based and relative to the start of their section; the comment on each gives the
 * 1-based byte positions as the standard names them (binary header positions are file positions).
 */

/** Bytes in the textual file header: 40 card images of 80 characters. */
export const TEXT_HEADER_BYTES = 3200;
/** Card images (lines) in the textual header, and characters per card. */
export const TEXT_HEADER_LINES = 40;
export const TEXT_HEADER_LINE_CHARS = 80;
/** Bytes in the binary file header (file bytes 3201–3600). */
export const BINARY_HEADER_BYTES = 400;
/** File offset of the binary header, and of the first trace (or extended textual header). */
export const BINARY_HEADER_OFFSET = TEXT_HEADER_BYTES;
export const FIRST_TRACE_OFFSET = TEXT_HEADER_BYTES + BINARY_HEADER_BYTES;
/** Bytes in each trace header. */
export const TRACE_HEADER_BYTES = 240;

/** How a header field is stored: big-endian two's-complement or unsigned integers. */
export type FieldType = 'int32' | 'int16' | 'uint16';

/** One header field: 0-based offset within its section and storage type. */
export interface FieldSpec {
  readonly offset: number;
  readonly type: FieldType;
}

/** Binary file header fields written and read by the demo. */
export interface SegyBinaryHeader {
  jobId: number;
  lineNumber: number;
  reelNumber: number;
  tracesPerEnsemble: number;
  auxTracesPerEnsemble: number;
  sampleIntervalUs: number;
  samplesPerTrace: number;
  sampleFormat: number;
  ensembleFold: number;
  traceSortingCode: number;
  measurementSystem: number;
  formatRevision: number;
  fixedLengthTraces: number;
  extendedTextHeaders: number;
}

/** Binary header layout (offsets relative to file byte 3201). */
export const BINARY_HEADER_FIELDS: { readonly [K in keyof SegyBinaryHeader]: FieldSpec } = {
  jobId: { offset: 0, type: 'int32' }, // 3201–3204 job identification number
  lineNumber: { offset: 4, type: 'int32' }, // 3205–3208 line number (3-D post-stack: the inline number)
  reelNumber: { offset: 8, type: 'int32' }, // 3209–3212 reel number
  tracesPerEnsemble: { offset: 12, type: 'int16' }, // 3213–3214 data traces per ensemble
  auxTracesPerEnsemble: { offset: 14, type: 'int16' }, // 3215–3216 auxiliary traces per ensemble
  sampleIntervalUs: { offset: 16, type: 'uint16' }, // 3217–3218 sample interval in microseconds
  samplesPerTrace: { offset: 20, type: 'uint16' }, // 3221–3222 samples per data trace
  sampleFormat: { offset: 24, type: 'int16' }, // 3225–3226 data sample format code
  ensembleFold: { offset: 26, type: 'int16' }, // 3227–3228 ensemble fold
  traceSortingCode: { offset: 28, type: 'int16' }, // 3229–3230 trace sorting code
  measurementSystem: { offset: 54, type: 'int16' }, // 3255–3256 measurement system
  formatRevision: { offset: 300, type: 'uint16' }, // 3501–3502 SEG Y format revision number
  fixedLengthTraces: { offset: 302, type: 'int16' }, // 3503–3504 fixed length trace flag
  extendedTextHeaders: { offset: 304, type: 'int16' }, // 3505–3506 number of extended textual headers
};

/** Trace header fields written and read by the demo, as stored (coordinates are scaled integers). */
export interface SegyTraceHeader {
  sequenceInLine: number;
  sequenceInFile: number;
  fieldRecord: number;
  traceInFieldRecord: number;
  cdp: number;
  traceIdentificationCode: number;
  coordinateScalar: number;
  sourceX: number;
  sourceY: number;
  coordinateUnits: number;
  samples: number;
  sampleIntervalUs: number;
  cdpX: number;
  cdpY: number;
  inline: number;
  crossline: number;
}

/** Trace header layout (offsets relative to the first byte of the trace header). */
export const TRACE_HEADER_FIELDS: { readonly [K in keyof SegyTraceHeader]: FieldSpec } = {
  sequenceInLine: { offset: 0, type: 'int32' }, // 1–4 trace sequence number within line
  sequenceInFile: { offset: 4, type: 'int32' }, // 5–8 trace sequence number within SEG Y file
  fieldRecord: { offset: 8, type: 'int32' }, // 9–12 original field record number
  traceInFieldRecord: { offset: 12, type: 'int32' }, // 13–16 trace number within the original field record
  cdp: { offset: 20, type: 'int32' }, // 21–24 ensemble number (CDP, CMP, …)
  traceIdentificationCode: { offset: 28, type: 'int16' }, // 29–30 trace identification code
  coordinateScalar: { offset: 70, type: 'int16' }, // 71–72 scalar applied to all coordinates
  sourceX: { offset: 72, type: 'int32' }, // 73–76 source coordinate X
  sourceY: { offset: 76, type: 'int32' }, // 77–80 source coordinate Y
  coordinateUnits: { offset: 88, type: 'int16' }, // 89–90 coordinate units
  samples: { offset: 114, type: 'uint16' }, // 115–116 number of samples in this trace
  sampleIntervalUs: { offset: 116, type: 'uint16' }, // 117–118 sample interval in microseconds
  cdpX: { offset: 180, type: 'int32' }, // 181–184 X coordinate of ensemble (CDP) position
  cdpY: { offset: 184, type: 'int32' }, // 185–188 Y coordinate of ensemble (CDP) position
  inline: { offset: 188, type: 'int32' }, // 189–192 3-D in-line number
  crossline: { offset: 192, type: 'int32' }, // 193–196 3-D cross-line number
};

/** Data sample format codes (binary header 3225–3226) the demo reads; it writes IEEE only. */
export const SampleFormat = {
  /** 4-byte IBM floating point. */
  IBM_FLOAT32: 1,
  /** 4-byte IEEE floating point. */
  IEEE_FLOAT32: 5,
} as const;

/** Bytes per sample for both supported formats. */
export const SAMPLE_BYTES = 4;

/** Trace sorting code 4: horizontally stacked (post-stack data). */
export const SORTING_HORIZONTALLY_STACKED = 4;
/** Measurement system 1: metres (2 = feet). */
export const MEASUREMENT_METRES = 1;
export const MEASUREMENT_FEET = 2;
/** Format revision 1.0: 16-bit value with the Q-point between the bytes. */
export const FORMAT_REVISION_1 = 0x0100;
/** Trace identification code 1: seismic data. */
export const TRACE_ID_SEISMIC = 1;
/** Coordinate units 1: length (metres or feet, per the measurement system). */
export const COORDINATE_UNITS_LENGTH = 1;

/** The textual header card prefix the standard prescribes: `C 1 ` … `C40 `. */
export const cardPrefix = (line: number): string => `C${String(line).padStart(2, ' ')} `;

/** Writes one big-endian field at `base + spec.offset`. */
export function writeField(view: DataView, base: number, spec: FieldSpec, value: number): void {
  const at = base + spec.offset;
  if (spec.type === 'int32') view.setInt32(at, value, false);
  else if (spec.type === 'int16') view.setInt16(at, value, false);
  else view.setUint16(at, value, false);
}

/** Reads one big-endian field at `base + spec.offset`. */
export function readField(view: DataView, base: number, spec: FieldSpec): number {
  const at = base + spec.offset;
  if (spec.type === 'int32') return view.getInt32(at, false);
  if (spec.type === 'int16') return view.getInt16(at, false);
  return view.getUint16(at, false);
}

/** Inclusive value range of each field type. */
export const FIELD_RANGE: { readonly [T in FieldType]: readonly [number, number] } = {
  int32: [-0x80000000, 0x7fffffff],
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
};

/*
 * Coordinate scalar (trace bytes 71–72) semantics: positive = multiplier, negative = divisor (so -100
 * means stored = metres × 100), 0 = 1 (rev 1 leaves 0 undefined; readers commonly treat it as 1).
 */

/** Metres → the integer stored for a coordinate scalar (rounded to the nearest step). */
export const scaleCoordinate = (metres: number, scalar: number): number =>
  Math.round(scalar < 0 ? metres * -scalar : metres / (scalar === 0 ? 1 : scalar));

/** Stored integer → metres for a coordinate scalar. */
export const unscaleCoordinate = (stored: number, scalar: number): number =>
  scalar < 0 ? stored / -scalar : stored * (scalar === 0 ? 1 : scalar);
