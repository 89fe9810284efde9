/** The capture transport port: where batches of events and specs go, and the in-memory double. */
import type { CaptureEvent, Outcome, ProspectiveSpec } from '@provml/schemas';

/** Outcome of one export: expected failures are values, not exceptions. */
export type ExportResult = Outcome;

/** A capture transport (in-process log, Kafka, sidecar agent, spool file, ...). */
export interface CaptureExporter {
  /** Publishes a workflow's prospective spec; called once by `init` before any event. */
  exportSpec(spec: ProspectiveSpec): Promise<ExportResult>;
  /** Publishes a batch of events, in order. At most one call is in flight at a time. */
  exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult>;
  /**
   * Optional: publishes a batch of events given as event envelopes in their JSON form
   * (`{"event":…}`, UTF-8, valid), in order, as `exportEvents` would: a transport that sends JSON
   * sends them as they are (the spool publisher of setting E, from records it just appended).
   */
  exportEventRecords?(payloads: readonly Buffer[]): Promise<ExportResult>;
  /** Releases resources; called once by the batch processor's shutdown. */
  shutdown(): Promise<void>;
}

/** Keeps everything in memory: a test double, shipped in src as OpenTelemetry does. */
export class InMemoryCaptureExporter implements CaptureExporter {
  readonly specs: ProspectiveSpec[] = [];
  readonly events: CaptureEvent[] = [];
  readonly batches: number[] = [];
  isShutdown = false;

  exportSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    this.specs.push(spec);
    return Promise.resolve({ kind: 'success' });
  }

  exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    this.events.push(...events);
    this.batches.push(events.length);
    return Promise.resolve({ kind: 'success' });
  }

  shutdown(): Promise<void> {
    this.isShutdown = true;
    return Promise.resolve();
  }
}
