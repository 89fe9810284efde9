// @ts-check
/**
 * Run comparison: runs picked one by one or all of a training set or workflow, their curves of one
 * measure overlaid, a sortable table of hyperparameters and measures, and parallel coordinates of the
 * hyperparameters against the measure's final value.
 */
import * as api from './api.js';
import { esc, fmtValue, shortIri } from './format.js';
import { SERIES } from './palette.js';
import { curvesSvg, parallelSvg } from './svgPlots.js';

/**
 * A run to compare: a training, or one rank of a distributed job's (its `run` then carries that rank's
 * training, status and outputs, and the job's hyperparameters; `job` names the job).
 * @typedef {{ run: api.Run, name: string, workflow: string, job: string | null }} Candidate
 */
/** @typedef {{ key: string, label: string, value: (c: Candidate) => string | number | boolean | undefined, num?: boolean }} Column */

/**
 * A run's final, least and greatest value of the measure shown (its longest series, if several tasks
 * report one name).
 * @param {api.MeasureSeries[]} series
 * @param {string} training
 */
function summary(series, training) {
  const mine = series
    .filter((s) => s.training === training)
    .sort((a, b) => b.points.length - a.points.length)[0];
  const values = (mine?.points ?? []).map((p) => p.value).filter((v) => v !== null);
  return {
    series: mine,
    final: values[values.length - 1],
    min: values.length === 0 ? undefined : Math.min(...values),
    max: values.length === 0 ? undefined : Math.max(...values),
  };
}

/** Orders table values: numbers by value, the rest as text, missing ones last. */
function compareValues(/** @type {unknown} */ a, /** @type {unknown} */ b) {
  if (a === undefined || a === null) return b === undefined || b === null ? 0 : 1;
  if (b === undefined || b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/**
 * What a run is compared as: itself, or in a distributed job each rank (of each attempt) on its own,
 * named as the executions list names the run.
 * @param {api.Run} run
 * @param {api.Execution[]} executions
 * @returns {Candidate[]}
 */
function candidatesOf(run, executions) {
  const e = executions.find((x) => x.execution === run.training);
  const name = e === undefined ? shortIri(run.training) : shortIri(e.workflowExecution);
  const workflow = e?.workflowLabel ?? (e === undefined ? '' : shortIri(e.workflow));
  if (run.ranks === null || run.ranks.length === 0) return [{ run, name, workflow, job: null }];
  const attempts = new Set(run.ranks.map((r) => r.attempt)).size;
  return run.ranks.map((r) => ({
    run: { ...run, training: r.training, status: r.status, outputs: r.outputs, ranks: null },
    // the rank first: a long job name is cut at the end in the list and the table
    name: `rank ${r.rank}${attempts > 1 ? ` (attempt ${r.attempt})` : ''} · ${name}`,
    workflow,
    job: name,
  }));
}

export class RunComparison {
  /**
   * @param {{ group: HTMLSelectElement, measure: HTMLSelectElement, list: HTMLElement, curves: HTMLElement,
   *   parallel: HTMLElement, table: HTMLTableElement, caption: HTMLElement }} el
   */
  constructor(el) {
    this.el = el;
    /** @type {Candidate[]} */
    this.candidates = [];
    /** @type {Set<string>} trainings ticked */
    this.selected = new Set();
    /** @type {string | null} */
    this.measure = null;
    /** @type {api.MeasureDeclaration[]} */
    this.declared = [];
    /** @type {api.MeasureSeries[]} */
    this.series = [];
    /** The tasks of the trainings themselves: their measures are one number per run. @type {Set<string>} */
    this.rootTasks = new Set();
    /** @type {{ key: string, dir: 1 | -1 }} */
    this.sort = { key: 'final', dir: 1 };
    this.generation = 0;
    el.group.addEventListener('change', () => this.pickGroup(el.group.value));
    // the measure shown changes once its series are read (the table never shows one measure's name over another's values)
    el.measure.addEventListener('change', () => void this.refresh(el.measure.value));
    el.list.addEventListener('change', (event) => {
      const box = /** @type {HTMLInputElement} */ (event.target);
      if (box.checked) this.selected.add(box.value);
      else this.selected.delete(box.value);
      el.group.value = '';
      void this.refresh();
    });
    el.table.querySelector('thead')?.addEventListener('click', (event) => {
      const th = /** @type {HTMLElement} */ (event.target).closest('th[data-key]');
      const key = th?.getAttribute('data-key');
      if (key === null || key === undefined) return;
      this.sort = { key, dir: this.sort.key === key ? /** @type {1 | -1} */ (-this.sort.dir) : 1 };
      this.renderTable();
    });
  }

  /**
   * The runs there are, named as the executions list names them; the first time, all runs of the
   * training set with most runs are picked.
   * @param {api.Run[]} runs
   * @param {api.Execution[]} executions
   */
  async load(runs, executions) {
    const first = this.candidates.length === 0;
    const trainings = new Set(runs.map((r) => r.training));
    this.rootTasks = new Set(executions.filter((e) => trainings.has(e.execution)).map((e) => e.label));
    this.candidates = runs.flatMap((run) => candidatesOf(run, executions));
    const groups = this.groups();
    const shown = this.el.group.value;
    this.el.group.innerHTML =
      '<option value="">the runs ticked</option>' +
      groups
        .map((g) => `<option value="${esc(g.value)}">${esc(g.label)} (${g.runs.length})</option>`)
        .join('');
    if (first && groups.length > 0) {
      const largest = [...groups].sort((a, b) => b.runs.length - a.runs.length)[0];
      if (largest !== undefined) return this.pickGroup(largest.value);
    }
    if (groups.some((g) => g.value === shown)) this.el.group.value = shown;
    this.renderList();
    return this.refresh();
  }

  /** The training sets and workflows, each with its runs. */
  groups() {
    /** @type {Map<string, { value: string, label: string, runs: string[] }>} */
    const out = new Map();
    const add = (
      /** @type {string} */ value,
      /** @type {string} */ label,
      /** @type {string} */ training,
    ) => {
      const g = out.get(value) ?? { value, label, runs: [] };
      g.runs.push(training);
      out.set(value, g);
    };
    for (const c of this.candidates)
      if (c.run.trainingSet !== null)
        add(`set:${c.run.trainingSet}`, `training set ${shortIri(c.run.trainingSet, 2)}`, c.run.training);
    for (const c of this.candidates)
      if (c.workflow !== '') add(`workflow:${c.workflow}`, `workflow ${c.workflow}`, c.run.training);
    for (const c of this.candidates)
      if (c.job !== null) add(`job:${c.job}`, `ranks of ${c.job}`, c.run.training);
    return [...out.values()];
  }

  /** Ticks exactly the runs of a group. @param {string} value */
  pickGroup(value) {
    const group = this.groups().find((g) => g.value === value);
    if (group === undefined) return;
    this.el.group.value = value;
    this.selected = new Set(group.runs);
    this.renderList();
    return this.refresh();
  }

  /** The runs ticked, in list order, each with its colour. */
  picked() {
    return this.candidates
      .filter((c) => this.selected.has(c.run.training))
      .map((c, i) => ({ ...c, color: SERIES[i % SERIES.length] ?? '#475569' }));
  }

  renderList() {
    const colors = new Map(this.picked().map((p) => [p.run.training, p.color]));
    this.el.list.innerHTML =
      this.candidates
        .map((c) => {
          const color = colors.get(c.run.training);
          return `<label class="run-pick"><input type="checkbox" value="${esc(c.run.training)}"${color === undefined ? '' : ' checked'}/>
          <span class="swatch" style="background:${color ?? 'transparent'}"></span><span class="run-name" title="${esc(c.run.training)}">${esc(c.name)}</span></label>`;
        })
        .join('') || '<p class="muted">No training runs yet.</p>';
  }

  /**
   * Reads the measures of the runs ticked and draws everything again.
   * @param {string | null} [wanted] the measure to show (default: the one shown)
   */
  async refresh(wanted = this.measure) {
    const generation = ++this.generation;
    const trainings = this.picked().map((p) => p.run.training);
    if (trainings.length === 0) {
      this.declared = [];
      this.series = [];
      return this.render();
    }
    try {
      const { measures } = await api.measures(trainings, null);
      const names = [
        ...new Set(measures.filter((m) => m.semantics === 'evaluation-measure').map((m) => m.name)),
      ];
      const preferred =
        measures.find((m) => m.semantics === 'evaluation-measure' && !this.rootTasks.has(m.task))?.name ??
        names[0] ??
        null;
      const measure = wanted !== null && names.includes(wanted) ? wanted : preferred;
      const answer = measure === null ? { series: [] } : await api.measures(trainings, measure);
      if (generation !== this.generation) return;
      this.declared = measures;
      this.measure = measure;
      this.series = answer.series;
      this.el.measure.innerHTML = names.map((n) => `<option value="${esc(n)}">${esc(n)}</option>`).join('');
      if (measure !== null) this.el.measure.value = measure;
    } catch (error) {
      this.el.caption.innerHTML = `<span class="error">${esc(error instanceof Error ? error.message : String(error))}</span>`;
      return;
    }
    this.render();
  }

  render() {
    const runs = this.picked();
    const measure = this.measure ?? '';
    this.el.caption.textContent =
      runs.length === 0 ? 'Tick runs to compare them' : `${runs.length} runs · ${measure} per step`;
    const task = this.series[0]?.task ?? 'step';
    this.el.curves.innerHTML = curvesSvg(
      runs.map((r) => ({
        id: r.run.training,
        label: r.name,
        color: r.color,
        points: (summary(this.series, r.run.training).series?.points ?? [])
          .filter((p) => p.value !== null)
          .map((p) => ({ x: p.step, y: /** @type {number} */ (p.value) })),
      })),
      { width: 640, height: 280, xLabel: task, yLabel: measure },
    );
    const hps = this.hyperparameterNames(runs);
    const finalAxis = `${measure} (final)`;
    this.el.parallel.innerHTML = parallelSvg(
      runs.map((r) => ({
        id: r.run.training,
        label: r.name,
        color: r.color,
        values: {
          ...Object.fromEntries(hps.map((h) => [h, /** @type {number} */ (r.run.hyperparameters[h])])),
          [finalAxis]: summary(this.series, r.run.training).final ?? undefined,
        },
      })),
      [...hps, finalAxis],
      { width: 640, height: 280 },
    );
    this.renderTable();
  }

  /** Hyperparameters that are numbers in every run ticked. @param {Candidate[]} runs */
  hyperparameterNames(runs) {
    const names = [...new Set(runs.flatMap((r) => Object.keys(r.run.hyperparameters)))].sort();
    return names.filter((n) => runs.every((r) => typeof r.run.hyperparameters[n] === 'number'));
  }

  /** @returns {Column[]} */
  columns() {
    const runs = this.picked();
    const hps = [...new Set(runs.flatMap((r) => Object.keys(r.run.hyperparameters)))].sort();
    const outputs = [...new Set(runs.flatMap((r) => Object.keys(r.run.outputs)))].sort();
    const m = this.measure ?? '';
    return [
      { key: 'run', label: 'run', value: (c) => c.name },
      { key: 'status', label: 'status', value: (c) => c.run.status ?? undefined },
      ...hps.map((h) => ({
        key: `hp:${h}`,
        label: h,
        value: (/** @type {Candidate} */ c) => c.run.hyperparameters[h],
        num: true,
      })),
      {
        key: 'final',
        label: `${m} final`,
        value: (c) => summary(this.series, c.run.training).final ?? undefined,
        num: true,
      },
      { key: 'min', label: `${m} min`, value: (c) => summary(this.series, c.run.training).min, num: true },
      { key: 'max', label: `${m} max`, value: (c) => summary(this.series, c.run.training).max, num: true },
      ...outputs.map((o) => ({
        key: `out:${o}`,
        label: o,
        value: (/** @type {Candidate} */ c) => c.run.outputs[o],
        num: true,
      })),
    ];
  }

  renderTable() {
    const columns = this.columns();
    const column = columns.find((c) => c.key === this.sort.key) ?? columns[0];
    const runs = this.picked();
    if (column !== undefined)
      runs.sort((a, b) => this.sort.dir * compareValues(column.value(a), column.value(b)));
    const head = /** @type {HTMLElement} */ (this.el.table.querySelector('thead'));
    const body = /** @type {HTMLElement} */ (this.el.table.querySelector('tbody'));
    head.innerHTML = `<tr>${columns
      .map((c) => {
        const arrow = c.key === this.sort.key ? (this.sort.dir === 1 ? ' ▲' : ' ▼') : '';
        return `<th data-key="${esc(c.key)}" class="sortable${c.num === true ? ' num' : ''}">${esc(c.label)}${arrow}</th>`;
      })
      .join('')}</tr>`;
    body.innerHTML =
      runs
        .map(
          (r) =>
            `<tr data-run="${esc(r.run.training)}">${columns
              .map((c, i) => {
                const v = c.value(r);
                const swatch = i === 0 ? `<span class="swatch" style="background:${r.color}"></span>` : '';
                return `<td${c.num === true ? ' class="num"' : ''}>${swatch}${esc(v === undefined ? '–' : fmtValue(v))}</td>`;
              })
              .join('')}</tr>`,
        )
        .join('') || `<tr class="placeholder"><td colspan="${columns.length}">No runs ticked</td></tr>`;
  }

  /** What is shown, for the browser test: the runs in table order with their cells, and the measure. */
  shown() {
    const cells = [...this.el.table.querySelectorAll('tbody tr[data-run]')].map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''),
    );
    const head = [...this.el.table.querySelectorAll('thead th')].map(
      (th) => th.getAttribute('data-key') ?? '',
    );
    return { measure: this.measure, columns: head, rows: cells };
  }
}
