/** The Kafka side of a service's configuration: the kafkajs options and the log with its topics created. */
import type { Logger } from '@provml/schemas';
import { KafkaEventLog, createTopics, type KafkaLogOptions } from '@provml/log';
import { topicNames, type ServiceConfig } from './ServiceConfig.ts';

/** A started service: where it listens (if it does) and how to stop it. */
export interface RunningService {
  /** Base URL of its HTTP server, when it has one. */
  url?: string;
  /** Flushes and stops. Idempotent. */
  shutdown(): Promise<void>;
}

/** The kafkajs-facing options of a configuration: brokers, TLS and SASL passed through unchanged. */
export function kafkaLogOptions(config: ServiceConfig, logger: Logger): KafkaLogOptions {
  return {
    brokers: config.kafka.brokers,
    clientId: config.kafka.clientId,
    ssl: config.kafka.ssl,
    sasl: config.kafka.sasl as KafkaLogOptions['sasl'],
    instanceId: config.kafka.instanceId,
    compression: config.kafka.compression,
    replicationFactor: config.topics.replicationFactor,
    minInsyncReplicas: config.topics.minInsyncReplicas,
    logger: logger.child('kafka'),
  };
}

/** The Kafka log of a configuration, with every topic created (specs and annotations compacted). */
export async function connectLog(config: ServiceConfig, logger: Logger): Promise<KafkaEventLog> {
  const log = new KafkaEventLog(kafkaLogOptions(config, logger));
  await createTopics(log, topicNames(config), config.topics.partitions);
  return log;
}
