/** A member of a Kafka consumer group as a LogConsumer: batches to a handler, offsets committed after it (in a transaction when asked). */
import {
  Partitioners,
  type CompressionTypes,
  type Consumer,
  type ConsumerConfig,
  type EachBatchPayload,
  type Kafka,
  type Producer,
} from 'kafkajs';
import { Backoff, type Logger } from '@provml/schemas';
import type { BatchOutput, ConsumerOptions, LogConsumer, LogProducer, RecordBatch } from '../ports.ts';
import { chunks, toMessages, toRecord } from './kafkaRecords.ts';

/** What a group consumer takes from the log that creates it. */
export interface GroupConsumerContext {
  kafka: Kafka;
  /** Group settings (session, heartbeat, fetch wait) shared by every consumer of the log. */
  settings: Omit<ConsumerConfig, 'groupId'>;
  /** The log's non-transactional producer, for handlers of non-transactional consumers. */
  producer: LogProducer;
  compression: CompressionTypes;
  /** With the group id it forms the transactional id. */
  instanceId: string;
  transactionTimeoutMs: number;
  heartbeatIntervalMs: number;
  logger: Logger;
}

type Handler = Parameters<LogConsumer['run']>[0];

/** Broker errors after which a transactional producer is useless: only a new one (initTransactions) works. */
const FENCED = new Set([
  'INVALID_PRODUCER_EPOCH',
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_ID_MAPPING',
  'UNKNOWN_PRODUCER_ID',
]);

/** Whether an error, or one of its causes, says the producer was fenced. */
function isProducerFenced(error: unknown): boolean {
  for (
    let e = error as { type?: string; cause?: unknown } | undefined, depth = 0;
    e !== undefined && depth < 5;
    depth++
  ) {
    if (typeof e.type === 'string' && FENCED.has(e.type)) return true;
    e = e.cause as typeof e;
  }
  return false;
}

/** How long a consumer kafkajs restarted by itself may take to rejoin its group before it is replaced, ms. */
const RESTART_STALL_MS = 30_000;

/**
 * Consumes its topics until `stop()`. Each chunk of at most `maxBatchSize` records goes to the
 * handler; its offsets are committed after the handler returns — with the handler's output in one
 * Kafka transaction when `transactional` (exactly once), directly otherwise (at least once). When
 * kafkajs gives up on its clients for good (e.g. the transactional producer fenced, or its
 * transaction expired while the broker was away), it starts over with fresh clients from the
 * committed offsets instead of idling silently.
 */
export class KafkaGroupConsumer implements LogConsumer {
  private consumer: Consumer | undefined;
  private txProducer: Producer | undefined;
  private stopped: (() => void) | undefined;
  private stopping = false;
  private readonly maxBatch: number;
  /** Commits past batches of only transaction markers (or aborted records), done before the next batch. */
  private markerCommits: Promise<void> = Promise.resolve();

  constructor(
    private readonly context: GroupConsumerContext,
    private readonly options: ConsumerOptions,
  ) {
    this.maxBatch = options.maxBatchSize ?? 1000;
  }

  async run(handler: Handler): Promise<void> {
    let outcome = await this.runOnce(handler);
    const backoff = new Backoff({ initialMs: 1000, maxMs: 10_000 });
    while (outcome === 'crashed' && !this.stopping) {
      await this.disconnect();
      await new Promise((r) => setTimeout(r, backoff.next()));
      if (this.stopping) break;
      this.context.logger.warn('consumer failed for good; starting over with fresh clients', {
        groupId: this.options.groupId,
        attempt: backoff.count,
      });
      outcome = await this.runOnce(handler).catch((error: unknown) => {
        this.context.logger.warn('restarting the consumer failed; trying again', { error });
        return 'crashed' as const;
      });
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer?.disconnect();
    await this.txProducer?.disconnect();
    this.stopped?.();
  }

  /** Disconnects the clients of a life that failed; a client that does not answer is left behind after 5 s. */
  private async disconnect(): Promise<void> {
    const bounded = (p: Promise<void> | undefined): Promise<unknown> =>
      Promise.race([p?.catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
    await bounded(this.consumer?.disconnect());
    await bounded(this.txProducer?.disconnect());
  }

  /** One life of the clients: resolves `stopped` on stop(), `crashed` when kafkajs gives up on them. */
  private async runOnce(handler: Handler): Promise<'stopped' | 'crashed'> {
    const { kafka } = this.context;
    const consumer = kafka.consumer({
      ...this.context.settings,
      groupId: this.options.groupId,
      readUncommitted: false,
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.options.topics], fromBeginning: true });
    let tx: Producer | undefined;
    if (this.options.transactional) {
      tx = kafka.producer({
        transactionalId: `${this.options.groupId}-${this.context.instanceId}`,
        idempotent: true,
        maxInFlightRequests: 1,
        // a transactional send retries until the broker answers: limiting retries (the client's
        // default of 8) would let kafkajs give up between a write that landed and its ack, which is
        // what its "may invalidate EoS guarantees" warning was about. A transaction left open past
        // transactionTimeoutMs is aborted by the broker, and its next send fails for good (fenced).
        retry: { retries: Number.MAX_SAFE_INTEGER },
        transactionTimeout: this.context.transactionTimeoutMs,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      this.txProducer = tx;
      await tx.connect();
    }
    const done = new Promise<void>((resolve) => (this.stopped = resolve));
    let producerLost: () => void = () => undefined;
    const crashed = new Promise<'crashed'>((resolve) => {
      producerLost = () => resolve('crashed');
      let stall: NodeJS.Timeout | undefined;
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (!payload.restart) return resolve('crashed');
        // kafkajs restarts its clients by itself; one that has not joined its group again within
        // RESTART_STALL_MS (seen after a broker restart that hit the coordinator while it was
        // loading: no error, no progress) is given up, and fresh clients start from the commits
        clearTimeout(stall);
        stall = setTimeout(() => {
          this.context.logger.warn('the consumer did not rejoin its group after a restart; starting over', {
            groupId: this.options.groupId,
            stalledMs: RESTART_STALL_MS,
          });
          resolve('crashed');
        }, RESTART_STALL_MS);
        stall.unref();
      });
      consumer.on(consumer.events.GROUP_JOIN, () => clearTimeout(stall));
      consumer.on(consumer.events.STOP, () => clearTimeout(stall));
    });
    // a fetch of only transaction markers (or aborted records) reaches no eachBatch: kafkajs reports
    // it by this event alone; committing past it is what lets the group's lag reach 0
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize > 0) return;
      const next = {
        topic: payload.topic,
        partition: payload.partition,
        offset: String(BigInt(payload.lastOffset) + 1n),
      };
      this.markerCommits = this.markerCommits
        .then(() => consumer.commitOffsets([next]))
        .catch((error: unknown) =>
          this.context.logger.debug('commit past transaction markers failed', { error, ...next }),
        );
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) =>
        this.eachBatch(payload, handler, consumer, tx).catch((error: unknown) => {
          // a transactional producer the broker fenced (its transaction expired while a broker was
          // away, or a newer one took its id) never works again: start over with fresh clients
          if (tx !== undefined && isProducerFenced(error)) {
            this.context.logger.warn('the transactional producer was fenced; starting over', {
              groupId: this.options.groupId,
              error,
            });
            producerLost();
          }
          throw error;
        }),
    });
    return Promise.race([done.then(() => 'stopped' as const), crashed]);
  }

  private async eachBatch(
    payload: EachBatchPayload,
    handler: Handler,
    consumer: Consumer,
    tx: Producer | undefined,
  ): Promise<void> {
    const { batch } = payload;
    await this.markerCommits;
    for (let i = 0; i < batch.messages.length; i += this.maxBatch) {
      if (!payload.isRunning() || payload.isStale()) return;
      const records = batch.messages
        .slice(i, i + this.maxBatch)
        .map((m) => toRecord(batch.topic, batch.partition, m));
      const last = records[records.length - 1]!;
      // the last chunk commits past the fetch's trailing transaction markers too (lag 0 when caught up)
      const end = i + this.maxBatch >= batch.messages.length ? BigInt(batch.lastOffset()) : 0n;
      const next = {
        topic: batch.topic,
        partition: batch.partition,
        offset: String((BigInt(last.offset) > end ? BigInt(last.offset) : end) + 1n),
      };
      const recordBatch: RecordBatch = { topic: batch.topic, partition: batch.partition, records };
      // keep the membership alive while a handler waits (e.g. a sink waiting out a store outage)
      const beat = setInterval(
        () => void payload.heartbeat().catch(() => undefined),
        this.context.heartbeatIntervalMs,
      );
      try {
        if (tx !== undefined) await this.handleInTransaction(tx, recordBatch, handler, next);
        else {
          await handler(recordBatch, this.context.producer);
          await consumer.commitOffsets([next]);
        }
      } finally {
        clearInterval(beat);
      }
      payload.resolveOffset(String(BigInt(next.offset) - 1n));
      await payload.heartbeat();
    }
  }

  /** The handler's output and the consumed offsets, committed together or not at all. */
  private async handleInTransaction(
    tx: Producer,
    batch: RecordBatch,
    handler: Handler,
    next: { topic: string; partition: number; offset: string },
  ): Promise<void> {
    const transaction = await tx.transaction();
    try {
      const output: BatchOutput = {
        send: async (topic, rs) => {
          for (const part of chunks(rs))
            await transaction.send({
              topic,
              acks: -1,
              compression: this.context.compression,
              messages: toMessages(part),
            });
        },
      };
      await handler(batch, output);
      await transaction.sendOffsets({
        consumerGroupId: this.options.groupId,
        topics: [{ topic: next.topic, partitions: [{ partition: next.partition, offset: next.offset }] }],
      });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw error;
    }
  }
}
