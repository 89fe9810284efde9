// @ts-check
/** The dashboard's wiring: what is selected, what each view shows, and the live feed that moves them. */
import * as api from './api.js';
import { TimingChart, TrainingCharts } from './charts.js';
import { RunComparison } from './compare.js';
import { ExecutionsTable, executionId } from './executions.js';
import { esc, fmtValue, shortIri } from './format.js';
import { LineageView } from './lineage.js';
import { subscribe } from './live.js';
import { QueriesView } from './queries.js';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * Runs `fn` once, `ms` after the last of a burst of calls.
 * @param {() => void} fn
 * @param {number} ms
 */
function debounce(fn, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

/** Shows a failure where the data would have been, never as an uncaught error. */
function failed(/** @type {HTMLElement} */ where, /** @type {unknown} */ error) {
  where.innerHTML = `<p class="error">${esc(error instanceof Error ? error.message : String(error))}</p>`;
}

const state = {
  /** @type {api.Execution[]} */
  executions: [],
  /** Executions seen on the live feed before the store has them, by id. @type {Map<string, api.Execution>} */
  liveOnly: new Map(),
  /** @type {api.Execution | null} */
  training: null,
  /** Follow the newest training run until the user picks one. */
  follow: true,
  /** Training runs with their hyperparameters (from /v1/runs). @type {api.Run[]} */
  runs: [],
  /** @type {api.Model[]} */
  models: [],
  /** @type {string | null} */
  model: null,
  events: 0,
};

const table = new ExecutionsTable(
  /** @type {HTMLTableSectionElement} */ ($('executions').querySelector('tbody')),
  (execution) => pickTraining(execution, true),
);
const charts = new TrainingCharts(
  /** @type {HTMLCanvasElement} */ ($('focus-chart')),
  /** @type {HTMLCanvasElement} */ ($('measures-chart')),
  (focus) => {
    $('focus-caption').textContent =
      focus === null ? 'No measure declared' : `${focus.measure} per ${focus.task}`;
    $('focus-count').textContent = focus === null ? '' : `· ${focus.points} × ${focus.task}`;
    if (focus !== null) measureSelect.value = `${focus.task}:${focus.measure}`;
  },
);
const measureSelect = /** @type {HTMLSelectElement} */ ($('measure-select'));
const comparison = new RunComparison({
  group: /** @type {HTMLSelectElement} */ ($('compare-group')),
  measure: /** @type {HTMLSelectElement} */ ($('compare-measure')),
  list: $('compare-runs'),
  curves: $('compare-curves'),
  parallel: $('compare-parallel'),
  table: /** @type {HTMLTableElement} */ ($('compare-table')),
  caption: $('compare-caption'),
});
const timingChart = new TimingChart(/** @type {HTMLCanvasElement} */ ($('timing-chart')));
const lineage = new LineageView($('lineage-graph'), $('lineage-legend'), $('lineage-details'));
const queries = new QueriesView($('query-grid'), $('best-model'));
const trainingSelect = /** @type {HTMLSelectElement} */ ($('training-select'));
const modelSelect = /** @type {HTMLSelectElement} */ ($('model-select'));

// ---- executions ----------------------------------------------------------------------------

/** The store's executions, with those only the live feed knows of yet in front. */
function allExecutions() {
  const known = new Set(state.executions.map(executionId));
  return [
    ...[...state.liveOnly.values()].filter((e) => !known.has(executionId(e))).reverse(),
    ...state.executions,
  ];
}

async function refreshExecutions() {
  try {
    // the comparison keeps the runs it had when /v1/runs fails; the executions still show
    [state.executions, state.runs] = await Promise.all([
      api.executions(),
      api.runs().catch(() => state.runs),
    ]);
  } catch (error) {
    return failed(/** @type {HTMLElement} */ ($('executions').querySelector('tbody')), error);
  }
  const compared = comparison.load(state.runs, state.executions);
  const known = new Set(state.executions.map(executionId));
  for (const id of state.liveOnly.keys()) if (known.has(id)) state.liveOnly.delete(id);
  const rows = allExecutions();
  table.show(rows);
  const trainings = rows.filter((e) => e.lifecyclePhase === 'learning');
  const current =
    state.training === null
      ? undefined
      : trainings.find((e) => executionId(e) === executionId(/** @type {api.Execution} */ (state.training)));
  trainingSelect.innerHTML = trainings
    .map((e) => `<option value="${esc(executionId(e))}">${esc(executionId(e))} · ${esc(e.status)}</option>`)
    .join('');
  const next = state.follow ? (trainings.find((e) => e.status === 'running') ?? trainings[0]) : current;
  if (next !== undefined) await pickTraining(next, false);
  else if (current !== undefined) trainingSelect.value = executionId(current);
  await compared;
}
const refreshExecutionsSoon = debounce(() => void refreshExecutions(), 400);

/** The IRI the store gives a workflow run the live feed names by id (minted as the others are). */
function executionIri(/** @type {string} */ id) {
  const sample = state.executions[0];
  if (sample === undefined) return `urn:provml:execution/${encodeURIComponent(id)}`;
  const iri = sample.workflowExecution;
  return iri.slice(0, iri.length - encodeURIComponent(executionId(sample)).length) + encodeURIComponent(id);
}

/** @param {import('./live.js').LiveEvent} e */
function noteTopLevel(e) {
  const id = e.workflowExecution;
  const row = state.executions.find((x) => executionId(x) === id) ?? state.liveOnly.get(id);
  if (row === undefined && e.phase === 'begin') {
    const sibling = state.executions.find((x) => shortIri(x.workflow) === e.workflow);
    const run = executionIri(id);
    state.liveOnly.set(id, {
      execution: `${run}/${encodeURIComponent(e.taskExecution)}`,
      workflowExecution: run,
      workflow: sibling?.workflow ?? e.workflow,
      workflowLabel: sibling?.workflowLabel ?? null,
      lifecyclePhase: sibling?.lifecyclePhase ?? null,
      label: e.task,
      started: e.time,
      ended: null,
      status: 'running',
      durationSeconds: null,
    });
    table.show(allExecutions());
    if (state.follow) void refreshExecutions();
  }
  refreshExecutionsSoon();
  setTimeout(refreshExecutionsSoon, 1500); // the store may answer a moment after the feed
}

// ---- the training run ------------------------------------------------------------------------

/** @type {(() => void) | null} */
let closeRunFeed = null;

/**
 * Shows one training execution: history from the store, then its live events.
 * @param {api.Execution} execution
 * @param {boolean} byUser
 */
async function pickTraining(execution, byUser) {
  if (byUser) state.follow = false;
  const id = executionId(execution);
  trainingSelect.value = id;
  const badge = $('training-badge');
  badge.hidden = false;
  badge.className = `badge ${execution.status}`;
  badge.textContent = execution.status;
  if (state.training !== null && executionId(state.training) === id) {
    state.training = execution;
    return;
  }
  state.training = execution;
  table.select(execution.execution);
  charts.reset();
  closeRunFeed?.();
  // subscribe first (replaying what the feed still holds), then read the store: the two overlap, never gap
  closeRunFeed = subscribe({ execution: id, since: '0' }, (e) => onRunEvent(e), setLiveState);
  const iri = execution.execution;
  showHyperparameters(iri);
  const [history] = await Promise.all([
    api.measures([iri]).catch(() => ({ measures: [], series: [] })),
    refreshTiming(),
    refreshModels(),
  ]);
  if (state.training?.execution !== iri) return;
  showMeasures(history.measures, execution.label);
  for (const s of history.series)
    for (const p of s.points)
      if (p.value !== null) charts.take(taskKey(p.execution), s.task, p.time ?? '', { [s.measure]: p.value });
}

/** The id the live feed gives a task execution: the last segment of its IRI. */
const taskKey = (/** @type {string} */ iri) => /[^/]+$/.exec(iri)?.[0] ?? iri;

/**
 * The measures a run's workflow declares: in the measure picker and the charts.
 * @param {api.MeasureDeclaration[]} measures
 * @param {string} rootTask the training's own task
 */
function showMeasures(measures, rootTask) {
  measureSelect.innerHTML = measures
    .map((m) => `<option value="${esc(`${m.task}:${m.name}`)}">${esc(m.name)} · ${esc(m.task)}</option>`)
    .join('');
  charts.declare(measures, rootTask);
}

/** The hyperparameters of the run shown, as /v1/runs lists them. @param {string} iri */
function showHyperparameters(iri) {
  const hp = state.runs.find((r) => r.training === iri)?.hyperparameters ?? {};
  const shown = Object.entries(hp)
    .map(([k, v]) => `<span class="hp">${esc(k.replace(/_/g, ' '))} <b>${esc(fmtValue(v))}</b></span>`)
    .join('');
  $('training-meta').innerHTML = shown || 'The measures the run reports';
}

/** @param {import('./live.js').LiveEvent} e */
function onRunEvent(e) {
  if (e.phase !== 'end') return;
  charts.take(e.taskExecution, e.task, e.time, e.values);
  // an evaluation measure came (an epoch's, a validation's): timing and models may have moved
  if (charts.evaluates(e.task, Object.keys(e.values))) {
    refreshTimingSoon();
    refreshModelsSoon();
  }
}

async function refreshTiming() {
  const run = state.training;
  if (run === null) return;
  const body = /** @type {HTMLElement} */ ($('timing').querySelector('tbody'));
  try {
    const epochs = await api.timing(run.execution);
    if (state.training !== run) return;
    // batch timing is shown for runs whose epochs have batches
    $('timing-card').hidden = !epochs.some((e) => e.batches > 0);
    timingChart.show(epochs);
    const ms = (/** @type {number | null} */ s) => (s === null ? '–' : (s * 1000).toFixed(2));
    body.innerHTML =
      epochs
        .map(
          (e, i) => `<tr><td>epoch ${esc(e.epochNumber ?? i)}</td><td class="num">${esc(e.batches)}</td>
          <td class="num">${ms(e.minBatchSeconds)}</td><td class="num">${ms(e.meanBatchSeconds)}</td>
          <td class="num">${ms(e.maxBatchSeconds)}</td></tr>`,
        )
        .join('') || '<tr class="placeholder"><td colspan="5">No finished batches yet</td></tr>';
  } catch (error) {
    failed(body, error);
  }
}
const refreshTimingSoon = debounce(() => void refreshTiming(), 1200);

// ---- models, lineage, queries ----------------------------------------------------------------

/** Whether a model came from the given workflow execution. */
function fromRun(/** @type {api.Model} */ m, /** @type {string} */ execution) {
  return m.training === execution || m.training.startsWith(`${execution}/`);
}

async function refreshModels() {
  const run = state.training;
  if (run === null) return;
  try {
    const all = await api.models();
    if (state.training !== run) return;
    const mine = all.filter((m) => fromRun(m, run.execution));
    const changed = mine.map((m) => m.model).join() !== state.models.map((m) => m.model).join();
    state.models = mine;
    if (!changed) return;
    modelSelect.innerHTML =
      mine
        .map((m) => {
          const [name, value] = Object.entries(m.evaluations)[0] ?? [];
          return `<option value="${esc(m.model)}">${esc(shortIri(m.uri ?? m.model, 1))}${name === undefined ? '' : ` · ${esc(name)} ${esc(fmtValue(value))}`}</option>`;
        })
        .join('') || '<option value="">no model yet</option>';
    const keep = mine.find((m) => m.model === state.model);
    // a NaN or infinite loss (the strings "NaN", "INF", "-INF" in JSON) never makes a model the best
    const loss = (/** @type {api.Model} */ m) => {
      const n = Number(m.evaluations.loss);
      return Number.isFinite(n) ? n : Infinity;
    };
    // a loss says which is best; without one (no direction known), the newest model
    const best = mine.some((m) => m.evaluations.loss !== undefined)
      ? [...mine].sort((a, b) => loss(a) - loss(b))[0]
      : mine[mine.length - 1];
    const pick = keep ?? best;
    if (pick !== undefined) {
      modelSelect.value = pick.model;
      if (pick.model !== state.model) await pickModel(pick.model);
    }
  } catch (error) {
    failed($('lineage-details'), error);
  }
}
const refreshModelsSoon = debounce(() => void refreshModels(), 1500);

/** @param {string} model */
async function pickModel(model) {
  state.model = model;
  const m = state.models.find((x) => x.model === model);
  const context = /** @type {import('./queries.js').QueryContext} */ ({
    model,
    trainingSet: m?.trainingSet ?? undefined,
  });
  $('ctx-model').textContent = shortIri(m?.uri ?? model, 2);
  $('ctx-model').title = model;
  $('ctx-training-set').textContent = shortIri(m?.trainingSet ?? '–', 2);
  $('ctx-training-set').title = m?.trainingSet ?? '';
  const [, range] = await Promise.all([
    api
      .lineageBackward(model)
      .then((l) => {
        if (state.model !== model) return;
        lineage.show(l);
        $('lineage-hint').textContent =
          lineage.domain.seismic && lineage.domain.annotated
            ? 'From a trained model back to the raw SEG-Y file and what the geoscientist knows about it'
            : 'From a trained model back to the raw data it came from';
      })
      .catch((error) => failed($('lineage-details'), error)),
    api.paperQuery('q2', { model }).catch(() => ({ rows: [] })),
  ]);
  const row = range.rows[0];
  // Q1–Q6 ask of seismic slice ranges: shown only when the model's data has one
  $('queries-card').hidden = row === undefined;
  if (row !== undefined) {
    context.inlineStart = Number(row.inlineStart);
    context.inlineEnd = Number(row.inlineEnd);
    /** @type {HTMLInputElement} */ ($('ctx-inline-start')).value = String(row.inlineStart);
    /** @type {HTMLInputElement} */ ($('ctx-inline-end')).value = String(row.inlineEnd);
  }
  if (state.model === model && row !== undefined) await queries.answer(context);
}

// ---- controls and the page-wide feed ---------------------------------------------------------

trainingSelect.addEventListener('change', () => {
  const e = allExecutions().find((x) => executionId(x) === trainingSelect.value);
  if (e !== undefined) void pickTraining(e, true);
});
modelSelect.addEventListener('change', () => void pickModel(modelSelect.value));
measureSelect.addEventListener('change', () => charts.focus(measureSelect.value));
$('status-filter').addEventListener('click', (event) => {
  const button = /** @type {HTMLElement} */ (event.target).closest('button');
  if (button === null) return;
  for (const b of $('status-filter').querySelectorAll('button')) b.classList.toggle('active', b === button);
  table.setFilter(button.dataset.status ?? '');
});
$('query-context').addEventListener('submit', (event) => {
  event.preventDefault();
  const m = state.models.find((x) => x.model === state.model);
  const start = /** @type {HTMLInputElement} */ ($('ctx-inline-start')).value;
  const end = /** @type {HTMLInputElement} */ ($('ctx-inline-end')).value;
  void queries.answer({
    model: state.model ?? undefined,
    trainingSet: m?.trainingSet ?? undefined,
    inlineStart: start === '' ? undefined : Number(start),
    inlineEnd: end === '' ? undefined : Number(end),
  });
});

/** @param {'live' | 'reconnecting'} s */
function setLiveState(s) {
  $('live-status').dataset.state = s;
  /** @type {HTMLElement} */ ($('live-status').querySelector('.state')).textContent = s;
}

subscribe(
  {},
  (e) => {
    state.events++;
    $('event-count').textContent = state.events.toLocaleString();
    if (e.parentTaskExecution === null) noteTopLevel(e);
  },
  setLiveState,
);

const ready = refreshExecutions();

/** For the browser test and the curious: the views and what they hold. */
Object.assign(window, {
  provmlDashboard: {
    ready,
    state,
    charts,
    lineage,
    comparison,
    /** Task executions drawn in the training charts, by task. */
    pointCount: () => charts.counts(),
    /** The id of the training execution shown. */
    selectedRun: () => (state.training === null ? null : executionId(state.training)),
    /** The nodes of the lineage graph. */
    lineageNodes: () => lineage.nodes(),
  },
});
