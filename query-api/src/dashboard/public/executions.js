// @ts-check
/** The executions table: status badges, phases, start times and durations that tick while running. */
import { esc, fmtDuration, fmtTime, localName } from './format.js';

const PHASES = {
  'data-curation': 'curation',
  'learning-data-preparation': 'preparation',
  learning: 'learning',
};

/** The id the live feed uses for the workflow run of an execution (the last segment of its IRI). */
export function executionId(/** @type {import('./api.js').Execution} */ e) {
  return localName(e.workflowExecution);
}

/** A distributed job's rank: "· rank 1 of 4" (and its attempt after a restart), else nothing. */
function rankOf(/** @type {import('./api.js').Execution} */ e) {
  if (e.rank === undefined || e.rank === null) return '';
  const of = e.worldSize === undefined || e.worldSize === null ? '' : ` of ${e.worldSize}`;
  const attempt = e.attempt ? `, attempt ${e.attempt}` : '';
  return ` <span class="rank">· rank ${esc(String(e.rank))}${esc(of)}${esc(attempt)}</span>`;
}

export class ExecutionsTable {
  /**
   * @param {HTMLTableSectionElement} body
   * @param {(execution: import('./api.js').Execution) => void} onPick
   */
  constructor(body, onPick) {
    this.body = body;
    /** @type {import('./api.js').Execution[]} */
    this.rows = [];
    this.filter = '';
    /** @type {string | null} */
    this.selected = null;
    body.addEventListener('click', (event) => {
      const tr = /** @type {HTMLElement} */ (event.target).closest('tr[data-execution]');
      const row = this.rows.find((r) => r.execution === tr?.getAttribute('data-execution'));
      if (row !== undefined && row.lifecyclePhase === 'learning') onPick(row);
    });
    setInterval(() => this.tick(), 1000);
  }

  /** @param {import('./api.js').Execution[]} rows */
  show(rows) {
    this.rows = rows;
    this.render();
  }

  /** @param {string} status '' for all */
  setFilter(status) {
    this.filter = status;
    this.render();
  }

  /** @param {string | null} execution */
  select(execution) {
    this.selected = execution;
    for (const tr of this.body.querySelectorAll('tr[data-execution]'))
      tr.classList.toggle('selected', tr.getAttribute('data-execution') === execution);
  }

  render() {
    const rows = this.rows.filter((r) => this.filter === '' || r.status === this.filter);
    if (rows.length === 0) {
      this.body.innerHTML = `<tr class="placeholder"><td colspan="4">${this.rows.length === 0 ? 'No executions captured yet' : `No ${esc(this.filter)} executions`}</td></tr>`;
      return;
    }
    this.body.innerHTML = rows
      .map((r) => {
        const phase =
          /** @type {Record<string, string>} */ (PHASES)[r.lifecyclePhase ?? ''] ?? r.lifecyclePhase;
        const pickable = r.lifecyclePhase === 'learning';
        return `<tr data-execution="${esc(r.execution)}" class="${pickable ? 'selectable' : ''}${r.execution === this.selected ? ' selected' : ''}"${pickable ? ' title="Show this run\'s charts"' : ''}>
          <td><span class="badge ${esc(r.status)}">${esc(r.status)}</span></td>
          <td><div class="exec-name">${esc(executionId(r))}</div>
            <div class="exec-sub" title="${esc(r.workflowLabel ?? r.workflow)}"><span class="phase ${esc(r.lifecyclePhase)}">${esc(phase || '–')}</span>
            ${esc(r.label)}${rankOf(r)}</div></td>
          <td>${esc(fmtTime(r.started))}</td>
          <td class="num" data-started="${r.status === 'running' ? esc(r.started ?? '') : ''}">${esc(fmtDuration(r.durationSeconds))}</td>
        </tr>`;
      })
      .join('');
  }

  /** Advances the durations of running executions. */
  tick() {
    for (const td of this.body.querySelectorAll('td[data-started]')) {
      const started = td.getAttribute('data-started');
      if (started) td.textContent = fmtDuration((Date.now() - Date.parse(started)) / 1000);
    }
  }
}
