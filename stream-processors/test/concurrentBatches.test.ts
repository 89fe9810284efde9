/** Batches of several partitions handled at once by one processor share its spec and annotation catch-ups. */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeCaptureEvent, encodeCaptureEvent } from '@provml/schemas';
import { ANNOTATION_SOURCE_HEADER, type KafkaEventLog, type ProducedRecord } from '@provml/log';
import { ProcessorService } from '@provml/stream-processors';
import { kafka, kafkaLog, testTopics, unique } from '../../deploy/testing/kafkaTest.ts';
import { event, SPEC } from './fixtures.ts';

// Skips only when the global test setup could not start Kafka outside CI; under CI=true that setup fails the run instead.
describe.skipIf(kafka.bootstrap === '')(`concurrent batches in one processor ${kafka.unavailable}`, () => {
  let log: KafkaEventLog | undefined;
  afterEach(async () => {
    await log?.close();
  });

  it('reads each spec and annotation record once when batches of 8 partitions catch up at once, and maps every event', async () => {
    const topics = testTopics();
    log = await kafkaLog(topics, 8);
    await log.producer().send(topics.specs, [{ key: 'w', value: Buffer.from(JSON.stringify(SPEC)) }]);
    await log.producer().send(topics.annotations, [
      {
        key: 's',
        value: Buffer.from('<https://ex.org/a> <https://w3id.org/provml/ns#annotates> <file:///raw.sgy> .'),
        headers: { [ANNOTATION_SOURCE_HEADER]: 's' },
      },
    ]);
    const processor = new ProcessorService(log, {
      decodeEvent: decodeCaptureEvent,
      topics,
      groupId: `p-${unique()}`,
    });
    const out: ProducedRecord[] = [];
    // as kafkajs hands them with partitionsConsumedConcurrently: every batch's catch-up begins at once
    await Promise.all(
      Array.from({ length: 8 }, (_, partition) =>
        processor.processBatch(
          {
            topic: topics.events,
            partition,
            records: [
              {
                topic: topics.events,
                partition,
                offset: '0',
                key: `run-${partition}`,
                value: encodeCaptureEvent(
                  event({ eventId: `e-${partition}`, workflowExecution: `run-${partition}` }),
                ),
                headers: {},
                timestamp: Date.now(),
              },
            ],
          },
          { send: async (_topic, rs) => void out.push(...rs) },
        ),
      ),
    );
    // one catch-up read the tables; the others, queued behind it, found nothing new
    expect(processor.stats.specsLoaded).toBe(1);
    expect(processor.stats.annotationsLoaded).toBe(1);
    expect(processor.stats.eventsProcessed).toBe(8);
    expect(processor.stats.deadLettered).toBe(0);
    expect(new Set(out.map((r) => r.key))).toEqual(new Set(Array.from({ length: 8 }, (_, p) => `run-${p}`)));
  });
});
