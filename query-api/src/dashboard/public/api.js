// @ts-check
/** What the dashboard reads from the query API: the `/v1/…` views. */

/** An answer other than 2xx from the API. */
export class HttpError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * GETs JSON from the API.
 * @param {string} path
 * @param {Record<string, string | number | undefined> | URLSearchParams} [params] a parameter repeats in URLSearchParams
 * @returns {Promise<any>}
 */
export async function getJson(path, params = {}) {
  const query = params instanceof URLSearchParams ? params : new URLSearchParams();
  if (!(params instanceof URLSearchParams))
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') query.set(k, String(v));
  const url = query.size > 0 ? `${path}?${query}` : path;
  const response = await fetch(url, { headers: { accept: 'application/json' } });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).message ?? message;
    } catch {
      // not JSON: keep the status line
    }
    throw new HttpError(response.status, message);
  }
  return response.json();
}

/**
 * A top-level task execution (`execution`) of a workflow run (`workflowExecution`); `label` is the task's.
 * @typedef {{ execution: string, workflowExecution: string, workflow: string, workflowLabel: string | null,
 *   lifecyclePhase: string | null, label: string, started: string | null, ended: string | null,
 *   status: 'running' | 'finished' | 'failed', durationSeconds: number | null,
 *   rank?: number | null, worldSize?: number | null, attempt?: number | null }} Execution
 */

/**
 * Top-level executions, newest first.
 * @param {{ workflow?: string, status?: string }} [filter]
 * @returns {Promise<Execution[]>}
 */
export async function executions(filter = {}) {
  return (await getJson('/v1/executions', filter)).executions;
}

/**
 * A model: the version of a file (`uri`) one task execution wrote.
 * @typedef {{ model: string, uri?: string, training: string, trainingSet: string | null, generatedBy: string,
 *   evaluations: Record<string, string | number | boolean> }} Model
 */

/**
 * Trained models (of one training set, or all).
 * @param {string} [trainingSet]
 * @returns {Promise<Model[]>}
 */
export async function models(trainingSet) {
  return (await getJson('/v1/models', { trainingSet })).models;
}

/**
 * @typedef {{ id: string, label: string, kind: 'entity' | 'activity' | 'annotation', types: string[],
 *   properties: Record<string, unknown> }} LineageNode
 * @typedef {{ source: string, target: string, relation: string }} LineageEdge
 * @typedef {{ root: string, depth: number, nodes: LineageNode[], edges: LineageEdge[] }} Lineage
 */

/**
 * Backward lineage of an entity (to its raw data and domain annotations).
 * @param {string} entity
 * @param {number} [depth]
 * @returns {Promise<Lineage>}
 */
export async function lineageBackward(entity, depth = 12) {
  return getJson('/v1/lineage/backward', { entity, depth });
}

/**
 * The best model of a training set by a measure.
 * @param {string} trainingSet
 * @param {string} [measure]
 * @param {'min' | 'max'} [direction]
 * @returns {Promise<{ model: string, uri?: string, measure: string, value: number, hyperparameters: Record<string, unknown>,
 *   modelHyperparameters: Record<string, unknown>, evaluations: Record<string, unknown> }>}
 */
export async function bestModel(trainingSet, measure = 'loss', direction = 'min') {
  return getJson('/v1/models/best', { trainingSet, measure, direction });
}

/**
 * @typedef {{ training: string, epoch: string, epochNumber: number | null, started: string, ended: string | null,
 *   batches: number, minBatchSeconds: number | null, meanBatchSeconds: number | null,
 *   maxBatchSeconds: number | null }} EpochTiming
 */

/**
 * Batch-time statistics per epoch of one execution.
 * @param {string} execution
 * @returns {Promise<EpochTiming[]>}
 */
export async function timing(execution) {
  return (await getJson('/v1/timing', { execution })).epochs;
}

/**
 * One of the paper's queries Q1–Q6.
 * @param {string} name
 * @param {Record<string, string | number | undefined>} params
 * @returns {Promise<{ query: string, title: string, rows: Record<string, string>[] }>}
 */
export function paperQuery(name, params) {
  return getJson(`/v1/queries/${name}`, params);
}

/**
 * One rank's training in a distributed job's run.
 * @typedef {{ rank: number, attempt: number, training: string, started: string | null, status: string | null,
 *   outputs: Record<string, string | number | boolean>, meanBatchSeconds: number | null,
 *   meanEpochSeconds: number | null }} RankRun
 */

/**
 * A training run with its data preparation, hyperparameters and the training's own outputs; a
 * distributed job is one run, its ranks in `ranks`; `trainingSet` is null for a run that used none.
 * @typedef {{ training: string, trainingSet: string | null, started: string | null, status: string | null,
 *   preparation: Record<string, string | number | boolean>, hyperparameters: Record<string, string | number | boolean>,
 *   outputs: Record<string, string | number | boolean>, meanBatchSeconds: number | null,
 *   meanEpochSeconds: number | null, ranks: RankRun[] | null }} Run
 */

/**
 * Every training run (with or without a training set).
 * @returns {Promise<Run[]>}
 */
export async function runs() {
  return (await getJson('/v1/runs')).runs;
}

/**
 * @typedef {{ name: string, task: string, semantics: 'evaluation-measure' | 'output-value' }} MeasureDeclaration
 * @typedef {{ step: number, value: number | null, time: string | null, execution: string }} MeasurePoint
 * @typedef {{ training: string, task: string, measure: string, points: MeasurePoint[] }} MeasureSeries
 */

/**
 * The measures the runs' workflows declare and each run's series of them (of one measure, or all).
 * @param {string[]} trainings training execution IRIs
 * @param {string | null} [measure] null: no series, only the declarations
 * @returns {Promise<{ measures: MeasureDeclaration[], series: MeasureSeries[] }>}
 */
export async function measures(trainings, measure) {
  const query = new URLSearchParams();
  for (const t of trainings) query.append('training', t);
  if (measure === null) query.set('series', 'none');
  else if (measure !== undefined) query.set('measure', measure);
  return getJson('/v1/measures', query);
}
