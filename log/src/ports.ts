/** The log ports: what processors and sinks need from a partitioned log (Kafka or the embedded one). */

/** A record to append. */
export interface ProducedRecord {
  /** Partitioning key; records with the same key stay ordered on one partition. */
  key: string | null;
  /**
   * An empty value is a tombstone: Kafka gets null (a compacted topic then forgets the key: a
   * withdrawn annotation source), and readers see an empty value.
   */
  value: Buffer;
  headers?: Record<string, string>;
}

/** A record read back, with its position. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  /** Offset as a decimal string, as Kafka clients give it. */
  offset: string;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
  /** Append time, ms since the epoch. */
  timestamp: number;
}

/** Consecutive records of one partition, handed to a consumer's handler at once. */
export interface RecordBatch {
  topic: string;
  partition: number;
  records: ConsumedRecord[];
}

/** Appends records to topics. */
export interface LogProducer {
  send(topic: string, records: readonly ProducedRecord[]): Promise<void>;
}

/**
 * Where a batch handler sends what it produces. The output is committed together with the batch's
 * offsets: in Kafka inside one transaction when the consumer is transactional (consume-transform-
 * produce, exactly once), in the embedded log in one synchronous step.
 */
export interface BatchOutput {
  send(topic: string, records: readonly ProducedRecord[]): Promise<void>;
}

/** A member of a consumer group. Offsets are committed only after the handler resolves. */
export interface LogConsumer {
  /**
   * Hands batches to `handler` until `stop()`. A batch's offsets (and its output) are committed once
   * the handler resolves; if it rejects, nothing of the batch is committed and it is delivered again.
   * With `concurrency` or `maxInFlight` above 1 the handler runs for several batches at once (each
   * partition's batches are still handed over in order).
   */
  run(handler: (batch: RecordBatch, output: BatchOutput) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/** Reads a (compacted) topic as a table, from the start, catching up to its current end on demand. */
export interface TableReader {
  /** Calls `apply` for every record appended since the last call, then resolves. */
  catchUp(apply: (record: ConsumedRecord) => void): Promise<void>;
}

/** Consumer settings. */
export interface ConsumerOptions {
  groupId: string;
  topics: readonly string[];
  /** Largest batch handed to the handler. Default 1000. */
  maxBatchSize?: number;
  /**
   * Commit each batch's output and offsets atomically (Kafka transactions; the processor's
   * consume-transform-produce). Consumers of transactional output read only committed records.
   */
  transactional?: boolean;
  /**
   * Partitions handled at once (Kafka; the embedded log hands one batch at a time). A transactional
   * consumer commits each partition's batch in its own transaction, on that partition's producer, so
   * the batches of different partitions commit (or fail) independently. Default 1.
   */
  concurrency?: number;
  /**
   * Non-transactional Kafka consumers (the embedded log hands one batch at a time): batches handed to
   * the handler before the earliest of them resolved (several store loads in flight). Offsets are committed in order: a partition's offset moves past
   * a batch only once it and every batch before it resolved; a batch that rejects stops the commits
   * of its partition and the consumer starts over from the committed offsets. Default 1.
   */
  maxInFlight?: number;
}

/** How a topic keeps its records. */
export interface TopicOptions {
  /**
   * Compacted topics (specs, annotations) are tables: records are kept for readers from the start.
   * Other topics keep records until every consumer group has committed past them (embedded mode)
   * or for the broker's retention time (Kafka).
   */
  compacted?: boolean;
}

/** A partitioned log: the embedded one or a Kafka cluster. */
export interface EventLog {
  /** Creates the topic if missing. */
  ensureTopic(topic: string, partitions: number, options?: TopicOptions): Promise<void>;
  producer(): LogProducer;
  consumer(options: ConsumerOptions): LogConsumer;
  tableReader(topic: string): TableReader;
  /** How many partitions the topic has now (0 when it does not exist). */
  partitionCount(topic: string): Promise<number>;
}
