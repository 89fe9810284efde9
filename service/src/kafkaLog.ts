/** The Kafka side of a service's configuration: the kafkajs options and the log with its topics created. */
import { DependencyError, type Logger } from '@provml/schemas';
import { KafkaEventLog, createTopics, probeBrokers, type KafkaLogOptions } from '@provml/log';
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

/**
 * Resolves once a broker of `brokers` answers; otherwise, within `timeoutMs`, fails with the one line
 * a user needs (where it looked, how to start one) instead of kafkajs retrying for minutes.
 *
 * @throws DependencyError `kafka-unreachable`
 */
export async function requireBroker(brokers: readonly string[], timeoutMs = 5000): Promise<void> {
  await probeBrokers(brokers, { timeoutMs }).catch((error: unknown) => {
    throw new DependencyError(
      'kafka-unreachable',
      `${(error as Error).message}: start one with npm run stack:up (or point --kafka / PROVML_KAFKA_BROKERS at yours)`,
      { retriable: true, cause: error, context: { brokers: brokers.join(',') } },
    );
  });
}
