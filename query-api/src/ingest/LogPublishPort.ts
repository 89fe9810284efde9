/** The agent's publish port: spooled records to the Kafka topics, through a log that connects (and reconnects) lazily. */
import type { ExportResult, SpoolPublishPort } from '@provml/capture-agent';
import { compileSpec, type CaptureEvent, type ProspectiveSpec } from '@provml/schemas';
import type { IngestTarget } from './IngestTarget.ts';

const SUCCESS: ExportResult = { kind: 'success' };

/**
 * Publishes through an ingest target over a log (events keyed by workflow execution, specs and
 * annotations to their compacted topics). `connect` is tried again on every send until it works,
 * so an agent starts, and spools, while the broker is down.
 */
export class LogPublishPort implements SpoolPublishPort {
  private target: Promise<IngestTarget> | undefined;

  constructor(private readonly connect: () => Promise<IngestTarget>) {}

  publishEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    return this.send((t) => t.publishEvents(events));
  }

  publishSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return this.send((t) => t.publishSpec(compileSpec(spec)));
  }

  publishAnnotations(turtle: string, source: string | undefined): Promise<ExportResult> {
    return this.send((t) => t.publishAnnotations(turtle, source));
  }

  /** Starts connecting now (in the background); a failure is tried again by the next send. */
  warmUp(): void {
    this.target ??= this.connect();
    this.target.catch(() => (this.target = undefined));
  }

  /** The connected target, when a connection has succeeded. */
  connected(): Promise<IngestTarget | undefined> {
    return this.target === undefined ? Promise.resolve(undefined) : this.target.catch(() => undefined);
  }

  private async send(f: (target: IngestTarget) => Promise<void>): Promise<ExportResult> {
    try {
      this.target ??= this.connect();
      await f(await this.target);
      return SUCCESS;
    } catch (error) {
      // a failed connection is tried again next time; a failed send through kafkajs reconnects itself
      if (this.target !== undefined) await this.target.catch(() => (this.target = undefined));
      return { kind: 'retryable', error: error as Error };
    }
  }
}
