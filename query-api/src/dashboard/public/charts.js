// @ts-check
/** The Chart.js views: loss per batch, loss/accuracy per epoch (both fed live), batch timing per epoch. */
import { COLORS } from './palette.js';

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

/** The series the training charts draw. */
const emptySeries = () => ({
  batches: new Series(),
  losses: new Series(),
  accuracies: new Series(),
  valLosses: new Series(),
  valAccuracies: new Series(),
});

/** Loss per batch and loss/accuracy per epoch of one training execution. */
export class TrainingCharts {
  /**
   * @param {HTMLCanvasElement} batchCanvas
   * @param {HTMLCanvasElement} epochCanvas
   * @param {(counts: { batches: number, epochs: number }) => void} onCounts
   */
  constructor(batchCanvas, epochCanvas, onCounts) {
    this.onCounts = onCounts;
    this.pending = false;
    this.s = emptySeries();
    this.batch = new Chart(batchCanvas, {
      type: 'line',
      data: {
        datasets: [
          {
            label: 'batch loss',
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
          x: { type: 'linear', title: { display: true, text: 'batch' }, ticks: { precision: 0 } },
          y: { title: { display: true, text: 'loss' }, beginAtZero: true },
        },
        plugins: { legend: { position: 'top', align: 'end' } },
      },
    });
    this.epoch = new Chart(epochCanvas, {
      type: 'line',
      data: {
        labels: [],
        datasets: [
          { label: 'loss', data: [], borderColor: COLORS.loss, backgroundColor: COLORS.loss, yAxisID: 'y' },
          {
            label: 'val loss',
            data: [],
            borderColor: COLORS.valLoss,
            backgroundColor: COLORS.valLoss,
            borderDash: [5, 4],
            yAxisID: 'y',
          },
          {
            label: 'accuracy',
            data: [],
            borderColor: COLORS.accuracy,
            backgroundColor: COLORS.accuracy,
            yAxisID: 'y1',
          },
          {
            label: 'val accuracy',
            data: [],
            borderColor: COLORS.valAccuracy,
            backgroundColor: COLORS.valAccuracy,
            borderDash: [5, 4],
            yAxisID: 'y1',
          },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        elements: { line: { borderWidth: 2.2, tension: 0.25 }, point: { radius: 3.5, hoverRadius: 5 } },
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: { title: { display: true, text: 'epoch' } },
          y: { position: 'left', title: { display: true, text: 'loss' }, beginAtZero: true },
          y1: {
            position: 'right',
            min: 0,
            max: 1,
            title: { display: true, text: 'accuracy' },
            grid: { drawOnChartArea: false },
            ticks: { callback: (/** @type {number} */ v) => `${Math.round(v * 100)}%` },
          },
        },
        plugins: { legend: { position: 'top', align: 'end' } },
      },
    });
  }

  /** Forgets every point (another execution was selected). */
  reset() {
    this.s = emptySeries();
    this.schedule();
  }

  /**
   * Takes the metric values a task execution reported (from history or from the live feed).
   * @param {string} key the task execution
   * @param {string} time when it ended
   * @param {Record<string, unknown>} values
   */
  take(key, time, values) {
    let changed = false;
    /** @param {Series} series @param {unknown} v */
    const add = (series, v) => {
      if (typeof v === 'number' && series.add({ key, t: micros(time), value: v })) changed = true;
    };
    const s = this.s;
    add(s.batches, values.batch_loss);
    if (values.batch_loss === undefined) {
      add(s.losses, values.loss);
      add(s.accuracies, values.accuracy);
    }
    add(s.valLosses, values.val_loss);
    add(s.valAccuracies, values.val_accuracy);
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

  draw() {
    const s = this.s;
    const losses = s.batches.points.map((p) => p.value);
    const trend = smooth(losses);
    this.batch.data.datasets[0].data = losses.map((y, i) => ({ x: i + 1, y }));
    this.batch.data.datasets[1].data = trend.map((y, i) => ({ x: i + 1, y }));
    this.batch.update('none');
    const epochs = Math.max(s.losses.points.length, s.valLosses.points.length);
    this.epoch.data.labels = Array.from({ length: epochs }, (_, i) => String(i));
    [s.losses, s.valLosses, s.accuracies, s.valAccuracies].forEach(
      (series, i) => (this.epoch.data.datasets[i].data = series.points.map((p) => p.value)),
    );
    this.epoch.update('none');
    this.onCounts({ batches: losses.length, epochs: s.losses.points.length });
  }

  /** Points drawn: batch losses, epoch losses (read by the browser test through `window.provmlDashboard`). */
  counts() {
    return {
      batches: this.batch.data.datasets[0].data.length,
      epochs: this.epoch.data.datasets[0].data.length,
    };
  }
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
