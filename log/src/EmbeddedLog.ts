/** An in-process partitioned log with offsets and consumer-group positions: the stand-in for Kafka on one machine. */
import { partitionFor } from './murmur2.ts';
import type {
  ConsumedRecord,
  ConsumerOptions,
  EventLog,
  LogConsumer,
  LogProducer,
  ProducedRecord,
  RecordBatch,
  TableReader,
  TopicOptions,
} from './ports.ts';

/** The records still held of one partition; `base` is the offset of `records[0]`. */
interface Partition {
  base: number;
  records: ConsumedRecord[];
}

interface Topic {
  partitions: Partition[];
  compacted: boolean;
  /** Groups that consume the topic: records all of them committed are released (not compacted topics). */
  groups: Set<string>;
}

/** Settings of the embedded log. */
export interface EmbeddedLogOptions {
  /** Partitions of a topic created by its first use. Default 4. */
  defaultPartitions?: number;
  /**
   * Release records of topics that are not compacted once every group consuming the topic has
   * committed past them, so a long-running process holds only what is in flight. A group that
   * subscribes later starts from what is still held. Default false (keep everything, as a broker
   * within its retention time).
   */
  releaseConsumed?: boolean;
}

/**
 * Keeps records in memory, per partition, with Kafka's offset semantics. One consumer per group
 * (embedded mode runs one of each service); positions are kept per group.
 */
export class EmbeddedLog implements EventLog {
  private readonly topics = new Map<string, Topic>();
  private readonly committed = new Map<string, number>();
  private readonly roundRobin = new Map<string, number>();
  private wakeups: (() => void)[] = [];

  private readonly defaultPartitions: number;
  private readonly releaseConsumed: boolean;

  constructor(options: EmbeddedLogOptions = {}) {
    this.defaultPartitions = options.defaultPartitions ?? 4;
    this.releaseConsumed = options.releaseConsumed ?? false;
  }

  ensureTopic(topic: string, partitions: number, options: TopicOptions = {}): Promise<void> {
    if (!this.topics.has(topic)) this.createTopic(topic, partitions, options.compacted ?? false);
    return Promise.resolve();
  }

  /** The next offset of every partition of a topic (its end offsets). */
  endOffsets(topic: string): number[] {
    return (this.topics.get(topic)?.partitions ?? []).map((p) => p.base + p.records.length);
  }

  /** The records still held of a topic, partition by partition (for tests and tools). */
  records(topic: string): ConsumedRecord[] {
    return (this.topics.get(topic)?.partitions ?? []).flatMap((p) => p.records);
  }

  /** Records a group has not yet committed, over all partitions of a topic. */
  lag(groupId: string, topic: string): number {
    return this.endOffsets(topic).reduce((sum, end, p) => sum + end - this.position(groupId, topic, p), 0);
  }

  producer(): LogProducer {
    return {
      send: (topic, records) => {
        this.append(topic, records);
        return Promise.resolve();
      },
    };
  }

  /** Appends synchronously; returns the offsets given. */
  append(topic: string, records: readonly ProducedRecord[]): string[] {
    const t = this.topics.get(topic) ?? this.createTopic(topic, this.defaultPartitions, false);
    const now = Date.now();
    const offsets = records.map((r) => {
      const p =
        r.key === null
          ? this.nextRoundRobin(topic, t.partitions.length)
          : partitionFor(r.key, t.partitions.length);
      const partition = t.partitions[p]!;
      const offset = String(partition.base + partition.records.length);
      partition.records.push({
        topic,
        partition: p,
        offset,
        key: r.key,
        value: r.value,
        headers: r.headers ?? {},
        timestamp: now,
      });
      return offset;
    });
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const w of wakeups) w();
    return offsets;
  }

  consumer(options: ConsumerOptions): LogConsumer {
    for (const topic of options.topics)
      (this.topics.get(topic) ?? this.createTopic(topic, this.defaultPartitions, false)).groups.add(
        options.groupId,
      );
    let running = false;
    let wake: (() => void) | undefined;
    const maxBatch = options.maxBatchSize ?? 1000;
    // topics in the order given (state topics first); partitions of a topic taken in turn, so none starves
    let turn = 0;
    const nextBatch = (): RecordBatch | undefined => {
      turn++;
      for (const topic of options.topics) {
        const partitions = this.topics.get(topic)?.partitions ?? [];
        for (let i = 0; i < partitions.length; i++) {
          const p = (turn + i) % partitions.length;
          const partition = partitions[p]!;
          const from = Math.max(this.position(options.groupId, topic, p), partition.base) - partition.base;
          if (from < partition.records.length)
            return { topic, partition: p, records: partition.records.slice(from, from + maxBatch) };
        }
      }
      return undefined;
    };
    const stopped = { promise: Promise.resolve(), resolve: (): void => undefined };
    return {
      run: async (handler) => {
        running = true;
        stopped.promise = new Promise<void>((resolve) => (stopped.resolve = resolve));
        try {
          while (running) {
            const batch = nextBatch();
            if (batch === undefined) {
              await new Promise<void>((resolve) => {
                wake = resolve;
                this.wakeups.push(resolve);
              });
              continue;
            }
            const pending: [string, readonly ProducedRecord[]][] = [];
            await handler(batch, {
              send: (topic, records) => {
                pending.push([topic, records]);
                return Promise.resolve();
              },
            });
            // output and offsets in one synchronous step: nothing of a failed batch is visible
            for (const [topic, records] of pending) this.append(topic, records);
            const last = batch.records[batch.records.length - 1]!;
            this.commit(options.groupId, batch.topic, batch.partition, Number(last.offset) + 1);
          }
        } finally {
          stopped.resolve();
        }
      },
      stop: async () => {
        if (!running) return;
        running = false;
        wake?.();
        await stopped.promise;
      },
    };
  }

  tableReader(topic: string): TableReader {
    const positions: number[] = [];
    return {
      catchUp: (apply) => {
        (this.topics.get(topic)?.partitions ?? []).forEach((partition, p) => {
          const end = partition.base + partition.records.length;
          for (let o = Math.max(positions[p] ?? 0, partition.base); o < end; o++)
            apply(partition.records[o - partition.base]!);
          positions[p] = end;
        });
        return Promise.resolve();
      },
    };
  }

  private createTopic(topic: string, partitions: number, compacted: boolean): Topic {
    const t: Topic = {
      partitions: Array.from({ length: partitions }, () => ({ base: 0, records: [] })),
      compacted,
      groups: new Set(),
    };
    this.topics.set(topic, t);
    return t;
  }

  private commit(groupId: string, topic: string, partition: number, offset: number): void {
    this.committed.set(this.key(groupId, topic, partition), offset);
    const t = this.topics.get(topic)!;
    if (t.compacted || !this.releaseConsumed) return;
    let released = Infinity;
    for (const g of t.groups) released = Math.min(released, this.position(g, topic, partition));
    const p = t.partitions[partition]!;
    if (released > p.base) {
      p.records.splice(0, released - p.base);
      p.base = released;
    }
  }

  private position(groupId: string, topic: string, partition: number): number {
    return this.committed.get(this.key(groupId, topic, partition)) ?? 0;
  }

  private key(groupId: string, topic: string, partition: number): string {
    return `${groupId}\u0000${topic}\u0000${partition}`;
  }

  private nextRoundRobin(topic: string, partitions: number): number {
    const n = this.roundRobin.get(topic) ?? 0;
    this.roundRobin.set(topic, n + 1);
    return n % partitions;
  }
}
