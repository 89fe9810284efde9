/** Where the ingest publishes what it accepted: the port, and its adapter over a log (embedded or Kafka). */
import { compileSpec, extendSpec, type CaptureEvent, type CompiledSpec } from '@provml/schemas';
import {
  ANNOTATION_AGENT_HEADER,
  ANNOTATION_SOURCE_HEADER,
  DEFAULT_TOPICS,
  type EventLog,
  type LogProducer,
  type TableReader,
  type TopicNames,
} from '@provml/log';
import { readAnnotationPost, SpecRegistry } from '@provml/stream-processors';

/** What `annotationOwner` answers when it cannot tell now (the agent cut off from its broker). */
export const UNKNOWN_OWNER = Symbol('unknown owner');

/** Who posted the current document of a source, none, or not known now. */
export type AnnotationOwner = string | undefined | typeof UNKNOWN_OWNER;

/** What the HTTP ingest needs behind it. */
export interface IngestTarget {
  /** The latest spec of a workflow, after `refreshSpecs`. */
  spec(workflow: string): CompiledSpec | undefined;
  /** Catches up with specs registered elsewhere (other agents, capture libraries). */
  refreshSpecs(): Promise<void>;
  publishSpec(compiled: CompiledSpec): Promise<void>;
  publishEvents(events: readonly CaptureEvent[]): Promise<void>;
  /**
   * Publishes an annotation document already checked to parse: the whole document of `source`,
   * replacing what it said before (`''` withdraws the source). `annotator`: who posted it (a token
   * id), absent where the ingest has no access control.
   */
  publishAnnotations(turtle: string, source: string | undefined, annotator?: string): Promise<void>;
  /**
   * Who posted the current document of `source` (an annotator id, `anonymous` for a post without
   * access control), undefined when it holds none (never posted, or withdrawn), or UNKNOWN_OWNER.
   */
  annotationOwner(source: string | undefined): Promise<AnnotationOwner>;
}

/** Publishes to the specs, events and annotations topics of a log. */
export class LogIngestTarget implements IngestTarget {
  private readonly registry = new SpecRegistry();
  private readonly producer: LogProducer;
  private readonly specReader: TableReader;
  private readonly annotationReader: TableReader;
  /** Source (`''`: the one without a name) → who posted its current document. */
  private readonly owners = new Map<string, string>();

  constructor(
    log: EventLog,
    private readonly encodeEvent: (event: CaptureEvent) => Buffer | Promise<Buffer>,
    private readonly topics: TopicNames = DEFAULT_TOPICS,
  ) {
    this.producer = log.producer();
    this.specReader = log.tableReader(topics.specs);
    this.annotationReader = log.tableReader(topics.annotations);
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

  /**
   * Publishes the workflow's versions added up (the compacted topic keeps only the last record of a
   * workflow: it must declare what earlier versions did), after catching up with other publishers.
   */
  async publishSpec(compiled: CompiledSpec): Promise<void> {
    await this.refreshSpecs();
    const extended = extendSpec(this.registry.get(compiled.spec.workflow), compiled);
    await this.producer.send(this.topics.specs, [
      { key: compiled.spec.workflow, value: Buffer.from(JSON.stringify(extended.spec)) },
    ]);
    this.registry.set(extended);
  }

  async publishEvents(events: readonly CaptureEvent[]): Promise<void> {
    // the codec of the agent encodes synchronously: no promise per event unless it returns one
    const values: Buffer[] = [];
    const later: Promise<void>[] = [];
    for (const [i, e] of events.entries()) {
      const v = this.encodeEvent(e);
      if (v instanceof Promise) later.push(v.then((b) => void (values[i] = b)));
      else values[i] = v;
    }
    if (later.length > 0) await Promise.all(later);
    await this.producer.send(
      this.topics.events,
      events.map((e, i) => ({ key: e.workflowExecution, value: values[i]! })),
    );
  }

  /** A record keyed by the source on the compacted topic; an empty document is its tombstone. */
  publishAnnotations(turtle: string, source: string | undefined, annotator?: string): Promise<void> {
    const headers: Record<string, string> = {};
    if (source !== undefined) headers[ANNOTATION_SOURCE_HEADER] = source;
    if (annotator !== undefined) headers[ANNOTATION_AGENT_HEADER] = annotator;
    return this.producer.send(this.topics.annotations, [
      { key: source ?? '', value: Buffer.from(turtle), headers },
    ]);
  }

  /** From the annotations topic, read up to its end now. */
  async annotationOwner(source: string | undefined): Promise<AnnotationOwner> {
    await this.annotationReader.catchUp((record) => {
      const post = readAnnotationPost(record);
      if (post.turtle === undefined) this.owners.delete(post.source ?? '');
      else this.owners.set(post.source ?? '', post.annotator);
    });
    return this.owners.get(source ?? '');
  }
}
