/** The spool's wire format (capture-agent/AGENT.md), pure: record framing, segment names, envelopes, scanning. */
import { crc32 } from 'node:zlib';
import type { CaptureEvent, ProspectiveSpec } from '@provml/schemas';
import { captureJson, eventEnvelopeJson } from '../captureJson.ts';

/** Bytes of a record's header: u32 BE payload length, u32 BE CRC-32 of the payload. */
export const RECORD_HEADER_BYTES = 8;
/** Largest payload of one record (1 MiB). */
export const MAX_PAYLOAD_BYTES = 1_048_576;
/** Digits of a segment file's name (its first sequence number, zero-padded). */
export const SEGMENT_NAME_DIGITS = 20;
const SEGMENT_NAME = /^(\d{20})\.seg$/;

/**
 * One unit of capture data in the spool: exactly one of `event` (a capture event's JSON form),
 * `spec` (a prospective spec) or `annotations` (Turtle; `source` names its graph, optional; an empty
 * document withdraws the source; `agent` is who posted it, written by the agent's HTTP ingest only).
 */
export type SpoolEnvelope =
  | { event: unknown }
  | { spec: ProspectiveSpec | Record<string, unknown> }
  | { annotations: string; source?: string; agent?: string };

/** The kind of an envelope: which key it carries. */
export type EnvelopeKind = 'event' | 'spec' | 'annotations';

/** Frames one payload as a record: length, CRC-32, payload. */
export function encodeRecord(payload: Buffer): Buffer {
  if (payload.length < 1 || payload.length > MAX_PAYLOAD_BYTES)
    throw new RangeError(`record payload must be 1 … ${MAX_PAYLOAD_BYTES} bytes, got ${payload.length}`);
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32(payload), 4);
  payload.copy(out, RECORD_HEADER_BYTES);
  return out;
}

/** Encodes an envelope as a record (UTF-8 JSON, no trailing newline; NaN and infinities as strings). */
export function encodeEnvelope(envelope: SpoolEnvelope): Buffer {
  return encodeJsonRecord(captureJson(envelope));
}

/** Frames one JSON text as a record: written once, straight after the header. */
function encodeJsonRecord(json: string): Buffer {
  const length = Buffer.byteLength(json, 'utf8');
  if (length < 1 || length > MAX_PAYLOAD_BYTES)
    throw new RangeError(`record payload must be 1 … ${MAX_PAYLOAD_BYTES} bytes, got ${length}`);
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + length);
  out.writeUInt32BE(length, 0);
  out.write(json, RECORD_HEADER_BYTES, length, 'utf8');
  out.writeUInt32BE(crc32(out.subarray(RECORD_HEADER_BYTES)), 4);
  return out;
}

/** Eight placeholder characters where each record's header goes (see `encodeJsonRecords`). */
const HEADER_PLACEHOLDER = '\0'.repeat(RECORD_HEADER_BYTES);

/** Envelopes as consecutive records, the bytes `encodeEnvelope` gives each, in one buffer, and the size of each record. */
export function encodeEnvelopes(envelopes: readonly SpoolEnvelope[]): { bytes: Buffer; sizes: number[] } {
  return encodeJsonRecords(envelopes.map(captureJson));
}

/** Capture events as consecutive event records (`encodeEnvelope({ event })` each), without building the envelopes. */
export function encodeEventRecords(events: readonly CaptureEvent[]): { bytes: Buffer; sizes: number[] } {
  return encodeJsonRecords(events.map(eventEnvelopeJson));
}

/**
 * JSON texts as consecutive records in one buffer, and the size of each record. Hot path (every
 * spooled batch): the texts are encoded to UTF-8 in one call, with room for the headers, and each
 * checksum is taken over the JSON text itself; a batch with non-ASCII text (byte and character
 * offsets differ) is encoded record by record.
 */
function encodeJsonRecords(jsons: readonly string[]): { bytes: Buffer; sizes: number[] } {
  if (jsons.length === 0) return { bytes: Buffer.alloc(0), sizes: [] };
  const text = HEADER_PLACEHOLDER + jsons.join(HEADER_PLACEHOLDER);
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length !== text.length) {
    const records = jsons.map(encodeJsonRecord);
    return { bytes: Buffer.concat(records), sizes: records.map((r) => r.length) };
  }
  const sizes: number[] = [];
  let offset = 0;
  for (const json of jsons) {
    const length = json.length;
    if (length < 1 || length > MAX_PAYLOAD_BYTES)
      throw new RangeError(`record payload must be 1 … ${MAX_PAYLOAD_BYTES} bytes, got ${length}`);
    bytes.writeUInt32BE(length, offset);
    bytes.writeUInt32BE(crc32(json), offset + 4); // ASCII: the checksum of its UTF-8 bytes
    sizes.push(RECORD_HEADER_BYTES + length);
    offset += RECORD_HEADER_BYTES + length;
  }
  return { bytes, sizes };
}

/** Decodes a record payload into an envelope; undefined when it is not one (exactly one known key). */
export function decodeEnvelope(payload: Buffer): { kind: EnvelopeKind; envelope: SpoolEnvelope } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  return classifyEnvelope(value);
}

/** Which kind of envelope `value` is; undefined when it is not an envelope. */
export function classifyEnvelope(
  value: unknown,
): { kind: EnvelopeKind; envelope: SpoolEnvelope } | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(value, k);
  if (has('event') && keys.length === 1) return { kind: 'event', envelope: value as SpoolEnvelope };
  if (has('spec') && keys.length === 1) return { kind: 'spec', envelope: value as SpoolEnvelope };
  if (
    has('annotations') &&
    typeof (value as { annotations: unknown }).annotations === 'string' &&
    keys.every((k) => k === 'annotations' || k === 'source' || k === 'agent') &&
    (!has('source') || typeof (value as { source: unknown }).source === 'string') &&
    (!has('agent') || typeof (value as { agent: unknown }).agent === 'string')
  )
    return { kind: 'annotations', envelope: value as SpoolEnvelope };
  return undefined;
}

/** A segment file's name for its first sequence number. */
export function segmentName(firstSequence: number): string {
  return `${String(firstSequence).padStart(SEGMENT_NAME_DIGITS, '0')}.seg`;
}

/** The first sequence number a segment file's name gives, or undefined for other files. */
export function parseSegmentName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/** One record found in a buffer. */
export interface ScannedRecord {
  /** Byte offset of the record's header. */
  offset: number;
  /** Bytes of the whole record, header included. */
  size: number;
  payload: Buffer;
}

/** Why a scan stopped before the end of its buffer. */
export type ScanStop = 'complete' | 'incomplete' | 'bad-length' | 'bad-crc';

/** The outcome of scanning a buffer of records. */
export interface ScanResult {
  records: ScannedRecord[];
  /** Offset just past the last good record. */
  end: number;
  /**
   * `complete`: every byte was a good record. `incomplete`: a record runs past the end (torn
   * write, or still being written). `bad-length`: a length outside 1 … 1 MiB. `bad-crc`: the
   * checksum does not match. Nothing after the stop can be trusted.
   */
  stop: ScanStop;
}

/**
 * Scans records from `start` until the end of `buf`, the first bad record, or `maxRecords`.
 * Pure: recovery (what to do with what follows a bad record) is the caller's.
 */
export function scanRecords(buf: Buffer, start = 0, maxRecords = Infinity): ScanResult {
  const records: ScannedRecord[] = [];
  let offset = start;
  while (offset < buf.length && records.length < maxRecords) {
    if (buf.length - offset < RECORD_HEADER_BYTES) return { records, end: offset, stop: 'incomplete' };
    const length = buf.readUInt32BE(offset);
    if (length < 1 || length > MAX_PAYLOAD_BYTES) return { records, end: offset, stop: 'bad-length' };
    const size = RECORD_HEADER_BYTES + length;
    if (buf.length - offset < size) return { records, end: offset, stop: 'incomplete' };
    const payload = buf.subarray(offset + RECORD_HEADER_BYTES, offset + size);
    if (crc32(payload) !== buf.readUInt32BE(offset + 4)) return { records, end: offset, stop: 'bad-crc' };
    records.push({ offset, size, payload });
    offset += size;
  }
  return { records, end: offset, stop: 'complete' };
}

/** Parses the `published` cursor file's text (a decimal sequence number); undefined if malformed. */
export function parsePublished(text: string): number | undefined {
  const t = text.trim();
  return /^\d{1,16}$/.test(t) ? Number(t) : undefined;
}
