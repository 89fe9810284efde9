// @ts-check
/** What the dashboard reads from the query API: the `/v1/…` endpoints, `/sparql` for metric history. */

const PREFIXES = `PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX provml: <https://w3id.org/provml/ns#>
PREFIX mls: <http://www.w3.org/ns/mls#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
`;

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
 * @param {Record<string, string | number | undefined>} [params]
 * @returns {Promise<any>}
 */
export async function getJson(path, params = {}) {
  const query = new URLSearchParams();
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
 * Whether a string may be put between `<` and `>` in a SPARQL query (server data, checked anyway).
 * @param {string} iri
 */
function safeIri(iri) {
  if (!/^[a-z][a-z0-9+.-]*:[^\s<>"{}|\\^`]*$/i.test(iri)) throw new Error(`not an IRI: ${iri}`);
  return `<${iri}>`;
}

/**
 * Runs a SELECT through the SPARQL protocol endpoint; rows of plain values.
 * @param {string} query
 * @returns {Promise<Record<string, string>[]>}
 */
export async function sparql(query) {
  const response = await fetch('/sparql', {
    method: 'POST',
    headers: { 'content-type': 'application/sparql-query', accept: 'application/sparql-results+json' },
    body: PREFIXES + query,
  });
  if (!response.ok) throw new HttpError(response.status, await response.text());
  /** @type {{ results: { bindings: Record<string, { value: string }>[] } }} */
  const json = await response.json();
  return json.results.bindings.map((b) =>
    Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.value])),
  );
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
 * The captured hyperparameters of a training stage execution.
 * @param {string} execution
 * @returns {Promise<Record<string, string>>}
 */
export async function hyperparameters(execution) {
  const rows = await sparql(`SELECT DISTINCT ?name ?value WHERE {
    ${safeIri(execution)} mls:hasInput ?v .
    ?v a provml:LearningHyperParameterSetting ; provml:valueName ?name ; prov:value ?value .
  } ORDER BY ?name`);
  return Object.fromEntries(rows.map((r) => [r.name, r.value]));
}

/**
 * @typedef {{ key: string, time: string, values: Record<string, number> }} MetricRecord
 */

/**
 * Metric values already in the store for an execution (batch loss, epoch loss/accuracy, validation):
 * the history the live feed then extends. One record per task execution, keyed as the feed keys it.
 * @param {string} execution
 * @returns {Promise<MetricRecord[]>}
 */
export async function metricHistory(execution) {
  const rows = await sparql(`SELECT DISTINCT ?t ?time ?name ?value WHERE {
    ?t provml:partOfExecution+ ${safeIri(execution)} ; mls:hasOutput ?o .
    ?o provml:valueName ?name ; prov:value ?value .
    FILTER(?name IN ("batch_loss", "loss", "accuracy", "val_loss", "val_accuracy", "epoch"))
    OPTIONAL { ?t prov:endedAtTime ?ended }
    OPTIONAL { ?t prov:startedAtTime ?started }
    BIND(COALESCE(?ended, ?started) AS ?time)
  }`);
  /** @type {Map<string, MetricRecord>} */
  const byTask = new Map();
  for (const r of rows) {
    const key = /[^/]+$/.exec(r.t ?? '')?.[0] ?? String(r.t);
    const record = byTask.get(key) ?? { key, time: r.time ?? '', values: {} };
    record.values[String(r.name)] = Number(r.value);
    byTask.set(key, record);
  }
  return [...byTask.values()];
}
