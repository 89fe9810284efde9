/**
 * SPARQL results in the formats a client may ask for, made from the JSON results the store gave
 * (the endpoint always asks the store for JSON, so that it can count solutions before answering):
 * SPARQL 1.1 Query Results CSV and TSV, and the SPARQL Query Results XML Format.
 */
import type { SparqlJsonResults } from '@provml/stores';

type Term = SparqlJsonResults['results']['bindings'][number][string];

/** The JSON of an ASK answer. */
export interface AskJson {
  head: Record<string, never>;
  boolean: boolean;
}

const XSD = 'http://www.w3.org/2001/XMLSchema#';

/** CSV field: the plain value, quoted when it holds a comma, quote or line break (RFC 4180). */
function csvField(term: Term | undefined): string {
  if (term === undefined) return '';
  const v = term.type === 'bnode' ? `_:${term.value}` : term.value;
  return /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/** TSV field: the term in SPARQL/Turtle syntax. */
function tsvField(term: Term | undefined): string {
  if (term === undefined) return '';
  if (term.type === 'uri') return `<${term.value}>`;
  if (term.type === 'bnode') return `_:${term.value}`;
  const escaped = term.value
    .replaceAll('\\', '\\\\')
    .replaceAll('"', '\\"')
    .replaceAll('\n', '\\n')
    .replaceAll('\r', '\\r')
    .replaceAll('\t', '\\t');
  if (term['xml:lang'] !== undefined) return `"${escaped}"@${term['xml:lang']}`;
  if (term.datatype !== undefined && term.datatype !== `${XSD}string`)
    return `"${escaped}"^^<${term.datatype}>`;
  return `"${escaped}"`;
}

const xml = (s: string): string =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

function xmlTerm(term: Term): string {
  if (term.type === 'uri') return `<uri>${xml(term.value)}</uri>`;
  if (term.type === 'bnode') return `<bnode>${xml(term.value)}</bnode>`;
  const lang = term['xml:lang'] === undefined ? '' : ` xml:lang="${xml(term['xml:lang'])}"`;
  const dt = term.datatype === undefined ? '' : ` datatype="${xml(term.datatype)}"`;
  return `<literal${lang}${dt}>${xml(term.value)}</literal>`;
}

/** SELECT results as CSV (plain values) or TSV (terms). */
export function toDelimited(results: SparqlJsonResults, format: 'csv' | 'tsv'): string {
  const vars = results.head.vars;
  const field = format === 'csv' ? csvField : tsvField;
  const sep = format === 'csv' ? ',' : '\t';
  const eol = format === 'csv' ? '\r\n' : '\n';
  const header = format === 'csv' ? vars.join(sep) : vars.map((v) => `?${v}`).join(sep);
  return [header, ...results.results.bindings.map((b) => vars.map((v) => field(b[v])).join(sep))]
    .map((line) => line + eol)
    .join('');
}

/** SELECT or ASK results in the SPARQL Query Results XML Format. */
export function toXml(results: SparqlJsonResults | AskJson): string {
  const open = '<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n';
  if ('boolean' in results) return `${open}<head/>\n<boolean>${results.boolean}</boolean>\n</sparql>\n`;
  const vars = results.head.vars;
  const head = `<head>${vars.map((v) => `<variable name="${xml(v)}"/>`).join('')}</head>\n`;
  const rows = results.results.bindings
    .map(
      (b) =>
        `<result>${Object.entries(b)
          .map(([name, term]) => `<binding name="${xml(name)}">${xmlTerm(term)}</binding>`)
          .join('')}</result>\n`,
    )
    .join('');
  return `${open}${head}<results>\n${rows}</results>\n</sparql>\n`;
}
