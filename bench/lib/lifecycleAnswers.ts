/** Q1–Q6 parameters picked from generated lifecycle provenance, and the answers the queries must give. */
import type { PreparationFacts, SurveyFacts, TrainingFacts } from './provenanceGenerator.ts';

/** Query name → its parameters (the catalogue's placeholders). */
export type QueryParameters = Record<
  'q1' | 'q2' | 'q3' | 'q4' | 'q5' | 'q6',
  Record<string, string | number>
>;

type Row = Record<string, string>;

/**
 * What a user would ask about: the best model of survey 0's first preparation's first training run, that
 * preparation's training set and its inline range (the same at every size: the stream's prefix).
 */
export function pickParameters(facts: readonly SurveyFacts[]): QueryParameters {
  const prep = facts[0]!.preparations[0]!;
  const run = prep.trainings[0]!;
  const best = run.epochResults.reduce((a, b) => (b.loss < a.loss ? b : a));
  const range = { inlineStart: prep.inlineStart, inlineEnd: prep.inlineEnd };
  return {
    q1: { model: best.model },
    q2: { model: best.model },
    q3: { trainingSet: prep.trainingSet },
    q4: { trainingSet: prep.trainingSet },
    q5: range,
    q6: range,
  };
}

const close = (a: number, b: number, rel = 1e-9): boolean =>
  Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));

/** Microseconds since the epoch of an xsd:dateTime lexical form (stores may shorten the fraction). */
const isoToMicros = (iso: string): number => {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/.exec(iso);
  if (m === null) return NaN;
  return Date.parse(`${m[1]}${m[3] ?? 'Z'}`) * 1000 + Number((m[2] ?? '').padEnd(6, '0').slice(0, 6));
};

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/**
 * Checks the rows of a query against the ground truth of the stream's first `quads` quads.
 * @returns problems found (empty: the answer is right)
 */
export function checkAnswer(
  name: string,
  rows: readonly Row[],
  facts: readonly SurveyFacts[],
  quads: number,
): string[] {
  const problems: string[] = [];
  const expect = (ok: boolean, what: string): void => {
    if (!ok) problems.push(what);
  };
  const survey = facts[0]!;
  const prep = survey.preparations[0]!;
  const held = <T extends { endQuads: number }>(xs: readonly T[]): T[] =>
    xs.filter((x) => x.endQuads <= quads);
  const trainingsOn = (p: PreparationFacts): TrainingFacts[] => held(p.trainings);
  const inRange = facts
    .flatMap((s) => held(s.preparations))
    .filter((p) => p.inlineStart === prep.inlineStart && p.inlineEnd === prep.inlineEnd);
  const bySurvey = new Map(facts.map((s) => [s.index, s]));
  expect(rows.length > 0, 'no rows');
  if (rows.length === 0) return problems;

  switch (name) {
    case 'q1': {
      expect(rows.length === 1, `${rows.length} rows, expected 1`);
      const r = rows[0]!;
      expect(r['rawFile'] === survey.rawFile, `rawFile ${r['rawFile']}`);
      expect(
        r['basin'] === survey.basin && r['field'] === survey.field,
        `basin/field ${r['basin']}/${r['field']}`,
      );
      expect(Number(r['slices']) === survey.slices, `slices ${r['slices']}`);
      expect(r['crs'] === survey.crs, `crs ${r['crs']}`);
      expect(r['boundingBox'] === JSON.stringify(survey.boundingBox), `boundingBox ${r['boundingBox']}`);
      break;
    }
    case 'q2': {
      expect(rows.length === 1, `${rows.length} rows, expected 1`);
      const r = rows[0]!;
      expect(r['trainingSet'] === prep.trainingSet, `trainingSet ${r['trainingSet']}`);
      expect(
        Number(r['inlineStart']) === prep.inlineStart && Number(r['inlineEnd']) === prep.inlineEnd,
        `inline range ${r['inlineStart']}–${r['inlineEnd']}`,
      );
      expect(Number(r['tileSize']) === prep.tileSize, `tileSize ${r['tileSize']}`);
      expect(Number(r['noiseThreshold']) === prep.noiseThreshold, `noiseThreshold ${r['noiseThreshold']}`);
      break;
    }
    case 'q3': {
      const runs = trainingsOn(prep);
      const epochs = runs.flatMap((t) => t.epochResults.map((e) => ({ t, e })));
      const best = epochs.reduce((a, b) => (b.e.loss < a.e.loss ? b : a));
      // the model is the version of its file the epoch wrote: `<epoch>/version/<the file's URI, encoded>`
      const version = rows[0]!['model'] ?? '';
      const at = version.lastIndexOf('/version/');
      const model = at < 0 ? version : decodeURIComponent(version.slice(at + '/version/'.length));
      const chosen = epochs.find((x) => x.e.model === model);
      expect(
        chosen !== undefined && chosen.e.loss === best.e.loss,
        `model ${model} is not one of least loss`,
      );
      if (chosen === undefined) break;
      const { t, e } = chosen;
      const want: Record<string, number> = {
        'hyperparameter learning_rate': t.learningRate,
        'hyperparameter epochs': t.epochs,
        'hyperparameter batch_size': t.batchSize,
        'hyperparameter hidden_units': t.hiddenUnits,
        'model-hyperparameter epoch': t.epochResults.indexOf(e),
        'evaluation loss': e.loss,
        'evaluation accuracy': e.accuracy,
        'evaluation val_loss': e.valLoss,
        'evaluation val_accuracy': e.valAccuracy,
      };
      const got = Object.fromEntries(rows.map((r) => [`${r['kind']} ${r['name']}`, Number(r['value'])]));
      expect(sameSet(Object.keys(got), Object.keys(want)), `rows ${Object.keys(got).join(', ')}`);
      for (const [k, v] of Object.entries(want)) expect(got[k] === v, `${k} = ${got[k]}, expected ${v}`);
      break;
    }
    case 'q4': {
      const runs = trainingsOn(prep);
      const epochs = runs.flatMap((t) => t.epochResults.map((e, i) => ({ t, e, i })));
      expect(rows.length === epochs.length, `${rows.length} epochs, expected ${epochs.length}`);
      const byStart = new Map(epochs.map((x) => [`${x.t.stage} ${x.e.epochStartUs}`, x]));
      for (const r of rows) {
        const started = isoToMicros(r['epochStarted']!);
        const x = byStart.get(`${r['training']} ${started}`);
        if (x === undefined) {
          problems.push(`unexpected epoch ${r['epoch']} at ${r['epochStarted']}`);
          continue;
        }
        const b = x.e.batchSeconds;
        expect(Number(r['epochNumber']) === x.i, `epoch number ${r['epochNumber']}, expected ${x.i}`);
        expect(Number(r['batches']) === b.length, `${r['batches']} batches, expected ${b.length}`);
        expect(close(Number(r['minBatchSeconds']), Math.min(...b)), `min ${r['minBatchSeconds']}`);
        expect(close(Number(r['maxBatchSeconds']), Math.max(...b)), `max ${r['maxBatchSeconds']}`);
        expect(
          close(Number(r['meanBatchSeconds']), b.reduce((s, v) => s + v, 0) / b.length, 1e-6),
          `mean ${r['meanBatchSeconds']}`,
        );
      }
      break;
    }
    case 'q5': {
      const runs = inRange.flatMap(trainingsOn);
      expect(
        sameSet(
          rows.map((r) => r['training']!),
          runs.map((t) => t.stage),
        ),
        `${rows.length} trainings, expected ${runs.length}`,
      );
      const byStage = new Map(runs.map((t) => [t.stage, t]));
      for (const r of rows) {
        const t = byStage.get(r['training']!);
        if (t === undefined) continue;
        expect(r['trainingSet'] === t.trainingSet, `training set ${r['trainingSet']}`);
        expect(Number(r['learningRate']) === t.learningRate, `learning rate ${r['learningRate']}`);
        expect(
          close(Number(r['meanBatchSeconds']), t.meanBatchSeconds, 1e-6),
          `mean batch ${r['meanBatchSeconds']}`,
        );
        expect(
          close(Number(r['meanEpochSeconds']), t.meanEpochSeconds, 1e-6),
          `mean epoch ${r['meanEpochSeconds']}`,
        );
        expect(Number(r['finalLoss']) === t.finalLoss, `final loss ${r['finalLoss']}`);
      }
      break;
    }
    case 'q6': {
      const used = inRange.filter((p) => trainingsOn(p).length > 0);
      expect(
        sameSet(
          rows.map((r) => `${r['trainingSet']} ${r['rawFile']} ${r['basin']} ${r['field']} ${r['slices']}`),
          used.map((p) => {
            const s = bySurvey.get(p.survey)!;
            return `${p.trainingSet} ${s.rawFile} ${s.basin} ${s.field} ${s.slices}`;
          }),
        ),
        `${rows.length} training sets, expected ${used.length}`,
      );
      break;
    }
    default:
      problems.push(`no check for ${name}`);
  }
  return problems;
}

/** The part of a lineage graph the check reads (`query-api/src/views/lineage.ts`). */
interface LineageAnswer {
  nodes: readonly { id: string; kind: string; properties: Readonly<Record<string, string>> }[];
  edges: readonly { source: string; target: string; relation: string }[];
  truncated: boolean;
}

/**
 * Checks a backward lineage walk from Q1's model (the REST view that generalises Q1): it reaches the
 * model's training set and survey 0's raw file, and the raw file's annotation carries Q1's basin and
 * field; nothing was cut short.
 */
export function checkLineage(graph: LineageAnswer, facts: readonly SurveyFacts[]): string[] {
  const problems: string[] = [];
  const survey = facts[0]!;
  const prep = survey.preparations[0]!;
  const ids = new Set(graph.nodes.map((n) => n.id));
  if (graph.truncated) problems.push('truncated');
  if (!ids.has(prep.trainingSet)) problems.push(`training set ${prep.trainingSet} not reached`);
  if (!ids.has(survey.rawFile)) problems.push(`raw file ${survey.rawFile} not reached`);
  const annotated = graph.edges
    .filter((e) => e.source === survey.rawFile && e.relation === 'hasDomainAnnotation')
    .map((e) => graph.nodes.find((n) => n.id === e.target));
  if (!annotated.some((n) => n?.properties.basin === survey.basin && n.properties.field === survey.field))
    problems.push(`no annotation of the raw file with basin ${survey.basin} and field ${survey.field}`);
  return problems;
}
