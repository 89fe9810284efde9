/** The size one record may have on every path to the store (spool record, Kafka message, RDF literal): a permanent limit, answered 413. */
import { encodeCaptureEvent, type CaptureEvent, type ValidationIssue } from '@provml/schemas';

/**
 * Largest event, spec or annotation document, in bytes, as JSON, as Avro and as Turtle: it must
 * fit one Kafka message (the broker's default `message.max.bytes` is 1 048 588, batch header, key
 * and headers included), one spool record (1 MiB) and, for an event, each of its values as one
 * RDF literal in one triples record.
 */
export const MAX_RECORD_BYTES = 1_000_000;

/** Bytes of the envelope and fixed fields of an event around its strings and numbers, at most. */
const FIXED_BYTES = 512;
/** A JSON number takes at most 24 characters (`-1.2345678901234567e-308`); Avro 8 bytes and a tag. */
const NUMBER_BYTES = 25;
/** A UTF-16 unit takes at most 6 bytes as JSON (`\u001f`) and 3 as UTF-8. */
const stringBytes = (s: string): number => 6 * s.length + 3;

/**
 * An upper bound of an event's size as JSON and as Avro, without serialising it: when it is under
 * the limit, the event fits (most events; the exact sizes are computed only for large ones).
 */
export function eventSizeBound(event: CaptureEvent): number {
  let n = FIXED_BYTES + NUMBER_BYTES;
  for (const s of [event.eventId, event.workflow, event.workflowExecution, event.task, event.taskExecution])
    n += stringBytes(s);
  if (event.parentTaskExecution !== null) n += stringBytes(event.parentTaskExecution);
  for (const [k, v] of Object.entries(event.values))
    n +=
      stringBytes(k) +
      (typeof v === 'string'
        ? stringBytes(v)
        : Array.isArray(v)
          ? 2 + NUMBER_BYTES * v.length
          : NUMBER_BYTES);
  for (const d of event.dataRefs)
    n += 32 + stringBytes(d.name) + stringBytes(d.uri) + stringBytes(d.store ?? '');
  for (const [k, v] of Object.entries(event.context)) n += stringBytes(k) + stringBytes(v);
  return n;
}

const tooLarge = (what: string, bytes: number, hint: string): ValidationIssue => ({
  path: '',
  message: `${what} is ${bytes} bytes, over the ${MAX_RECORD_BYTES} bytes one record may hold; ${hint}`,
});

/**
 * The size problem of one event, or undefined when it fits: its JSON and its Avro encoding (what
 * the spool and Kafka carry; its largest value becomes one RDF literal) are at most
 * `MAX_RECORD_BYTES`. Cheap for events whose bound is under the limit.
 */
export function eventSizeIssue(
  event: CaptureEvent,
  encode: (event: CaptureEvent) => Uint8Array = encodeCaptureEvent,
): ValidationIssue | undefined {
  if (eventSizeBound(event) <= MAX_RECORD_BYTES) return undefined;
  const hint = 'send large arrays as data references, or split them over several values or events';
  const json = Buffer.byteLength(JSON.stringify(event));
  if (json > MAX_RECORD_BYTES) return tooLarge('the event as JSON', json, hint);
  const avro = encode(event).length;
  return avro > MAX_RECORD_BYTES ? tooLarge('the event as Avro', avro, hint) : undefined;
}

/** The size problem of an annotation document (its Turtle, and its spool envelope as JSON), or undefined. */
export function annotationSizeIssue(turtle: string, source: string | undefined): ValidationIssue | undefined {
  const hint = 'split it over several sources (?source=…)';
  if (turtle.length * 6 + 512 <= MAX_RECORD_BYTES) return undefined;
  const bytes = Buffer.byteLength(turtle);
  if (bytes > MAX_RECORD_BYTES) return tooLarge('the annotation document', bytes, hint);
  const envelope = Buffer.byteLength(JSON.stringify({ annotations: turtle, source }));
  return envelope > MAX_RECORD_BYTES
    ? tooLarge('the annotation document as JSON', envelope, hint)
    : undefined;
}

/** The size problem of a workflow spec as JSON, or undefined. */
export function specSizeIssue(spec: unknown): ValidationIssue | undefined {
  const bytes = Buffer.byteLength(JSON.stringify(spec));
  return bytes > MAX_RECORD_BYTES
    ? tooLarge('the spec as JSON', bytes, 'split the workflow into several workflows')
    : undefined;
}
