/** Fans a capture stream out to several exporters (e.g. publish and keep a local copy). */
import type { CaptureEvent, ProspectiveSpec } from '@provml/schemas';
import type { CaptureExporter, ExportResult } from './CaptureExporter.ts';

/** Worst of several outcomes: failure over retryable over success. */
function worst(results: readonly ExportResult[]): ExportResult {
  return (
    results.find((r) => r.kind === 'failure') ??
    results.find((r) => r.kind === 'retryable') ?? { kind: 'success' }
  );
}

/**
 * Exports every batch to all exporters, in parallel. The outcome is the worst of theirs, so a retry
 * re-sends the batch to all: exporters behind it must be idempotent by eventId (the pipeline is).
 */
export class MultiCaptureExporter implements CaptureExporter {
  constructor(private readonly exporters: readonly CaptureExporter[]) {}

  async exportSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return worst(await Promise.all(this.exporters.map((e) => e.exportSpec(spec))));
  }

  async exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    return worst(await Promise.all(this.exporters.map((e) => e.exportEvents(events))));
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.exporters.map((e) => e.shutdown()));
  }
}
