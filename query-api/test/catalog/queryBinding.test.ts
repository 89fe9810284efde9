/**
 * Properties of query parameter binding: any value is refused with a ValidationError or becomes one
 * term that sparqljs parses as exactly that IRI or integer literal; bound queries keep their shape.
 */
import fc from 'fast-check';
import { Parser, type SelectQuery, type Triple } from 'sparqljs';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '@provml/schemas';
import { bindQuery, loadQueries, PARAMETER_KINDS, sparqlTerm } from '../../src/catalog/QueryCatalog.ts';

const RUNS = { numRuns: 400 };
const XSD_INTEGER = 'http://www.w3.org/2001/XMLSchema#integer';

/** Strings built to break out of an IRI or a literal, mixed with arbitrary text. */
const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc
    .tuple(
      fc.constantFrom('http://ex.org/m', 'urn:x', 'file:///a', '1', ''),
      fc.constantFrom(
        '>',
        '> } ; DROP ALL #',
        '"',
        '\\u003E',
        '%3E',
        '\n',
        ' ',
        '}',
        '#',
        "'",
        '\\',
        '<',
        '^^',
        '\u0000',
      ),
      fc.string({ maxLength: 20 }),
    )
    .map((parts) => parts.join('')),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
);

/** Renders a term and parses it where a term goes; ValidationError means refused. */
function parsedTerm(name: string, value: unknown): Triple['object'] | 'refused' {
  let term: string;
  try {
    term = sparqlTerm(name, value);
  } catch (error) {
    if (error instanceof ValidationError) return 'refused';
    throw error;
  }
  const query = new Parser().parse(`SELECT * WHERE { ?s ?p ${term} }`) as SelectQuery;
  expect(query.where).toHaveLength(1);
  const bgp = query.where![0] as { type: string; triples: Triple[] };
  expect(bgp.type).toBe('bgp');
  expect(bgp.triples).toHaveLength(1);
  return bgp.triples[0]!.object;
}

describe('query parameter binding properties', () => {
  it('renders an IRI parameter as exactly the given IRI, or refuses it', () => {
    fc.assert(
      fc.property(hostile, (value) => {
        const term = parsedTerm('model', value);
        if (term === 'refused') return;
        expect(term.termType).toBe('NamedNode');
        expect(term.value).toBe(value);
      }),
      RUNS,
    );
  });

  it('renders an integer parameter as exactly that xsd:integer, or refuses it', () => {
    fc.assert(
      fc.property(fc.oneof(hostile, fc.integer().map(String), fc.anything()), (value) => {
        const term = parsedTerm('inlineStart', value);
        if (term === 'refused') return;
        expect(term.termType).toBe('Literal');
        expect((term as { datatype: { value: string } }).datatype.value).toBe(XSD_INTEGER);
        expect(BigInt(term.value)).toBe(BigInt(String(value)));
      }),
      RUNS,
    );
  });

  it('binds every catalogue query to a query of the same shape, or refuses', () => {
    const queries = [...loadQueries().values()];
    const benign = { model: 'urn:m', trainingSet: 'urn:t', inlineStart: '1', inlineEnd: '2' };
    const shape = (text: string): string => {
      const parsed = new Parser().parse(text) as SelectQuery;
      return JSON.stringify([parsed.type, parsed.queryType, parsed.variables?.length, parsed.where?.length]);
    };
    fc.assert(
      fc.property(
        fc.constantFrom(...queries),
        fc.dictionary(fc.constantFrom(...Object.keys(PARAMETER_KINDS)), hostile),
        (query, given) => {
          const params = Object.fromEntries(
            query.parameters.map((p) => [p, given[p] ?? benign[p as keyof typeof benign]]),
          );
          let text: string;
          try {
            text = bindQuery(query, params);
          } catch (error) {
            if (error instanceof ValidationError) return;
            throw error;
          }
          const reference = bindQuery(
            query,
            Object.fromEntries(query.parameters.map((p) => [p, benign[p as keyof typeof benign]])),
          );
          expect(shape(text)).toBe(shape(reference));
        },
      ),
      { numRuns: 200 },
    );
  });
});
