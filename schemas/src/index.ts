/** Public API of the schemas package: contracts, codecs, vocabulary and shared errors. */
export type { CaptureEvent, CaptureValue, DataRef, Phase, ExecutionStatus } from './CaptureEvent.ts';
export { DIGEST_PATTERN, withoutNullDigests } from './CaptureEvent.ts';
export {
  compileSpec,
  specSchema,
  SEMANTICS,
  REFERENCE_SEMANTICS,
  LIFECYCLE_PHASES,
  LEARNING_STAGES,
} from './ProspectiveSpec.ts';
export { extendSpec } from './extendSpec.ts';
export type {
  ProspectiveSpec,
  CompiledSpec,
  TaskSpec,
  AttributeSpec,
  ResolvedAttribute,
  AttributeDirection,
  Semantics,
  LifecyclePhase,
  LearningStage,
} from './ProspectiveSpec.ts';
export {
  parseEventJson,
  parseEventWithSchema,
  eventJsonSchema,
  checkEventAgainstSpec,
  isAbsoluteIri,
  isoToMicros,
  microsToIso,
  EVENT_LIMITS,
} from './validateEvent.ts';
export type { EventCheck } from './validateEvent.ts';
export {
  ProvmlError,
  ValidationError,
  DecodeError,
  DependencyError,
  SpoolFullError,
  SpoolLockedError,
  EventsDroppedError,
} from './errors.ts';
export type { ErrorContext, ValidationIssue } from './errors.ts';
export type { IssueReport, SocketAnswer } from './ingestAnswers.ts';
export { silentLogger, createJsonLogger } from './Logger.ts';
export type { Outcome } from './Outcome.ts';
export { Backoff } from './Backoff.ts';
export type { BackoffOptions } from './Backoff.ts';
export type { Logger, LogFields, LogLevel } from './Logger.ts';
export {
  PROVML,
  PROV,
  MLS,
  RDF,
  RDFS,
  XSD,
  PROVML_NS,
  PROV_NS,
  MLS_NS,
  RDF_NS,
  RDFS_NS,
  XSD_NS,
  DCTERMS_NS,
} from './vocabulary.ts';
export {
  SingleObjectCodec,
  captureEventCodec,
  encodeCaptureEvent,
  decodeCaptureEvent,
  isSingleObjectEncoded,
  SINGLE_OBJECT_MARKER,
} from './avro/SingleObjectCodec.ts';
export type { DecodeOutcome, SingleObjectCodecOptions } from './avro/SingleObjectCodec.ts';
export {
  CAPTURE_EVENT_SCHEMA,
  CAPTURE_EVENT_SCHEMA_V1,
  captureEventType,
  createAvroType,
  parsingCanonicalForm,
  schemaFingerprint,
} from './avro/captureEventSchema.ts';
export type { AvroSchema } from './avro/captureEventSchema.ts';
export { crc64Avro, CRC64_AVRO_EMPTY } from './avro/crc64Avro.ts';
export {
  ML_SCHEMA_PATH,
  PROV_O_PATH,
  PROVML_ONTOLOGY_PATH,
  PROVML_SHAPES_PATH,
  readOntologyTurtle,
  readShapesTurtle,
} from './ontology/files.ts';
