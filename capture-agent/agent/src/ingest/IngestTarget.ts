/** Where the ingest publishes what it accepted: the port, and its adapter over a log (embedded or Kafka). */
import { compileSpec, type CaptureEvent, type CompiledSpec } from '@provml/schemas';
import {
  ANNOTATION_SOURCE_HEADER,
  DEFAULT_TOPICS,
  type EventLog,
  type LogProducer,
  type TableReader,
  type TopicNames,
} from '@provml/log';
import { SpecRegistry } from '@provml/stream-processors';

/** What the HTTP ingest needs behind it. */
export interface IngestTarget {
  /** The latest spec of a workflow, after `refreshSpecs`. */
  spec(workflow: string): CompiledSpec | undefined;
  /** Catches up with specs registered elsewhere (other agents, capture libraries). */
  refreshSpecs(): Promise<void>;
  publishSpec(compiled: CompiledSpec): Promise<void>;
  publishEvents(events: readonly CaptureEvent[]): Promise<void>;
  /** Publishes an annotation document already checked to parse. */
  publishAnnotations(turtle: string, source: string | undefined): Promise<void>;
}

/** Publishes to the specs, events and annotations topics of a log. */
export class LogIngestTarget implements IngestTarget {
  private readonly registry = new SpecRegistry();
  private readonly producer: LogProducer;
  private readonly specReader: TableReader;

  constructor(
    log: EventLog,
    private readonly encodeEvent: (event: CaptureEvent) => Buffer | Promise<Buffer>,
    private readonly topics: TopicNames = DEFAULT_TOPICS,
  ) {
    this.producer = log.producer();
    this.specReader = log.tableReader(topics.specs);
  }

  spec(workflow: string): CompiledSpec | undefined {
    return this.registry.get(workflow);
  }

  refreshSpecs(): Promise<void> {
    return this.specReader.catchUp((record) => {
      try {
        this.registry.set(compileSpec(JSON.parse(record.value.toString('utf8'))));
      } catch {
        // an invalid spec on the topic is the processor's to dead-letter
      }
    });
  }

  async publishSpec(compiled: CompiledSpec): Promise<void> {
    await this.producer.send(this.topics.specs, [
      { key: compiled.spec.workflow, value: Buffer.from(JSON.stringify(compiled.spec)) },
    ]);
    this.registry.set(compiled);
  }

  async publishEvents(events: readonly CaptureEvent[]): Promise<void> {
    const values = await Promise.all(events.map(async (e) => this.encodeEvent(e)));
    await this.producer.send(
      this.topics.events,
      events.map((e, i) => ({ key: e.workflowExecution, value: values[i]! })),
    );
  }

  publishAnnotations(turtle: string, source: string | undefined): Promise<void> {
    return this.producer.send(this.topics.annotations, [
      {
        key: source ?? '',
        value: Buffer.from(turtle),
        headers: source === undefined ? {} : { [ANNOTATION_SOURCE_HEADER]: source },
      },
    ]);
  }
}
