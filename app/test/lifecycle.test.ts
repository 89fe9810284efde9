/** The three-workflow lifecycle (curation → preparation → training), linked only by data references, end to end. */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Parser, Store } from 'n3';
import SHACLValidator from 'rdf-validate-shacl';
import { readShapesTurtle, SEMANTICS } from '@provml/schemas';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import {
  example,
  LIFECYCLE_CLASSES,
  PREFIXES,
  provmlClasses,
  sparql,
  startStack,
} from '../../deploy/testing/stack.ts';

const RAW = 'file:///data/raw/netherlands.sgy';
const CURATED = 'file:///data/curated/netherlands.sgy';
const TRAIN = 'file:///data/tiles/train-100-200.npz';
const VALID = 'file:///data/tiles/valid-100-200.npz';
const EPOCHS = 3;
const BATCHES = 4;

describe('lifecycle in embedded mode', () => {
  let stack: EmbeddedStack;
  const losses: number[] = [];
  let trainingExecution = '';

  beforeAll(async () => {
    stack = await startStack();
    const annotations = await fetch(`${stack.ingestUrl}/v1/annotations`, {
      method: 'POST',
      headers: { 'content-type': 'text/turtle' },
      body: readFileSync(example('netherlands-annotations.ttl')),
    });
    expect(annotations.status).toBe(202);

    // 1. the geoscientist's curation
    const curation = await stack.capture({ spec: example('seismic-curation.json') });
    const c = curation.workflowExecution('curation-1');
    await c.run('curate', { values: { coordinate_check: true }, dataRefs: { raw_file: RAW } }, (t) => {
      t.set('num_inlines', 651)
        .set('num_crosslines', 951)
        .set('bounding_box', [605_835, 6_073_556, 629_576, 6_090_300]);
      t.addDataRef('curated_file', CURATED, 'lustre');
    });

    // 2. the model trainer's preparation, linked to curation only through the curated file's URI
    const preparation = await stack.capture({
      spec: JSON.parse(readFileSync(example('seismic-preparation.json'), 'utf8')),
    });
    const p = preparation.workflowExecution('preparation-1');
    const prep = p.begin('prepare', {
      values: { inline_start: 100, inline_end: 200, tile_size: 64, noise_threshold: 0.25 },
      dataRefs: [{ name: 'curated_file', uri: CURATED, store: 'lustre' }],
    });
    prep.end({
      values: { training_tiles: 1200, validation_tiles: 300 },
      dataRefs: { training_set: TRAIN, validation_set: VALID },
    });

    // 3. training, linked to preparation only through the training set's URI
    const training = await stack.capture({ spec: example('seismic-training.json') });
    const run = training.workflowExecution('training-1');
    const tr = run.begin('training', {
      values: { learning_rate: 0.01, epochs: EPOCHS, batch_size: 32 },
      dataRefs: { training_set: TRAIN },
    });
    trainingExecution = tr.id;
    for (let e = 0; e < EPOCHS; e++) {
      const epoch = tr.begin('epoch');
      for (let b = 0; b < BATCHES; b++) {
        const batch = epoch.begin('batch');
        batch.end({ values: { batch_loss: 1 / (e * BATCHES + b + 1) } });
      }
      await epoch.run(
        'validation',
        { dataRefs: { validation_set: VALID } },
        (v) => void v.set('val_accuracy', 0.5 + e / 10),
      );
      const loss = 1 / (e + 1);
      losses.push(loss);
      epoch.end({
        values: { epoch: e, loss, accuracy: 0.6 + e / 10 },
        dataRefs: { model: `file:///models/run1/epoch-${e}.pt` },
      });
    }
    tr.end({ values: { final_loss: losses[losses.length - 1]! } });
    await stack.settle();
  });

  afterAll(() => stack.shutdown());

  it('traces the trained model back to the raw SEG-Y file and its domain annotations', async () => {
    const rows = await sparql(
      stack.queryUrl,
      `${PREFIXES}
      SELECT DISTINCT ?raw ?basin ?field WHERE {
        # from the file's version back, through the versions of the files other workflows wrote
        <file:///models/run1/epoch-2.pt> (prov:wasDerivedFrom|^prov:specializationOf)+ ?raw .
        ?raw provml:hasDomainAnnotation ?survey .
        ?survey geo:basin ?basin ; geo:field ?field .
      }`,
    );
    expect(rows).toEqual([{ raw: RAW, basin: 'North Sea', field: 'F3 Block' }]);
  });

  it('links the lifecycle through activities: training was informed by preparation, preparation by curation', async () => {
    const rows = await sparql(
      stack.queryUrl,
      `${PREFIXES}
      SELECT ?task WHERE {
        ?training provml:executesTask/rdfs:label "training" .
        ?training prov:wasInformedBy+ ?upstream .
        ?upstream provml:executesTask/rdfs:label ?task .
      } ORDER BY ?task`,
    );
    expect(rows.map((r) => r.task)).toEqual(['curate', 'prepare']);
  });

  it('answers "which models were trained on data from this raw file" (forward lineage)', async () => {
    const rows = await sparql(
      stack.queryUrl,
      `${PREFIXES}
      SELECT ?file ?epoch WHERE {
        ?model a provml:ModelReferenceValue ; (prov:wasDerivedFrom|^prov:specializationOf)+ <${RAW}> ;
               prov:specializationOf ?file ; provml:hasModelHyperParameterValue/prov:value ?epoch .
      } ORDER BY ?epoch`,
    );
    expect(rows.map((r) => Number(r.epoch))).toEqual([0, 1, 2]);
    expect(rows.map((r) => r.file)).toEqual([0, 1, 2].map((e) => `file:///models/run1/epoch-${e}.pt`));
  });

  it('finds the hyperparameters behind the model with least loss (Q3 shape)', async () => {
    const rows = await sparql(
      stack.queryUrl,
      `${PREFIXES}
      SELECT ?model ?loss ?name ?value WHERE {
        ?eval a provml:ModelEvaluation ; provml:valueName "loss" ; prov:value ?loss ; provml:evaluatesModel ?version .
        ?version prov:specializationOf ?model .
        ?version prov:wasGeneratedBy/provml:partOfExecution ?training .
        ?training provml:hasInputValue ?setting .
        ?setting a provml:LearningHyperParameterSetting ; provml:valueName ?name ; prov:value ?value .
      } ORDER BY ?loss ?name LIMIT 3`,
    );
    const least = Math.min(...losses);
    expect(rows.map((r) => [r.model, Number(r.loss), r.name, Number(r.value)])).toEqual([
      [`file:///models/run1/epoch-${losses.indexOf(least)}.pt`, least, 'batch_size', 32],
      [`file:///models/run1/epoch-${losses.indexOf(least)}.pt`, least, 'epochs', EPOCHS],
      [`file:///models/run1/epoch-${losses.indexOf(least)}.pt`, least, 'learning_rate', 0.01],
    ]);
  });

  it('keeps per-batch timings: begin/end times and durations of every batch (Q4 shape)', async () => {
    const rows = await sparql(
      stack.queryUrl,
      `${PREFIXES}
      SELECT ?epoch (COUNT(?batch) AS ?n) (MIN(?d) AS ?min) (MAX(?d) AS ?max) WHERE {
        ?batch provml:executesTask/rdfs:label "batch" ; provml:partOfExecution ?epoch ;
               provml:durationSeconds ?d ; prov:startedAtTime ?s ; prov:endedAtTime ?e .
        FILTER(?e >= ?s)
      } GROUP BY ?epoch`,
    );
    expect(rows).toHaveLength(EPOCHS);
    for (const r of rows) {
      expect(Number(r.n)).toBe(BATCHES);
      expect(Number(r.min)).toBeGreaterThanOrEqual(0);
      expect(Number(r.max)).toBeGreaterThanOrEqual(Number(r.min));
    }
  });

  it('covers every spec semantics with its PROV-ML class, prospective and retrospective', async () => {
    const rows = await sparql(
      stack.queryUrl,
      `${PREFIXES}
      SELECT ?semantics (COUNT(DISTINCT ?attr) AS ?declared) (COUNT(DISTINCT ?use) AS ?used) WHERE {
        ?attr provml:semantics ?semantics .
        OPTIONAL { { ?use mls:specifiedBy ?attr } UNION { ?use prov:hadRole ?attr } }
      } GROUP BY ?semantics`,
    );
    const bySemantics = Object.fromEntries(rows.map((r) => [r.semantics, Number(r.used)]));
    for (const s of SEMANTICS) expect(bySemantics[s], s).toBeGreaterThan(0);
    const classes = await provmlClasses(stack.queryUrl);
    for (const c of LIFECYCLE_CLASSES) expect(classes.has(c), c).toBe(true);
  });

  it('marks the training stage execution with its stage and records the execution context', async () => {
    const rows = await sparql(
      stack.queryUrl,
      `${PREFIXES}
      SELECT DISTINCT ?stage ?host ?pid WHERE {
        ?x a provml:LearningStageExecution ; provml:executesTask/provml:hasStageType ?stage ;
           provml:hostName ?host ; provml:processId ?pid ; prov:wasAssociatedWith ?agent .
        FILTER(STRENDS(STR(?x), "${encodeURIComponent(trainingExecution)}"))
      }`,
    );
    expect(rows).toEqual([
      { stage: 'https://w3id.org/provml/ns#Training', host: expect.any(String), pid: String(process.pid) },
    ]);
  });

  it('produces a graph that conforms to the PROV-ML SHACL shapes', async () => {
    const dump = stack.store.store.dump({ format: 'application/n-quads' });
    const data = new Store();
    // validate the union of all graphs, as queries see it
    for (const q of new Parser({ format: 'N-Quads' }).parse(dump))
      data.addQuad(q.subject, q.predicate, q.object);
    const shapes = new Store(new Parser({ format: 'text/turtle' }).parse(readShapesTurtle()));
    const report = await new SHACLValidator(shapes).validate(data);
    const problems = report.results.map(
      (r) => `${r.focusNode?.value} ${r.path?.value}: ${r.message.map((m) => m.value).join()}`,
    );
    expect(problems).toEqual([]);
    expect(report.conforms).toBe(true);
  });
});
