/**
 * One Kafka transaction for the batches a transactional consumer handles together (the partitions of
 * one fetch): their output and offsets are gathered in memory while the handlers run and committed in
 * one transaction once the last of them finished, or not at all.
 */
import type { CompressionTypes, Producer, TopicMessages } from 'kafkajs';
import type { BatchOutput, ProducedRecord } from '../ports.ts';
import { chunks, toMessages } from './kafkaRecords.ts';

/** The offset a batch's commit moves its partition to. */
export interface NextOffset {
  topic: string;
  partition: number;
  offset: string;
}

/** A batch's part in a gathered transaction. */
export interface Participant {
  /** Where the batch's handler sends: kept until the transaction is committed. */
  output: BatchOutput;
  /** The handler resolved: resolves once the transaction with its output and `next` committed. */
  succeed(next: NextOffset): Promise<void>;
  /** The handler failed: nothing of the transaction is committed (its batches are delivered again). */
  fail(error: unknown): void;
}

/** Thrown to the other batches of a transaction one batch's handler failed. */
export class SiblingFailedError extends Error {
  constructor(cause: unknown) {
    super('another batch of the same transaction failed; nothing of it was committed', { cause });
    this.name = 'SiblingFailedError';
  }
}

interface Gathering {
  /** Handlers still running. */
  active: number;
  records: number;
  output: ProducedRecord[][];
  topics: string[];
  offsets: Map<string, NextOffset>;
  failure?: unknown;
  /** No batch joins any more (it is full, or it is being committed). */
  closed: boolean;
  committed: Promise<void>;
  settle: { resolve: () => void; reject: (e: unknown) => void };
}

/** What a gathered transaction writes with. */
export interface GatheredTransactionsOptions {
  producer: Producer;
  groupId: string;
  compression: CompressionTypes;
  /** A transaction takes no more batches once it holds this many records. */
  maxRecords: number;
}

/**
 * Gathers batches into transactions of one transactional producer. kafkajs allows one open
 * transaction per producer, so a transaction is opened only to write what was gathered, and the
 * transactions are committed one after another in the order they closed. A batch waits for its
 * transaction before the next batch of its partition is handled, so a failed transaction (its batches
 * delivered again from the committed offsets) never has a later batch of the same partition after it.
 */
export class GatheredTransactions {
  private current: Gathering | undefined;
  /** The commit of the transaction closed last. */
  private last: Promise<void> = Promise.resolve();

  constructor(private readonly options: GatheredTransactionsOptions) {}

  /** A batch of `records` records joins the open transaction (or opens one). Synchronous. */
  join(records: number): Participant {
    const g = this.current !== undefined && !this.current.closed ? this.current : this.open();
    g.active++;
    g.records += records;
    if (g.records >= this.options.maxRecords) g.closed = true;
    let done = false;
    const leave = (): void => {
      if (done) throw new Error('a batch left its transaction twice');
      done = true;
      g.active--;
      if (g.active === 0) this.close(g);
    };
    return {
      output: {
        send: (topic, rs) => {
          if (done) return Promise.reject(new Error('output sent after the batch left its transaction'));
          g.output.push([...rs]);
          g.topics.push(topic);
          return Promise.resolve();
        },
      },
      succeed: (next) => {
        const key = `${next.topic}\u0000${next.partition}`;
        const known = g.offsets.get(key);
        if (known === undefined || BigInt(known.offset) < BigInt(next.offset)) g.offsets.set(key, next);
        leave();
        return g.committed;
      },
      fail: (error) => {
        g.failure ??= error;
        leave();
      },
    };
  }

  private open(): Gathering {
    let settle!: Gathering['settle'];
    const committed = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // a participant that failed awaits nothing; the rejection is still seen by its siblings
    committed.catch(() => undefined);
    const g: Gathering = {
      active: 0,
      records: 0,
      output: [],
      topics: [],
      offsets: new Map(),
      closed: false,
      committed,
      settle,
    };
    this.current = g;
    return g;
  }

  /** The last batch of `g` finished: commit it after the transactions closed before it. */
  private close(g: Gathering): void {
    g.closed = true;
    if (this.current === g) this.current = undefined;
    // one transaction at a time; one that failed leaves the next free (its batches' partitions are
    // delivered again from their committed offsets, and no later batch of theirs joins another)
    this.last = this.last
      .catch(() => undefined)
      .then(() =>
        g.failure === undefined ? this.commit(g) : Promise.reject(new SiblingFailedError(g.failure)),
      );
    this.last.then(g.settle.resolve, g.settle.reject);
  }

  private async commit(g: Gathering): Promise<void> {
    const { producer, compression, groupId } = this.options;
    const transaction = await producer.transaction();
    try {
      // one produce request per ~512 KiB of values, whatever the topics and partitions
      const all = g.output.flatMap((rs, i) =>
        rs.map((record) => ({ topic: g.topics[i]!, record, value: record.value })),
      );
      for (const part of chunks(all)) {
        const perTopic = new Map<string, ProducedRecord[]>();
        for (const { topic, record } of part) {
          const list = perTopic.get(topic);
          if (list === undefined) perTopic.set(topic, [record]);
          else list.push(record);
        }
        const topicMessages: TopicMessages[] = [...perTopic].map(([topic, rs]) => ({
          topic,
          messages: toMessages(rs),
        }));
        await transaction.sendBatch({ topicMessages, acks: -1, compression });
      }
      const topics = new Map<string, { partition: number; offset: string }[]>();
      for (const o of g.offsets.values()) {
        const list = topics.get(o.topic) ?? [];
        list.push({ partition: o.partition, offset: o.offset });
        topics.set(o.topic, list);
      }
      await transaction.sendOffsets({
        consumerGroupId: groupId,
        topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })),
      });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw error;
    }
  }
}
