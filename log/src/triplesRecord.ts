/**
 * The wire format of a triples-topic value: N-Quads, deflated with a preset dictionary of the PROV-ML
 * vocabulary behind a two-byte header, so that an event's quads take tens of bytes instead of kilobytes.
 *
 * Grammar of a value (version 1):
 *
 *     value   = 0x00 0x01 deflate    ; raw DEFLATE (RFC 1951) of UTF-8 N-Quads, preset dictionary TRIPLES_DICTIONARY_V1
 *             | nquads               ; plain UTF-8 N-Quads: what processors wrote before version 1 (still read)
 *             | ""                   ; empty: a drop-graph record (its graph in a header)
 *
 * A NUL byte never begins N-Quads text (a document starts with `<`, `_`, `#` or white space), so the
 * first byte tells the two apart. The dictionary belongs to the version: changing it makes a new
 * version, and the golden test checks its exact bytes.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { DecodeError } from '@provml/schemas';

/** The first byte of an encoded value: never the first byte of N-Quads text. */
const MAGIC = 0x00;
/** Version 1: raw DEFLATE with TRIPLES_DICTIONARY_V1. */
const VERSION_DEFLATE_V1 = 0x01;
/**
 * zlib level 1 (fastest): with the dictionary a one-event record is ~180 bytes (level 6: ~150), a
 * record of 150 events ~60 bytes per event (level 6: ~45), at about a third of level 6's cost
 * (bench/results/triples-bytes.md): the processor's CPU is the scarcer resource.
 */
const LEVEL = 1;

const ns = {
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  rdfs: 'http://www.w3.org/2000/01/rdf-schema#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
  prov: 'http://www.w3.org/ns/prov#',
  mls: 'http://www.w3.org/ns/mls#',
  provml: 'https://w3id.org/provml/ns#',
} as const;

/** A quad of the dictionary: a subject of the execution graph, a predicate, an object. */
const line = (p: string, o: string): string =>
  `<urn:provml:execution/x/t> <${p}> ${o} <urn:provml:graph/execution/x> .\n`;
const type = (c: string): string => line(`${ns.rdf}type`, `<${c}>`);
const typed = (p: string, datatype: string): string => line(p, `"0"^^<${ns.xsd}${datatype}>`);

/**
 * The preset dictionary of version 1: quads of the PROV-ML mapping's vocabulary, rarest first (DEFLATE
 * reaches the end of the dictionary with the shortest distances). Frozen: a value written with it must
 * decode forever. Not the mapping's own constants, which may change.
 */
export const TRIPLES_DICTIONARY_V1: Buffer = Buffer.from(
  [
    ...[
      'Workflow',
      'LearningProcess',
      'LearningStage',
      'LearningDataPreparationWorkflow',
      'DataCurationWorkflow',
      'DataTransformation',
      'Attribute',
      'Parameter',
      'OutputValue',
      'ModelReference',
      'ModelHyperParameter',
      'LearningHyperParameter',
      'LearningDatasetReference',
      'DatasetCharacteristic',
      'EvaluationMeasure',
      'DataReference',
      'Training',
      'Validation',
      'Testing',
      'ParameterValue',
      'ModelReferenceValue',
      'ModelHyperParameterValue',
      'DatasetCharacteristicValue',
    ].map((c) => type(ns.provml + c)),
    type(`${ns.prov}Plan`),
    type(`${ns.prov}Bundle`),
    type(`${ns.prov}Generation`),
    ...[
      'hasDomainAnnotation',
      'annotates',
      'semantics',
      'partOfWorkflow',
      'lifecyclePhase',
      'jobId',
      'hasStageType',
      'hasParentTask',
      'hasOutput',
      'hasInput',
      'hasModelHyperParameterValue',
      'evaluatesModel',
      'characterizesDataset',
      'characterizes',
    ].map((p) => line(ns.provml + p, '<urn:provml:workflow/w/task/t>')),
    ...[
      'wasInformedBy',
      'wasGeneratedBy',
      'wasDerivedFrom',
      'wasAttributedTo',
      'specializationOf',
      'qualifiedGeneration',
      'generatedAtTime',
      'activity',
    ].map((p) => line(ns.prov + p, '<urn:provml:execution/x/t>')),
    line(`${ns.rdfs}comment`, '"c"'),
    typed(`${ns.prov}value`, 'boolean'),
    line(`${ns.prov}value`, `"[0]"^^<${ns.rdf}JSON>`),
    type(`${ns.provml}WorkflowExecution`),
    type(`${ns.provml}LearningProcessExecution`),
    type(`${ns.provml}LearningStageExecution`),
    type(`${ns.mls}Run`),
    line(`${ns.provml}executesWorkflow`, '<urn:provml:workflow/w>'),
    line(`${ns.rdfs}label`, '"x"'),
    line(`${ns.provml}hostName`, '"h"'),
    line(`${ns.prov}wasAssociatedWith`, '<urn:provml:agent/host/h>'),
    type(`${ns.provml}ComputeNode`),
    type(`${ns.prov}Agent`),
    type(`${ns.prov}Person`),
    line(`${ns.provml}processId`, '"1"'),
    type(`${ns.provml}ExecutionContextValue`),
    line(`${ns.provml}contextKey`, '"k"'),
    line(`${ns.provml}hasValue`, '<urn:provml:execution/x/t/context/k>'),
    type(`${ns.prov}Entity`),
    type(`${ns.provml}DataEntity`),
    line(`${ns.provml}storedIn`, '<urn:provml:store/s>'),
    type(`${ns.provml}DataStoreInstance`),
    line(`${ns.prov}hadRole`, '<urn:provml:workflow/w/task/t/attribute/a>'),
    line(`${ns.prov}qualifiedUsage`, '<urn:provml:execution/x/t/a>'),
    type(`${ns.prov}Usage`),
    line(`${ns.prov}used`, '<file:///d>'),
    line(`${ns.prov}entity`, '<file:///d>'),
    type(`${ns.provml}LearningDatasetReferenceValue`),
    type(`${ns.provml}LearningHyperParameterSetting`),
    line(`${ns.mls}hasInput`, '<urn:provml:execution/x/t/a>'),
    typed(`${ns.prov}value`, 'string'),
    type(`${ns.provml}ModelEvaluation`),
    type(`${ns.provml}TimingStatistics`),
    line(`${ns.provml}hasTimingStatistics`, '<urn:provml:execution/x/timing/t>'),
    line(`${ns.provml}ofTask`, '<urn:provml:workflow/w/task/t>'),
    typed(`${ns.provml}executionCount`, 'integer'),
    typed(`${ns.provml}minSeconds`, 'double'),
    typed(`${ns.provml}meanSeconds`, 'double'),
    typed(`${ns.provml}maxSeconds`, 'double'),
    typed(`${ns.prov}value`, 'integer'),
    type(`${ns.provml}TaskExecution`),
    type(`${ns.prov}Activity`),
    line(`${ns.provml}executesTask`, '<urn:provml:workflow/w/task/t>'),
    line(`${ns.provml}partOfExecution`, '<urn:provml:execution/x>'),
    typed(`${ns.prov}startedAtTime`, 'dateTime'),
    type(`${ns.provml}AttributeValue`),
    type(`${ns.provml}OutputValueValue`),
    line(`${ns.mls}specifiedBy`, '<urn:provml:workflow/w/task/t/attribute/a>'),
    line(`${ns.provml}valueName`, '"a"'),
    typed(`${ns.prov}value`, 'double'),
    line(`${ns.mls}hasOutput`, '<urn:provml:execution/x/t/a>'),
    typed(`${ns.prov}endedAtTime`, 'dateTime'),
    line(`${ns.provml}status`, '"completed"'),
    typed(`${ns.provml}durationSeconds`, 'double'),
  ].join(''),
  'utf8',
);

/** Whether a triples value is in the encoded format (else plain N-Quads, or empty). */
export function isEncodedTriples(value: Uint8Array): boolean {
  return value.length >= 2 && value[0] === MAGIC;
}

/**
 * Encodes N-Quads text as a triples value (version 1). Synchronous, so that a processor's batch is
 * mapped, encoded and handed to its transaction in one step. Empty text stays empty.
 */
export function encodeTriples(nquads: string | Buffer): Buffer {
  const text = typeof nquads === 'string' ? Buffer.from(nquads, 'utf8') : nquads;
  if (text.length === 0) return Buffer.alloc(0);
  const body = deflateRawSync(text, { level: LEVEL, dictionary: TRIPLES_DICTIONARY_V1 });
  const out = Buffer.allocUnsafe(2 + body.length);
  out[0] = MAGIC;
  out[1] = VERSION_DEFLATE_V1;
  body.copy(out, 2);
  return out;
}

/**
 * The N-Quads text of a triples value, in either format.
 * @throws DecodeError for an unknown version or a corrupt body
 */
export function decodeTriples(value: Buffer): string {
  if (!isEncodedTriples(value)) return value.toString('utf8');
  const version = value[1];
  if (version !== VERSION_DEFLATE_V1)
    throw new DecodeError(`unknown triples record version ${version} (this reader knows 1)`);
  try {
    return inflateRawSync(value.subarray(2), { dictionary: TRIPLES_DICTIONARY_V1 }).toString('utf8');
  } catch (cause) {
    throw new DecodeError('corrupt triples record (its DEFLATE body does not inflate)', { cause });
  }
}
