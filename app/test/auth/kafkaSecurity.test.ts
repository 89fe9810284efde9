/** Kafka TLS and SASL settings reach the kafkajs client unchanged, from options and from the environment. */
import { describe, expect, it, vi } from 'vitest';
import type * as kafkajs from 'kafkajs';
import { silentLogger } from '@provml/schemas';

const seen = vi.hoisted(() => ({ configs: [] as Record<string, unknown>[] }));
vi.mock('kafkajs', async (importOriginal) => {
  const real = await importOriginal<typeof kafkajs>();
  class Kafka extends real.Kafka {
    constructor(config: kafkajs.KafkaConfig) {
      super(config);
      seen.configs.push(config as unknown as Record<string, unknown>);
    }
  }
  return { ...real, Kafka };
});

const { KafkaEventLog } = await import('@provml/log');
const { resolveServiceConfig } = await import('@provml/service');
const { kafkaLogOptions } = await import('../../src/services/services.ts');

describe('Kafka TLS/SASL pass-through', () => {
  it('hands ssl and sasl from the environment to the kafkajs client', () => {
    const config = resolveServiceConfig(
      {},
      {
        PROVML_KAFKA_BROKERS: 'kafka-1.example:9093,kafka-2.example:9093',
        PROVML_KAFKA_SSL: 'true',
        PROVML_KAFKA_SASL_MECHANISM: 'scram-sha-512',
        PROVML_KAFKA_SASL_USERNAME: 'provml',
        PROVML_KAFKA_SASL_PASSWORD: 'sasl-secret-value',
      },
    );
    seen.configs.length = 0;
    new KafkaEventLog(kafkaLogOptions(config, silentLogger));
    expect(seen.configs).toHaveLength(1);
    expect(seen.configs[0]).toMatchObject({
      brokers: ['kafka-1.example:9093', 'kafka-2.example:9093'],
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'provml', password: 'sasl-secret-value' },
    });
  });

  it('passes plain text with no SASL by default', () => {
    seen.configs.length = 0;
    new KafkaEventLog(kafkaLogOptions(resolveServiceConfig({}, {}), silentLogger));
    expect(seen.configs[0]).toMatchObject({ brokers: ['127.0.0.1:19092'], ssl: false, sasl: undefined });
  });

  it('takes ssl and sasl from a config file or options too, options first', () => {
    const config = resolveServiceConfig(
      { kafka: { ssl: true, sasl: { mechanism: 'plain', username: 'u', password: 'p-from-options' } } },
      {
        PROVML_KAFKA_SASL_MECHANISM: 'scram-sha-256',
        PROVML_KAFKA_SASL_USERNAME: 'e',
        PROVML_KAFKA_SASL_PASSWORD: 'x',
      },
    );
    expect(kafkaLogOptions(config, silentLogger)).toMatchObject({
      ssl: true,
      sasl: { mechanism: 'plain', username: 'u', password: 'p-from-options' },
    });
  });
});
