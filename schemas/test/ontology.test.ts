// The PROV-ML ontology and its SHACL shapes: parse, cover the vocabulary and Table II, validate mapper-like graphs.
import { DataFactory, Parser, Store } from 'n3';
import type { Term } from 'n3';
import SHACLValidator from 'rdf-validate-shacl';
import { describe, expect, it } from 'vitest';
import { readOntologyTurtle, readShapesTurtle } from '../src/ontology/files.ts';
import { MLS_NS, PROV, PROV_NS, PROVML } from '../src/vocabulary.ts';

const namedNode = (iri: string) => DataFactory.namedNode(iri);

const PROVML_NS = 'https://w3id.org/provml/ns#';
const OWL = 'http://www.w3.org/2002/07/owl#';
const RDF_TYPE = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#type';
const RDFS = 'http://www.w3.org/2000/01/rdf-schema#';
const XSD = 'http://www.w3.org/2001/XMLSchema#';
const SH = 'http://www.w3.org/ns/shacl#';

const PROSPECTIVE = `${PROVML_NS}ProspectiveElement`;
const RETROSPECTIVE = `${PROVML_NS}RetrospectiveElement`;
const STAGE_TYPES = ['Training', 'Validation', 'Testing'];

/** Every class named in the paper's Table II ("A and B" rows split into both names). */
const TABLE_II_CLASSES = [
  'Study',
  'Experiment',
  'LearningProcessExecution',
  'LearningTask',
  'LearningTaskValue',
  'LearningStageType',
  'LearningDatasetReference',
  'LearningDatasetReferenceValue',
  'DatasetCharacteristic',
  'DatasetCharacteristicValue',
  'FeatureSet',
  'FeatureSetData',
  'FeatureSetCharacteristic',
  'FeatureExtraction',
  'FeatureExtractionExecution',
  'Software',
  'Algorithm',
  'Implementation',
  'ImplementationCharacteristic',
  'LearningHyperParameter',
  'LearningHyperParameterSetting',
  'ModelSchema',
  'ModelReference',
  'ModelReferenceValue',
  'ModelHyperParameter',
  'ModelHyperParameterValue',
  'DataStoreInstance',
  'EvaluationMeasure',
  'ModelEvaluation',
  'EvaluationSpecification',
  'EvaluationProcedure',
  // named in the descriptions of Table II
  'LearningStage',
  'LearningStageExecution',
];

function parseTurtle(text: string): Store {
  const store = new Store();
  store.addQuads(new Parser({ format: 'text/turtle' }).parse(text));
  return store;
}

const ontology = parseTurtle(readOntologyTurtle());

function objects(subject: string, predicate: string): Term[] {
  return ontology.getObjects(namedNode(subject), namedNode(predicate), null);
}

function types(subject: string): string[] {
  return objects(subject, RDF_TYPE).map((t) => t.value);
}

/** All named superclasses of `iri` by rdfs:subClassOf*, `iri` included. */
function ancestors(iri: string): Set<string> {
  const seen = new Set<string>([iri]);
  const queue = [iri];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    for (const parent of objects(next, `${RDFS}subClassOf`)) {
      if (parent.termType === 'NamedNode' && !seen.has(parent.value)) {
        seen.add(parent.value);
        queue.push(parent.value);
      }
    }
  }
  return seen;
}

const vocabularyTerms = Object.entries(PROVML as Record<string, string>);
const vocabularyClasses = vocabularyTerms.filter(
  ([name]) => /^[A-Z]/.test(name) && !STAGE_TYPES.includes(name),
);
const vocabularyProperties = vocabularyTerms.filter(([name]) => /^[a-z]/.test(name));
const declaredClasses = ontology
  .getSubjects(namedNode(RDF_TYPE), namedNode(`${OWL}Class`), null)
  .filter((s) => s.termType === 'NamedNode' && s.value.startsWith(PROVML_NS))
  .map((s) => s.value);
const markers = [PROSPECTIVE, RETROSPECTIVE];
const domainClasses = declaredClasses.filter((c) => !markers.includes(c));

describe('PROV-ML ontology', () => {
  it('parses as Turtle and has an owl:Ontology header with version, license and imports', () => {
    expect(ontology.size).toBeGreaterThan(300);
    const [header, ...others] = ontology.getSubjects(namedNode(RDF_TYPE), namedNode(`${OWL}Ontology`), null);
    expect(others).toEqual([]);
    expect(header?.value).toBe('https://w3id.org/provml/ns');
    const h = header!.value;
    expect(objects(h, `${OWL}versionInfo`).map((t) => t.value)).toEqual(['0.2.0']);
    expect(objects(h, 'http://purl.org/dc/terms/title')).toHaveLength(1);
    expect(objects(h, 'http://purl.org/dc/terms/description')).toHaveLength(1);
    expect(objects(h, 'http://purl.org/dc/terms/license').map((t) => t.value)).toEqual([
      'https://www.apache.org/licenses/LICENSE-2.0',
    ]);
    expect(
      objects(h, `${OWL}imports`)
        .map((t) => t.value)
        .sort(),
    ).toEqual(['http://www.w3.org/ns/mls#', 'http://www.w3.org/ns/prov-o#']);
  });

  it.each(vocabularyClasses)('declares class %s with a label and a comment', (_name, iri) => {
    expect(types(iri)).toContain(`${OWL}Class`);
    expect(objects(iri, `${RDFS}label`)).toHaveLength(1);
    expect(objects(iri, `${RDFS}comment`)).toHaveLength(1);
  });

  it.each(vocabularyProperties)('declares property %s with a label and a comment', (_name, iri) => {
    const kinds = types(iri).filter((t) => t === `${OWL}ObjectProperty` || t === `${OWL}DatatypeProperty`);
    expect(kinds).toHaveLength(1);
    expect(objects(iri, `${RDFS}label`)).toHaveLength(1);
    expect(objects(iri, `${RDFS}comment`)).toHaveLength(1);
  });

  it('declares the learning stage types as named individuals of LearningStageType, not classes', () => {
    for (const name of STAGE_TYPES) {
      const iri = PROVML_NS + name;
      expect(PROVML[name as keyof typeof PROVML]).toBe(iri);
      expect(types(iri).sort()).toEqual([`${OWL}NamedIndividual`, PROVML.LearningStageType].sort());
      expect(objects(iri, `${RDFS}label`)).toHaveLength(1);
      expect(objects(iri, `${RDFS}comment`)).toHaveLength(1);
    }
  });

  it('gives every declared class and property a label and a comment', () => {
    const declared = ontology
      .getQuads(null, namedNode(RDF_TYPE), null, null)
      .filter((q) => q.subject.termType === 'NamedNode' && q.subject.value.startsWith(PROVML_NS))
      .map((q) => q.subject.value);
    for (const iri of new Set(declared)) {
      expect(objects(iri, `${RDFS}label`), iri).toHaveLength(1);
      expect(objects(iri, `${RDFS}comment`), iri).toHaveLength(1);
    }
  });

  it.each(TABLE_II_CLASSES)('has the Table II class %s', (name) => {
    expect(types(PROVML_NS + name)).toContain(`${OWL}Class`);
  });

  it('places every class under PROV-O or ML Schema by rdfs:subClassOf*', () => {
    expect(domainClasses.length).toBeGreaterThanOrEqual(vocabularyClasses.length);
    for (const iri of domainClasses) {
      const external = [...ancestors(iri)].filter((a) => a.startsWith(PROV_NS) || a.startsWith(MLS_NS));
      expect(external, iri).not.toEqual([]);
    }
  });

  it('keeps prospective and retrospective apart: each class is under exactly one marker', () => {
    expect(objects(PROSPECTIVE, `${OWL}disjointWith`).map((t) => t.value)).toContain(RETROSPECTIVE);
    for (const marker of markers) expect(types(marker)).toContain(`${OWL}Class`);
    for (const iri of domainClasses) {
      const up = ancestors(iri);
      expect(
        markers.filter((m) => up.has(m)),
        iri,
      ).toHaveLength(1);
    }
  });

  it.each([
    // prospective: the spec
    ['Workflow', PROSPECTIVE, `${PROV_NS}Plan`],
    ['LearningProcess', PROSPECTIVE, `${PROV_NS}Plan`],
    ['DataTransformation', PROSPECTIVE, `${PROV_NS}Plan`],
    ['LearningStage', PROSPECTIVE, `${PROV_NS}Plan`],
    ['LearningHyperParameter', PROSPECTIVE, `${MLS_NS}HyperParameter`],
    ['EvaluationMeasure', PROSPECTIVE, `${MLS_NS}EvaluationMeasure`],
    ['DatasetCharacteristic', PROSPECTIVE, `${MLS_NS}DatasetCharacteristic`],
    ['LearningTask', PROSPECTIVE, `${MLS_NS}Task`],
    ['Implementation', PROSPECTIVE, `${MLS_NS}Implementation`],
    ['Software', PROSPECTIVE, `${MLS_NS}Software`],
    ['Algorithm', PROSPECTIVE, `${MLS_NS}Algorithm`],
    // retrospective: one execution
    ['WorkflowExecution', RETROSPECTIVE, `${PROV_NS}Activity`],
    ['TaskExecution', RETROSPECTIVE, `${PROV_NS}Activity`],
    ['LearningProcessExecution', RETROSPECTIVE, `${MLS_NS}Run`],
    ['LearningStageExecution', RETROSPECTIVE, `${PROV_NS}Activity`],
    ['LearningHyperParameterSetting', RETROSPECTIVE, `${MLS_NS}HyperParameterSetting`],
    ['ModelEvaluation', RETROSPECTIVE, `${MLS_NS}ModelEvaluation`],
    ['ModelReferenceValue', RETROSPECTIVE, `${MLS_NS}Model`],
    ['LearningDatasetReferenceValue', RETROSPECTIVE, `${MLS_NS}Dataset`],
    ['DataEntity', RETROSPECTIVE, `${PROV_NS}Entity`],
    ['AttributeValue', RETROSPECTIVE, `${PROV_NS}Entity`],
  ])('places %s under %s and %s', (name, marker, external) => {
    const up = ancestors(PROVML_NS + name);
    expect(up.has(marker)).toBe(true);
    expect(up.has(external)).toBe(true);
  });

  it.each([
    'LearningHyperParameterSetting',
    'ModelHyperParameterValue',
    'ModelEvaluation',
    'DatasetCharacteristicValue',
    'ParameterValue',
    'OutputValueValue',
  ])('makes the captured value class %s an AttributeValue', (name) => {
    expect(ancestors(PROVML_NS + name).has(PROVML.AttributeValue)).toBe(true);
  });

  it.each([
    ['evaluatesModel', PROVML.ModelEvaluation, PROVML.ModelReferenceValue],
    ['hasModelHyperParameterValue', PROVML.ModelReferenceValue, PROVML.ModelHyperParameterValue],
    ['characterizesDataset', PROVML.DatasetCharacteristicValue, PROVML.LearningDatasetReferenceValue],
    ['storedIn', `${PROV_NS}Entity`, PROVML.DataStoreInstance],
    ['executesTask', PROVML.TaskExecution, PROVML.DataTransformation],
    ['executesWorkflow', PROVML.WorkflowExecution, PROVML.Workflow],
    ['partOfWorkflow', PROVML.DataTransformation, PROVML.Workflow],
    ['durationSeconds', `${PROV_NS}Activity`, `${XSD}double`],
    ['eventCount', `${PROV_NS}Activity`, `${XSD}integer`],
    ['status', `${PROV_NS}Activity`, `${XSD}string`],
    ['lifecyclePhase', PROVML.Workflow, `${XSD}string`],
    ['semantics', PROVML.Attribute, `${XSD}string`],
    ['valueName', PROVML.AttributeValue, `${XSD}string`],
    ['processId', `${PROV_NS}Activity`, `${XSD}string`],
    ['jobId', `${PROV_NS}Activity`, `${XSD}string`],
    ['localRank', `${PROV_NS}Activity`, `${XSD}integer`],
    ['worldSize', `${PROV_NS}Activity`, `${XSD}integer`],
    ['attempt', `${PROV_NS}Activity`, `${XSD}integer`],
    ['contextKey', PROVML.ExecutionContextValue, `${XSD}string`],
  ])('gives %s the domain %s and range %s', (name, domain, range) => {
    const iri = PROVML_NS + name;
    expect(objects(iri, `${RDFS}domain`).map((t) => t.value)).toEqual([domain]);
    expect(objects(iri, `${RDFS}range`).map((t) => t.value)).toEqual([range]);
  });

  it('ranges hostName over strings and relates partOfExecution and the annotations as stated', () => {
    expect(objects(PROVML.hostName, `${RDFS}range`).map((t) => t.value)).toEqual([`${XSD}string`]);
    expect(types(PROVML.hostName)).toContain(`${OWL}DatatypeProperty`);
    expect(objects(PROVML.partOfExecution, `${RDFS}domain`).map((t) => t.value)).toEqual([
      PROVML.TaskExecution,
    ]);
    expect(objects(PROVML.annotates, `${OWL}inverseOf`).map((t) => t.value)).toEqual([
      PROVML.hasDomainAnnotation,
    ]);
    expect(objects(PROVML.storedIn, `${RDFS}subPropertyOf`).map((t) => t.value)).toEqual([
      `${PROV_NS}atLocation`,
    ]);
    expect(objects(PROVML.hasValue, `${RDFS}subPropertyOf`)).toEqual([]);
  });
});

const PREFIXES = `
@prefix provml: <https://w3id.org/provml/ns#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix mls: <http://www.w3.org/ns/mls#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix ex: <https://example.org/> .
`;

/** A small graph shaped like the mapper's output for one learning workflow run. */
const CONFORMING = `${PREFIXES}
ex:wf a provml:Workflow, provml:LearningProcess, prov:Plan ; provml:lifecyclePhase "learning" .
ex:train a provml:DataTransformation, provml:LearningStage, prov:Plan ;
  provml:partOfWorkflow ex:wf ; provml:hasStageType provml:Training .
ex:epoch a provml:DataTransformation, prov:Plan ; provml:partOfWorkflow ex:wf ; provml:hasParentTask ex:train .
ex:lr a provml:Attribute, provml:LearningHyperParameter ; rdfs:label "lr" ; provml:semantics "hyperparameter" .
ex:loss a provml:Attribute, provml:EvaluationMeasure ; rdfs:label "loss" ; provml:semantics "evaluation-measure" .
ex:model a provml:Attribute, provml:ModelReference ; rdfs:label "model" ; provml:semantics "model-reference" .

ex:run1 a provml:WorkflowExecution, provml:LearningProcessExecution, mls:Run, prov:Activity ;
  provml:executesWorkflow ex:wf ; mls:hasInput ex:run1-lr ; mls:hasOutput ex:run1-loss, ex:m1-v1 .
ex:run1-train a provml:TaskExecution, provml:LearningStageExecution, prov:Activity ;
  provml:executesTask ex:train ; provml:partOfExecution ex:run1 ;
  prov:startedAtTime "2024-05-01T10:00:00Z"^^xsd:dateTime ; prov:endedAtTime "2024-05-01T10:30:00Z"^^xsd:dateTime ;
  provml:durationSeconds "1800.0"^^xsd:double ; provml:status "finished" ;
  prov:wasAssociatedWith ex:alice ; provml:hostName "gpu-node-7" ; provml:processId "4242" ; provml:jobId "981" ;
  provml:hasInputValue ex:run1-lr ; provml:hasOutputValue ex:run1-loss .
ex:run1-epoch1 a provml:TaskExecution, prov:Activity ;
  provml:executesTask ex:epoch ; provml:partOfExecution ex:run1-train ; provml:status "failed" .
ex:run1-lr a provml:AttributeValue, provml:LearningHyperParameterSetting ;
  mls:specifiedBy ex:lr ; prov:value "0.001"^^xsd:double ; provml:valueName "lr" .
ex:run1-loss a provml:AttributeValue, provml:ModelEvaluation ;
  mls:specifiedBy ex:loss ; prov:value "0.12"^^xsd:double ; provml:valueName "loss" ;
  provml:evaluatesModel ex:m1-v1 .
<file:///models/m1.pt> a prov:Entity, provml:DataEntity ; provml:storedIn ex:lustre .
ex:m1-v1 a prov:Entity, provml:DataEntity, provml:ModelReferenceValue ; provml:storedIn ex:lustre ;
  prov:specializationOf <file:///models/m1.pt> ; prov:wasGeneratedBy ex:run1-train ; prov:qualifiedGeneration ex:gen .
ex:gen a prov:Generation ; prov:activity ex:run1-train ; prov:hadRole ex:model .
ex:run1-epoch1 prov:used ex:m1-v1 ; prov:qualifiedUsage ex:use .
ex:use a prov:Usage ; prov:entity ex:m1-v1 ; prov:hadRole ex:model .
ex:lustre a provml:DataStoreInstance .
`;

/** The same run with a task execution lacking executesTask and a value with two prov:value. */
const BROKEN = `${PREFIXES}
ex:run1 a provml:WorkflowExecution, prov:Activity .
ex:run1-train a provml:TaskExecution, prov:Activity ; provml:partOfExecution ex:run1 ; provml:hasInputValue ex:run1-lr .
ex:run1-lr a provml:AttributeValue, provml:LearningHyperParameterSetting ;
  mls:specifiedBy ex:lr ; prov:value 0.001, 0.01 ; provml:valueName "lr" .
`;

describe('PROV-ML SHACL shapes', () => {
  const shapes = parseTurtle(readShapesTurtle());

  it('parse, and every shape targets a declared class and constrains declared properties', () => {
    const shapeNodes = shapes.getSubjects(namedNode(RDF_TYPE), namedNode(`${SH}NodeShape`), null);
    expect(shapeNodes.length).toBeGreaterThanOrEqual(8);
    for (const shape of shapeNodes) {
      const targets = shapes.getObjects(shape, namedNode(`${SH}targetClass`), null);
      expect(targets.length, shape.value).toBeGreaterThan(0);
      for (const target of targets)
        if (target.value.startsWith(PROV_NS)) expect(Object.values(PROV)).toContain(target.value);
        else expect(types(target.value), target.value).toContain(`${OWL}Class`);
    }
    for (const path of shapes.getObjects(null, namedNode(`${SH}path`), null)) {
      expect(path.termType).toBe('NamedNode');
      if (path.value.startsWith(PROVML_NS)) {
        expect(Object.values(PROVML as Record<string, string>)).toContain(path.value);
      }
    }
  });

  it('load into a SHACL validator and accept an empty data graph', async () => {
    const validator = new SHACLValidator(shapes);
    const report = await validator.validate(new Store());
    expect(report.conforms).toBe(true);
  });

  it('accept a graph shaped like the mapper output', async () => {
    const report = await new SHACLValidator(shapes).validate(parseTurtle(CONFORMING));
    expect(report.results.map((r) => `${r.focusNode.value} ${r.path?.value}`)).toEqual([]);
    expect(report.conforms).toBe(true);
  });

  it('reject a task execution without executesTask and a value with two prov:value', async () => {
    const report = await new SHACLValidator(shapes).validate(parseTurtle(BROKEN));
    expect(report.conforms).toBe(false);
    const found = report.results
      .map((r) => [r.focusNode.value, r.path.value, r.sourceConstraintComponent.value])
      .sort();
    expect(found).toEqual([
      ['https://example.org/run1-lr', `${PROV_NS}value`, `${SH}MaxCountConstraintComponent`],
      ['https://example.org/run1-train', PROVML.executesTask, `${SH}MinCountConstraintComponent`],
    ]);
  });

  it('reject ML Schema run links on a task execution, a generation naming its entity and a usage naming an activity', async () => {
    const data = `${PREFIXES}
ex:t a provml:TaskExecution, prov:Activity ; provml:executesTask ex:task ; provml:partOfExecution ex:run ;
  mls:hasInput ex:p ; mls:hasOutput ex:o .
ex:v prov:qualifiedGeneration ex:gen .
ex:gen a prov:Generation ; prov:activity ex:t ; prov:entity ex:v .
ex:use a prov:Usage ; prov:entity ex:v ; prov:activity ex:t .
ex:run a provml:WorkflowExecution, provml:LearningProcessExecution, mls:Run, prov:Activity ; mls:hasInput ex:p .
ex:p a provml:AttributeValue, provml:ParameterValue ; mls:specifiedBy ex:tile ; prov:value 64 ; provml:valueName "tile" .
`;
    const report = await new SHACLValidator(shapes).validate(parseTurtle(data));
    const found = report.results
      .map((r) => [
        r.focusNode.value.replace('https://example.org/', ''),
        r.path.value,
        r.sourceConstraintComponent.value.replace(SH, ''),
      ])
      .sort();
    expect(found).toEqual([
      ['gen', `${PROV_NS}entity`, 'MaxCountConstraintComponent'],
      ['run', `${MLS_NS}hasInput`, 'OrConstraintComponent'],
      ['t', `${MLS_NS}hasInput`, 'MaxCountConstraintComponent'],
      ['t', `${MLS_NS}hasOutput`, 'MaxCountConstraintComponent'],
      ['use', `${PROV_NS}activity`, 'MaxCountConstraintComponent'],
    ]);
  });

  it('accept ranks as the mapper states them, and reject a rank agent without a rank and a negative rank', async () => {
    const ok = `${PREFIXES}
ex:t a provml:TaskExecution, prov:Activity ; provml:executesTask ex:task ; provml:partOfExecution ex:run ;
  provml:rank 1 ; provml:localRank 1 ; provml:worldSize 4 ; provml:attempt 0 ; prov:wasAssociatedWith ex:rank1 .
ex:rank1 a provml:Rank, prov:SoftwareAgent, prov:Agent ; provml:rank 1 .
`;
    expect((await new SHACLValidator(shapes).validate(parseTurtle(ok))).conforms).toBe(true);
    const bad = `${PREFIXES}
ex:t a provml:TaskExecution, prov:Activity ; provml:executesTask ex:task ; provml:partOfExecution ex:run ;
  provml:rank -1 ; provml:worldSize 0 .
ex:rank1 a provml:Rank, prov:SoftwareAgent .
`;
    const report = await new SHACLValidator(shapes).validate(parseTurtle(bad));
    expect(
      report.results
        .map((r) => `${r.path?.value} ${r.sourceConstraintComponent.value.replace(SH, '')}`)
        .sort(),
    ).toEqual([
      `${PROVML.rank} MinCountConstraintComponent`,
      `${PROVML.rank} MinInclusiveConstraintComponent`,
      `${PROVML.worldSize} MinInclusiveConstraintComponent`,
    ]);
  });

  it('reject a bad status, a negative duration, an unknown lifecycle phase and an evaluation of a non-model', async () => {
    const data = `${PREFIXES}
ex:wf a provml:Workflow, prov:Plan ; provml:lifecyclePhase "deployment" .
ex:t a provml:TaskExecution, prov:Activity ; provml:executesTask ex:task ; provml:partOfExecution ex:run ;
  provml:status "running" ; provml:durationSeconds "-1.0"^^xsd:double .
ex:e a provml:ModelEvaluation ; mls:specifiedBy ex:acc ; prov:value 0.9 ; provml:valueName "acc" ;
  provml:evaluatesModel ex:notAModel .
`;
    const report = await new SHACLValidator(shapes).validate(parseTurtle(data));
    const components = report.results.map((r) => r.sourceConstraintComponent.value.replace(SH, '')).sort();
    expect(components).toEqual([
      'ClassConstraintComponent',
      'InConstraintComponent',
      'InConstraintComponent',
      'MinInclusiveConstraintComponent',
    ]);
  });
});
