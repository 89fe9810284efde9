/** Golden tests of the pure PROV-ML mapping: one per spec semantics, plus specs, begin/end state and annotations. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Parser, Writer, type Quad } from 'n3';
import { compileSpec, SEMANTICS, type CaptureEvent, type Semantics } from '@provml/schemas';
import {
  indexAnnotations,
  IriMinter,
  mapEvent,
  MappingState,
  mapSpec,
  parseAnnotations,
} from '@provml/stream-processors';

const UPDATE = process.env.UPDATE_GOLDEN === '1';
const iris = new IriMinter();
const golden = (name: string): string => new URL(`./golden/${name}.trig`, import.meta.url).pathname;

const PREFIXES = {
  prov: 'http://www.w3.org/ns/prov#',
  provml: 'https://w3id.org/provml/ns#',
  mls: 'http://www.w3.org/ns/mls#',
  rdfs: 'http://www.w3.org/2000/01/rdf-schema#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
};

/** Canonical, order-independent form of quads (the mapper mints no blank nodes). */
const canonical = (quads: readonly Quad[]): string[] =>
  [
    ...new Set(
      new Writer({ format: 'N-Quads' })
        .quadsToString(quads as Quad[])
        .split('\n')
        .filter(Boolean),
    ),
  ].sort();

/** Compares with the golden TriG file; UPDATE_GOLDEN=1 rewrites it (review the diff before committing). */
function expectGolden(name: string, quads: Quad[]): void {
  const path = golden(name);
  if (UPDATE || !existsSync(path)) {
    if (!UPDATE) throw new Error(`missing golden file ${path}: run with UPDATE_GOLDEN=1 and review it`);
    const writer = new Writer({ format: 'application/trig', prefixes: PREFIXES });
    writer.addQuads(quads);
    writer.end((error, trig: string) => {
      if (error) throw error;
      writeFileSync(path, trig);
    });
  }
  const expected = new Parser({ format: 'application/trig' }).parse(readFileSync(path, 'utf8'));
  expect(canonical(quads)).toEqual(canonical(expected));
}

const PROV_ASSOCIATED = 'http://www.w3.org/ns/prov#wasAssociatedWith';
const REFERENCE = new Set<Semantics>(['dataset-reference', 'model-reference', 'data-reference']);

/** A one-task spec declaring `name` with `semantics` (plus a model/dataset reference where the semantics links to one). */
function specFor(semantics: Semantics) {
  const outputs: { name: string; semantics: Semantics; characterizes?: string }[] = [];
  const inputs: { name: string; semantics: Semantics }[] = [];
  const input =
    semantics === 'hyperparameter' || semantics === 'parameter' || semantics === 'dataset-reference';
  (input ? inputs : outputs).push({ name: 'x', semantics });
  if (semantics === 'evaluation-measure' || semantics === 'model-hyperparameter')
    outputs.push({ name: 'model', semantics: 'model-reference' });
  if (semantics === 'dataset-characteristic') outputs.push({ name: 'ds', semantics: 'dataset-reference' });
  return compileSpec({
    workflow: 'g',
    phase: 'learning',
    tasks: [{ id: 'train', stage: 'training', inputs, outputs }],
  });
}

const baseEvent = (over: Partial<CaptureEvent>): CaptureEvent => ({
  eventId: 'e1',
  workflow: 'g',
  workflowExecution: 'run',
  task: 'train',
  taskExecution: 't1',
  parentTaskExecution: null,
  phase: 'end',
  time: 1_767_225_601_500_000,
  values: {},
  dataRefs: [],
  status: 'finished',
  context: {},
  ...over,
});

describe('event mapping, one golden file per spec semantics', () => {
  it.each(SEMANTICS)('%s', (semantics) => {
    const spec = specFor(semantics);
    const state = new MappingState();
    state.workflowExecutions.set(iris.workflowExecution('run'), true); // keep the goldens to the value itself
    const dataRefs: CaptureEvent['dataRefs'] = REFERENCE.has(semantics)
      ? [{ name: 'x', uri: 'file:///data/x.bin', store: null }]
      : [];
    if (semantics === 'evaluation-measure' || semantics === 'model-hyperparameter')
      dataRefs.push({ name: 'model', uri: 'file:///models/m.pt', store: 'models' });
    if (semantics === 'dataset-characteristic')
      dataRefs.push({ name: 'ds', uri: 's3://bucket/ds.npz', store: null });
    const values: CaptureEvent['values'] = REFERENCE.has(semantics)
      ? {}
      : { x: semantics === 'output-value' ? [1, 2.5] : 0.25 };
    const quads = mapEvent(baseEvent({ values, dataRefs }), spec, state, iris);
    expectGolden(`event-${semantics}`, quads);
  });
});

describe('content digests (CaptureEvent v2)', () => {
  it('a generation states its version’s digest, a use in another workflow what it read (golden)', () => {
    const spec = compileSpec({
      workflow: 'g',
      phase: 'learning',
      tasks: [
        { id: 'train', stage: 'training', outputs: [{ name: 'model', semantics: 'model-reference' }] },
        { id: 'test', stage: 'testing', inputs: [{ name: 'model', semantics: 'model-reference' }] },
      ],
    });
    const state = new MappingState();
    const digest = `sha256:${'5e'.repeat(32)}`;
    const model = { name: 'model', uri: 'file:///models/best.pt', store: null, digest };
    const generation = mapEvent(baseEvent({ dataRefs: [model] }), spec, state, iris);
    const use = mapEvent(
      baseEvent({
        eventId: 'e2',
        workflowExecution: 'other-run',
        task: 'test',
        taskExecution: 't2',
        dataRefs: [model],
      }),
      spec,
      state,
      iris,
    );
    const quads = [...generation, ...use];
    const digests = quads.filter((q) => q.predicate.value === 'https://w3id.org/provml/ns#contentDigest');
    expect(digests.map((q) => [q.subject.value, q.object.value])).toEqual([
      [iris.dataVersion(iris.taskExecution('run', 't1'), model.uri), digest],
      [iris.executionPart(iris.taskExecution('other-run', 't2'), 'model'), digest],
    ]);
    expectGolden('event-content-digest', quads);
    // without a digest, no such triple
    const none = mapEvent(
      baseEvent({ eventId: 'e3', taskExecution: 't3', dataRefs: [{ ...model, digest: undefined }] }),
      spec,
      new MappingState(),
      iris,
    );
    expect(none.some((q) => q.predicate.value.endsWith('#contentDigest'))).toBe(false);
  });
});

describe('one task execution, one set of facts', () => {
  const spec = compileSpec({
    workflow: 'f',
    phase: 'learning',
    tasks: [
      {
        id: 'train',
        stage: 'training',
        inputs: [{ name: 'data', semantics: 'dataset-reference' }],
        outputs: [{ name: 'tiles', semantics: 'dataset-characteristic' }],
      },
      {
        id: 'epoch',
        parent: 'train',
        outputs: [
          { name: 'epoch', semantics: 'model-hyperparameter' },
          { name: 'loss', semantics: 'evaluation-measure' },
          { name: 'model', semantics: 'model-reference' },
        ],
      },
      {
        id: 'validation',
        parent: 'train',
        stage: 'validation',
        inputs: [{ name: 'model', semantics: 'model-reference' }],
        outputs: [{ name: 'val_loss', semantics: 'evaluation-measure' }],
      },
    ],
  });
  const event = (over: Partial<CaptureEvent>): CaptureEvent =>
    baseEvent({ workflow: 'f', ...(over.phase === 'begin' ? { status: null } : {}), ...over });

  it('links values to the references of the same execution carried by its other event (golden)', () => {
    const state = new MappingState();
    const model = 'file:///m/best.pt';
    const quads = [
      // the dataset on begin, a characteristic of it on end
      event({
        taskExecution: 't',
        task: 'train',
        phase: 'begin',
        time: 1_000_000,
        dataRefs: [{ name: 'data', uri: 'file:///d/train.npz', store: null }],
      }),
      // the epoch number on begin, the model on end
      event({
        taskExecution: 'e',
        task: 'epoch',
        parentTaskExecution: 't',
        phase: 'begin',
        time: 2_000_000,
        values: { epoch: 0 },
      }),
      // the model on begin, the evaluation on end
      event({
        taskExecution: 'v',
        task: 'validation',
        parentTaskExecution: 't',
        phase: 'begin',
        time: 3_000_000,
        dataRefs: [{ name: 'model', uri: model, store: null }],
      }),
      event({
        taskExecution: 'v',
        task: 'validation',
        parentTaskExecution: 't',
        time: 4_000_000,
        values: { val_loss: 0.25 },
      }),
      event({
        taskExecution: 'e',
        task: 'epoch',
        parentTaskExecution: 't',
        time: 5_000_000,
        values: { loss: 0.5 },
        dataRefs: [{ name: 'model', uri: model, store: null }],
      }),
      event({ taskExecution: 't', task: 'train', time: 6_000_000, values: { tiles: 1200 } }),
    ].flatMap((e) => mapEvent(e, spec, state, iris));
    expectGolden('execution-facts', quads);
    const links = quads
      .filter((q) =>
        ['evaluatesModel', 'hasModelHyperParameterValue', 'characterizesDataset'].some((p) =>
          q.predicate.value.endsWith(`#${p}`),
        ),
      )
      .map((q) => `${q.subject.value} ${q.predicate.value.replace(/^.*#/, '')} ${q.object.value}`);
    // the validation used the file while the epoch that reported it ran: its version, from the epoch
    const version = iris.dataVersion('urn:provml:execution/run/e', model);
    expect(links.sort()).toEqual(
      [
        `${version} hasModelHyperParameterValue urn:provml:execution/run/e/epoch`,
        `urn:provml:execution/run/e/loss evaluatesModel ${version}`,
        `urn:provml:execution/run/t/tiles characterizesDataset file:///d/train.npz`,
        `urn:provml:execution/run/v/val_loss evaluatesModel ${version}`,
      ].sort(),
    );
    expect(state.open.size).toBe(0);
  });

  it('states a link once: not again on the end when the begin carried both sides', () => {
    const state = new MappingState();
    const refs = [{ name: 'model', uri: 'file:///m/e.pt', store: null }];
    const begin = mapEvent(
      event({ task: 'epoch', phase: 'begin', values: { epoch: 1 }, dataRefs: refs }),
      spec,
      state,
      iris,
    );
    const end = mapEvent(event({ task: 'epoch', values: { loss: 0.1 } }), spec, state, iris);
    const count = (qs: Quad[], p: string) => qs.filter((q) => q.predicate.value.endsWith(`#${p}`)).length;
    expect(count(begin, 'hasModelHyperParameterValue')).toBe(1);
    expect(count(end, 'hasModelHyperParameterValue')).toBe(0);
    expect(count(end, 'evaluatesModel')).toBe(1);
  });
});

describe('versioned data entities', () => {
  const spec = compileSpec({
    workflow: 'v',
    phase: 'learning',
    tasks: [
      { id: 'train', stage: 'training', inputs: [{ name: 'lr', semantics: 'hyperparameter' }] },
      { id: 'epoch', parent: 'train', outputs: [{ name: 'model', semantics: 'model-reference' }] },
      {
        id: 'check',
        parent: 'train',
        stage: 'validation',
        inputs: [{ name: 'model', semantics: 'model-reference' }],
        outputs: [{ name: 'val_loss', semantics: 'evaluation-measure' }],
      },
    ],
  });
  const best = 'file:///m/best.pt';
  const P = 'http://www.w3.org/ns/prov#';
  let time = 0;
  const ev = (
    run: string,
    task: string,
    tex: string,
    phase: 'begin' | 'end',
    over: Partial<CaptureEvent> = {},
  ) =>
    baseEvent({
      workflow: 'v',
      workflowExecution: run,
      task,
      taskExecution: tex,
      parentTaskExecution: task === 'train' ? null : 't',
      phase,
      status: phase === 'end' ? 'finished' : null,
      time: (time += 1_000_000),
      ...over,
    });
  const model = { dataRefs: [{ name: 'model', uri: best, store: null }] };
  const objects = (quads: Quad[], s: string, p: string): string[] =>
    quads.filter((q) => q.subject.value === s && q.predicate.value === p).map((q) => q.object.value);
  const ex = (run: string, tex: string): string => iris.taskExecution(run, tex);

  it('makes each generation of a URI its own entity, specializationOf the file: two runs never merge', () => {
    const state = new MappingState();
    const quads = ['a', 'b'].flatMap((run) =>
      [
        ev(run, 'train', 't', 'begin'),
        ev(run, 'epoch', 'e', 'begin'),
        ev(run, 'epoch', 'e', 'end', model),
      ].flatMap((e) => mapEvent(e, spec, state, iris)),
    );
    const generated = quads.filter((q) => q.predicate.value === `${P}wasGeneratedBy`);
    expect(generated.map((q) => [q.subject.value, q.object.value])).toEqual([
      [iris.dataVersion(ex('a', 'e'), best), ex('a', 'e')],
      [iris.dataVersion(ex('b', 'e'), best), ex('b', 'e')],
    ]);
    for (const q of generated)
      expect(objects(quads, q.subject.value, `${P}specializationOf`)).toEqual([best]);
  });

  it('resolves a use to the version generated before it in the same run, else to the file', () => {
    const state = new MappingState();
    const map = (e: CaptureEvent) => mapEvent(e, spec, state, iris);
    [
      ev('a', 'train', 't', 'begin'),
      ev('a', 'epoch', 'e1', 'begin'),
      ev('a', 'epoch', 'e1', 'end', model),
    ].map(map);
    const sameRun = [ev('a', 'check', 'c1', 'begin', model), ev('a', 'check', 'c1', 'end')].flatMap(map);
    expect(objects(sameRun, ex('a', 'c1'), `${P}used`)).toEqual([iris.dataVersion(ex('a', 'e1'), best)]);
    expect(objects(sameRun, ex('a', 'c1'), `${P}wasInformedBy`)).toEqual([ex('a', 'e1')]);
    map(ev('b', 'train', 't', 'begin'));
    const otherRun = map(ev('b', 'check', 'c1', 'begin', model));
    expect(objects(otherRun, ex('b', 'c1'), `${P}used`)).toEqual([best]);
  });

  it('lets a use made while an execution that may generate the URI runs wait for that execution to end', () => {
    const state = new MappingState();
    const map = (e: CaptureEvent) => mapEvent(e, spec, state, iris);
    const evaluates = (quads: Quad[], tex: string) =>
      objects(quads, `${ex('a', tex)}/val_loss`, 'https://w3id.org/provml/ns#evaluatesModel');
    map(ev('a', 'train', 't', 'begin'));
    // epoch 1 saves best.pt, is validated, then ends reporting it: the validation read epoch 1's version
    const first = [
      ev('a', 'epoch', 'e1', 'begin'),
      ev('a', 'check', 'c1', 'begin', model),
      ev('a', 'check', 'c1', 'end', { values: { val_loss: 0.5 } }),
    ].flatMap(map);
    expect(objects(first, ex('a', 'c1'), `${P}used`)).toEqual([]); // not known yet
    expect(evaluates(first, 'c1')).toEqual([]);
    const e1End = map(ev('a', 'epoch', 'e1', 'end', model));
    expect(objects(e1End, ex('a', 'c1'), `${P}used`)).toEqual([iris.dataVersion(ex('a', 'e1'), best)]);
    expect(evaluates(e1End, 'c1')).toEqual([iris.dataVersion(ex('a', 'e1'), best)]);
    // epoch 2 does not improve and keeps best.pt: its validation read epoch 1's version
    const second = [
      ev('a', 'epoch', 'e2', 'begin'),
      ev('a', 'check', 'c2', 'begin', model),
      ev('a', 'check', 'c2', 'end', { values: { val_loss: 0.7 } }),
      ev('a', 'epoch', 'e2', 'end'),
    ].flatMap(map);
    expect(evaluates(second, 'c2')).toEqual([iris.dataVersion(ex('a', 'e1'), best)]);
    expect(state.openGenerators.size).toBe(0);
  });
});

describe('NaN and the infinities', () => {
  it('maps them, as numbers (Avro) or as their JSON strings, to xsd:double NaN, INF and -INF', () => {
    const names = ['nan', 'inf', 'negInf', 'nanText', 'infText', 'negInfText', 'otherText'];
    const spec = compileSpec({
      workflow: 'g',
      phase: 'learning',
      tasks: [{ id: 'train', outputs: names.map((name) => ({ name, semantics: 'output-value' })) }],
    });
    const state = new MappingState();
    state.workflowExecutions.set(iris.workflowExecution('run'), true);
    const values = {
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      negInf: Number.NEGATIVE_INFINITY,
      nanText: 'NaN',
      infText: 'Infinity',
      negInfText: '-Infinity',
      otherText: 'nan', // only the exact spellings stand for a number
    };
    const quads = mapEvent(baseEvent({ values }), spec, state, iris);
    expectGolden('event-non-finite', quads);
    const literals = quads.filter((q) => q.predicate.value === 'http://www.w3.org/ns/prov#value');
    expect(
      literals.map((q) => [q.object.value, (q.object as { datatype: { value: string } }).datatype.value]),
    ).toEqual([
      ['NaN', `${PREFIXES.xsd}double`],
      ['INF', `${PREFIXES.xsd}double`],
      ['-INF', `${PREFIXES.xsd}double`],
      ['NaN', `${PREFIXES.xsd}double`],
      ['INF', `${PREFIXES.xsd}double`],
      ['-INF', `${PREFIXES.xsd}double`],
      ['nan', `${PREFIXES.xsd}string`],
    ]);
  });
});

describe('prospective mapping', () => {
  it('maps the training spec example to its golden graph', () => {
    const spec = compileSpec(
      readFileSync(new URL('../../schemas/examples/seismic-training.json', import.meta.url), 'utf8'),
    );
    expectGolden('spec-seismic-training', mapSpec(spec, iris));
  });
});

describe('execution structure', () => {
  const spec = compileSpec({
    workflow: 'w',
    phase: 'learning',
    tasks: [
      { id: 'train', stage: 'training', inputs: [{ name: 'data', semantics: 'dataset-reference' }] },
      { id: 'epoch', parent: 'train', outputs: [{ name: 'model', semantics: 'model-reference' }] },
    ],
  });

  it('maps begin, nested begin/end and end with context, duration and derivations to the golden graph', () => {
    const state = new MappingState();
    const quads = [
      ...mapEvent(
        baseEvent({
          workflow: 'w',
          phase: 'begin',
          status: null,
          time: 1_000_000,
          dataRefs: [{ name: 'data', uri: 'file:///d/train.npz', store: null }],
          context: { host: 'gpu-node-7', pid: '4242', jobId: '991', user: 'alice', gpus: '0,1' },
        }),
        spec,
        state,
        iris,
      ),
      ...mapEvent(
        baseEvent({
          workflow: 'w',
          task: 'epoch',
          taskExecution: 't2',
          parentTaskExecution: 't1',
          phase: 'begin',
          status: null,
          time: 1_500_000,
        }),
        spec,
        state,
        iris,
      ),
      ...mapEvent(
        baseEvent({
          workflow: 'w',
          task: 'epoch',
          taskExecution: 't2',
          time: 2_750_000,
          dataRefs: [{ name: 'model', uri: 'file:///m/e0.pt', store: null }],
        }),
        spec,
        state,
        iris,
      ),
      ...mapEvent(baseEvent({ workflow: 'w', time: 3_000_000, status: 'failed' }), spec, state, iris),
    ];
    expectGolden('execution-structure', quads);
    expect(state.open.size).toBe(0);
  });

  it('maps the ranks of a distributed job: one workflow execution, a Rank agent per rank, attempts (golden)', () => {
    const state = new MappingState();
    const rank = (te: string, r: string, attempt: string, extra: Record<string, string> = {}): Quad[] =>
      mapEvent(
        baseEvent({
          workflow: 'w',
          workflowExecution: 'w-torchelastic-job7',
          taskExecution: te,
          phase: 'begin',
          status: null,
          time: 1_000_000,
          context: { host: 'gpu-node-7', rank: r, localRank: r, worldSize: '2', attempt, ...extra },
        }),
        spec,
        state,
        iris,
      );
    const quads = [
      ...rank('a.t0', '0', '0'),
      ...rank('b.t0', '1', '0'),
      ...rank('c.t0', '0', '1'), // the job restarted: the same run and rank agent, attempt 1
      ...rank('d.t0', 'x', '1', { localRank: '-1' }), // not numbers: execution context values, no agent
    ];
    expectGolden('execution-ranks', quads);
    const agents = new Set(
      quads.filter((q) => q.predicate.value === PROV_ASSOCIATED).map((q) => q.object.value),
    );
    expect([...agents].sort()).toEqual([
      'urn:provml:agent/host/gpu-node-7',
      'urn:provml:agent/rank/w-torchelastic-job7/0',
      'urn:provml:agent/rank/w-torchelastic-job7/1',
    ]);
  });

  it('omits the duration of an end whose begin it never saw, and still maps the end', () => {
    const quads = mapEvent(baseEvent({ workflow: 'w' }), spec, new MappingState(), iris);
    const predicates = quads.map((q) => q.predicate.value);
    expect(predicates).toContain('http://www.w3.org/ns/prov#endedAtTime');
    expect(predicates).not.toContain('https://w3id.org/provml/ns#durationSeconds');
  });

  it('links a use of an entity to the activity that generated it (wasInformedBy) across workflows', () => {
    const state = new MappingState();
    const producer = compileSpec({
      workflow: 'p',
      phase: 'learning-data-preparation',
      tasks: [{ id: 'prep', outputs: [{ name: 'out', semantics: 'dataset-reference' }] }],
    });
    mapEvent(
      baseEvent({
        workflow: 'p',
        task: 'prep',
        workflowExecution: 'p1',
        dataRefs: [{ name: 'out', uri: 'file:///d/train.npz', store: null }],
      }),
      producer,
      state,
      iris,
    );
    const quads = mapEvent(
      baseEvent({
        workflow: 'w',
        phase: 'begin',
        status: null,
        dataRefs: [{ name: 'data', uri: 'file:///d/train.npz', store: null }],
      }),
      spec,
      state,
      iris,
    );
    const informed = quads.find((q) => q.predicate.value === 'http://www.w3.org/ns/prov#wasInformedBy');
    expect(informed?.object.value).toBe('urn:provml:execution/p1/t1');
  });

  it('mints the same entity IRI for the same data URI in every workflow and graph', () => {
    const a = mapEvent(
      baseEvent({
        workflow: 'w',
        phase: 'begin',
        status: null,
        workflowExecution: 'r1',
        dataRefs: [{ name: 'data', uri: 'file:///d/x', store: null }],
      }),
      spec,
      new MappingState(),
      iris,
    );
    const b = mapEvent(
      baseEvent({
        workflow: 'w',
        phase: 'begin',
        status: null,
        workflowExecution: 'r2',
        dataRefs: [{ name: 'data', uri: 'file:///d/x', store: null }],
      }),
      spec,
      new MappingState(),
      iris,
    );
    const used = (qs: Quad[]) => qs.find((q) => q.predicate.value === 'http://www.w3.org/ns/prov#used')!;
    expect(used(a).object.value).toBe('file:///d/x');
    expect(used(b).object.value).toBe('file:///d/x');
    expect(used(a).graph.value).not.toBe(used(b).graph.value);
  });

  it('is deterministic: the same event twice gives the same quads', () => {
    const event = baseEvent({ workflow: 'w', phase: 'begin', status: null, context: { host: 'h' } });
    expect(canonical(mapEvent(event, spec, new MappingState(), iris))).toEqual(
      canonical(mapEvent(event, spec, new MappingState(), iris)),
    );
  });
});

describe('domain annotations', () => {
  const turtle = `@prefix geo: <https://example.org/geo#> .
@prefix provml: <https://w3id.org/provml/ns#> .
<https://example.org/s> geo:basin "North Sea" ; geo:notes [ geo:text "a" ] ; provml:annotates <file:///raw.sgy> .`;

  it('maps annotations into the domain graph with an inverse link and stable skolem IRIs', () => {
    const quads = parseAnnotations(turtle, undefined, iris);
    expectGolden('annotations', quads);
    expect(canonical(parseAnnotations(turtle, undefined, iris))).toEqual(canonical(quads));
  });

  it('joins later events on an annotated data entity to its annotations', () => {
    const state = new MappingState();
    indexAnnotations(parseAnnotations(turtle, undefined, iris), state);
    const spec = compileSpec({
      workflow: 'c',
      phase: 'data-curation',
      tasks: [{ id: 'cur', inputs: [{ name: 'raw', semantics: 'data-reference' }] }],
    });
    const quads = mapEvent(
      baseEvent({
        workflow: 'c',
        task: 'cur',
        phase: 'begin',
        status: null,
        dataRefs: [{ name: 'raw', uri: 'file:///raw.sgy', store: null }],
      }),
      spec,
      state,
      iris,
    );
    const link = quads.find((q) => q.predicate.value === 'https://w3id.org/provml/ns#hasDomainAnnotation');
    expect(link?.subject.value).toBe('file:///raw.sgy');
    expect(link?.object.value).toBe('https://example.org/s');
  });
});
