/**
 * SPARQL results in the formats a client may ask for, made from the JSON results the store gave
 * (the endpoint always asks the store for JSON, so that it can count solutions before answering):
 * SPARQL 1.1 Query Results CSV and TSV, and the SPARQL Query Results XML Format.
 */
import { ProvmlError } from '@provml/schemas';
import type { SparqlJsonResults } from '@provml/stores';

/** An answer that the format asked for cannot carry (a control character in XML 1.0). */
export class NotRepresentableError extends ProvmlError {
  constructor(format: string, what: string) {
    super(
      'not-representable',
      `the answer holds ${what}, which ${format} cannot carry; ask for application/sparql-results+json`,
      { context: { format } },
    );
  }
}

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

/** Characters XML 1.0 cannot hold at all, not even as character references (§2.2 Char). */
const NOT_XML_CHAR =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const XML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  // a raw CR would be read back as LF (§2.11), and TAB and LF in attributes as spaces (§3.3.3)
  '\r': '&#13;',
  '\t': '&#9;',
  '\n': '&#10;',
};

/** Text or attribute content, escaped; a character XML 1.0 cannot carry is NotRepresentableError. */
export function xmlText(s: string, attribute = false): string {
  const bad = NOT_XML_CHAR.exec(s);
  if (bad !== null)
    throw new NotRepresentableError(
      'XML 1.0',
      `U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`,
    );
  return s.replace(attribute ? /[&<>"\r\t\n]/g : /[&<>"\r]/g, (c) => XML_ESCAPES[c]!);
}

function xmlTerm(term: Term): string {
  if (term.type === 'uri') return `<uri>${xmlText(term.value)}</uri>`;
  if (term.type === 'bnode') return `<bnode>${xmlText(term.value)}</bnode>`;
  const lang = term['xml:lang'] === undefined ? '' : ` xml:lang="${xmlText(term['xml:lang'], true)}"`;
  const dt = term.datatype === undefined ? '' : ` datatype="${xmlText(term.datatype, true)}"`;
  return `<literal${lang}${dt}>${xmlText(term.value)}</literal>`;
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
  const head = `<head>${vars.map((v) => `<variable name="${xmlText(v, true)}"/>`).join('')}</head>\n`;
  const rows = results.results.bindings
    .map(
      (b) =>
        `<result>${Object.entries(b)
          .map(([name, term]) => `<binding name="${xmlText(name, true)}">${xmlTerm(term)}</binding>`)
          .join('')}</result>\n`,
    )
    .join('');
  return `${open}${head}<results>\n${rows}</results>\n</sparql>\n`;
}
