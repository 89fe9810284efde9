/** Loads the bad-input corpus: one JSON file per case under `corpus/<boundary>/`, with generators for huge inputs. */
import { readdirSync, readFileSync } from 'node:fs';

/** A body given as text parts: strings, `{ $repeat, count }` and `{ hex }` raw bytes. */
export type TextPart = string | { $repeat: string; count: number } | { hex: string };

/** One case of the corpus, as written in its file (fields by boundary; see README.md). */
export interface CorpusCase {
  /** File name without `.json`. */
  name: string;
  description: string;
  [field: string]: unknown;
}

const DIR = new URL('./', import.meta.url);

/** The cases of one boundary, sorted by file name (files starting with `_` are fixtures, not cases). */
export function loadCases(boundary: string): CorpusCase[] {
  const dir = new URL(`${boundary}/`, DIR);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('_'))
    .sort()
    .map((f) => ({
      name: f.slice(0, -'.json'.length),
      ...(JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as { description: string }),
    }));
}

/** A fixture file of a boundary (`_name.json`). */
export function fixture<T>(boundary: string, name: string): T {
  return JSON.parse(readFileSync(new URL(`${boundary}/_${name}.json`, DIR), 'utf8')) as T;
}

/**
 * Expands generators in a JSON value:
 * `{ $repeat: s, count }` → s repeated; `{ $concat: [values] }` → their strings joined; `{ $array: item, count }` → an array of copies;
 * `{ $nest: inner, depth }` → inner wrapped in `depth` arrays; `{ $keys: prefix, count, value }` → an
 * object of `count` keys; `{ $event: overrides }` → `base` with overrides (a `null` override deletes
 * the field, `$delete: [names]` too).
 */
export function expand(value: unknown, base?: Record<string, unknown>): unknown {
  if (Array.isArray(value)) return value.map((v) => expand(v, base));
  if (typeof value !== 'object' || value === null) return value;
  const o = value as Record<string, unknown>;
  if ('$repeat' in o) return String(o.$repeat).repeat(Number(o.count));
  if ('$concat' in o) return (o.$concat as unknown[]).map((v) => String(expand(v, base))).join('');
  if ('$array' in o) {
    const item = expand(o.$array, base);
    return Array.from({ length: Number(o.count) }, () => item);
  }
  if ('$nest' in o) {
    let inner = expand(o.$nest, base);
    for (let i = 0; i < Number(o.depth); i++) inner = [inner];
    return inner;
  }
  if ('$keys' in o)
    return Object.fromEntries(
      Array.from({ length: Number(o.count) }, (_, i) => [`${String(o.$keys)}${i}`, expand(o.value, base)]),
    );
  if ('$event' in o) {
    if (base === undefined) throw new Error('$event needs a base event');
    const over = expand(o.$event, base) as Record<string, unknown>;
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) {
      if (k === '$delete') for (const d of v as string[]) delete out[d];
      else if (v === null && !['parentTaskExecution', 'status'].includes(k)) delete out[k];
      else out[k] = v;
    }
    return out;
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, expand(v, base)]));
}

/** Concatenates text parts into bytes. */
export function textBytes(parts: TextPart | readonly TextPart[]): Buffer {
  const list = Array.isArray(parts) ? (parts as TextPart[]) : [parts as TextPart];
  return Buffer.concat(
    list.map((p) =>
      typeof p === 'string'
        ? Buffer.from(p)
        : 'hex' in p
          ? Buffer.from(p.hex, 'hex')
          : Buffer.from(p.$repeat.repeat(p.count)),
    ),
  );
}

/**
 * The body of an HTTP case: `json` (a value, serialized), `ndjson` (values, one per line) or `text`
 * (text parts, sent as bytes).
 */
export function requestBody(c: Record<string, unknown>, base?: Record<string, unknown>): Buffer {
  if ('json' in c) return Buffer.from(JSON.stringify(expand(c.json, base)));
  if ('ndjson' in c)
    return Buffer.from((expand(c.ndjson, base) as unknown[]).map((v) => JSON.stringify(v)).join('\n'));
  if ('text' in c) return textBytes(c.text as TextPart[]);
  return Buffer.alloc(0);
}

/** The value of one sample of a Prometheus text exposition (0 when absent). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

/** Reads the `/metrics` of a query API. */
export async function scrape(queryUrl: string): Promise<string> {
  const response = await fetch(`${queryUrl}/metrics`);
  return response.text();
}
