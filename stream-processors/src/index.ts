/** Public API of the stream processors: the PROV-ML mapping and the processor service. */
export {
  INCOMPLETE_CONTEXT_KEY,
  INCOMPLETE_EVENT_PREFIX,
  IncompleteExecutions,
} from './IncompleteExecutions.ts';
export { ProcessorService } from './ProcessorService.ts';
export { mapRecords, splitNQuads } from './mapRecords.ts';
export type { DecodedRecord, MappedRecords, MappingContext } from './mapRecords.ts';
export type { ProcessorOptions, ProcessorStats } from './ProcessorService.ts';
export { SpecRegistry } from './SpecRegistry.ts';
export { DEFAULT_IRI_BASE, IriMinter, defaultStoreOf } from './mapping/IriMinter.ts';
export { BoundedMap, MappingState } from './mapping/MappingState.ts';
export type { MappingStateLimits, OpenExecution } from './mapping/MappingState.ts';
export {
  MAX_ANNOTATION_LENGTH,
  attributionQuads,
  indexAnnotations,
  parseAnnotations,
} from './mapping/mapAnnotations.ts';
export type { Attribution } from './mapping/mapAnnotations.ts';
export {
  ANONYMOUS_ANNOTATOR,
  annotationQuads,
  annotationTriplesRecords,
  readAnnotationPost,
} from './annotationRecords.ts';
export type { AnnotationPost } from './annotationRecords.ts';
export { RETROSPECTIVE_VALUE_CLASS, mapEvent } from './mapping/mapEvent.ts';
export { PROSPECTIVE_CLASS, STAGE_TYPE, mapSpec } from './mapping/mapSpec.ts';
export { toNQuads } from './mapping/nquads.ts';
