// @ts-check
/** The Chart.js views: a run's measures, whatever their names (fed live), and batch timing per epoch. */
import { COLORS, SERIES } from './palette.js';

/** @type {any} */
const Chart = /** @type {any} */ (window).Chart;

Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
Chart.defaults.font.size = 11;
Chart.defaults.color = COLORS.text;
Chart.defaults.borderColor = COLORS.grid;
Chart.defaults.plugins.legend.labels.usePointStyle = true;
Chart.defaults.plugins.legend.labels.pointStyleWidth = 14;
Chart.defaults.plugins.legend.labels.boxHeight = 7;

/**
 * A point of a metric series, keyed by the task execution that reported it; `t` orders it.
 * @typedef {{ key: string, t: number, value: number }} Point
 */

/**
 * Microseconds since the epoch of an ISO-8601 time (the store and the feed write fractions differently).
 * @param {string} iso
 */
function micros(iso) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(iso);
  if (m === null) return Date.parse(iso) * 1000 || 0;
  return Date.parse(`${m[1]}${m[3] || 'Z'}`) * 1000 + Number((m[2] ?? '').padEnd(6, '0').slice(0, 6));
}

/** A series kept sorted by time and free of duplicates (history and live overlap). */
class Series {
  constructor() {
    /** @type {Map<string, Point>} */
    this.byKey = new Map();
    /** @type {Point[]} */
    this.points = [];
  }

  /**
   * @param {Point} point
   * @returns {boolean} whether it was new
   */
  add(point) {
    if (this.byKey.has(point.key) || !Number.isFinite(point.value)) return false;
    this.byKey.set(point.key, point);
    const last = this.points[this.points.length - 1];
    this.points.push(point);
    if (last !== undefined && point.t < last.t) this.points.sort((a, b) => a.t - b.t);
    return true;
  }
}

/** Exponential moving average of a series, for a readable trend over noisy batch losses. */
function smooth(/** @type {number[]} */ values, alpha = 0.25) {
  /** @type {number[]} */
  const out = [];
  let s = values[0] ?? 0;
  for (const v of values) out.push((s = alpha * v + (1 - alpha) * s));
  return out;
}

/** Series of one run, by task and measure: `${task}\u0000${measure}`. */
const seriesKey = (/** @type {string} */ task, /** @type {string} */ measure) => `${task}\u0000${measure}`;

/**
 * The measures of one training run, whatever their names: the measure picked (per execution of the task
 * that reports it, with a trend) and every evaluation measure its tasks report, per step.
 */
export class TrainingCharts {
  /**
   * @param {HTMLCanvasElement} focusCanvas
   * @param {HTMLCanvasElement} allCanvas
   * @param {(focus: { measure: string, task: string, points: number } | null) => void} onDraw
   */
  constructor(focusCanvas, allCanvas, onDraw) {
    this.onDraw = onDraw;
    this.pending = false;
    /** Every numeric value seen, declared or not yet (the declarations may come after the feed). @type {Map<string, Series>} */
    this.series = new Map();
    /** @type {import('./api.js').MeasureDeclaration[]} */
    this.declared = [];
    /** The training's own task: its measures are one number per run, not a curve. */
    this.rootTask = '';
    /** @type {import('./api.js').MeasureDeclaration | null} */
    this.focused = null;
    this.focusChart = new Chart(focusCanvas, {
      type: 'line',
      data: {
        datasets: [
          {
            label: '',
            data: [],
            borderColor: COLORS.lossSoft,
            backgroundColor: COLORS.lossSoft,
            borderWidth: 1.5,
            pointRadius: 1.5,
            pointHoverRadius: 4,
            tension: 0,
          },
          {
            label: 'trend (EMA)',
            data: [],
            borderColor: COLORS.loss,
            borderWidth: 2.2,
            pointRadius: 0,
            tension: 0.3,
          },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: { type: 'linear', title: { display: true, text: 'step' }, ticks: { precision: 0 } },
          y: { title: { display: true, text: '' } },
        },
        plugins: { legend: { position: 'top', align: 'end' } },
      },
    });
    this.allChart = new Chart(allCanvas, {
      type: 'line',
      data: { datasets: [] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        elements: { line: { borderWidth: 2.2, tension: 0.25 }, point: { radius: 3, hoverRadius: 5 } },
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: { type: 'linear', title: { display: true, text: 'step' }, ticks: { precision: 0 } },
          y: { title: { display: false } },
        },
        plugins: { legend: { position: 'top', align: 'end' } },
      },
    });
  }

  /**
   * The measures the run's workflow declares, and the training's own task.
   * @param {import('./api.js').MeasureDeclaration[]} measures
   * @param {string} rootTask
   */
  declare(measures, rootTask) {
    this.declared = measures;
    this.rootTask = rootTask;
    const keep = measures.find((m) => m.name === this.focused?.name && m.task === this.focused?.task);
    this.focused = keep ?? defaultFocus(measures, rootTask);
    this.schedule();
  }

  /** Plots a measure in the first chart. @param {string} choice `task:name` */
  focus(choice) {
    this.focused = this.declared.find((m) => `${m.task}:${m.name}` === choice) ?? this.focused;
    this.schedule();
  }

  /**
   * Whether some of `names` are evaluation measures `task` declares.
   * @param {string} task
   * @param {string[]} names
   */
  evaluates(task, names) {
    return this.declared.some(
      (m) => m.task === task && m.semantics === 'evaluation-measure' && names.includes(m.name),
    );
  }

  /** Forgets every point (another execution was selected). */
  reset() {
    this.series = new Map();
    this.schedule();
  }

  /**
   * Takes the values a task execution reported (from history or from the live feed).
   * @param {string} key the task execution
   * @param {string} task its task
   * @param {string} time when it ended
   * @param {Record<string, unknown>} values
   */
  take(key, task, time, values) {
    let changed = false;
    for (const [name, v] of Object.entries(values)) {
      if (typeof v !== 'number') continue;
      const k = seriesKey(task, name);
      const series = this.series.get(k) ?? new Series();
      this.series.set(k, series);
      if (series.add({ key, t: micros(time), value: v })) changed = true;
    }
    if (changed) this.schedule();
  }

  /** Redraws at most once per animation frame, however fast events arrive. */
  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  /** @param {import('./api.js').MeasureDeclaration} m */
  pointsOf(m) {
    return this.series.get(seriesKey(m.task, m.name))?.points ?? [];
  }

  draw() {
    const f = this.focused;
    const values = f === null ? [] : this.pointsOf(f).map((p) => p.value);
    this.focusChart.data.datasets[0].label = f?.name ?? '';
    this.focusChart.data.datasets[0].data = values.map((y, i) => ({ x: i, y }));
    this.focusChart.data.datasets[1].data = smooth(values).map((y, i) => ({ x: i, y }));
    this.focusChart.options.scales.x.title.text = f?.task ?? 'step';
    this.focusChart.options.scales.y.title.text = f?.name ?? '';
    this.focusChart.update('none');
    const curves = this.declared.filter(
      (m) => m.semantics === 'evaluation-measure' && m.task !== this.rootTask,
    );
    this.allChart.data.datasets = curves.map((m, i) => {
      const color = SERIES[i % SERIES.length];
      return {
        label: curves.filter((c) => c.name === m.name).length > 1 ? `${m.name} (${m.task})` : m.name,
        data: this.pointsOf(m).map((p, x) => ({ x, y: p.value })),
        borderColor: color,
        backgroundColor: color,
        borderDash: i % 2 === 1 ? [5, 4] : [],
      };
    });
    this.allChart.update('none');
    this.onDraw(f === null ? null : { measure: f.name, task: f.task, points: values.length });
  }

  /**
   * Task executions drawn, by task: those that reported a declared measure (read by the browser test
   * through `window.provmlDashboard`).
   * @returns {Record<string, number>}
   */
  counts() {
    /** @type {Record<string, Set<string>>} */
    const keys = {};
    for (const m of this.declared) for (const p of this.pointsOf(m)) (keys[m.task] ??= new Set()).add(p.key);
    return Object.fromEntries(Object.entries(keys).map(([task, set]) => [task, set.size]));
  }
}

/**
 * The measure first shown: an output value of a task below the training (a loop's per-step number, such
 * as a batch loss), else an evaluation measure of such a task, else the first.
 * @param {import('./api.js').MeasureDeclaration[]} measures
 * @param {string} rootTask
 */
function defaultFocus(measures, rootTask) {
  const below = measures.filter((m) => m.task !== rootTask);
  return (
    below.find((m) => m.semantics === 'output-value') ??
    below.find((m) => m.semantics === 'evaluation-measure') ??
    measures[0] ??
    null
  );
}

/** Min/mean/max batch seconds per epoch. */
export class TimingChart {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    /** @param {string} label @param {string} color @param {boolean} [bar] */
    const set = (label, color, bar = false) => ({
      label,
      data: [],
      type: bar ? 'bar' : 'line',
      backgroundColor: bar ? 'rgba(109, 40, 217, 0.75)' : color,
      borderColor: color,
      borderWidth: bar ? 0 : 2,
      borderRadius: bar ? 4 : 0,
      pointRadius: 3,
      order: bar ? 2 : 1,
      maxBarThickness: 28,
    });
    this.chart = new Chart(canvas, {
      type: 'bar',
      data: {
        labels: [],
        datasets: [set('mean', COLORS.mean, true), set('min', COLORS.min), set('max', COLORS.max)],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: { title: { display: false } },
          y: { beginAtZero: true, title: { display: true, text: 'ms per batch' } },
        },
        plugins: { legend: { position: 'top', align: 'end' } },
      },
    });
  }

  /** @param {import('./api.js').EpochTiming[]} epochs */
  show(epochs) {
    this.chart.data.labels = epochs.map((e, i) => `epoch ${e.epochNumber ?? i}`);
    const ms = (/** @type {number | null} */ s) => (s === null ? null : s * 1000);
    this.chart.data.datasets[0].data = epochs.map((e) => ms(e.meanBatchSeconds));
    this.chart.data.datasets[1].data = epochs.map((e) => ms(e.minBatchSeconds));
    this.chart.data.datasets[2].data = epochs.map((e) => ms(e.maxBatchSeconds));
    this.chart.update('none');
  }
}
