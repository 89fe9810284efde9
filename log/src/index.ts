/** Public API of the log: its ports, the embedded log, the Kafka adapter, topic names, the triples record format, the capture exporter onto a log and dead letters. */
export { EmbeddedLog } from './EmbeddedLog.ts';
export type { EmbeddedLogOptions } from './EmbeddedLog.ts';
export { LogCaptureExporter } from './LogCaptureExporter.ts';
export { KafkaEventLog } from './kafka/KafkaEventLog.ts';
export type { KafkaLogOptions } from './kafka/KafkaEventLog.ts';
export { probeBrokers } from './kafka/brokerProbe.ts';
export type { BrokerProbeOptions } from './kafka/brokerProbe.ts';
export { kafkaLogCreator, kafkaLogVerdict } from './kafka/kafkaLogging.ts';
export type { KafkaLogVerdict } from './kafka/kafkaLogging.ts';
export { RegistryEventCodec } from './kafka/RegistryEventCodec.ts';
export { CONFLUENT_MAGIC, decodeSingleObjectEvent, isConfluentEncoded } from './eventFraming.ts';
export type { RegistryCodecOptions } from './kafka/RegistryEventCodec.ts';
export { isForeignPartitioned, murmur2, partitionFor } from './murmur2.ts';
// the ports: the log and its clients, then the records that travel through them
export type {
  EventLog,
  LogProducer,
  LogConsumer,
  TableReader,
  ConsumerOptions,
  TopicOptions,
} from './ports.ts';
export type { ProducedRecord, ConsumedRecord, RecordBatch, BatchOutput } from './ports.ts';
export {
  ANNOTATION_AGENT_HEADER,
  ANNOTATION_SOURCE_HEADER,
  CAPTURED_AT_HEADER,
  DROP_GRAPH_HEADER,
  DEFAULT_TOPICS,
  DLQ_HEADERS,
  createTopics,
} from './topics.ts';
export { deadLetter } from './deadLetter.ts';
export { TRIPLES_DICTIONARY_V1, decodeTriples, encodeTriples, isEncodedTriples } from './triplesRecord.ts';
export type { TopicNames } from './topics.ts';
