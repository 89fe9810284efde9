/** The diskful capture transports: a capture exporter writing to a spool, and a capture exporter as a spool publish port. */
import type { CaptureEvent, ProspectiveSpec } from '@provml/schemas';
import type { CaptureExporter, ExportResult } from '../CaptureExporter.ts';
import type { SpoolPublishPort } from './SpoolPublisher.ts';
import type { SpoolWriter } from './SpoolWriter.ts';

const SUCCESS: ExportResult = { kind: 'success' };

/**
 * Writes every export to a spool (settings B, C, E, F); an export succeeds once its records are
 * durable per the spool's fsync policy. A full spool (`reject`) is a retryable outcome.
 */
export class SpoolCaptureExporter implements CaptureExporter {
  constructor(
    private readonly writer: SpoolWriter,
    /** Called after every append (e.g. to wake a publisher). */
    private readonly onAppend: () => void = () => undefined,
  ) {}

  exportSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return this.write(() => this.writer.append([{ spec }]));
  }

  exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    return this.write(() => this.writer.appendEvents(events));
  }

  /** Leaves the spool open: its owner closes it. */
  shutdown(): Promise<void> {
    return Promise.resolve();
  }

  private async write(append: () => Promise<unknown>): Promise<ExportResult> {
    try {
      await append();
      this.onAppend();
      return SUCCESS;
    } catch (error) {
      const retriable = (error as { retriable?: boolean }).retriable ?? false;
      return { kind: retriable ? 'retryable' : 'failure', error: error as Error };
    }
  }
}

/** Publishes spooled records through a capture exporter (annotations are refused: exporters carry none). */
export class ExporterPublishPort implements SpoolPublishPort {
  /** Event records as they are, when the exporter takes them (the agent's socket). */
  readonly publishEventRecords?: (payloads: readonly Buffer[]) => Promise<ExportResult>;

  constructor(private readonly exporter: CaptureExporter) {
    if (exporter.exportEventRecords !== undefined)
      this.publishEventRecords = (payloads) => exporter.exportEventRecords!(payloads);
  }

  publishEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    return this.exporter.exportEvents(events);
  }

  publishSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return this.exporter.exportSpec(spec);
  }

  publishAnnotations(): Promise<ExportResult> {
    return Promise.resolve({
      kind: 'failure',
      error: new Error('a capture exporter cannot publish annotations; replay the spool with provml replay'),
    });
  }
}
