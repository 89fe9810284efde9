/**
 * Capture-event records to triples records, without I/O: validation against the contract and the
 * spec, the PROV-ML mapping, and the framing of the output (one record per workflow execution and
 * batch, cut under Kafka's message size limit). Poison records come back as dead letters.
 */
import {
  checkEventAgainstSpec,
  parseEventJson,
  ProvmlError,
  type CaptureEvent,
  type DecodeError,
} from '@provml/schemas';
import { CAPTURED_AT_HEADER, deadLetter, type ConsumedRecord, type ProducedRecord } from '@provml/log';
import type { IriMinter } from './mapping/IriMinter.ts';
import { mapEvent } from './mapping/mapEvent.ts';
import type { MappingState } from './mapping/MappingState.ts';
import { toNQuads } from './mapping/nquads.ts';
import type { SpecRegistry } from './SpecRegistry.ts';
import { INCOMPLETE_EVENT_PREFIX } from './IncompleteExecutions.ts';

/** Output records are cut at about this many characters (Kafka's default message limit is 1 MB). */
const MAX_OUTPUT_RECORD_CHARS = 256 * 1024;

/**
 * Cuts N-Quads text at line ends into pieces of at most `max` characters (a longer line is a piece
 * of its own), so that the quads of one large event, spec or annotation document travel as several
 * records, each under the message limit, instead of one the broker refuses for good.
 */
export function splitNQuads(text: string, max = MAX_OUTPUT_RECORD_CHARS): string[] {
  if (text.length <= max) return [text];
  const pieces: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = start + max;
    if (end >= text.length) end = text.length;
    else {
      const nl = text.lastIndexOf('\n', end - 1);
      end = nl >= start ? nl + 1 : text.indexOf('\n', end) + 1 || text.length;
    }
    pieces.push(text.slice(start, end));
    start = end;
  }
  return pieces;
}

/** A consumed record with its decoded event, or the reason it could not be decoded. */
export type DecodedRecord =
  { record: ConsumedRecord; event: CaptureEvent } | { record: ConsumedRecord; error: DecodeError };

/** What the mapping reads and updates: the specs, the open executions, the IRI minter. */
export interface MappingContext {
  specs: SpecRegistry;
  state: MappingState;
  iris: IriMinter;
}

/** The result of mapping a batch of records. */
export interface MappedRecords {
  /** Triples records (N-Quads), keyed by workflow execution. */
  out: ProducedRecord[];
  /** Dead letters of the records that could not be decoded, broke the contract or their spec. */
  dead: ProducedRecord[];
  /** The events mapped, in order. */
  events: CaptureEvent[];
  /** End events whose begin was not seen (mapped without a duration). */
  unmatchedEnds: CaptureEvent[];
  /** Quads emitted. */
  quads: number;
}

/**
 * The fields of a decoded event as a plain object: decoders may return class instances whose
 * prototypes carry enumerable methods, which the strict JSON-form check would take for fields.
 * A NaN or infinite double (Avro carries them; JSON has none) is checked as the string the JSON
 * form spells it with, and mapped to the `xsd:double` either way.
 */
function plainEvent(e: CaptureEvent): Record<string, unknown> {
  const values = { ...e.values };
  for (const [name, v] of Object.entries(values))
    if (typeof v === 'number' && !Number.isFinite(v)) values[name] = String(v);
  return {
    eventId: e.eventId,
    workflow: e.workflow,
    workflowExecution: e.workflowExecution,
    task: e.task,
    taskExecution: e.taskExecution,
    parentTaskExecution: e.parentTaskExecution,
    phase: e.phase,
    time: e.time,
    values,
    dataRefs: e.dataRefs.map((d) => ({ name: d.name, uri: d.uri, store: d.store })),
    status: e.status,
    context: { ...e.context },
  };
}

/**
 * Maps a batch of decoded capture-event records. Pure but for `context.state`, which it advances
 * (open executions, data versions): the same records in the same state give the same output.
 */
export function mapRecords(records: readonly DecodedRecord[], context: MappingContext): MappedRecords {
  const result: MappedRecords = { out: [], dead: [], events: [], unmatchedEnds: [], quads: 0 };
  const { specs, state, iris } = context;
  // one output record per workflow execution and batch, split to stay well under Kafka's message size limit
  const open = new Map<string, { parts: string[]; bytes: number; capturedAt: number }>();
  const flush = (execution: string): void => {
    const chunk = open.get(execution);
    if (chunk === undefined || chunk.parts.length === 0) return;
    result.out.push({
      key: execution,
      value: Buffer.from(chunk.parts.join('')),
      headers: { [CAPTURED_AT_HEADER]: String(chunk.capturedAt) },
    });
    open.delete(execution);
  };
  for (const decoded of records) {
    const { record } = decoded;
    if ('error' in decoded) {
      result.dead.push(deadLetter(record, decoded.error, 'decode'));
      continue;
    }
    const { event } = decoded;
    // Avro guarantees types, not the contract: producers other than the ingest (capture libraries,
    // other languages) may send relative URIs, NaN in arrays, over-long ids or out-of-range times.
    const checked = parseEventJson(plainEvent(event));
    const spec = specs.get(event.workflow);
    const problems = !checked.ok
      ? checked.issues
      : spec === undefined
        ? [{ path: 'workflow', message: `unknown workflow '${event.workflow}' (no spec registered)` }]
        : checkEventAgainstSpec(event, spec);
    if (spec === undefined || problems.length > 0) {
      const reason = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
      result.dead.push(
        deadLetter(record, new ProvmlError('invalid-event', `event ${event.eventId}: ${reason}`), 'validate'),
      );
      continue;
    }
    const isOpen = state.open.has(iris.taskExecution(event.workflowExecution, event.taskExecution));
    // a synthetic end for work that ended meanwhile (its real end came first) is dropped
    if (event.phase === 'end' && !isOpen && event.eventId.startsWith(INCOMPLETE_EVENT_PREFIX)) continue;
    if (event.phase === 'end' && !isOpen) result.unmatchedEnds.push(event);
    const quads = mapEvent(event, spec, state, iris);
    for (const text of splitNQuads(toNQuads(quads))) {
      let chunk = open.get(event.workflowExecution);
      if (chunk !== undefined && chunk.bytes + text.length > MAX_OUTPUT_RECORD_CHARS)
        flush(event.workflowExecution);
      chunk = open.get(event.workflowExecution);
      if (chunk === undefined)
        open.set(event.workflowExecution, (chunk = { parts: [], bytes: 0, capturedAt: event.time }));
      chunk.capturedAt = Math.min(chunk.capturedAt, event.time);
      chunk.parts.push(text);
      chunk.bytes += text.length;
      if (chunk.bytes >= MAX_OUTPUT_RECORD_CHARS) flush(event.workflowExecution);
    }
    result.quads += quads.length;
    result.events.push(event);
  }
  for (const execution of [...open.keys()]) flush(execution);
  return result;
}
