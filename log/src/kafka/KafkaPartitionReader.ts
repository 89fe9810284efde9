/**
 * Reads a topic's partitions without a consumer group (what `assign()` is in other clients: nothing
 * is joined, nothing committed, no group is left behind on the broker). kafkajs has no assign(),
 * so this sends its Fetch request through its own cluster client (read_committed) and filters
 * aborted records and transaction markers with its own Batch class.
 */
import type { Kafka } from 'kafkajs';
// kafkajs's internal batch: filters aborted transactions and control records of a fetched partition
import Batch from 'kafkajs/src/consumer/batch.js';
import { DependencyError } from '@provml/schemas';
import type { ConsumedRecord } from '../ports.ts';
import { toRecord } from './kafkaRecords.ts';

/** A partition's offsets: the first kept (low) and the next to be written (high). */
export interface PartitionOffsets {
  partition: number;
  low: string;
  high: string;
}

interface FetchedPartition {
  partition: number;
  messages: unknown[];
}
interface FetchResponse {
  responses: { topicName: string; partitions: FetchedPartition[] }[];
}
interface ClusterBroker {
  fetch(request: {
    replicaId: number;
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: { topic: string; partitions: { partition: number; fetchOffset: string; maxBytes: number }[] }[];
  }): Promise<FetchResponse>;
}
/** The part of kafkajs's (internal) cluster client this reader uses. */
interface Cluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  findTopicPartitionMetadata(topic: string): { partitionId: number; leader: number }[];
  findBroker(options: { nodeId: string }): Promise<ClusterBroker>;
}

/** Kafka's isolation level READ_COMMITTED: records of open or aborted transactions are not returned. */
const READ_COMMITTED = 1;

/** The cluster client a Kafka client would give its consumers (same brokers, TLS, SASL, logger). */
function clusterOf(kafka: Kafka): Cluster {
  const create = Object.getOwnPropertySymbols(kafka).find(
    (s) => s.description === 'private:Kafka:createCluster',
  );
  if (create === undefined) throw new Error('kafkajs has changed: its client creates no cluster');
  const factory = (kafka as unknown as Record<symbol, (o: object) => Cluster>)[create]!;
  return factory({ allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED });
}

/** Reads one topic from each partition's start, keeping its own positions. */
export class KafkaPartitionReader {
  private cluster: Cluster | undefined;
  private readonly positions = new Map<number, bigint>();

  constructor(
    private readonly kafka: Kafka,
    private readonly topic: string,
    private readonly maxWaitTimeMs = 100,
  ) {}

  private async connected(): Promise<Cluster> {
    if (this.cluster === undefined) {
      const cluster = clusterOf(this.kafka);
      await cluster.connect();
      await cluster.addTargetTopic(this.topic);
      this.cluster = cluster;
    }
    return this.cluster;
  }

  /**
   * Reads from the current positions (first call: each partition's low offset) until every
   * partition has reached its `high` offset, and returns the records read, each partition's in order.
   * Positions count transaction markers and aborted records, so a transactionally written topic
   * is read to its end. @throws DependencyError (retriable) when `deadline` (ms since the epoch) passes first
   */
  async readTo(ends: readonly PartitionOffsets[], deadline: number): Promise<ConsumedRecord[]> {
    const records: ConsumedRecord[] = [];
    const at = (e: PartitionOffsets): bigint => this.positions.get(e.partition) ?? BigInt(e.low);
    for (;;) {
      const behind = ends.filter((e) => at(e) < BigInt(e.high));
      if (behind.length === 0) return records;
      if (Date.now() > deadline)
        throw new DependencyError('kafka-read', `could not read ${this.topic} to its end in time`, {
          retriable: true,
          context: { topic: this.topic },
        });
      const cluster = await this.connected();
      try {
        await this.fetchOnce(cluster, behind, at, records);
      } catch {
        // a leader moved or a broker went away: new metadata, then try again until the deadline
        await cluster.refreshMetadata().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private async fetchOnce(
    cluster: Cluster,
    behind: readonly PartitionOffsets[],
    at: (e: PartitionOffsets) => bigint,
    records: ConsumedRecord[],
  ): Promise<void> {
    const leaders = new Map<number, number>(
      cluster.findTopicPartitionMetadata(this.topic).map((m) => [m.partitionId, m.leader]),
    );
    const byLeader = new Map<number, PartitionOffsets[]>();
    for (const e of behind) {
      const leader = leaders.get(e.partition);
      if (leader === undefined) throw new Error(`no leader for partition ${e.partition}`);
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), e]);
    }
    await Promise.all(
      [...byLeader].map(async ([leader, partitions]) => {
        const broker = await cluster.findBroker({ nodeId: String(leader) });
        const fetchedFrom = new Map(partitions.map((e) => [e.partition, at(e)]));
        const response = await broker.fetch({
          replicaId: -1,
          isolationLevel: READ_COMMITTED,
          maxWaitTime: this.maxWaitTimeMs,
          minBytes: 1,
          maxBytes: 8 << 20,
          topics: [
            {
              topic: this.topic,
              partitions: partitions.map((e) => ({
                partition: e.partition,
                fetchOffset: String(at(e)),
                maxBytes: 1 << 20,
              })),
            },
          ],
        });
        for (const data of response.responses.flatMap((r) => r.partitions)) {
          const from = fetchedFrom.get(data.partition);
          if (from === undefined) continue;
          const batch = new Batch(this.topic, String(from), data);
          const end = BigInt(partitions.find((e) => e.partition === data.partition)!.high);
          for (const m of batch.messages)
            if (BigInt(m.offset) < end) records.push(toRecord(this.topic, data.partition, m));
          // records at or past `end` (written after the ends were listed) are left for the next
          // read: the position stops at `end`, never past a record that was not returned
          if (!batch.isEmptyIncludingFiltered()) {
            const next = BigInt(batch.lastOffset()) + 1n;
            this.positions.set(data.partition, next < end ? next : end);
          }
        }
      }),
    );
  }

  /** Disconnects. Idempotent. */
  async close(): Promise<void> {
    const cluster = this.cluster;
    this.cluster = undefined;
    await cluster?.disconnect();
  }
}
