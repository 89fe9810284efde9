/** The stream processor: consumes capture events, joins them with specs and annotations, emits PROV-ML quads. */
import {
  compileSpec,
  DecodeError,
  ValidationError,
  silentLogger,
  type CaptureEvent,
  type Logger,
} from '@provml/schemas';
import {
  type BatchOutput,
  type ConsumedRecord,
  type EventLog,
  type LogConsumer,
  type ProducedRecord,
  type RecordBatch,
  DEFAULT_TOPICS,
  DLQ_HEADERS,
  deadLetter,
  encodeTriples,
  isForeignPartitioned,
  partitionFor,
  type TopicNames,
} from '@provml/log';
import { IriMinter } from './mapping/IriMinter.ts';
import { indexAnnotations } from './mapping/mapAnnotations.ts';
import { annotationQuads, annotationTriplesRecords, readAnnotationPost } from './annotationRecords.ts';
import { MappingState } from './mapping/MappingState.ts';
import { mapSpec } from './mapping/mapSpec.ts';
import { toNQuads } from './mapping/nquads.ts';
import { mapRecords, splitNQuads, type DecodedRecord } from './mapRecords.ts';
import { SpecRegistry } from './SpecRegistry.ts';
import { IncompleteExecutions } from './IncompleteExecutions.ts';

/** Settings of a processor. */
export interface ProcessorOptions {
  /**
   * Decodes an events-topic value (synchronously, or asynchronously when a schema registry is asked).
   * A DecodeError sends the record to the dead-letter topic; any other error fails the batch, which
   * is then delivered again (e.g. the registry is unreachable).
   */
  decodeEvent: (value: Buffer) => CaptureEvent | Promise<CaptureEvent>;
  topics?: TopicNames;
  /** Consumer group id. Default `provml-processor`. */
  groupId?: string;
  iris?: IriMinter;
  /**
   * Close task executions that began and never ended once their workflow execution has been silent
   * this long (ms): a synthetic `end` with status `failed` is published to the events topic
   * (IncompleteExecutions). Default 0: off. Needs `encodeEvent`.
   */
  incompleteAfterMs?: number;
  /** Encodes a synthetic event for the events topic (the producers' codec). */
  encodeEvent?: (event: CaptureEvent) => Buffer | Promise<Buffer>;
  /**
   * How triples records are written: `deflate` (default), the compact format of the triples topic
   * (N-Quads deflated with the vocabulary dictionary, see `encodeTriples`); `nquads`, plain N-Quads as
   * processors wrote before it. Readers take both.
   */
  triplesEncoding?: 'deflate' | 'nquads';
  /**
   * Partitions mapped at once, each batch in its own partition's Kafka transaction (its triples and
   * offsets committed together, exactly once). Default 8; 1 maps one batch at a time.
   */
  concurrency?: number;
  logger?: Logger;
}

/** Counters of a processor, read by metrics. */
export interface ProcessorStats {
  eventsProcessed: number;
  quadsEmitted: number;
  deadLettered: number;
  specsLoaded: number;
  annotationsLoaded: number;
  batches: number;
  /**
   * End events whose begin this processor never saw (sent without one, or begun before a restart):
   * mapped with their end time and status, without a duration.
   */
  unmatchedEnds: number;
  /** Capture time → mapped, in ms, of the last event processed. */
  lastEventAgeMs: number;
  /** Task executions closed as failed because they never ended (synthetic ends published). */
  incompleteClosed: number;
  /**
   * Events found on another partition than murmur2 of their key (the workflow execution) puts them:
   * written by a producer with another partitioner, so a run may be split over members.
   */
  foreignPartitioned: number;
}

/** How long the events topic's partition count is trusted before it is asked again, ms. */
const PARTITION_COUNT_TTL_MS = 60_000;
/** Workflow executions remembered as already warned about (then the memory starts over). */
const MAX_WARNED_EXECUTIONS = 10_000;

/** Parses a record value as JSON. @throws ValidationError saying what was not JSON. */
function parseJson(value: Buffer, what: string): unknown {
  try {
    return JSON.parse(value.toString('utf8'));
  } catch (cause) {
    throw new ValidationError(`${what} is not JSON`, [{ path: '', message: (cause as Error).message }]);
  }
}

/** One processor: a member of the processor consumer group. */
export class ProcessorService {
  readonly specs = new SpecRegistry();
  readonly state = new MappingState();
  readonly stats: ProcessorStats = {
    eventsProcessed: 0,
    quadsEmitted: 0,
    deadLettered: 0,
    specsLoaded: 0,
    annotationsLoaded: 0,
    batches: 0,
    unmatchedEnds: 0,
    incompleteClosed: 0,
    lastEventAgeMs: 0,
    foreignPartitioned: 0,
  };
  private readonly topics: TopicNames;
  private readonly iris: IriMinter;
  private readonly logger: Logger;
  private readonly specReader;
  private readonly annotationReader;
  private consumer: LogConsumer | undefined;
  private running: Promise<void> | undefined;
  private readonly incomplete = new IncompleteExecutions();
  private incompleteTimer: NodeJS.Timeout | undefined;
  private eventPartitions: { count: number; at: number } | undefined;
  private readonly warnedForeign = new Set<string>();
  /** The last catch-up of the spec and annotation state, and one queued behind it not begun yet. */
  private catchingUp: Promise<void> = Promise.resolve();
  private queuedCatchUp: Promise<void> | undefined;

  constructor(
    private readonly log: EventLog,
    private readonly options: ProcessorOptions,
  ) {
    this.topics = options.topics ?? DEFAULT_TOPICS;
    this.iris = options.iris ?? new IriMinter();
    this.logger = options.logger ?? silentLogger;
    this.specReader = log.tableReader(this.topics.specs);
    this.annotationReader = log.tableReader(this.topics.annotations);
  }

  /** Starts consuming in the background. */
  start(): Promise<void> {
    if (this.running !== undefined) return Promise.resolve();
    this.watchIncomplete();
    this.consumer = this.log.consumer({
      groupId: this.options.groupId ?? 'provml-processor',
      topics: [this.topics.specs, this.topics.annotations, this.topics.events],
      transactional: true,
      concurrency: this.options.concurrency ?? 8,
    });
    this.running = this.consumer
      .run((batch, output) => this.processBatch(batch, output))
      .catch((error: unknown) => {
        this.logger.error('processor stopped', { error });
      });
    return Promise.resolve();
  }

  /** Publishes synthetic ends for runs silent past `incompleteAfterMs`, checked on a timer. */
  private watchIncomplete(): void {
    const afterMs = this.options.incompleteAfterMs ?? 0;
    const encode = this.options.encodeEvent;
    if (afterMs <= 0) return;
    if (encode === undefined) throw new Error('incompleteAfterMs needs encodeEvent');
    const producer = this.log.producer();
    const check = async (): Promise<void> => {
      const ends = this.incomplete.expire(Date.now(), afterMs);
      if (ends.length === 0) return;
      const records = await Promise.all(
        ends.map(async (e) => ({ key: e.workflowExecution, value: await encode(e) })),
      );
      await producer.send(this.topics.events, records);
      this.stats.incompleteClosed += ends.length;
      this.logger.warn('closed task executions that never ended', {
        count: ends.length,
        workflowExecutions: [...new Set(ends.map((e) => e.workflowExecution))],
      });
    };
    this.incompleteTimer = setInterval(
      () =>
        void check().catch((error: unknown) =>
          this.logger.error('closing unfinished work failed', { error }),
        ),
      Math.max(50, Math.min(afterMs / 2, 10_000)),
    );
    this.incompleteTimer.unref();
  }

  /** Stops after the batch in hand. Idempotent. */
  async shutdown(): Promise<void> {
    clearInterval(this.incompleteTimer);
    await this.consumer?.stop();
    await this.running;
  }

  /**
   * Handles one batch: spec and annotation batches are emitted as quads (once per group);
   * event batches are mapped after this member's spec and annotation state has caught up.
   * The batch's offsets are committed when this resolves.
   */
  async processBatch(batch: RecordBatch, output: BatchOutput): Promise<void> {
    const out: ProducedRecord[] = [];
    const dead: ProducedRecord[] = [];
    await this.catchUpState();
    if (batch.topic === this.topics.specs) this.emitSpecs(batch.records, out, dead);
    else if (batch.topic === this.topics.annotations) this.emitAnnotations(batch.records, out, dead);
    else await this.mapEvents(batch.records, out, dead);
    if (out.length > 0) await output.send(this.topics.triples, this.encode(out));
    if (dead.length > 0) {
      await output.send(this.topics.deadLetters, dead);
      this.stats.deadLettered += dead.length;
      for (const d of dead) this.logger.warn('dead-lettered', { reason: d.headers?.[DLQ_HEADERS.reason] });
    }
    this.stats.batches++;
  }

  /** The triples records in the configured encoding (drop-graph records stay empty). */
  private encode(records: ProducedRecord[]): ProducedRecord[] {
    if (this.options.triplesEncoding === 'nquads') return records;
    return records.map((r) => (r.value.length === 0 ? r : { ...r, value: encodeTriples(r.value) }));
  }

  /** Counts (and warns once per workflow execution about) events a foreign partitioner placed. */
  private async checkPartitioning(records: readonly ConsumedRecord[]): Promise<void> {
    const now = Date.now();
    if (this.eventPartitions === undefined || now - this.eventPartitions.at > PARTITION_COUNT_TTL_MS)
      this.eventPartitions = { count: await this.log.partitionCount(this.topics.events), at: now };
    const partitions = this.eventPartitions.count;
    for (const record of records) {
      if (!isForeignPartitioned(record, partitions)) continue;
      this.stats.foreignPartitioned++;
      if (this.warnedForeign.has(record.key!)) continue;
      if (this.warnedForeign.size >= MAX_WARNED_EXECUTIONS) this.warnedForeign.clear();
      this.warnedForeign.add(record.key!);
      this.logger.warn(
        'event on another partition than murmur2 of its key: its producer uses another partitioner (librdkafka: set partitioner=murmur2_random), so this run may be split across processors',
        {
          workflowExecution: record.key,
          partition: record.partition,
          expected: partitionFor(record.key!, partitions),
          partitions,
        },
      );
    }
  }

  private async mapEvents(
    records: readonly ConsumedRecord[],
    out: ProducedRecord[],
    dead: ProducedRecord[],
  ): Promise<void> {
    await this.checkPartitioning(records);
    const decoded: DecodedRecord[] = [];
    for (const record of records) {
      try {
        decoded.push({ record, event: await this.options.decodeEvent(record.value) });
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        decoded.push({ record, error });
      }
    }
    const mapped = mapRecords(decoded, { specs: this.specs, state: this.state, iris: this.iris });
    out.push(...mapped.out);
    dead.push(...mapped.dead);
    const now = Date.now();
    for (const event of mapped.unmatchedEnds) {
      this.stats.unmatchedEnds++;
      this.logger.debug('end without a begin', { eventId: event.eventId });
    }
    if (this.options.incompleteAfterMs)
      for (const event of mapped.events) this.incomplete.observe(event, now);
    this.stats.quadsEmitted += mapped.quads;
    this.stats.eventsProcessed += mapped.events.length;
    const lastTime = mapped.events.reduce((t, e) => Math.max(t, e.time), 0);
    if (lastTime > 0) this.stats.lastEventAgeMs = now - lastTime / 1000;
  }

  private emitSpecs(records: readonly ConsumedRecord[], out: ProducedRecord[], dead: ProducedRecord[]): void {
    for (const record of records) {
      try {
        const compiled = compileSpec(parseJson(record.value, 'spec'));
        const quads = mapSpec(compiled, this.iris);
        for (const text of splitNQuads(toNQuads(quads)))
          out.push({ key: record.key, value: Buffer.from(text) });
        this.stats.quadsEmitted += quads.length;
      } catch (error) {
        dead.push(deadLetter(record, error, 'spec'));
      }
    }
  }

  /** Each record replaces its source's graph (an empty one withdraws it): a drop, then its quads. */
  private emitAnnotations(
    records: readonly ConsumedRecord[],
    out: ProducedRecord[],
    dead: ProducedRecord[],
  ): void {
    for (const record of records) {
      try {
        const mapped = annotationTriplesRecords(readAnnotationPost(record), this.iris);
        out.push(...mapped.records);
        this.stats.quadsEmitted += mapped.quads;
      } catch (error) {
        dead.push(deadLetter(record, error, 'annotations'));
      }
    }
  }

  /**
   * Brings this member's spec registry and annotation index up to the ends of their topics, one
   * catch-up after another: a caller waits for one that begins after its call (batches handled at
   * once share the one queued).
   */
  private catchUpState(): Promise<void> {
    if (this.queuedCatchUp !== undefined) return this.queuedCatchUp;
    const next = this.catchingUp
      .catch(() => undefined)
      .then(() => {
        this.queuedCatchUp = undefined;
        return this.readState();
      });
    this.queuedCatchUp = next;
    this.catchingUp = next;
    return next;
  }

  private async readState(): Promise<void> {
    await this.specReader.catchUp((record) => {
      try {
        this.specs.set(compileSpec(JSON.parse(record.value.toString('utf8'))));
        this.stats.specsLoaded++;
      } catch {
        // dead-lettered by the member that emits it
      }
    });
    await this.annotationReader.catchUp((record) => {
      try {
        const post = readAnnotationPost(record);
        indexAnnotations(annotationQuads(post, this.iris), this.state, post.source ?? '');
        this.stats.annotationsLoaded++;
      } catch {
        // dead-lettered by the member that emits it; what the source said before stands
      }
    });
  }
}
