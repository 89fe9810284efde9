// @ts-check
/** Plain-SVG plots of several runs: their curves of one measure overlaid, and parallel coordinates. */
import { esc, fmtValue } from './format.js';

/**
 * A run drawn: its id (the training execution), the words shown and its colour.
 * @typedef {{ id: string, label: string, color: string }} PlotRun
 */

/** Room around the plot area for axes and labels. */
const PAD = { left: 56, right: 16, top: 14, bottom: 38 };

/**
 * About five round ticks from `min` to `max`.
 * @param {number} min
 * @param {number} max
 */
export function ticks(min, max) {
  if (!(max > min)) return [min];
  const raw = (max - min) / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step)
    out.push(Number(t.toPrecision(12)));
  return out;
}

/**
 * The extent of some numbers, widened when they are all one value.
 * @param {number[]} values
 * @returns {[number, number]}
 */
function extent(values) {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  if (hi > lo) return [lo, hi];
  const pad = Math.abs(lo) * 0.1 || 1;
  return [lo - pad, hi + pad];
}

/**
 * Maps `[from0, from1]` onto `[to0, to1]`.
 * @param {number} from0 @param {number} from1 @param {number} to0 @param {number} to1
 */
const scale = (from0, from1, to0, to1) => (/** @type {number} */ v) =>
  to0 + ((v - from0) / (from1 - from0)) * (to1 - to0);

/** @param {number} n */
const px = (n) => n.toFixed(1);

/**
 * Every run's curve of one measure: x the step, y the value; one polyline per run.
 * @param {(PlotRun & { points: { x: number, y: number }[] })[]} runs
 * @param {{ width: number, height: number, xLabel: string, yLabel: string }} frame
 * @returns {string} an `<svg>` element
 */
export function curvesSvg(runs, { width, height, xLabel, yLabel }) {
  const all = runs.flatMap((r) => r.points);
  const [x0, x1] = extent(all.map((p) => p.x));
  const [y0, y1] = extent(all.map((p) => p.y));
  const [ty0, ty1] = [Math.min(y0, ticks(y0, y1)[0] ?? y0), y1];
  const sx = scale(x0, x1, PAD.left, width - PAD.right);
  const sy = scale(ty0, ty1, height - PAD.bottom, PAD.top);
  const grid = ticks(ty0, ty1)
    .map(
      (
        t,
      ) => `<line class="grid" x1="${PAD.left}" x2="${width - PAD.right}" y1="${px(sy(t))}" y2="${px(sy(t))}"/>
      <text class="tick" x="${PAD.left - 6}" y="${px(sy(t) + 3.5)}" text-anchor="end">${esc(fmtValue(t))}</text>`,
    )
    .join('');
  const xTicks = ticks(x0, x1)
    .filter((t) => Number.isInteger(t))
    .map(
      (t) =>
        `<text class="tick" x="${px(sx(t))}" y="${height - PAD.bottom + 15}" text-anchor="middle">${t}</text>`,
    )
    .join('');
  const lines = runs
    .map((r) => {
      const points = r.points.map((p) => `${px(sx(p.x))},${px(sy(p.y))}`).join(' ');
      const dots = r.points
        .map((p) => `<circle cx="${px(sx(p.x))}" cy="${px(sy(p.y))}" r="2.6" fill="${esc(r.color)}"/>`)
        .join('');
      return `<g class="run" data-run="${esc(r.id)}"><title>${esc(r.label)}</title>
        <polyline points="${points}" fill="none" stroke="${esc(r.color)}" stroke-width="2"/>${dots}</g>`;
    })
    .join('');
  return `<svg class="plot curves" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(yLabel)} per ${esc(xLabel)}">
    ${grid}${xTicks}
    <line class="axis" x1="${PAD.left}" x2="${width - PAD.right}" y1="${height - PAD.bottom}" y2="${height - PAD.bottom}"/>
    <text class="axis-label" x="${(PAD.left + width - PAD.right) / 2}" y="${height - 6}" text-anchor="middle">${esc(xLabel)}</text>
    <text class="axis-label" transform="translate(13 ${(PAD.top + height - PAD.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>
    ${lines}</svg>`;
}

/**
 * Parallel coordinates: one vertical axis per name (each scaled to its own values), one polyline per
 * run through its values; a run without a value on an axis skips it.
 * @param {(PlotRun & { values: Record<string, number | undefined> })[]} runs
 * @param {string[]} axes
 * @param {{ width: number, height: number }} frame
 * @returns {string} an `<svg>` element
 */
export function parallelSvg(runs, axes, { width, height }) {
  const top = 30;
  const bottom = height - 22;
  const left = 60;
  const right = width - 60;
  const xOf = (/** @type {number} */ i) =>
    axes.length === 1 ? (left + right) / 2 : left + (i * (right - left)) / (axes.length - 1);
  const scales = axes.map((a) => {
    const [lo, hi] = extent(runs.map((r) => r.values[a] ?? Number.NaN));
    return { lo, hi, y: scale(lo, hi, bottom, top) };
  });
  const axisMarks = axes
    .map((a, i) => {
      const x = px(xOf(i));
      const s = scales[i];
      if (s === undefined) return '';
      return `<g class="pc-axis"><line class="axis" x1="${x}" x2="${x}" y1="${top}" y2="${bottom}"/>
        <text class="axis-label" x="${x}" y="${top - 12}" text-anchor="middle">${esc(a)}</text>
        <text class="tick" x="${px(xOf(i) + 5)}" y="${top + 4}">${esc(fmtValue(s.hi))}</text>
        <text class="tick" x="${px(xOf(i) + 5)}" y="${bottom + 4}">${esc(fmtValue(s.lo))}</text></g>`;
    })
    .join('');
  const lines = runs
    .map((r) => {
      const points = axes
        .map((a, i) => {
          const v = r.values[a];
          const s = scales[i];
          return v === undefined || !Number.isFinite(v) || s === undefined
            ? ''
            : `${px(xOf(i))},${px(s.y(v))}`;
        })
        .filter((p) => p !== '')
        .join(' ');
      return `<g class="run" data-run="${esc(r.id)}"><title>${esc(r.label)}</title>
        <polyline points="${points}" fill="none" stroke="${esc(r.color)}" stroke-width="2.2" stroke-opacity="0.9"/></g>`;
    })
    .join('');
  return `<svg class="plot parallel" viewBox="0 0 ${width} ${height}" role="img" aria-label="Hyperparameters against ${esc(axes[axes.length - 1] ?? '')}">
    ${lines}${axisMarks}</svg>`;
}
