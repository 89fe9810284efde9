/** Plain-text tables for query answers printed in a terminal. */

const shorten = (value: string, width: number): string =>
  value.length <= width ? value : `…${value.slice(value.length - width + 1)}`;

/** Formats a number-like string to at most `digits` significant decimals; other strings unchanged. */
function tidy(value: string, digits: number): string {
  if (!/^-?\d+\.\d+(e-?\d+)?$/i.test(value)) return value;
  const n = Number(value);
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(digits)));
}

/** Renders rows as an aligned table with a header line; long values keep their end (file names). */
export function formatTable(
  rows: readonly Record<string, string>[],
  columns: readonly string[] = rows[0] === undefined ? [] : Object.keys(rows[0]),
  options: { maxWidth?: number; digits?: number } = {},
): string {
  if (rows.length === 0) return '(no rows)';
  const maxWidth = options.maxWidth ?? 48;
  const cells = rows.map((r) => columns.map((c) => shorten(tidy(r[c] ?? '', options.digits ?? 4), maxWidth)));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '─'.repeat(w))), ...cells.map(line)].join('\n');
}
