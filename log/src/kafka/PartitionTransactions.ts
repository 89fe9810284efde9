/**
 * The transactional producers of a consume-transform-produce group member: one per input partition,
 * with the transactional id `<group>-<topic>-<partition>`, as Kafka Streams' exactly-once did before
 * KIP-447 made one producer per process safe. That KIP's other half, a committed-offset fetch that
 * waits for pending transactions (`require_stable`), is not in kafkajs: right after a rebalance its
 * consumer can start a partition from the offset committed before a transaction that is committed but
 * whose markers are not yet written, and process the same records again. Here the first batch of a
 * partition in each group generation initialises the partition's producer again — the broker answers
 * only once the transaction the partition's previous owner left (committed or open) is complete or
 * aborted, and fences that owner — and then reads the group's committed offset again: records below it
 * are done already.
 */
import { Partitioners, type Admin, type Kafka, type Producer } from 'kafkajs';

/** What the producers take from the consumer that uses them. */
export interface PartitionTransactionsContext {
  kafka: Kafka;
  groupId: string;
  transactionTimeoutMs: number;
  /** A connected admin client: reads the group's committed offsets. */
  admin: () => Promise<Admin>;
}

/** One input partition's producer, the generation it was made ready in, and its committed offset then. */
interface PartitionState {
  producer: Producer | undefined;
  generation: number;
  /** The group's committed offset when the producer was made ready (-1: none). */
  committed: bigint;
  /** The end of the partition's last batch: batches of one partition run one at a time. */
  last: Promise<void>;
}

/** Waits for a client's `disconnect()` (or any `p`) at most 5 s, failed or not: a client a frozen broker holds is left behind. */
export const settledWithin5s = (p: Promise<unknown> | undefined): Promise<unknown> =>
  Promise.race([p?.catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);

const disconnected = (producer: Producer | undefined): Promise<unknown> =>
  settledWithin5s(producer?.disconnect());

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class PartitionTransactions {
  private generation = 0;
  private readonly partitions = new Map<string, PartitionState>();

  constructor(private readonly context: PartitionTransactionsContext) {}

  /**
   * The group assigned partitions again (`assigned`: partitions per topic): each partition's producer
   * is made ready again before its next batch, and the producers of partitions no longer assigned are
   * disconnected once their last batch is done.
   */
  newGeneration(assigned: Readonly<Record<string, readonly number[]>>): void {
    this.generation++;
    const kept = new Set(
      Object.entries(assigned).flatMap(([topic, partitions]) => partitions.map((p) => keyOf(topic, p))),
    );
    for (const [key, state] of this.partitions)
      if (!kept.has(key)) {
        this.partitions.delete(key);
        void state.last.then(() => disconnected(state.producer));
      }
  }

  /**
   * Runs `work` for a batch of `topic`/`partition` with the partition's transactional producer, one
   * batch of a partition at a time. `committed` is the group's committed offset read after the
   * producer was made ready in this generation: records below it are already processed. When `work`
   * fails, the partition's next batch gets a producer made ready again (a fenced or expired one never
   * works again, and whether a failed commit landed is known only then).
   */
  async run<T>(
    topic: string,
    partition: number,
    work: (producer: Producer, committed: bigint) => Promise<T>,
  ): Promise<T> {
    const key = keyOf(topic, partition);
    let state = this.partitions.get(key);
    if (state === undefined) {
      state = { producer: undefined, generation: -1, committed: -1n, last: Promise.resolve() };
      this.partitions.set(key, state);
    }
    const previous = state.last;
    let done: () => void = () => undefined;
    state.last = new Promise<void>((resolve) => (done = resolve));
    await previous;
    try {
      if (state.producer === undefined || state.generation !== this.generation) {
        const generation = this.generation;
        await disconnected(state.producer);
        state.producer = undefined;
        const producer = this.producerFor(topic, partition);
        try {
          await producer.connect();
        } catch (error) {
          void disconnected(producer);
          throw error;
        }
        state.producer = producer;
        state.generation = generation;
        state.committed = await this.committedOffset(topic, partition);
      }
      return await work(state.producer, state.committed);
    } catch (error) {
      const lost = state.producer;
      state.producer = undefined;
      void disconnected(lost);
      throw error;
    } finally {
      done();
    }
  }

  /** Disconnects every producer. */
  async close(): Promise<void> {
    const states = [...this.partitions.values()];
    this.partitions.clear();
    await Promise.all(states.map((s) => disconnected(s.producer)));
  }

  private producerFor(topic: string, partition: number): Producer {
    return this.context.kafka.producer({
      transactionalId: `${this.context.groupId}-${topic}-${partition}`,
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
  }

  private async committedOffset(topic: string, partition: number): Promise<bigint> {
    const admin = await this.context.admin();
    const offsets = await admin.fetchOffsets({ groupId: this.context.groupId, topics: [topic] });
    const mine = offsets[0]?.partitions.find((p) => p.partition === partition);
    return mine === undefined ? -1n : BigInt(mine.offset);
  }
}
