// @ts-check
/** Formatting helpers shared by the dashboard's views: escaping, short IRIs, numbers, times. */

/**
 * Escapes text for HTML.
 * @param {unknown} value
 * @returns {string}
 */
export function esc(value) {
  return String(value ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/**
 * The last segment of an IRI (after `/` or `#`).
 * @param {string} iri
 * @returns {string}
 */
export function localName(iri) {
  const m = /[^/#]+$/.exec(iri);
  return m === null ? iri : decodeURIComponent(m[0]);
}

/**
 * A readable short form of an IRI: the last path segments of a file, the id of an execution.
 * @param {unknown} value
 * @param {number} [segments] how many trailing path segments a file keeps (default 3)
 * @returns {string}
 */
export function shortIri(value, segments = 3) {
  const text = String(value ?? '');
  if (text.startsWith('file://')) return decodeURIComponent(text.split('/').slice(-segments).join('/'));
  if (text.startsWith('urn:provml:execution/')) {
    // a task execution is `<execution>/<session>.<counter>`: the session hash says nothing to a reader
    const [execution, task] = text.slice('urn:provml:execution/'.length).split('/');
    return task === undefined ? String(execution) : `${execution} · ${task.replace(/^[0-9a-f]{6,}\./, '')}`;
  }
  if (text.startsWith('urn:provml:workflow/')) return text.slice('urn:provml:workflow/'.length);
  if (/^(https?|urn):/.test(text)) return localName(text);
  return text;
}

/**
 * A number with sensible precision, or the text as is.
 * @param {unknown} value
 * @returns {string}
 */
export function fmtValue(value) {
  const n = typeof value === 'number' ? value : Number(value);
  if (typeof value === 'boolean' || value === null || value === undefined || value === '')
    return String(value ?? '');
  if (!Number.isFinite(n) || (typeof value === 'string' && !/^-?[\d.]+(e-?\d+)?$/i.test(value.trim())))
    return shortIri(value);
  if (Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 100) return n.toFixed(1);
  if (abs >= 0.01) return n.toPrecision(4).replace(/\.?0+$/, '');
  return n.toExponential(2);
}

/**
 * A duration in seconds as `0.42 s`, `3.1 s`, `2 m 05 s`, `1 h 02 m`.
 * @param {number | null | undefined} seconds
 * @returns {string}
 */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} m ${String(Math.floor(seconds % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} m`;
}

/**
 * A time of day (local) from an ISO-8601 timestamp, with the date when it is not today.
 * @param {string | null | undefined} iso
 * @returns {string}
 */
export function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const time = d.toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
  return d.toDateString() === new Date().toDateString()
    ? time
    : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}
