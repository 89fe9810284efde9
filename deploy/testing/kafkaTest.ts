/** Helpers for tests against the real Kafka broker started by the global setup. */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { KafkaEventLog, decodeTriples, type ConsumedRecord, type TopicNames } from '@provml/log';

/** The broker's bootstrap address, and why it is missing (tests skip with that reason, never under CI). */
export const kafka = { bootstrap: inject('kafkaBootstrap'), unavailable: inject('kafkaUnavailable') };

/** A unique suffix for this test's topics and groups. */
export const unique = (): string => randomBytes(5).toString('hex');

/** Topic names of their own for one test. */
export function testTopics(id = unique()): TopicNames {
  return {
    events: `test.events.${id}`,
    specs: `test.specs.${id}`,
    annotations: `test.annotations.${id}`,
    triples: `test.triples.${id}`,
    deadLetters: `test.dlq.${id}`,
  };
}

/** A KafkaEventLog on the test broker with the topics created. */
export async function kafkaLog(
  topics: TopicNames,
  partitions = 3,
  instanceId?: string,
): Promise<KafkaEventLog> {
  const log = new KafkaEventLog({ brokers: [kafka.bootstrap], clientId: 'provml-test', instanceId });
  for (const t of [topics.events, topics.triples, topics.deadLetters]) await log.ensureTopic(t, partitions);
  for (const t of [topics.specs, topics.annotations]) await log.ensureTopic(t, 1, { compacted: true });
  return log;
}

/** Polls until `check` holds (bounded), for asynchronous pipelines. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Counts each task execution's prov:startedAtTime quads in triples-topic records (either format): exactly-once means 1 each. */
export function startsPerExecution(records: readonly ConsumedRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of records)
    for (const line of decodeTriples(r.value).split('\n'))
      if (line.includes('<http://www.w3.org/ns/prov#startedAtTime>')) {
        const subject = line.slice(1, line.indexOf('>'));
        counts.set(subject, (counts.get(subject) ?? 0) + 1);
      }
  return counts;
}
