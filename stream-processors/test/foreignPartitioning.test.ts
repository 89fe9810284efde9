/** Foreign partitioning noticed: events a CRC32 partitioner (librdkafka's default) placed are counted and warned about once per run. */
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeCaptureEvent, encodeCaptureEvent, type LogFields, type Logger } from '@provml/schemas';
import { partitionFor, type KafkaEventLog } from '@provml/log';
import { ProcessorService } from '@provml/stream-processors';
import { kafka, kafkaLog, testTopics, unique, until } from '../../deploy/testing/kafkaTest.ts';
import { event, SPEC } from './fixtures.ts';

/** A logger that keeps its warnings. */
function recordingLogger(warnings: { message: string; fields?: LogFields }[]): Logger {
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (message, fields) => void warnings.push({ message, fields }),
    error: () => undefined,
    child: () => logger,
  };
  return logger;
}

// Skips only when the global test setup could not start Kafka outside CI; under CI=true that setup fails the run instead.
describe.skipIf(kafka.bootstrap === '')(`foreign partitioning ${kafka.unavailable}`, () => {
  let log: KafkaEventLog | undefined;
  let processor: ProcessorService | undefined;
  afterEach(async () => {
    await processor?.shutdown();
    await log?.close();
  });

  it('counts events placed by CRC32 instead of murmur2 and warns once per workflow execution', async () => {
    const partitions = 4;
    const topics = testTopics();
    log = await kafkaLog(topics, partitions);
    // keys CRC32 and murmur2 put on different partitions, and one they agree on
    const runs = Array.from({ length: 40 }, (_, i) => `run-${i}`);
    const crcPartition = (key: string): number => crc32(key) % partitions;
    const foreign = runs.filter((k) => crcPartition(k) !== partitionFor(k, partitions)).slice(0, 3);
    const agreeing = runs.find((k) => crcPartition(k) === partitionFor(k, partitions))!;
    expect(foreign).toHaveLength(3);
    await log.producer().send(topics.specs, [{ key: 'w', value: Buffer.from(JSON.stringify(SPEC)) }]);
    // a producer the project did not write: librdkafka's consistent_random partitioner (CRC32)
    const producer = log.kafka.producer();
    await producer.connect();
    const messages = [...foreign, agreeing].flatMap((run) =>
      (['begin', 'end'] as const).map((phase) => ({
        key: run,
        partition: crcPartition(run),
        value: encodeCaptureEvent(
          event({
            eventId: `${run}-${phase}`,
            workflowExecution: run,
            phase,
            status: phase === 'end' ? 'finished' : null,
          }),
        ),
      })),
    );
    await producer.send({ topic: topics.events, messages });
    await producer.disconnect();
    const warnings: { message: string; fields?: LogFields }[] = [];
    processor = new ProcessorService(log, {
      decodeEvent: decodeCaptureEvent,
      topics,
      groupId: `p-${unique()}`,
      logger: recordingLogger(warnings),
    });
    await processor.start();
    await until(() => processor!.stats.eventsProcessed === messages.length, 'every event mapped');
    expect(processor.stats.foreignPartitioned).toBe(2 * foreign.length);
    const warned = warnings.filter((w) => w.message.includes('murmur2_random'));
    expect(warned.map((w) => w.fields?.workflowExecution).sort()).toEqual([...foreign].sort());
    for (const w of warned)
      expect(w.fields).toMatchObject({
        partition: crcPartition(String(w.fields?.workflowExecution)),
        expected: partitionFor(String(w.fields?.workflowExecution), partitions),
        partitions,
      });
  });
});
