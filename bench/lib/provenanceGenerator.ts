/**
 * Realistic lifecycle provenance at any size: synthetic capture events shaped exactly like the O&G demo's
 * (curation of a SEG-Y survey with its basin/field annotations, preparation variants over inline ranges,
 * training runs with epochs, batches, a model and a validation per epoch), mapped to N-Quads by the real
 * pipeline mapper (`mapSpec`, `mapEvent`, `parseAnnotations` of `@provml/stream-processors`). Deterministic
 * by seed, streamed one workflow execution at a time; each survey draws from its own seed, so a smaller
 * size is a prefix of a larger one and queries about survey 0 have the same answers at every size.
 */
import { checkEventAgainstSpec, compileSpec, type CaptureEvent, type CompiledSpec } from '@provml/schemas';
import {
  IriMinter,
  MappingState,
  indexAnnotations,
  mapEvent,
  mapSpec,
  parseAnnotations,
  toNQuads,
} from '@provml/stream-processors';
import type { Quad } from 'n3';
import { DEMO_SPECS } from '@provml/demo';

/** Shape of the generated lifecycle. */
export interface LifecycleShape {
  /** Seed of everything random. Default 42. */
  seed: number;
  /** Stop after the training run with which this many distinct quads are reached. */
  targetQuads: number;
  /** Preparation variants per survey. Default 3. */
  preparationsPerSurvey: number;
  /** Training runs per preparation variant. Default 4. */
  trainingsPerPreparation: number;
  /** Epochs per training run, drawn uniformly from this range. Default [20, 60]. */
  epochs: [number, number];
  /** Training tiles per set, drawn from this range: batches per epoch = ceil(tiles / batch size). Default [900, 1300]. */
  trainingTiles: [number, number];
  /** Inline windows to choose preparation ranges from (shared across surveys). Default 24. */
  inlineWindows: number;
}

/** Defaults of {@link LifecycleShape}. */
export const DEFAULT_SHAPE: LifecycleShape = {
  seed: 42,
  targetQuads: 1_000_000,
  preparationsPerSurvey: 3,
  trainingsPerPreparation: 4,
  epochs: [20, 60],
  trainingTiles: [900, 1300],
  inlineWindows: 24,
};

/** What a training run did: the ground truth the queries are checked against. */
export interface TrainingFacts {
  /** Workflow execution IRI of the run and IRI of its training stage. */
  execution: string;
  stage: string;
  trainingSet: string;
  learningRate: number;
  batchSize: number;
  epochs: number;
  hiddenUnits: number;
  /** Per epoch: model file, loss, accuracy, val loss/accuracy, start time (µs), batch durations (s), epoch duration (s). */
  epochResults: {
    model: string;
    loss: number;
    accuracy: number;
    valLoss: number;
    valAccuracy: number;
    epochStartUs: number;
    batchSeconds: number[];
    epochSeconds: number;
  }[];
  finalLoss: number;
  finalAccuracy: number;
  /** Distinct quads generated up to and including this run (what a prefix of the stream holds). */
  endQuads: number;
  /** Mean batch and epoch durations (s) over the whole run. */
  meanBatchSeconds: number;
  meanEpochSeconds: number;
}

/** What a preparation variant did. */
export interface PreparationFacts {
  survey: number;
  rawFile: string;
  inlineStart: number;
  inlineEnd: number;
  tileSize: number;
  noiseThreshold: number;
  trainingSet: string;
  /** Distinct quads generated up to and including this preparation. */
  endQuads: number;
  trainings: TrainingFacts[];
}

/** What curation found about a survey's raw file. */
export interface SurveyFacts {
  index: number;
  name: string;
  rawFile: string;
  basin: string;
  field: string;
  slices: number;
  boundingBox: number[];
  crs: string;
  preparations: PreparationFacts[];
}

/** One chunk of the stream: the N-Quads of one workflow execution (or of the specs, or of annotations). */
export interface Chunk {
  nquads: string;
  quads: number;
}

/** The oil basins and fields the synthetic surveys lie in (basin → fields). */
const BASINS: readonly [string, readonly string[]][] = [
  ['North Sea', ['F3 Block', 'Troll', 'Ekofisk', 'Johan Sverdrup']],
  ['Santos Basin', ['Lula', 'Búzios', 'Sapinhoá', 'Mero']],
  ['Campos Basin', ['Marlim', 'Roncador', 'Albacora']],
  ['Gulf of Mexico', ['Thunder Horse', 'Mars-Ursa', 'Atlantis']],
  ['Taranaki Basin', ['Maui', 'Pohokura']],
];

/** mulberry32: uniform numbers in [0, 1) from a 32-bit seed (the demo's generator). */
function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One workflow execution's events, with the clock and ids the capture library would give them. */
class ExecutionRecorder {
  readonly events: CaptureEvent[] = [];
  private counter = 0;
  constructor(
    readonly workflow: string,
    readonly workflowExecution: string,
    private readonly prefix: string,
    public timeUs: number,
    private readonly context: Record<string, string>,
  ) {}

  newTask(): string {
    return `${this.prefix}.t${(this.counter++).toString(36)}`;
  }

  event(
    task: string,
    taskExecution: string,
    parent: string | null,
    phase: 'begin' | 'end',
    values: CaptureEvent['values'] = {},
    dataRefs: CaptureEvent['dataRefs'] = [],
  ): void {
    this.events.push({
      eventId: `${this.prefix}.e${(this.counter++).toString(36)}`,
      workflow: this.workflow,
      workflowExecution: this.workflowExecution,
      task,
      taskExecution,
      parentTaskExecution: parent,
      phase,
      time: this.timeUs,
      values,
      dataRefs,
      status: phase === 'end' ? 'finished' : null,
      // the capture library attaches the execution context to top-level begins only
      context: phase === 'begin' && parent === null ? this.context : {},
    });
  }
}

/**
 * Streams the lifecycle provenance as N-Quads chunks until `targetQuads` distinct quads (ending after a
 * whole training run),
 * filling `facts` with the ground truth of every survey as it goes (small: no batch-level data is kept
 * except batch durations).
 */
export function* generateLifecycle(
  options: Partial<LifecycleShape> = {},
  facts: SurveyFacts[] = [],
): Generator<Chunk> {
  const shape = { ...DEFAULT_SHAPE, ...options };
  const iris = new IriMinter();
  const state = new MappingState();
  const specs = {
    curation: compileSpec(DEMO_SPECS.curation),
    preparation: compileSpec(DEMO_SPECS.preparation),
    training: compileSpec(DEMO_SPECS.training),
  };
  let total = 0;
  const emit = (quads: Quad[]): Chunk => {
    // the mapper repeats some quads within a graph (a data store described at every reference): count
    // what a store holds
    const lines = [...new Set(toNQuads(quads).trimEnd().split('\n'))];
    total += lines.length;
    return { nquads: `${lines.join('\n')}\n`, quads: lines.length };
  };
  const run = (rec: ExecutionRecorder, spec: CompiledSpec): Quad[] => {
    const out: Quad[] = [];
    for (const event of rec.events) {
      const issues = checkEventAgainstSpec(event, spec);
      if (issues.length > 0)
        throw new Error(`generated event does not fit its spec: ${JSON.stringify(issues)}`);
      for (const q of mapEvent(event, spec, state, iris)) out.push(q);
    }
    return out;
  };

  yield emit([
    ...mapSpec(specs.curation, iris),
    ...mapSpec(specs.preparation, iris),
    ...mapSpec(specs.training, iris),
  ]);

  for (let s = 0; ; s++) {
    const random = createRandom((shape.seed * 7919 + s * 104_729) >>> 0);
    const between = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const [basin, fields] = BASINS[s % BASINS.length]!;
    const field = pick(fields);
    const name = `survey-${String(s).padStart(4, '0')}`;
    const root = `file:///lake/seismic/${name}`;
    const rawFile = `${root}/raw/${name}.sgy`;
    const curated = `${root}/curated/${name}.sgy`;
    const horizons = `${root}/curated/${name}.horizons.json`;
    const inlines = between(300, 700);
    const crosslines = between(200, 600);
    const x0 = 600_000 + between(0, 80_000);
    const y0 = 6_000_000 + between(0, 80_000);
    const boundingBox = [x0, y0, x0 + crosslines * 25, y0 + inlines * 25];
    const context = (host: string): Record<string, string> => ({
      host,
      pid: String(between(1000, 99_999)),
      user: pick(['geo.ana', 'geo.bruno', 'ml.carla', 'ml.diego']),
      scheduler: 'slurm',
      jobId: String(between(100_000, 999_999)),
    });
    let clock = 1_767_225_600_000_000 + s * 86_400_000_000;
    const survey: SurveyFacts = {
      index: s,
      name,
      rawFile,
      basin,
      field,
      slices: inlines,
      boundingBox,
      crs: 'EPSG:32631',
      preparations: [],
    };
    facts.push(survey);

    // data curation: the domain scientist's script, then the annotations about the raw file
    const cur = new ExecutionRecorder(
      'seismic-curation',
      `curation-${name}-${shape.seed}`,
      `c${s}`,
      clock,
      context('workstation-1'),
    );
    const curate = cur.newTask();
    cur.event('curate', curate, null, 'begin', { coordinate_tolerance: 0.5 }, [
      { name: 'raw_file', uri: rawFile, store: null },
      { name: 'raw_horizons', uri: `${root}/raw/${name}.horizons.json`, store: null },
    ]);
    cur.timeUs += between(20, 90) * 1_000_000;
    cur.event(
      'curate',
      curate,
      null,
      'end',
      {
        num_traces: inlines * crosslines,
        num_slices: inlines,
        num_crosslines: crosslines,
        num_samples: 1024,
        sample_interval_us: 4000,
        inline_range: [100, 100 + inlines - 1],
        crossline_range: [300, 300 + crosslines - 1],
        bounding_box: boundingBox,
        crs: survey.crs,
      },
      [
        { name: 'curated_file', uri: curated, store: 'project-fs' },
        { name: 'index_file', uri: `${root}/curated/${name}.index.json`, store: 'project-fs' },
        { name: 'horizons_file', uri: horizons, store: 'project-fs' },
      ],
    );
    const annotate = cur.newTask();
    cur.event('annotate', annotate, null, 'begin', {}, [{ name: 'raw_file', uri: rawFile, store: null }]);
    const curationQuads = run(cur, specs.curation);
    const turtle = `@prefix geo: <https://w3id.org/provml/demo/geo#> .
@prefix provml: <https://w3id.org/provml/ns#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<https://w3id.org/provml/demo/survey/${name}> a geo:SeismicSurvey ;
    rdfs:label ${JSON.stringify(`${name} survey`)} ;
    geo:basin ${JSON.stringify(basin)} ;
    geo:field ${JSON.stringify(field)} ;
    geo:notes ${JSON.stringify(`Synthetic survey ${s} in the ${field} field; 25 m bins, 4 ms sampling.`)} ;
    provml:annotates <${rawFile}> .
`;
    const annotations = parseAnnotations(turtle, undefined, iris);
    indexAnnotations(annotations, state);
    yield emit(annotations);
    cur.events.length = 0;
    cur.timeUs += 2_000_000;
    cur.event('annotate', annotate, null, 'end', { annotation_triples: annotations.length }, [
      { name: 'annotations_file', uri: `${root}/raw/${name}.annotations.ttl`, store: null },
    ]);
    yield emit([...curationQuads, ...run(cur, specs.curation)]);
    clock = cur.timeUs + 60_000_000;

    for (let p = 0; p < shape.preparationsPerSurvey; p++) {
      const window = between(0, shape.inlineWindows - 1);
      const inlineStart = 100 + window * 16;
      const inlineEnd = inlineStart + 63;
      const tileSize = pick([16, 32, 48]);
      const noiseThreshold = pick([0.2, 0.3, 0.45, 0.6]);
      const variant = `${name}-p${p}`;
      const tiles = `${root}/tiles/${variant}`;
      const trainingSet = `${tiles}/training.pmlt`;
      const validationSet = `${tiles}/validation.pmlt`;
      const trainingTiles = between(...shape.trainingTiles);
      const validationTiles = Math.round(trainingTiles / 4);
      const prep = new ExecutionRecorder(
        'seismic-preparation',
        `preparation-${variant}-${shape.seed}`,
        `p${s}x${p}`,
        clock,
        context(`cpu-node-${between(1, 16)}`),
      );
      const top = prep.newTask();
      prep.event(
        'prepare',
        top,
        null,
        'begin',
        {
          inline_start: inlineStart,
          inline_end: inlineEnd,
          tile_size: tileSize,
          noise_threshold: noiseThreshold,
          validation_fraction: 0.2,
          seed: shape.seed,
        },
        [
          { name: 'curated_file', uri: curated, store: 'project-fs' },
          { name: 'horizons_file', uri: horizons, store: 'project-fs' },
        ],
      );
      const cut = trainingTiles + validationTiles + between(50, 400);
      const steps: [string, CaptureEvent['values'], CaptureEvent['dataRefs']][] = [
        ['cut-tiles', { tiles_cut: cut }, []],
        [
          'filter-noise',
          {
            tiles_kept: trainingTiles + validationTiles,
            tiles_dropped: cut - trainingTiles - validationTiles,
          },
          [],
        ],
        [
          'split',
          {
            training_tiles: trainingTiles,
            validation_tiles: validationTiles,
            training_tile_size: tileSize,
            validation_tile_size: tileSize,
          },
          [
            { name: 'training_set', uri: trainingSet, store: 'project-fs' },
            { name: 'validation_set', uri: validationSet, store: 'project-fs' },
          ],
        ],
      ];
      for (const [task, values, refs] of steps) {
        const t = prep.newTask();
        prep.timeUs += 1000;
        prep.event(task, t, top, 'begin');
        prep.timeUs += between(1, 30) * 1_000_000;
        prep.event(task, t, top, 'end', values, refs);
      }
      prep.timeUs += 1000;
      prep.event('prepare', top, null, 'end');
      yield emit(run(prep, specs.preparation));
      clock = prep.timeUs + 10_000_000;
      const prepFacts: PreparationFacts = {
        survey: s,
        rawFile,
        inlineStart,
        inlineEnd,
        tileSize,
        noiseThreshold,
        trainingSet,
        endQuads: total,
        trainings: [],
      };
      survey.preparations.push(prepFacts);

      for (let r = 0; r < shape.trainingsPerPreparation; r++) {
        const runName = `${variant}-r${r}`;
        const learningRate = pick([0.001, 0.003, 0.01, 0.03, 0.1]);
        const batchSize = pick([16, 32, 64]);
        const epochs = between(...shape.epochs);
        const hiddenUnits = pick([8, 16, 24, 32]);
        const batches = Math.ceil(trainingTiles / batchSize);
        const tr = new ExecutionRecorder(
          'seismic-training',
          `training-${runName}-${shape.seed}`,
          `r${s}x${p}x${r}`,
          clock,
          { ...context(`gpu-node-${between(1, 32)}`), gpus: String(between(0, 7)) },
        );
        const stage = tr.newTask();
        tr.event(
          'training',
          stage,
          null,
          'begin',
          {
            learning_rate: learningRate,
            epochs,
            batch_size: batchSize,
            hidden_units: hiddenUnits,
            seed: shape.seed + r + 1,
          },
          [{ name: 'training_set', uri: trainingSet, store: 'project-fs' }],
        );
        const training: TrainingFacts = {
          execution: iris.workflowExecution(tr.workflowExecution),
          stage: iris.taskExecution(tr.workflowExecution, stage),
          trainingSet,
          learningRate,
          batchSize,
          epochs,
          hiddenUnits,
          epochResults: [],
          finalLoss: 0,
          finalAccuracy: 0,
          meanBatchSeconds: 0,
          meanEpochSeconds: 0,
          endQuads: 0,
        };
        const batchUs = batchSize * between(900, 1600); // per-sample cost of this run's model and GPU
        const floor = 0.2 + random() * 0.4;
        let loss = 2.2;
        for (let e = 0; e < epochs; e++) {
          const epoch = tr.newTask();
          tr.timeUs += 500;
          const epochStartUs = tr.timeUs;
          tr.event('epoch', epoch, stage, 'begin');
          const batchSeconds: number[] = [];
          for (let b = 0; b < batches; b++) {
            const batch = tr.newTask();
            tr.timeUs += 40;
            const begin = tr.timeUs;
            tr.event('batch', batch, epoch, 'begin', { batch_index: b });
            tr.timeUs += Math.round(batchUs * (0.85 + 0.3 * random()));
            batchSeconds.push((tr.timeUs - begin) / 1e6);
            const batchLoss = Math.round(loss * (0.9 + 0.2 * random()) * 1e6) / 1e6;
            tr.event('batch', batch, epoch, 'end', { batch_loss: batchLoss });
          }
          loss = floor + (loss - floor) * (0.82 + 0.1 * random());
          const epochLoss = Math.round(loss * 1e6) / 1e6;
          const accuracy = Math.round((1 - epochLoss / 2.6) * 1e6) / 1e6;
          const model = `file:///lake/models/${runName}/epoch-${e}.json`;
          tr.timeUs += 3000;
          tr.event('epoch', epoch, stage, 'end', { epoch: e, loss: epochLoss, accuracy }, [
            { name: 'model', uri: model, store: 'model-registry' },
          ]);
          const epochSeconds = (tr.timeUs - epochStartUs) / 1e6;
          const val = tr.newTask();
          tr.timeUs += 200;
          tr.event('validation', val, stage, 'begin', {}, [
            { name: 'validation_set', uri: validationSet, store: 'project-fs' },
          ]);
          tr.timeUs += Math.round(batchUs * batches * 0.15);
          const valLoss = Math.round(epochLoss * (1.05 + 0.1 * random()) * 1e6) / 1e6;
          const valAccuracy = Math.round((1 - valLoss / 2.6) * 1e6) / 1e6;
          tr.event('validation', val, stage, 'end', { val_loss: valLoss, val_accuracy: valAccuracy }, [
            { name: 'model', uri: model, store: 'model-registry' },
          ]);
          training.epochResults.push({
            model,
            loss: epochLoss,
            accuracy,
            valLoss,
            valAccuracy,
            epochStartUs,
            batchSeconds,
            epochSeconds,
          });
        }
        const last = training.epochResults[training.epochResults.length - 1]!;
        training.finalLoss = last.loss;
        training.finalAccuracy = last.accuracy;
        const all = training.epochResults.flatMap((x) => x.batchSeconds);
        training.meanBatchSeconds = all.reduce((a, b) => a + b, 0) / all.length;
        training.meanEpochSeconds =
          training.epochResults.reduce((a, x) => a + x.epochSeconds, 0) / training.epochResults.length;
        tr.timeUs += 1000;
        tr.event('training', stage, null, 'end', {
          final_loss: last.loss,
          final_accuracy: last.accuracy,
        });
        yield emit(run(tr, specs.training));
        training.endQuads = total;
        // trainings of one preparation overlap in time (parallel jobs on the cluster)
        clock += 600_000_000;
        if (s > 0) for (const ep of training.epochResults) ep.batchSeconds.length = 0; // keep memory flat
        prepFacts.trainings.push(training);
        if (total >= shape.targetQuads) return;
      }
    }
  }
}
