/** What every view needs: the store, the per-query limits, the shared prefixes and the IRI scheme. */
import { readFileSync } from 'node:fs';
import { IriMinter } from '@provml/stream-processors';
import { selectRows, type QueryOptions, type TripleStore } from '@provml/stores';

/** The PREFIX lines every catalogue query and view starts with (`query-api/catalog/prefixes.rq`). */
export const PREFIXES = readFileSync(new URL('../../catalog/prefixes.rq', import.meta.url), 'utf8');

/** A view's access to the store. */
export interface ViewContext {
  store: TripleStore;
  /** Limits of each query a view runs (deadline). */
  queryOptions?: QueryOptions;
  /** IRIs of workflows and executions, as the processors mint them. */
  iris?: IriMinter;
}

/** Runs a SELECT (prefixes added) and returns plain rows. */
export function rows(context: ViewContext, body: string): Promise<Record<string, string>[]> {
  return selectRows(context.store, `${PREFIXES}\n${body}`, context.queryOptions);
}

/** A number from a row value, or null when absent. */
export const num = (v: string | undefined): number | null => (v === undefined ? null : Number(v));

/** A captured value as JSON: numbers as numbers, booleans as booleans, the rest as text. */
export function plain(v: string): string | number | boolean {
  if (v === 'true' || v === 'false') return v === 'true';
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) ? n : v;
}

/** The IRI scheme of `context`. */
export const irisOf = (context: ViewContext): IriMinter => context.iris ?? new IriMinter();
