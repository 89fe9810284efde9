/**
 * The measures of training runs: what their workflows declare (evaluation measures and output values,
 * whatever their names) and, per run, task and measure, the series of values its task executions
 * reported, in the order they started: the curves a dashboard overlays to compare runs.
 */
import { ValidationError } from '@provml/schemas';
import { fragment, iriTerm, nameTerm, oneOf, sparql, type SparqlTerm } from './terms.ts';
import { rows, type ViewContext } from './ViewContext.ts';

/** The semantics a plotted value may have: evaluation measures, and the outputs a loop reports. */
export const MEASURE_SEMANTICS = ['evaluation-measure', 'output-value'] as const;

/** A measure a workflow declares on one of its tasks. */
export interface MeasureDeclaration {
  name: string;
  /** The task that reports it (`epoch`, `validation`, …). */
  task: string;
  semantics: (typeof MEASURE_SEMANTICS)[number];
}

/** One value of a series: the `step`-th execution of its task in the run (0-based, by start time). */
export interface MeasurePoint {
  step: number;
  /** Null where the value is not a finite number (NaN, ±INF). */
  value: number | null;
  time: string | null;
  execution: string;
}

/** The values one task reported for one measure during one run. */
export interface MeasureSeries {
  training: string;
  task: string;
  measure: string;
  points: MeasurePoint[];
}

/** Most runs one request may name. */
const MAX_RUNS = 100;

/**
 * Links a task execution to the values it output: the name PROV-ML gives it, or the older MLS one
 * (stores written before the change hold those).
 */
const OUTPUT_VALUE = fragment('(provml:hasOutputValue|mls:hasOutput)');

const SEMANTICS_FILTER = fragment(
  `FILTER(?semantics IN (${MEASURE_SEMANTICS.map((s) => `"${s}"`).join(', ')}))`,
);

/** The training IRIs of `training`: one IRI, or several (a repeated parameter arrives as a JSON array). */
function trainingsOf(value: unknown): SparqlTerm[] {
  if (value === undefined)
    throw new ValidationError('parameter training is required', [
      { path: 'training', message: 'a training execution IRI; repeat the parameter for several runs' },
    ]);
  let list: unknown[] = [value];
  if (typeof value === 'string' && value.startsWith('[')) {
    try {
      list = JSON.parse(value) as unknown[];
    } catch {
      // not JSON: iriTerm refuses it below
    }
  }
  if (!Array.isArray(list) || list.length > MAX_RUNS)
    throw new ValidationError(`parameter training names at most ${MAX_RUNS} runs`, [
      { path: 'training', message: `got ${Array.isArray(list) ? list.length : typeof list}` },
    ]);
  return [...new Set(list)].map((t) => iriTerm('training', t));
}

/** Declared measures of the runs' workflows and, for one measure or all (or none), each run's series. */
export async function listMeasures(
  context: ViewContext,
  params: Readonly<Record<string, unknown>>,
): Promise<{ measures: MeasureDeclaration[]; series: MeasureSeries[] }> {
  const trainings = trainingsOf(params.training);
  const only = params.measure === undefined ? undefined : nameTerm('measure', params.measure);
  const withSeries = oneOf('series', params.series, ['all', 'none'] as const, 'all') === 'all';
  const declared = await rows(
    context,
    sparql`SELECT DISTINCT ?name ?task ?semantics WHERE {
  VALUES ?training { ${trainings} }
  ?training provml:executesTask/provml:partOfWorkflow ?workflow .
  ?taskNode provml:partOfWorkflow ?workflow ; rdfs:label ?task ; provml:hasOutput ?attribute .
  ?attribute provml:semantics ?semantics ; rdfs:label ?name .
  ${SEMANTICS_FILTER}
} ORDER BY ?name ?task`,
  );
  const measures = declared.map((r): MeasureDeclaration => ({
    name: r.name!,
    task: r.task!,
    semantics: r.semantics as MeasureDeclaration['semantics'],
  }));
  if (!withSeries) return { measures, series: [] };
  const found = await rows(
    context,
    sparql`SELECT DISTINCT ?training ?execution ?task ?name ?value ?started ?ended WHERE {
  VALUES ?training { ${trainings} }
  ?execution provml:partOfExecution* ?training ; ${OUTPUT_VALUE} ?v .
  ?v provml:valueName ?name ; prov:value ?value ; mls:specifiedBy/provml:semantics ?semantics .
  ${SEMANTICS_FILTER}
  ${only === undefined ? fragment('') : fragment(sparql`FILTER(?name = ${only})`)}
  FILTER(isNumeric(?value))
  ?execution provml:executesTask/rdfs:label ?task .
  OPTIONAL { ?execution prov:startedAtTime ?started }
  OPTIONAL { ?execution prov:endedAtTime ?ended }
}`,
  );
  return { measures, series: toSeries(found) };
}

/** Groups value rows into series ordered by training, task and measure, each by start time. */
function toSeries(found: readonly Record<string, string>[]): MeasureSeries[] {
  const byKey = new Map<string, { series: MeasureSeries; rows: Record<string, string>[] }>();
  for (const r of found) {
    const key = JSON.stringify([r.training, r.task, r.name]);
    let entry = byKey.get(key);
    if (entry === undefined) {
      entry = { series: { training: r.training!, task: r.task!, measure: r.name!, points: [] }, rows: [] };
      byKey.set(key, entry);
    }
    entry.rows.push(r);
  }
  const time = (r: Record<string, string>): number => micros(r.started ?? r.ended);
  return [...byKey.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, { series, rows: values }]) => {
      values.sort((a, b) => time(a) - time(b) || a.execution!.localeCompare(b.execution!));
      series.points = values.map((r, step) => {
        const n = Number(r.value);
        return {
          step,
          value: Number.isFinite(n) ? n : null,
          time: r.ended ?? r.started ?? null,
          execution: r.execution!,
        };
      });
      return series;
    });
}

/**
 * Microseconds since the epoch of an `xsd:dateTime` (0 when absent). Not the text: a store writes
 * fractions without trailing zeros, so `…:40.1Z` sorts after `…:40.12Z` as text.
 */
function micros(iso: string | undefined): number {
  const m = iso === undefined ? null : /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(iso);
  if (m === null) return 0;
  return Date.parse(`${m[1]}${m[3] || 'Z'}`) * 1000 + Number((m[2] ?? '').padEnd(6, '0').slice(0, 6));
}
