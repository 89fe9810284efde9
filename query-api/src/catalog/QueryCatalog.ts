/** The paper's parameterized queries Q1–Q6: SPARQL files with placeholders, bound safely and run. */
import { readFileSync } from 'node:fs';
import { ValidationError } from '@provml/schemas';
import { selectRows, type QueryOptions, type TripleStore } from '@provml/stores';
import { integerTerm, iriTerm } from '../views/terms.ts';

/** Kinds of parameter a query may take. */
export type ParameterKind = 'iri' | 'integer';

/** The parameters the catalogue knows, and what each must be. */
export const PARAMETER_KINDS: Readonly<Record<string, ParameterKind>> = {
  model: 'iri',
  trainingSet: 'iri',
  inlineStart: 'integer',
  inlineEnd: 'integer',
};

/** One query of the catalogue. */
export interface QueryDefinition {
  /** `q1` … `q6`. */
  name: string;
  /** The question, from the file's opening comment (up to its `# Parameter` line). */
  title: string;
  /** The file's text with the shared prefixes in front; placeholders are `{{name}}`. */
  template: string;
  /** Names of the placeholders, in order of first use. */
  parameters: string[];
}

/** The names of the queries, in order. */
export const QUERY_NAMES = ['q1', 'q2', 'q3', 'q4', 'q5', 'q6'] as const;
/** A query name. */
export type QueryName = (typeof QUERY_NAMES)[number];

const DIR = new URL('../../catalog/', import.meta.url);
const PLACEHOLDER = /\{\{(\w+)\}\}/g;

/** Reads the query files (`query-api/catalog/*.rq`) once. */
export function loadQueries(): ReadonlyMap<QueryName, QueryDefinition> {
  const prefixes = readFileSync(new URL('prefixes.rq', DIR), 'utf8');
  return new Map(
    QUERY_NAMES.map((name) => {
      const text = readFileSync(new URL(`${name}.rq`, DIR), 'utf8');
      const heading = text.split('\n').filter((l) => l.startsWith('#'));
      const end = heading.findIndex((l) => /^#\s*Parameters?:/.test(l));
      const title = heading
        .slice(0, end === -1 ? 1 : end)
        .map((l) => l.replace(/^#\s*/, ''))
        .join(' ');
      const parameters = [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
      for (const p of parameters)
        if (PARAMETER_KINDS[p] === undefined)
          throw new Error(`${name}.rq uses an unknown parameter {{${p}}}`);
      return [name, { name, title, template: `${prefixes}\n${text}`, parameters }];
    }),
  );
}

/** Renders a parameter value as a SPARQL term, refusing anything that is not exactly of its kind. */
export function sparqlTerm(name: string, value: unknown): string {
  const kind = PARAMETER_KINDS[name];
  if (kind === 'iri') return iriTerm(name, value).text;
  if (kind === 'integer') return integerTerm(name, value).text;
  throw new ValidationError(`unknown parameter ${name}`, [
    { path: name, message: 'not a parameter of any query' },
  ]);
}

/** Binds every placeholder of a query; a missing or extra parameter is an error. */
export function bindQuery(query: QueryDefinition, params: Readonly<Record<string, unknown>>): string {
  const missing = query.parameters.filter((p) => params[p] === undefined);
  const extra = Object.keys(params).filter((p) => !query.parameters.includes(p));
  if (missing.length > 0 || extra.length > 0)
    throw new ValidationError(`parameters of ${query.name} do not fit`, [
      ...missing.map((p) => ({ path: p, message: 'missing' })),
      ...extra.map((p) => ({ path: p, message: `not a parameter of ${query.name}` })),
    ]);
  const terms = Object.fromEntries(query.parameters.map((p) => [p, sparqlTerm(p, params[p])]));
  return query.template.replace(PLACEHOLDER, (_, p: string) => terms[p]!);
}

/** Binds and runs a catalogue query, returning rows of plain values. */
export function runQuery(
  store: TripleStore,
  query: QueryDefinition,
  params: Readonly<Record<string, unknown>>,
  options?: QueryOptions,
): Promise<Record<string, string>[]> {
  return selectRows(store, bindQuery(query, params), options);
}
