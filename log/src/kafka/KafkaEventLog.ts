/** The Kafka adapter of the log ports (kafkajs): idempotent producers, consumer groups, transactions, group-less table readers. */
import { hostname } from 'node:os';
import {
  CompressionTypes,
  Kafka,
  Partitioners,
  logLevel,
  type Admin,
  type KafkaConfig,
  type Producer,
} from 'kafkajs';
import { DependencyError, silentLogger, type Logger } from '@provml/schemas';
import type {
  ConsumedRecord,
  ConsumerOptions,
  EventLog,
  LogConsumer,
  LogProducer,
  TableReader,
  TopicOptions,
} from '../ports.ts';
import { KafkaGroupConsumer } from './KafkaGroupConsumer.ts';
import { KafkaPartitionReader } from './KafkaPartitionReader.ts';
import { chunks, toMessages } from './kafkaRecords.ts';
import { kafkaLogCreator } from './kafkaLogging.ts';

/** Settings of the Kafka adapter; TLS and SASL are passed to kafkajs unchanged. */
export interface KafkaLogOptions {
  brokers: string[];
  /** Default `provml`. */
  clientId?: string;
  ssl?: KafkaConfig['ssl'];
  sasl?: KafkaConfig['sasl'];
  /** Compression of produced batches. Default `none` (gzip is built into kafkajs). */
  compression?: 'none' | 'gzip';
  /**
   * Replication factor of topics this adapter creates. Default -1: the broker's
   * `default.replication.factor` (1 on the local single broker, 3 on the three-broker cluster).
   */
  replicationFactor?: number;
  /**
   * `min.insync.replicas` of topics this adapter creates: with `acks=-1`, a write succeeds only once
   * this many replicas have it (2 of 3 survives one broker lost). Default: the broker's setting.
   */
  minInsyncReplicas?: number;
  /**
   * Identity of this process among the members of its groups, for logs and operators. Exactly-once
   * does not depend on it: transactional ids are per input partition (`<group>-<topic>-<partition>`),
   * so whoever processes a partition next fences its previous owner, restarted or not.
   * Default `<hostname>-<pid>`.
   */
  instanceId?: string;
  /** Transactions not committed within this time are aborted by the broker (ms). Default 15000. */
  transactionTimeoutMs?: number;
  /**
   * Longest time a fetch waits for data (ms): bounds event-to-store latency when traffic is light.
   * Default 100.
   */
  maxWaitTimeMs?: number;
  /** Consumer group session timeout and heartbeat interval (ms). Defaults 10000 and 1000. */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  logger?: Logger;
}

/** A Kafka cluster as an EventLog. */
export class KafkaEventLog implements EventLog {
  readonly kafka: Kafka;
  private admin: Admin | undefined;
  private sharedProducer: Promise<Producer> | undefined;
  private readonly closers: (() => Promise<void>)[] = [];
  private readonly logger: Logger;
  private readonly compression: CompressionTypes;
  readonly instanceId: string;

  constructor(private readonly options: KafkaLogOptions) {
    this.logger = options.logger ?? silentLogger;
    this.kafka = new Kafka({
      brokers: options.brokers,
      clientId: options.clientId ?? 'provml',
      ssl: options.ssl,
      sasl: options.sasl,
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(this.logger),
      retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 5000 },
    });
    this.compression = options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    this.instanceId = options.instanceId ?? `${hostname()}-${process.pid}`;
  }

  private consumerSettings() {
    return {
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: this.options.maxWaitTimeMs ?? 100,
      sessionTimeout: this.options.sessionTimeoutMs ?? 10_000,
      rebalanceTimeout: this.options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: this.options.heartbeatIntervalMs ?? 1000,
    };
  }

  /** A connected admin client (created once). */
  async adminClient(): Promise<Admin> {
    if (this.admin === undefined) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  async partitionCount(topic: string): Promise<number> {
    const admin = await this.adminClient();
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    return topics[0]?.partitions.length ?? 0;
  }

  async ensureTopic(topic: string, partitions: number, options: TopicOptions = {}): Promise<void> {
    const admin = await this.adminClient();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: partitions,
            replicationFactor: this.options.replicationFactor ?? -1,
            configEntries: [
              ...(options.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : []),
              ...(this.options.minInsyncReplicas === undefined
                ? []
                : [{ name: 'min.insync.replicas', value: String(this.options.minInsyncReplicas) }]),
            ],
          },
        ],
      });
    } catch (error) {
      // another service created it at the same moment
      const e = error as { type?: string; errors?: { type?: string; message?: string }[] };
      if (
        e.type === 'TOPIC_ALREADY_EXISTS' ||
        e.errors?.every((x) => x.type === 'TOPIC_ALREADY_EXISTS') === true
      )
        return;
      // created, but the broker asked for its leaders did not know it yet (metadata propagating
      // through a cluster): wait for the leaders here instead of failing
      if (e.type === 'UNKNOWN_TOPIC_OR_PARTITION' && (await this.leadersElected(topic))) return;
      // kafkajs aggregates the per-topic errors: their messages say why (e.g. a replication factor
      // larger than the brokers available, which waiting does not fix)
      const why = [(error as Error).message, ...(e.errors ?? []).map((x) => x.message ?? x.type)];
      const settingsWrong = (e.errors ?? []).some((x) =>
        /^INVALID_(REPLICATION_FACTOR|CONFIG)/.test(x.type ?? ''),
      );
      throw new DependencyError('kafka-topic', `could not create topic ${topic}: ${why.join(': ')}`, {
        retriable: !settingsWrong,
        cause: error,
        context: {
          topic,
          replicationFactor: this.options.replicationFactor ?? -1,
          minInsyncReplicas: this.options.minInsyncReplicas,
        },
      });
    }
  }

  /** Whether every partition of `topic` has a leader within 30 s. */
  private async leadersElected(topic: string): Promise<boolean> {
    const admin = await this.adminClient();
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const ready = await admin
        .fetchTopicMetadata({ topics: [topic] })
        .then(
          ({ topics }) =>
            topics[0]!.partitions.length > 0 && topics[0]!.partitions.every((p) => p.leader >= 0),
        )
        .catch(() => false);
      if (ready) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  }

  /** The idempotent producer shared by this log's `producer()` callers (acks from all replicas). */
  private shared(): Promise<Producer> {
    this.sharedProducer ??= (async () => {
      const p = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await p.connect();
      return p;
    })();
    return this.sharedProducer;
  }

  /**
   * Records of `topics` not yet committed by `groupId`: high watermark minus committed offset, summed
   * over partitions (a partition without a commit counts from its low watermark). Consumers commit
   * past transaction markers, so a caught-up group's lag is 0 on transactionally written topics too.
   */
  async lag(groupId: string, topics: readonly string[]): Promise<number> {
    const admin = await this.adminClient();
    let lag = 0;
    const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const p of ends) {
        const at = Number(mine.find((m) => m.partition === p.partition)?.offset ?? -1);
        lag += Math.max(0, Number(p.high) - (at >= 0 ? at : Number(p.low)));
      }
    }
    return lag;
  }

  producer(): LogProducer {
    return {
      send: async (topic, records) => {
        const p = await this.shared();
        for (const part of chunks(records))
          await p.send({ topic, acks: -1, compression: this.compression, messages: toMessages(part) });
      },
    };
  }

  consumer(options: ConsumerOptions): LogConsumer {
    return new KafkaGroupConsumer(
      {
        kafka: this.kafka,
        settings: this.consumerSettings(),
        producer: this.producer(),
        compression: this.compression,
        admin: () => this.adminClient(),
        transactionTimeoutMs: this.options.transactionTimeoutMs ?? 15_000,
        heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 1000,
        logger: this.logger,
      },
      options,
    );
  }

  /** Reads `topic` as a table with its own positions and no consumer group (nothing left on the broker). */
  tableReader(topic: string): TableReader {
    const reader = new KafkaPartitionReader(this.kafka, topic, this.options.maxWaitTimeMs ?? 100);
    this.closers.push(() => reader.close());
    return {
      catchUp: async (apply) => {
        const ends = await (await this.adminClient()).fetchTopicOffsets(topic);
        for (const record of await reader.readTo(ends, Date.now() + 30_000)) apply(record);
      },
    };
  }

  /**
   * Every committed record of `topic` as it is now, from each partition's low offset to the end
   * offsets fetched first, read without a consumer group.
   * @throws DependencyError (retriable) when that takes longer than `timeoutMs`
   */
  async readTopic(topic: string, timeoutMs = 60_000): Promise<ConsumedRecord[]> {
    const ends = await (await this.adminClient()).fetchTopicOffsets(topic);
    const reader = new KafkaPartitionReader(this.kafka, topic, this.options.maxWaitTimeMs ?? 100);
    try {
      return await reader.readTo(ends, Date.now() + timeoutMs);
    } finally {
      await reader.close();
    }
  }

  /** Disconnects every client this log created. Idempotent. */
  async close(): Promise<void> {
    for (const close of this.closers.splice(0)) await close().catch(() => undefined);
    if (this.sharedProducer !== undefined) await (await this.sharedProducer).disconnect();
    this.sharedProducer = undefined;
    await this.admin?.disconnect();
    this.admin = undefined;
  }
}
