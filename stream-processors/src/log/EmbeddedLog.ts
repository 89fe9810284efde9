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
} from './ports.ts';

type Partition = ConsumedRecord[];

/**
 * Keeps every record in memory, in per-partition arrays whose index is the offset.
 * One consumer per group (embedded mode runs one of each service); positions are kept per group.
 */
export class EmbeddedLog implements EventLog {
  private readonly topics = new Map<string, Partition[]>();
  private readonly committed = new Map<string, number>();
  private readonly roundRobin = new Map<string, number>();
  private wakeups: (() => void)[] = [];

  constructor(private readonly defaultPartitions = 4) {}

  ensureTopic(topic: string, partitions: number): Promise<void> {
    if (!this.topics.has(topic)) this.topics.set(topic, Array.from({ length: partitions }, () => []));
    return Promise.resolve();
  }

  /** Number of records in every partition of a topic (its end offsets). */
  endOffsets(topic: string): number[] {
    return (this.topics.get(topic) ?? []).map((p) => p.length);
  }

  /** All records of a topic, partition by partition (for tests and tools). */
  records(topic: string): ConsumedRecord[] {
    return (this.topics.get(topic) ?? []).flat();
  }

  /** Records a group has not yet committed, over all partitions of its topics. */
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
    let partitions = this.topics.get(topic);
    if (partitions === undefined) {
      partitions = Array.from({ length: this.defaultPartitions }, () => []);
      this.topics.set(topic, partitions);
    }
    const now = Date.now();
    const offsets = records.map((r) => {
      const p =
        r.key === null ? this.nextRoundRobin(topic, partitions.length) : partitionFor(r.key, partitions.length);
      const partition = partitions[p]!;
      const offset = String(partition.length);
      partition.push({ topic, partition: p, offset, key: r.key, value: r.value, headers: r.headers ?? {}, timestamp: now });
      return offset;
    });
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const w of wakeups) w();
    return offsets;
  }

  consumer(options: ConsumerOptions): LogConsumer {
    let running = false;
    let wake: (() => void) | undefined;
    const maxBatch = options.maxBatchSize ?? 1000;
    // topics in the order given (state topics first); partitions of a topic taken in turn, so none starves
    let turn = 0;
    const nextBatch = (): RecordBatch | undefined => {
      turn++;
      for (const topic of options.topics) {
        const partitions = this.topics.get(topic) ?? [];
        for (let i = 0; i < partitions.length; i++) {
          const p = (turn + i) % partitions.length;
          const from = this.position(options.groupId, topic, p);
          const partition = partitions[p]!;
          if (from < partition.length)
            return { topic, partition: p, records: partition.slice(from, from + maxBatch) };
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
            await handler(batch);
            const last = batch.records[batch.records.length - 1]!;
            this.committed.set(this.key(options.groupId, batch.topic, batch.partition), Number(last.offset) + 1);
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
        (this.topics.get(topic) ?? []).forEach((partition, p) => {
          for (let o = positions[p] ?? 0; o < partition.length; o++) apply(partition[o]!);
          positions[p] = partition.length;
        });
        return Promise.resolve();
      },
    };
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
