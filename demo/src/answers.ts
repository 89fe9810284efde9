/** Q1–Q6 over the demo's provenance graph, with parameters taken from what the demo did, printed as tables. */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TripleStore } from '@provml/stores';
import { formatTable, loadQueries, runQuery, type QueryName } from '@provml/query-api';
import type { DemoReport } from './runDemo.ts';

/** One answered query. */
export interface Answer {
  name: QueryName;
  title: string;
  params: Record<string, string | number>;
  rows: Record<string, string>[];
}

/** The parameters a user would give: the first run's best model, its training set, its slice range. */
export function demoParameters(report: DemoReport): Record<QueryName, Record<string, string | number>> {
  const run = report.trainings[0]!;
  const best = run.epochResults.reduce((a, b) => (b.loss < a.loss ? b : a));
  const prep = report.preparations.find((p) => p.name === run.preparation)!;
  const range = { inlineStart: prep.inlineStart, inlineEnd: prep.inlineEnd };
  return {
    q1: { model: best.model },
    q2: { model: best.model },
    q3: { trainingSet: prep.trainingSet },
    q4: { trainingSet: prep.trainingSet },
    q5: range,
    q6: range,
  };
}

/** Runs Q1–Q6 against the store. */
export async function answerQueries(store: TripleStore, report: DemoReport): Promise<Answer[]> {
  const queries = loadQueries();
  const params = demoParameters(report);
  const answers: Answer[] = [];
  for (const [name, query] of queries)
    answers.push({
      name,
      title: query.title,
      params: params[name],
      rows: await runQuery(store, query, params[name]),
    });
  return answers;
}

/** Shows file URIs as paths relative to the working directory and drops the instance IRI base. */
function short(v: string | number): string {
  if (typeof v !== 'string') return String(v);
  if (v.startsWith('file://')) {
    const path = relative(process.cwd(), fileURLToPath(v));
    return path.startsWith('..') ? fileURLToPath(v) : path;
  }
  return v.replace(/^urn:provml:execution\//, '');
}

/** Wraps text at word boundaries. */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line].join('\n');
}

/** Renders answers for a terminal. */
export function formatAnswers(answers: readonly Answer[]): string {
  return answers
    .map((a) => {
      const params = Object.entries(a.params)
        .map(([k, v]) => `${k} = ${short(v)}`)
        .join(', ');
      const rows = a.rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, short(v)])));
      return `${wrap(a.title, 100)}\n  (${params})\n\n${formatTable(rows, undefined, { maxWidth: 56 }).replace(/^/gm, '  ')}\n`;
    })
    .join('\n');
}
