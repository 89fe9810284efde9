/**
 * RDF/XML (RDF 1.1 XML Syntax) of a CONSTRUCT or DESCRIBE answer: one `rdf:Description` per subject,
 * the predicates' namespaces declared on the root. A predicate IRI must end in an XML name to be
 * written (`…#label`, `…/label`); one that does not (`urn:p/`, `…#1`) cannot be, and the answer is
 * NotRepresentableError (406: ask for N-Triples or Turtle).
 */
import type { Quad, Term } from 'n3';
import { NotRepresentableError, xmlText } from './resultFormats.ts';

const RDF = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#';
const XSD_STRING = 'http://www.w3.org/2001/XMLSchema#string';
/** The longest tail of an IRI that is an XML name (NCName, ASCII letters and the usual marks). */
const LOCAL_NAME = /[A-Za-z_\u00C0-\uFFFD][\w.\-\u00B7\u00C0-\uFFFD]*$/u;

/** Splits a predicate IRI into namespace and local name, or undefined when it ends in no XML name. */
function split(iri: string): [string, string] | undefined {
  const local = LOCAL_NAME.exec(iri)?.[0];
  if (local === undefined || local.length === iri.length) return undefined;
  return [iri.slice(0, iri.length - local.length), local];
}

/** Writes triples (their graph is ignored) as an RDF/XML document. */
export function toRdfXml(quads: readonly Quad[]): string {
  const prefixes = new Map<string, string>([[RDF, 'rdf']]);
  const blank = new Map<string, string>();
  const nodeId = (t: Term): string => {
    let id = blank.get(t.value);
    if (id === undefined) blank.set(t.value, (id = `b${blank.size}`));
    return id;
  };
  const node = (t: Term): string =>
    t.termType === 'BlankNode' ? `rdf:nodeID="${nodeId(t)}"` : `rdf:about="${xmlText(t.value, true)}"`;
  const bySubject = new Map<string, { subject: Term; lines: string[] }>();
  for (const q of quads) {
    const parts = split(q.predicate.value);
    if (parts === undefined)
      throw new NotRepresentableError(
        'RDF/XML',
        `the predicate <${q.predicate.value}>, which ends in no XML name`,
      );
    let prefix = prefixes.get(parts[0]);
    if (prefix === undefined) prefixes.set(parts[0], (prefix = `ns${prefixes.size}`));
    const name = `${prefix}:${parts[1]}`;
    const o = q.object;
    let line: string;
    if (o.termType === 'NamedNode') line = `<${name} rdf:resource="${xmlText(o.value, true)}"/>`;
    else if (o.termType === 'BlankNode') line = `<${name} rdf:nodeID="${nodeId(o)}"/>`;
    else if (o.termType === 'Literal') {
      const attribute =
        o.language !== ''
          ? ` xml:lang="${xmlText(o.language, true)}"`
          : o.datatype.value === XSD_STRING
            ? ''
            : ` rdf:datatype="${xmlText(o.datatype.value, true)}"`;
      line = `<${name}${attribute}>${xmlText(o.value)}</${name}>`;
    } else throw new NotRepresentableError('RDF/XML', `a ${o.termType} object`);
    if (q.subject.termType !== 'NamedNode' && q.subject.termType !== 'BlankNode')
      throw new NotRepresentableError('RDF/XML', `a ${q.subject.termType} subject`);
    const key = `${q.subject.termType}:${q.subject.value}`;
    let entry = bySubject.get(key);
    if (entry === undefined) bySubject.set(key, (entry = { subject: q.subject, lines: [] }));
    entry.lines.push(line);
  }
  const namespaces = [...prefixes]
    .map(([iri, prefix]) => ` xmlns:${prefix}="${xmlText(iri, true)}"`)
    .join('');
  const descriptions = [...bySubject.values()].map(
    ({ subject, lines }) =>
      `  <rdf:Description ${node(subject)}>\n${lines.map((l) => `    ${l}\n`).join('')}  </rdf:Description>\n`,
  );
  return `<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF${namespaces}>\n${descriptions.join('')}</rdf:RDF>\n`;
}
