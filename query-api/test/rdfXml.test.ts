/**
 * The RDF/XML writer of CONSTRUCT answers, read back by another parser (Oxigraph's RDF/XML parser):
 * the same triples come back, literals with markup, quotes, CR, languages and datatypes included;
 * a predicate that ends in no XML name is refused as not representable.
 */
import oxigraph from 'oxigraph';
import { Parser } from 'n3';
import { describe, expect, it } from 'vitest';
import { toRdfXml } from '../src/query/rdfXml.ts';

const NTRIPLES = `<http://e/s> <http://e/p#label> "a <b> & \\"c\\"\\r\\nd" .
<http://e/s> <http://e/p/name> "nom"@fr-CA .
<http://e/s> <http://e/p#n> "01"^^<http://www.w3.org/2001/XMLSchema#integer> .
<http://e/s> <http://e/p#at> "x"^^<http://e/type?a=1&b=2> .
<http://e/s> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://e/C> .
<http://e/s> <http://e/p#link> _:b1 .
_:b1 <http://e/p#value> "é 漢字 😀" .
_:b1 <urn:x:y.z_w> <http://e/o?q=1&r=2> .
`;

/** Canonical N-Triples of a parsed document, blank nodes renamed in order of appearance. */
function canonical(store: oxigraph.Store): string[] {
  return store
    .match()
    .map((q) => `${q.subject.toString()} ${q.predicate.toString()} ${q.object.toString()}`)
    .map((line) => line.replace(/_:[\w-]+/g, '_:b'))
    .sort();
}

describe('toRdfXml', () => {
  it('writes RDF/XML that another parser reads back as the same triples', () => {
    const body = toRdfXml(new Parser({ format: 'application/n-triples' }).parse(NTRIPLES));
    const written = new oxigraph.Store();
    written.load(body, { format: 'application/rdf+xml' });
    const given = new oxigraph.Store();
    given.load(NTRIPLES, { format: 'application/n-triples' });
    expect(body).toContain('&#13;');
    expect(canonical(written)).toEqual(canonical(given));
  });

  it('refuses a predicate that ends in no XML name', () => {
    const quads = new Parser({ format: 'application/n-triples' }).parse(
      '<http://e/s> <urn:p/> <http://e/o> .\n',
    );
    expect(() => toRdfXml(quads)).toThrow(/not-representable|cannot carry/);
  });
});
