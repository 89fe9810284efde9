/** The agent's publish port: spooled records to the Kafka topics, through a log that connects (and reconnects) lazily. */
import type { ExportResult, SpoolPublishPort } from '@provml/capture-agent';
import { compileSpec, type CaptureEvent, type ProspectiveSpec } from '@provml/schemas';
import type { IngestTarget } from './IngestTarget.ts';

const SUCCESS: ExportResult = { kind: 'success' };

/** A connection: the target over a connected log, and how to close that log. */
export interface PublishConnection {
  target: IngestTarget;
  close(): Promise<void>;
}

/**
 * Publishes through an ingest target over a log (events keyed by workflow execution, specs and
 * annotations to their compacted topics). `connect` is tried again on the next send after any
 * failure, with a fresh client, so an agent starts and spools while the broker is down and
 * recovers whatever state its client was left in after a broker restart.
 */
export class LogPublishPort implements SpoolPublishPort {
  private connection: Promise<PublishConnection> | undefined;

  constructor(private readonly connect: () => Promise<PublishConnection>) {}

  publishEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    return this.send((t) => t.publishEvents(events));
  }

  publishSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return this.send((t) => t.publishSpec(compileSpec(spec)));
  }

  publishAnnotations(turtle: string, source: string | undefined, agent?: string): Promise<ExportResult> {
    return this.send((t) => t.publishAnnotations(turtle, source, agent));
  }

  /** Starts connecting now (in the background); a failure is tried again by the next send. */
  warmUp(): void {
    const c = (this.connection ??= this.connect());
    c.catch(() => {
      if (this.connection === c) this.connection = undefined;
    });
  }

  /** The connected target, when a connection has succeeded. */
  async connected(): Promise<IngestTarget | undefined> {
    return (await this.connection?.catch(() => undefined))?.target;
  }

  /** Closes the current connection. */
  async close(): Promise<void> {
    const c = this.connection;
    this.connection = undefined;
    await (await c?.catch(() => undefined))?.close().catch(() => undefined);
  }

  private async send(f: (target: IngestTarget) => Promise<void>): Promise<ExportResult> {
    const c = (this.connection ??= this.connect());
    try {
      await f((await c).target);
      return SUCCESS;
    } catch (error) {
      if (this.connection === c) {
        this.connection = undefined;
        void c.then((x) => x.close()).catch(() => undefined);
      }
      return { kind: 'retryable', error: error as Error };
    }
  }
}
