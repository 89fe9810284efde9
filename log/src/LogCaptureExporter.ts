/** The in-process capture transport: the capture library's exporter writing to a log (embedded or Kafka). */
import type { CaptureExporter, ExportResult } from '@provml/capture-agent';
import type { CaptureEvent, ProspectiveSpec } from '@provml/schemas';
import type { LogProducer } from './ports.ts';
import { DEFAULT_TOPICS, type TopicNames } from './topics.ts';

/** Publishes specs (keyed by workflow) and events (keyed by workflow execution) to their topics. */
export class LogCaptureExporter implements CaptureExporter {
  constructor(
    private readonly producer: LogProducer,
    private readonly encodeEvent: (event: CaptureEvent) => Buffer | Promise<Buffer>,
    private readonly topics: Pick<TopicNames, 'events' | 'specs'> = DEFAULT_TOPICS,
  ) {}

  async exportSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return this.send(this.topics.specs, [{ key: spec.workflow, value: Buffer.from(JSON.stringify(spec)) }]);
  }

  async exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    // hot path: one record per event, encoded in a plain loop; an async encoder is awaited only when
    // it returns a promise (no closure or promise per event for the synchronous Avro codec)
    const records = new Array<{ key: string; value: Buffer }>(events.length);
    try {
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!;
        const encoded = this.encodeEvent(e);
        records[i] = {
          key: e.workflowExecution,
          value: encoded instanceof Buffer ? encoded : await encoded,
        };
      }
    } catch (error) {
      return { kind: 'retryable', error: error as Error };
    }
    return this.send(this.topics.events, records);
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }

  private async send(topic: string, records: { key: string; value: Buffer }[]): Promise<ExportResult> {
    try {
      await this.producer.send(topic, records);
      return { kind: 'success' };
    } catch (error) {
      const retriable = (error as { retriable?: boolean }).retriable ?? true;
      return retriable
        ? { kind: 'retryable', error: error as Error }
        : { kind: 'failure', error: error as Error };
    }
  }
}
