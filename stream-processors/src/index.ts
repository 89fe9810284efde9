/** Public API of the stream processors: the log ports, the embedded log, the PROV-ML mapping and the processor. */
export { EmbeddedLog } from './log/EmbeddedLog.ts';
export type { EmbeddedLogOptions } from './log/EmbeddedLog.ts';
export { murmur2, partitionFor } from './log/murmur2.ts';
export type {
  EventLog,
  LogProducer,
  LogConsumer,
  BatchOutput,
  TableReader,
  ProducedRecord,
  ConsumedRecord,
  RecordBatch,
  ConsumerOptions,
  TopicOptions,
} from './log/ports.ts';
export { IriMinter, DEFAULT_IRI_BASE, defaultStoreOf } from './mapping/IriMinter.ts';
export { MappingState, BoundedMap } from './mapping/MappingState.ts';
export type { OpenExecution, MappingStateLimits } from './mapping/MappingState.ts';
export { mapSpec, PROSPECTIVE_CLASS, STAGE_TYPE } from './mapping/mapSpec.ts';
export { mapEvent, RETROSPECTIVE_VALUE_CLASS } from './mapping/mapEvent.ts';
export { parseAnnotations, indexAnnotations, MAX_ANNOTATION_LENGTH } from './mapping/mapAnnotations.ts';
export { toNQuads } from './mapping/nquads.ts';
export { ProcessorService, deadLetter, splitNQuads } from './ProcessorService.ts';
export {
  IncompleteExecutions,
  INCOMPLETE_EVENT_PREFIX,
  INCOMPLETE_CONTEXT_KEY,
} from './IncompleteExecutions.ts';
export type { ProcessorOptions, ProcessorStats } from './ProcessorService.ts';
export { SpecRegistry } from './SpecRegistry.ts';
export { DEFAULT_TOPICS, DLQ_HEADERS, ANNOTATION_SOURCE_HEADER, CAPTURED_AT_HEADER } from './topics.ts';
export type { TopicNames } from './topics.ts';
export { LogCaptureExporter } from './LogCaptureExporter.ts';
export { KafkaEventLog } from './kafka/KafkaEventLog.ts';
export type { KafkaLogOptions } from './kafka/KafkaEventLog.ts';
export { RegistryEventCodec, isConfluentEncoded, CONFLUENT_MAGIC } from './kafka/RegistryEventCodec.ts';
export type { RegistryCodecOptions } from './kafka/RegistryEventCodec.ts';
