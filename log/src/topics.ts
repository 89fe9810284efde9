/** Topic names and dead-letter headers: configuration shared by every service. */
import type { EventLog } from './ports.ts';

/** Names of the topics the system uses. */
export interface TopicNames {
  /** Capture events (Avro), keyed by workflow execution. */
  events: string;
  /** Prospective specs (JSON), compacted, keyed by workflow id. */
  specs: string;
  /** Domain annotations (Turtle), compacted, keyed by annotation source. */
  annotations: string;
  /** PROV-ML quads (N-Quads), keyed by workflow execution. */
  triples: string;
  /** Poison messages with the reason in headers. */
  deadLetters: string;
}

/** Default topic names. */
export const DEFAULT_TOPICS: TopicNames = {
  events: 'provml.events',
  specs: 'provml.specs',
  annotations: 'provml.annotations',
  triples: 'provml.triples',
  deadLetters: 'provml.dlq',
};

/**
 * Header of a triples record: the capture time (µs since the epoch, decimal) of the earliest event
 * mapped into it, so the sink can measure event-to-store latency.
 */
export const CAPTURED_AT_HEADER = 'provml-captured-at';

/** Header names of a dead-letter record. */
export const DLQ_HEADERS = {
  reason: 'provml-dlq-reason',
  code: 'provml-dlq-code',
  sourceTopic: 'provml-dlq-source-topic',
  sourcePartition: 'provml-dlq-source-partition',
  sourceOffset: 'provml-dlq-source-offset',
  stage: 'provml-dlq-stage',
} as const;

/** Header naming the source (graph) of an annotation record. */
export const ANNOTATION_SOURCE_HEADER = 'provml-annotation-source';

/**
 * Header of an annotation record naming who posted it: the annotator id the ingest derived from the
 * bearer token (`token-…`), or `anonymous` where the ingest has no access control.
 */
export const ANNOTATION_AGENT_HEADER = 'provml-annotation-agent';

/**
 * Header of a triples record that drops a named graph (its value, an IRI) before anything after it
 * on its partition is loaded: a replaced or withdrawn annotation source. The record's value is empty.
 */
export const DROP_GRAPH_HEADER = 'provml-drop-graph';

/**
 * Creates every topic of the system on a log (existing ones are left as they are): events, triples
 * and dead letters with `partitions` partitions; specs and annotations compacted, one partition each
 * (they are tables, read whole by every processor).
 */
export async function createTopics(log: EventLog, topics: TopicNames, partitions: number): Promise<void> {
  for (const topic of [topics.events, topics.triples, topics.deadLetters])
    await log.ensureTopic(topic, partitions);
  for (const topic of [topics.specs, topics.annotations])
    await log.ensureTopic(topic, 1, { compacted: true });
}
