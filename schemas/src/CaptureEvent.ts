/** The capture event contract (README, Public contracts §1; docs/ARCHITECTURE.md) as a TypeScript type. */

/** A value captured with an event: its PROV-ML meaning is declared in the prospective spec. */
export type CaptureValue = boolean | number | string | number[];

/** A reference to data held in a file system, object store or database. */
export interface DataRef {
  /** Input/output name from the spec (e.g. `training_set`). */
  name: string;
  /** Absolute URI of the data; the same URI is the same file in every workflow (each generation a version of it). */
  uri: string;
  /** Data store holding it (e.g. `lustre`, `s3://bucket`); null when not given. */
  store: string | null;
  /**
   * Content digest, `sha256:` and 64 lowercase hex digits (CaptureEvent v2): the same content in
   * any workflow, whatever its URI or generation. Absent when not captured.
   */
  digest?: string;
}

/** The form of a content digest: `sha256:` and 64 lowercase hex digits. */
export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** Begin or end of one task execution. */
export type Phase = 'begin' | 'end';

/** Outcome of a task execution, on `end` events. */
export type ExecutionStatus = 'finished' | 'failed';

/** One capture event, as carried in Avro on Kafka and as JSON at the HTTP ingest. */
export interface CaptureEvent {
  /** Unique id; the idempotency key. */
  eventId: string;
  /** Prospective workflow id. */
  workflow: string;
  /** Id of this run of the workflow; the partitioning key. */
  workflowExecution: string;
  /** Task id from the spec. */
  task: string;
  /** Unique id of this task execution. */
  taskExecution: string;
  /** Enclosing task execution, or null for a top-level task. */
  parentTaskExecution: string | null;
  phase: Phase;
  /** Microseconds since the Unix epoch. */
  time: number;
  values: Record<string, CaptureValue>;
  dataRefs: DataRef[];
  status: ExecutionStatus | null;
  /** Execution data: host, pid, jobId, scheduler, user, gpu, ... */
  context: Record<string, string>;
}

/**
 * The event with `digest` left out of the data references that carry none (Avro decodes an absent
 * digest as null); the event itself when none does (the common case: nothing is copied).
 */
export function withoutNullDigests(event: CaptureEvent): CaptureEvent {
  const refs = event.dataRefs;
  if (!refs.some((r) => r.digest === null)) return event;
  return {
    ...event,
    dataRefs: refs.map((r) => (r.digest !== null ? r : { name: r.name, uri: r.uri, store: r.store })),
  };
}
