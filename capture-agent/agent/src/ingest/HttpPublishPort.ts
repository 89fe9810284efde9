/** A publish port onto an HTTP ingest (README, Public contracts §3): `provml replay DIR --http URL`. */
import {
  HttpCaptureExporter,
  type ExportResult,
  type HttpExporterOptions,
  type SpoolPublishPort,
} from '@provml/capture-agent';
import type { CaptureEvent, ProspectiveSpec } from '@provml/schemas';

/** Where and how to send. */
export type HttpPublishPortOptions = HttpExporterOptions;

/**
 * Publishes a spool's records through the capture library's HTTP transport (`HttpCaptureExporter`):
 * a 2xx answer is a success; 400, 413 and 415 are a failure (the record is refused; the publisher
 * skips and counts it); everything else is retryable, so that records are kept rather than skipped
 * and the replay stops at its bound.
 */
export class HttpPublishPort implements SpoolPublishPort {
  private readonly http: HttpCaptureExporter;

  constructor(options: HttpPublishPortOptions) {
    this.http = new HttpCaptureExporter(options);
  }

  publishEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    return this.http.exportEvents(events);
  }

  publishSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return this.http.exportSpec(spec);
  }

  /** An empty document (a withdrawal) is `DELETE /v1/annotations?source=`; the ingest attributes by this token. */
  publishAnnotations(turtle: string, source: string | undefined): Promise<ExportResult> {
    return this.http.exportAnnotations(turtle, source);
  }
}
