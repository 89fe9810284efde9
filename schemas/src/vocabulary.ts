/**
 * IRIs of the PROV-ML vocabulary and the W3C vocabularies it builds on.
 * The ontology itself is `ontology/provml.ttl`; every term used here is declared there.
 */

/** Namespace of the PROV-ML ontology published by this project. */
export const PROVML_NS = 'https://w3id.org/provml/ns#';
/** W3C PROV-O. */
export const PROV_NS = 'http://www.w3.org/ns/prov#';
/** W3C ML Schema. */
export const MLS_NS = 'http://www.w3.org/ns/mls#';
export const RDF_NS = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#';
export const RDFS_NS = 'http://www.w3.org/2000/01/rdf-schema#';
export const XSD_NS = 'http://www.w3.org/2001/XMLSchema#';
export const DCTERMS_NS = 'http://purl.org/dc/terms/';

const ns =
  <const T extends readonly string[]>(base: string, names: T) =>
  (): { [K in T[number]]: string } =>
    Object.fromEntries(names.map((n) => [n, base + n])) as { [K in T[number]]: string };

/** PROV-ML classes and properties (see ontology/provml.ttl for labels and comments). */
export const PROVML = ns(PROVML_NS, [
  // prospective: workflows and tasks
  'Workflow',
  'DataCurationWorkflow',
  'LearningDataPreparationWorkflow',
  'LearningProcess',
  'LearningTask',
  'Study',
  'Experiment',
  'DataTransformation',
  'LearningStage',
  'LearningStageType',
  'Training',
  'Validation',
  'Testing',
  'Attribute',
  'LearningHyperParameter',
  'ModelHyperParameter',
  'EvaluationMeasure',
  'EvaluationSpecification',
  'EvaluationProcedure',
  'LearningDatasetReference',
  'DatasetCharacteristic',
  'ModelReference',
  'ModelSchema',
  'DataReference',
  'Parameter',
  'OutputValue',
  'FeatureExtraction',
  'FeatureSet',
  'FeatureSetCharacteristic',
  'Software',
  'Algorithm',
  'Implementation',
  'ImplementationCharacteristic',
  // retrospective
  'WorkflowExecution',
  'TaskExecution',
  'LearningProcessExecution',
  'LearningTaskValue',
  'LearningStageExecution',
  'AttributeValue',
  'LearningHyperParameterSetting',
  'ModelHyperParameterValue',
  'ModelEvaluation',
  'LearningDatasetReferenceValue',
  'DatasetCharacteristicValue',
  'ModelReferenceValue',
  'DataEntity',
  'DataStoreInstance',
  'ParameterValue',
  'OutputValueValue',
  'FeatureExtractionExecution',
  'FeatureSetData',
  'ComputeNode',
  'Rank',
  'ExecutionContextValue',
  'TimingStatistics',
  // properties, prospective
  'lifecyclePhase',
  'partOfWorkflow',
  'hasParentTask',
  'hasStageType',
  'hasInput',
  'hasOutput',
  'semantics',
  'characterizes',
  // properties, retrospective
  'executesWorkflow',
  'executesTask',
  'partOfExecution',
  'durationSeconds',
  'hasTimingStatistics',
  'ofTask',
  'executionCount',
  'minSeconds',
  'meanSeconds',
  'maxSeconds',
  'status',
  'hasValue',
  'hasInputValue',
  'hasOutputValue',
  'valueName',
  'evaluatesModel',
  'hasModelHyperParameterValue',
  'characterizesDataset',
  'storedIn',
  'contentDigest',
  'hasDomainAnnotation',
  'annotates',
  'contextKey',
  'hostName',
  'processId',
  'jobId',
  'rank',
  'localRank',
  'worldSize',
  'attempt',
  'eventCount',
] as const)();

/** PROV-O terms used by the mapping. */
export const PROV = ns(PROV_NS, [
  'Entity',
  'Activity',
  'Agent',
  'Bundle',
  'Plan',
  'SoftwareAgent',
  'Person',
  'Usage',
  'Generation',
  'used',
  'qualifiedUsage',
  'qualifiedGeneration',
  'entity',
  'activity',
  'hadRole',
  'wasGeneratedBy',
  'wasInformedBy',
  'wasAssociatedWith',
  'wasDerivedFrom',
  'wasAttributedTo',
  'specializationOf',
  'generatedAtTime',
  'startedAtTime',
  'endedAtTime',
  'hadPlan',
  'value',
  'atLocation',
] as const)();

/** ML Schema terms used by the mapping. */
export const MLS = ns(MLS_NS, [
  'Run',
  'Task',
  'Study',
  'Experiment',
  'Model',
  'ModelEvaluation',
  'HyperParameter',
  'HyperParameterSetting',
  'EvaluationMeasure',
  'EvaluationSpecification',
  'EvaluationProcedure',
  'Dataset',
  'DatasetCharacteristic',
  'Feature',
  'Software',
  'Algorithm',
  'Implementation',
  'ImplementationCharacteristic',
  'ModelCharacteristic',
  'hasInput',
  'hasOutput',
  'specifiedBy',
  'hasValue',
  'executes',
  'realizes',
  'implements',
  'hasHyperParameter',
  'achieves',
  'defines',
] as const)();

export const RDF = ns(RDF_NS, ['type', 'JSON'] as const)();
export const RDFS = ns(RDFS_NS, ['label', 'comment', 'subClassOf', 'subPropertyOf'] as const)();
export const XSD = ns(XSD_NS, ['string', 'boolean', 'integer', 'double', 'dateTime', 'long'] as const)();
