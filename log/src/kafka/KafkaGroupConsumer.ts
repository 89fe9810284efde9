/** A member of a Kafka consumer group as a LogConsumer: batches to a handler, offsets committed after it (in a transaction when asked). */
import type {
  Admin,
  CompressionTypes,
  Consumer,
  ConsumerConfig,
  EachBatchPayload,
  Kafka,
  Producer,
} from 'kafkajs';
import { Backoff, type Logger } from '@provml/schemas';
import type { BatchOutput, ConsumerOptions, LogConsumer, LogProducer, RecordBatch } from '../ports.ts';
import { PartitionTransactions, settledWithin5s } from './PartitionTransactions.ts';
import { chunks, toMessages, toRecord } from './kafkaRecords.ts';
import { OrderedCommits, type NextOffset } from './OrderedCommits.ts';

/** What a group consumer takes from the log that creates it. */
export interface GroupConsumerContext {
  kafka: Kafka;
  /** Group settings (session, heartbeat, fetch wait) shared by every consumer of the log. */
  settings: Omit<ConsumerConfig, 'groupId'>;
  /** The log's non-transactional producer, for handlers of non-transactional consumers. */
  producer: LogProducer;
  compression: CompressionTypes;
  /** The log's connected admin client: a transactional consumer reads its group's committed offsets. */
  admin: () => Promise<Admin>;
  transactionTimeoutMs: number;
  heartbeatIntervalMs: number;
  logger: Logger;
}

type Handler = Parameters<LogConsumer['run']>[0];

/** How long a consumer kafkajs restarted by itself may take to rejoin its group before it is replaced, ms. */
const RESTART_STALL_MS = 30_000;
/** How long `stop()` waits for batches still in flight (and their commits), ms. */
const DRAIN_MS = 30_000;

/** What one life of the clients handles batches with. */
interface Life {
  consumer: Consumer;
  /** Transactional: the producers of the input partitions, one transaction per batch each. */
  transactions?: PartitionTransactions;
  /** Non-transactional with batches in flight: their ordered commits. */
  inFlight?: OrderedCommits;
}

/**
 * Consumes its topics until `stop()`. Each chunk of at most `maxBatchSize` records goes to the
 * handler; its offsets are committed after the handler returns — with the handler's output in one
 * Kafka transaction when `transactional` (exactly once; a producer per input partition, see
 * `PartitionTransactions`; with `concurrency` above 1 the batches of several partitions run at once,
 * each in its own transaction), directly otherwise (at least once; with `maxInFlight` chunks in
 * flight, committed in order). When kafkajs gives up on its clients for good, it starts over with
 * fresh clients from the committed offsets instead of idling silently.
 */
export class KafkaGroupConsumer implements LogConsumer {
  private consumer: Consumer | undefined;
  private transactions: PartitionTransactions | undefined;
  private stopped: (() => void) | undefined;
  private stopping = false;
  private readonly maxBatch: number;
  private inFlight: OrderedCommits | undefined;
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
    // loads still in flight finish and commit (the handler is told to stop by its owner)
    await this.inFlight?.drain(DRAIN_MS);
    await this.consumer?.disconnect();
    await this.transactions?.close();
    this.stopped?.();
  }

  /** Disconnects the clients of a life that failed; a client that does not answer is left behind after 5 s. */
  private async disconnect(): Promise<void> {
    await settledWithin5s(this.consumer?.disconnect());
    await settledWithin5s(this.transactions?.close());
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
    const life: Life = { consumer };
    if (this.options.transactional) {
      const transactions = new PartitionTransactions({
        kafka,
        groupId: this.options.groupId,
        transactionTimeoutMs: this.context.transactionTimeoutMs,
        admin: this.context.admin,
      });
      life.transactions = this.transactions = transactions;
      // each assignment makes every partition's producer ready again before the partition's next batch
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) =>
        transactions.newGeneration(payload.memberAssignment),
      );
    }
    const done = new Promise<void>((resolve) => (this.stopped = resolve));
    let startOver: () => void = () => undefined;
    const crashed = new Promise<'crashed'>((resolve) => {
      startOver = () => resolve('crashed');
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
    if (!this.options.transactional && (this.options.maxInFlight ?? 1) > 1) {
      // a batch that failed (or a commit) leaves offsets uncommitted behind it: start over from them
      life.inFlight = new OrderedCommits(
        this.options.maxInFlight!,
        (offsets) => consumer.commitOffsets(offsets),
        (error) => {
          this.context.logger.warn('a batch in flight failed; starting over from the committed offsets', {
            groupId: this.options.groupId,
            error,
          });
          startOver();
        },
      );
      this.inFlight = life.inFlight;
    }
    // a fetch of only transaction markers (or aborted records) reaches no eachBatch: kafkajs reports
    // it by this event alone; committing past it is what lets the group's lag reach 0
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize > 0) return;
      const next = {
        topic: payload.topic,
        partition: payload.partition,
        offset: String(BigInt(payload.lastOffset) + 1n),
      };
      // batches in flight before it: its commit waits for theirs (never skips a batch still loading)
      if (life.inFlight !== undefined) return life.inFlight.track(next, Promise.resolve());
      this.markerCommits = this.markerCommits
        .then(() => consumer.commitOffsets([next]))
        .catch((error: unknown) =>
          this.context.logger.debug('commit past transaction markers failed', { error, ...next }),
        );
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, this.options.concurrency ?? 1),
      eachBatch: (payload) => this.eachBatch(payload, handler, life),
    });
    return Promise.race([done.then(() => 'stopped' as const), crashed]);
  }

  private async eachBatch(payload: EachBatchPayload, handler: Handler, life: Life): Promise<void> {
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
      const next: NextOffset = {
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
        if (life.transactions !== undefined)
          await life.transactions.run(batch.topic, batch.partition, async (producer, committed) => {
            // records below the committed offset were processed by a committed transaction (this
            // partition's previous owner's, or ours before a rebalance read an older offset)
            const fresh = records.filter((r) => BigInt(r.offset) >= committed);
            if (fresh.length < records.length)
              this.context.logger.info('skipped records a committed transaction already processed', {
                topic: batch.topic,
                partition: batch.partition,
                skipped: records.length - fresh.length,
                committed: String(committed),
              });
            if (fresh.length > 0)
              await this.handleInTransaction(producer, { ...recordBatch, records: fresh }, handler, next);
          });
        else if (life.inFlight !== undefined) {
          await life.inFlight.admit();
          life.inFlight.track(next, handler(recordBatch, this.context.producer));
        } else {
          await handler(recordBatch, this.context.producer);
          await life.consumer.commitOffsets([next]);
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
