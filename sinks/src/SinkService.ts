/** The sink: consumes PROV-ML quads and bulk-loads them (and drops the graphs it is told to, in order), committing offsets only after the store acknowledged. */
import { Backoff, silentLogger, type Logger } from '@provml/schemas';
import {
  CAPTURED_AT_HEADER,
  DEFAULT_TOPICS,
  DROP_GRAPH_HEADER,
  deadLetter,
  decodeTriples,
  type ConsumedRecord,
  type EventLog,
  type BatchOutput,
  type LogConsumer,
  type ProducedRecord,
  type RecordBatch,
  type TopicNames,
} from '@provml/log';
import type { StoreResult, TripleStore } from '@provml/stores';

/** A triples record with its N-Quads text (decoded from either format of the triples topic). */
interface TriplesRecord {
  record: ConsumedRecord;
  nquads: string;
}

/** Settings of a sink. */
export interface SinkOptions {
  topics?: TopicNames;
  /** Consumer group id. Default `provml-sink`. */
  groupId?: string;
  /** Records handed to one load at most. Default 2000. */
  maxBatchSize?: number;
  /**
   * Loads in flight at most (across partitions and within one); offsets are committed in order, past
   * a batch only once it and every batch before it were acknowledged. Default 4; 1 loads one batch at
   * a time.
   */
  maxInFlight?: number;
  /** First and largest pause (ms) while the store reports retryable failures. Defaults 100 and 10000. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Called after each acknowledged load with the event-to-store latency (seconds) of every record
   * that carries a capture time (the earliest event in it), for the freshness histogram.
   */
  observeFreshness?: (seconds: number) => void;
  /** Called with the duration (seconds) of each acknowledged load. */
  observeLoad?: (seconds: number) => void;
  logger?: Logger;
}

/** Counters of a sink, read by metrics. */
export interface SinkStats {
  batchesLoaded: number;
  recordsLoaded: number;
  bytesLoaded: number;
  retries: number;
  deadLettered: number;
  /** Named graphs dropped (drop-graph records: replaced or withdrawn annotation sources). */
  graphsDropped: number;
  /** Duration of the last successful load, ms. */
  lastLoadMs: number;
  /** Whether consumption is paused because the store is failing. */
  paused: boolean;
}

/** One sink: a member of the sink consumer group. */
export class SinkService {
  readonly stats: SinkStats = {
    batchesLoaded: 0,
    recordsLoaded: 0,
    bytesLoaded: 0,
    retries: 0,
    deadLettered: 0,
    graphsDropped: 0,
    lastLoadMs: 0,
    paused: false,
  };
  private readonly topics: TopicNames;
  private readonly logger: Logger;
  private consumer: LogConsumer | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  private readonly wakeBackoff = new Set<() => void>();
  /**
   * Per partition: every change handed to the store so far, and the last graph drop. Loads commute
   * (the store is a set of quads) and may overlap; a drop waits for everything before it, and what
   * follows it waits for the drop.
   */
  private readonly lanes = new Map<string, { all: Promise<void>; drop: Promise<void> }>();

  constructor(
    private readonly log: EventLog,
    private readonly store: TripleStore,
    private readonly options: SinkOptions = {},
  ) {
    this.topics = options.topics ?? DEFAULT_TOPICS;
    this.logger = options.logger ?? silentLogger;
  }

  /** Starts consuming in the background. */
  start(): Promise<void> {
    if (this.running !== undefined) return Promise.resolve();
    this.consumer = this.log.consumer({
      groupId: this.options.groupId ?? 'provml-sink',
      topics: [this.topics.triples],
      maxBatchSize: this.options.maxBatchSize ?? 2000,
      maxInFlight: this.options.maxInFlight ?? 4,
    });
    this.running = this.consumer
      .run((batch, output) => this.loadBatch(batch, output))
      .catch((error: unknown) => {
        this.logger.error('sink stopped', { error });
      });
    return Promise.resolve();
  }

  /** Stops after the batch in hand (a batch waiting for the store is not committed). Idempotent. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const wake of this.wakeBackoff) wake();
    await this.consumer?.stop();
    await this.running;
  }

  /**
   * Loads one batch, waiting out retryable store failures. A batch the store rejects for good is
   * split until the poison records are found, and a poison record until its refused statements
   * are; those go to the dead-letter topic, the rest is loaded. A value that does not decode (an
   * unknown format version, a corrupt body) is dead-lettered as it is.
   */
  async loadBatch(batch: RecordBatch, output: BatchOutput): Promise<void> {
    const dead: ProducedRecord[] = [];
    const key = `${batch.topic}\u0000${batch.partition}`;
    let lane = this.lanes.get(key);
    if (lane === undefined) this.lanes.set(key, (lane = { all: Promise.resolve(), drop: Promise.resolve() }));
    const settled = (p: Promise<void>): Promise<void> => p.catch(() => undefined);
    // what is handed to the store, in this batch's order, chained behind the partition's earlier batches
    const work: Promise<void>[] = [];
    const load = (run: TriplesRecord[]): void => {
      const p = settled(lane.drop).then(() => this.loadRecords(run, dead));
      work.push(p);
      lane.all = Promise.all([lane.all, settled(p)]).then(() => undefined);
    };
    let run: TriplesRecord[] = [];
    for (const record of batch.records) {
      const graph = record.headers[DROP_GRAPH_HEADER];
      if (graph === undefined) {
        try {
          run.push({ record, nquads: decodeTriples(record.value) });
        } catch (error) {
          this.logger.warn('undecodable triples record', { error, offset: record.offset });
          dead.push(deadLetter(record, error, 'decode'));
        }
        continue;
      }
      // a drop-graph record takes effect in order: what came before it is loaded first
      if (run.length > 0) load(run);
      run = [];
      const p = settled(lane.all).then(() => this.dropGraph(graph, record, dead));
      work.push(p);
      lane.drop = settled(p);
      lane.all = lane.drop;
    }
    if (run.length > 0) load(run);
    await Promise.all(work);
    if (dead.length > 0) {
      await output.send(this.topics.deadLetters, dead);
      this.stats.deadLettered += dead.length;
    }
  }

  private observeFreshness(records: readonly ConsumedRecord[]): void {
    const observe = this.options.observeFreshness;
    if (observe === undefined) return;
    const nowUs = Date.now() * 1000;
    for (const r of records) {
      const at = Number(r.headers[CAPTURED_AT_HEADER]);
      if (Number.isFinite(at) && at > 0) observe(Math.max(0, nowUs - at) / 1e6);
    }
  }

  /** Drops a named graph, waiting out retryable failures; a refused drop is dead-lettered. */
  private async dropGraph(graph: string, record: ConsumedRecord, dead: ProducedRecord[]): Promise<void> {
    const error = await this.applyWaiting(() => this.store.dropGraph(graph));
    if (error === undefined) {
      this.stats.graphsDropped++;
      return;
    }
    this.logger.warn('graph drop rejected by the store', { error, graph, offset: record.offset });
    dead.push(deadLetter(record, error, 'load'));
  }

  private async loadRecords(records: readonly TriplesRecord[], dead: ProducedRecord[]): Promise<void> {
    const body = records.map((r) => r.nquads).join('\n');
    const result = await this.loadWaiting(body);
    if (result === undefined) {
      this.stats.recordsLoaded += records.length;
      this.observeFreshness(records.map((r) => r.record));
      return;
    }
    if (records.length === 1) return this.loadStatements(records[0]!, result, dead);
    const half = Math.ceil(records.length / 2);
    await this.loadRecords(records.slice(0, half), dead);
    await this.loadRecords(records.slice(half), dead);
  }

  /**
   * A record the store refused for good: its statements (one per N-Quads line) are split until the
   * refused ones are found, so one bad statement never takes the others of its record (the other
   * events of its workflow execution) with it. The refused lines go to the dead-letter topic as one
   * record with the original headers; the record counts as loaded when anything of it was.
   */
  private async loadStatements(
    { record, nquads }: TriplesRecord,
    error: Error,
    dead: ProducedRecord[],
  ): Promise<void> {
    const lines = nquads.split('\n').filter((l) => l.trim() !== '');
    const refused: string[] = [];
    let reason = error;
    const bisect = async (part: readonly string[], known?: Error): Promise<void> => {
      const failed = known ?? (await this.loadWaiting(part.join('\n')));
      if (failed === undefined) return;
      if (part.length === 1) {
        refused.push(part[0]!);
        reason = failed;
        return;
      }
      const half = Math.ceil(part.length / 2);
      await bisect(part.slice(0, half));
      await bisect(part.slice(half));
    };
    await bisect(lines, error);
    if (refused.length < lines.length) {
      this.stats.recordsLoaded++;
      this.observeFreshness([record]);
    }
    if (refused.length === 0) return;
    this.logger.warn('statements rejected by the store', {
      error: reason,
      offset: record.offset,
      refused: refused.length,
      of: lines.length,
    });
    const value = refused.length === lines.length ? record.value : Buffer.from(`${refused.join('\n')}\n`);
    dead.push(deadLetter({ ...record, value }, reason, 'load'));
  }

  /**
   * Loads N-Quads text, waiting out retryable store failures with backoff.
   * @returns undefined once loaded, or the error of a permanent failure
   */
  private async loadWaiting(body: string): Promise<Error | undefined> {
    const started = performance.now();
    const error = await this.applyWaiting(() => this.store.load(body));
    if (error !== undefined) return error;
    this.stats.lastLoadMs = performance.now() - started;
    this.options.observeLoad?.(this.stats.lastLoadMs / 1000);
    this.stats.batchesLoaded++;
    this.stats.bytesLoaded += Buffer.byteLength(body, 'utf8');
    return undefined;
  }

  /**
   * Applies a change to the store (a load, a drop), waiting out retryable failures with backoff.
   * @returns undefined once applied, or the error of a permanent failure
   */
  private async applyWaiting(apply: () => Promise<StoreResult>): Promise<Error | undefined> {
    const backoff = new Backoff({
      initialMs: this.options.initialBackoffMs,
      maxMs: this.options.maxBackoffMs ?? 10_000,
    });
    for (;;) {
      const result = await apply();
      if (result.kind === 'success') {
        this.stats.paused = false;
        return undefined;
      }
      if (result.kind === 'failure') return result.error;
      if (this.stopping) throw new Error('sink stopping with an unloaded batch; it will be delivered again');
      this.stats.paused = true;
      this.stats.retries++;
      this.logger.warn('store unavailable, pausing consumption', {
        error: result.error,
        backoffMs: Math.round(backoff.ceilingMs),
      });
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.wakeBackoff.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, backoff.next());
        this.wakeBackoff.add(wake);
      });
    }
  }
}
