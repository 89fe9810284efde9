// @ts-check
/** The paper's queries Q1–Q6, answered for the context picked on the page, and the best model of the set. */
import { bestModel, getJson, paperQuery } from './api.js';
import { esc, fmtValue, shortIri } from './format.js';

/** @typedef {{ model?: string, trainingSet?: string, inlineStart?: number, inlineEnd?: number }} QueryContext */

/** @param {Record<string, string>[]} rows */
function table(rows) {
  if (rows.length === 0) return '<p class="muted">No answer in the graph (yet).</p>';
  if (rows.length === 1) {
    // one answer: a list reads better than a wide one-row table
    const items = Object.entries(rows[0] ?? {})
      .map(([k, v]) => `<dt>${esc(k)}</dt><dd title="${esc(v)}">${esc(fmtValue(v))}</dd>`)
      .join('');
    return `<dl class="single">${items}</dl>`;
  }
  const all = Object.keys(rows[0] ?? {});
  for (const r of rows) for (const k of Object.keys(r)) if (!all.includes(k)) all.push(k);
  // a column with one value in every row is said once, above the table
  const same = all.filter((k) => rows.every((r) => r[k] === rows[0]?.[k]));
  const columns = all.filter((k) => !same.includes(k));
  const lifted = same
    .map(
      (k) =>
        `<span class="chip"><span>${esc(k)}</span><code>${esc(fmtValue(rows[0]?.[k] ?? ''))}</code></span>`,
    )
    .join('');
  const head = columns.map((c) => `<th>${esc(c)}</th>`).join('');
  const body = rows
    .map(
      (r) =>
        `<tr>${columns.map((c) => `<td title="${esc(r[c] ?? '')}">${esc(fmtValue(r[c] ?? ''))}</td>`).join('')}</tr>`,
    )
    .join('');
  return `${lifted === '' ? '' : `<div class="lifted">${lifted}</div>`}<div class="table-wrap"><table class="data"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

export class QueriesView {
  /**
   * @param {HTMLElement} grid
   * @param {HTMLElement} best
   */
  constructor(grid, best) {
    this.grid = grid;
    this.best = best;
    /** @type {Promise<{ name: string, title: string, parameters: { name: string }[] }[]>} */
    this.catalogue = getJson('/v1/queries');
    this.generation = 0;
  }

  /** @param {QueryContext} context */
  async answer(context) {
    const generation = ++this.generation;
    const catalogue = await this.catalogue;
    this.grid.innerHTML = catalogue
      .map(
        (q) => `<article class="query" data-query="${esc(q.name)}">
          <header><span class="qname">${esc(q.name.toUpperCase())}</span>
          <span class="question">${esc(q.title.replace(/^Q\d\s*\([^)]*\)\s*[—-]\s*/, ''))}</span></header>
          <div class="answer"><p class="muted">Asking…</p></div></article>`,
      )
      .join('');
    const bestDone = this.showBest(context.trainingSet);
    await Promise.all(
      catalogue.map(async (q) => {
        const slot = this.grid.querySelector(`[data-query="${q.name}"] .answer`);
        /** @type {Record<string, string | number | undefined>} */
        const params = {};
        for (const p of q.parameters) params[p.name] = /** @type {any} */ (context)[p.name];
        const lacking = q.parameters.filter((p) => params[p.name] === undefined || params[p.name] === '');
        let html;
        if (lacking.length > 0)
          html = `<p class="muted">Needs ${esc(lacking.map((p) => p.name).join(', '))}.</p>`;
        else
          try {
            html = table((await paperQuery(q.name, params)).rows);
          } catch (error) {
            html = `<p class="error">${esc(/** @type {Error} */ (error).message)}</p>`;
          }
        if (slot !== null && generation === this.generation) slot.innerHTML = html;
      }),
    );
    await bestDone;
  }

  /** @param {string | undefined} trainingSet */
  async showBest(trainingSet) {
    if (trainingSet === undefined) return void (this.best.innerHTML = '');
    try {
      const b = await bestModel(trainingSet, 'loss', 'min');
      if (!b.model) return void (this.best.innerHTML = '');
      const stats = Object.entries(b.evaluations)
        .map(([k, v]) => `<span class="stat">${esc(k)} <b>${esc(fmtValue(v))}</b></span>`)
        .join('');
      const hypers = Object.entries({ ...b.hyperparameters, ...b.modelHyperparameters })
        .map(([k, v]) => `<span class="stat hyper">${esc(k)} <b>${esc(fmtValue(v))}</b></span>`)
        .join('');
      this.best.innerHTML = `<span class="title">Least-loss model of the set:</span><code title="${esc(b.model)}">${esc(shortIri(b.uri ?? b.model))}</code>${stats}${hypers}`;
    } catch (error) {
      this.best.innerHTML = `<span class="error">${esc(/** @type {Error} */ (error).message)}</span>`;
    }
  }
}
