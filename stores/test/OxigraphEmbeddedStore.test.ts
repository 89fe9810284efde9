/** OxigraphEmbeddedStore: N-Quads loads into named graphs, union-graph queries, result formats, refusals; queryForm. */
import { describe, expect, it } from 'vitest';
import { Parser } from 'n3';
import oxigraph from 'oxigraph';
import {
  OxigraphEmbeddedStore,
  QueryError,
  isGraphForm,
  queryForm,
  selectRows,
  type SparqlJsonResults,
} from '@provml/stores';

const EX = 'http://example.org/';
const G1 = `${EX}graph/run-1`;
const G2 = `${EX}graph/run-2`;

const BATCH = [
  `<${EX}run-1> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://www.w3.org/ns/prov#Activity> <${G1}> .`,
  `<${EX}run-1> <http://www.w3.org/2000/01/rdf-schema#label> "training run"@en <${G1}> .`,
  `<${EX}run-1> <${EX}epochs> "10"^^<http://www.w3.org/2001/XMLSchema#integer> <${G1}> .`,
  `<${EX}run-2> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://www.w3.org/ns/prov#Activity> <${G2}> .`,
  `<${EX}run-2> <http://www.w3.org/2000/01/rdf-schema#label> "zweiter Lauf – ü"@de <${G2}> .`,
].join('\n');

/** A store holding BATCH. */
async function loaded(): Promise<OxigraphEmbeddedStore> {
  const store = new OxigraphEmbeddedStore();
  expect(await store.load(BATCH)).toEqual({ kind: 'success' });
  return store;
}

describe('OxigraphEmbeddedStore loads', () => {
  it('loads N-Quads into their named graphs', async () => {
    const store = await loaded();
    expect(await store.size()).toBe(5);
    const rows = await selectRows(
      store,
      `SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g ORDER BY ?g`,
    );
    expect(rows).toEqual([
      { g: G1, n: '3' },
      { g: G2, n: '2' },
    ]);
    // every quad is in a named graph; nothing lands in the store's own default graph
    expect(store.store.match(null, null, null, oxigraph.defaultGraph())).toHaveLength(0);
    expect(store.store.match(null, null, null, oxigraph.namedNode(G1))).toHaveLength(3);
    const [label] = await selectRows(
      store,
      `SELECT ?l WHERE { GRAPH <${G2}> { <${EX}run-2> ?p ?l FILTER(isLiteral(?l)) } }`,
    );
    expect(label).toEqual({ l: 'zweiter Lauf – ü' });
  });

  it('adds nothing when the same batch is loaded twice', async () => {
    const store = await loaded();
    expect(await store.load(BATCH)).toEqual({ kind: 'success' });
    expect(await store.size()).toBe(5);
    // the same triple in another graph is another quad
    expect(
      await store.load(
        `<${EX}run-1> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://www.w3.org/ns/prov#Activity> <${G2}> .\n`,
      ),
    ).toEqual({ kind: 'success' });
    expect(await store.size()).toBe(6);
  });

  it('loads an empty body', async () => {
    const store = new OxigraphEmbeddedStore();
    expect(await store.load('')).toEqual({ kind: 'success' });
    expect(await store.size()).toBe(0);
  });

  it.each([
    ['an unterminated literal', `<${EX}s> <${EX}p> "open <${G1}> .\n`],
    ['a missing final dot', `<${EX}s> <${EX}p> <${EX}o> <${G1}>\n`],
    ['Turtle prefixes', `@prefix ex: <${EX}> .\nex:s ex:p ex:o .\n`],
    ['plain text', 'this is not N-Quads\n'],
  ])('returns a failure value (not an exception) for malformed N-Quads: %s', async (_what, body) => {
    const store = new OxigraphEmbeddedStore();
    const result = await store.load(body);
    expect(result.kind).toBe('failure');
    if (result.kind !== 'failure') throw new Error('unreachable');
    expect(result.error).toBeInstanceOf(Error);
    expect(result.error.message).not.toBe('');
  });
});

describe('OxigraphEmbeddedStore queries', () => {
  it('answers SELECT over the union of all named graphs as the default graph', async () => {
    const store = await loaded();
    const response = await store.query(
      `SELECT ?s WHERE { ?s a <http://www.w3.org/ns/prov#Activity> } ORDER BY ?s`,
    );
    expect(response.contentType).toBe('application/sparql-results+json');
    const parsed = JSON.parse(response.body) as SparqlJsonResults;
    expect(parsed.head.vars).toEqual(['s']);
    expect(parsed.results.bindings).toEqual([
      { s: { type: 'uri', value: `${EX}run-1` } },
      { s: { type: 'uri', value: `${EX}run-2` } },
    ]);
    // a join across two graphs works through the union
    const rows = await selectRows(
      store,
      `SELECT ?e ?l WHERE { <${EX}run-1> <${EX}epochs> ?e . <${EX}run-2> <http://www.w3.org/2000/01/rdf-schema#label> ?l }`,
    );
    expect(rows).toEqual([{ e: '10', l: 'zweiter Lauf – ü' }]);
  });

  it('keeps datatypes and language tags in JSON results', async () => {
    const store = await loaded();
    const body = (
      await store.query(`SELECT ?o WHERE { <${EX}run-1> ?p ?o FILTER(isLiteral(?o)) } ORDER BY ?o`)
    ).body;
    const parsed = JSON.parse(body) as SparqlJsonResults;
    expect(parsed.results.bindings).toEqual([
      { o: { type: 'literal', value: '10', datatype: 'http://www.w3.org/2001/XMLSchema#integer' } },
      { o: { type: 'literal', value: 'training run', 'xml:lang': 'en' } },
    ]);
  });

  it('answers ASK', async () => {
    const store = await loaded();
    const yes = await store.query(`PREFIX ex: <${EX}>\nASK { ex:run-2 ?p ?o }`);
    expect(yes.contentType).toBe('application/sparql-results+json');
    expect(JSON.parse(yes.body)).toMatchObject({ boolean: true });
    const no = await store.query(`ASK { <${EX}run-3> ?p ?o }`, 'json');
    expect(JSON.parse(no.body)).toMatchObject({ boolean: false });
  });

  it('answers CONSTRUCT with N-Triples by default', async () => {
    const store = await loaded();
    const response = await store.query(
      `# every activity, from any graph\nCONSTRUCT { ?s a ?t } WHERE { ?s a ?t }`,
    );
    expect(response.contentType).toBe('application/n-triples');
    const quads = new Parser({ format: 'application/n-triples' }).parse(response.body);
    expect(quads.map((q) => q.subject.value).sort()).toEqual([`${EX}run-1`, `${EX}run-2`]);
    for (const q of quads) {
      expect(q.graph.termType).toBe('DefaultGraph');
      expect(q.object.value).toBe('http://www.w3.org/ns/prov#Activity');
    }
  });

  it('answers DESCRIBE with a graph form and CONSTRUCT in Turtle when asked', async () => {
    const store = await loaded();
    const described = await store.query(`DESCRIBE <${EX}run-1>`);
    expect(described.contentType).toBe('application/n-triples');
    expect(new Parser({ format: 'application/n-triples' }).parse(described.body)).toHaveLength(3);

    const turtle = await store.query(`CONSTRUCT WHERE { <${EX}run-2> ?p ?o }`, 'turtle');
    expect(turtle.contentType).toBe('text/turtle');
    expect(new Parser({ format: 'text/turtle' }).parse(turtle.body)).toHaveLength(2);
  });

  it('serialises SELECT as CSV when asked', async () => {
    const store = await loaded();
    const response = await store.query(
      `SELECT ?s ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l } ORDER BY ?s`,
      'csv',
    );
    expect(response.contentType).toBe('text/csv');
    expect(response.body.split('\r\n')).toEqual([
      's,l',
      `${EX}run-1,training run`,
      `${EX}run-2,zweiter Lauf – ü`,
      '',
    ]);
  });

  it('serialises SELECT as TSV and XML when asked', async () => {
    const store = await loaded();
    const tsv = await store.query(`SELECT ?s WHERE { ?s <${EX}epochs> ?e }`, 'tsv');
    expect(tsv.contentType).toBe('text/tab-separated-values');
    expect(tsv.body).toContain(`<${EX}run-1>`);
    const xml = await store.query(`SELECT ?s WHERE { ?s <${EX}epochs> ?e }`, 'xml');
    expect(xml.contentType).toBe('application/sparql-results+xml');
    expect(xml.body).toContain(`<uri>${EX}run-1</uri>`);
  });

  it.each([
    ['a syntax error', 'SELEC ?s WHERE { ?s ?p ?o }'],
    ['an unclosed group', 'SELECT ?s WHERE { ?s ?p ?o'],
    ['an update (INSERT DATA)', `INSERT DATA { <${EX}x> <${EX}p> "sneaky" }`],
    ['an update (DELETE WHERE)', `DELETE WHERE { ?s ?p ?o }`],
    ['an update after a prologue', `PREFIX ex: <${EX}>\nINSERT DATA { ex:x ex:p ex:o }`],
  ])('rejects %s with QueryError and changes nothing', async (_what, sparql) => {
    const store = await loaded();
    const error = await store.query(sparql).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).code).toBe('invalid-query');
    expect(await store.size()).toBe(5);
  });
});

describe('queryForm and isGraphForm', () => {
  it.each([
    ['SELECT * WHERE { ?s ?p ?o }', 'SELECT'],
    ['select ?s where { ?s ?p ?o }', 'SELECT'],
    ['ASK {}', 'ASK'],
    ['CONSTRUCT WHERE { ?s ?p ?o }', 'CONSTRUCT'],
    ['DESCRIBE <http://example.org/x>', 'DESCRIBE'],
    ['  \n\t SELECT ?x {}', 'SELECT'],
    [`PREFIX ex: <${EX}>\nSELECT ?s WHERE { ?s ex:p ?o }`, 'SELECT'],
    [
      `PREFIX : <${EX}>\nPREFIX prov: <http://www.w3.org/ns/prov#>\nconstruct { ?s a :X } WHERE { ?s a prov:Entity }`,
      'CONSTRUCT',
    ],
    [`BASE <${EX}>\nDESCRIBE <x>`, 'DESCRIBE'],
    [`# a comment\nASK { ?s ?p ?o }`, 'ASK'],
    [`# header\nBASE <${EX}>\n# prefixes\nprefix ex: <${EX}> # trailing\n\nSELECT * {}`, 'SELECT'],
    [`PREFIX ex:<${EX}>\nASK {}`, 'ASK'],
  ])('reads the form of %j as %s', (sparql, form) => {
    expect(queryForm(sparql)).toBe(form);
  });

  it.each([
    [`INSERT DATA { <${EX}a> <${EX}b> <${EX}c> }`],
    [`PREFIX ex: <${EX}>\nDELETE WHERE { ?s ?p ?o }`],
    ['LOAD <http://example.org/data.ttl>'],
    ['SELECTED {}'],
    [''],
    ['# only a comment'],
  ])('finds no read form in %j', (sparql) => {
    expect(queryForm(sparql)).toBeUndefined();
  });

  // regression: a form keyword inside a comment was once read as the query's form
  it.each([
    [`# SELECT everything\nDELETE WHERE { ?s ?p ?o }`],
    [`# CONSTRUCT a copy\nINSERT DATA { <${EX}a> <${EX}b> <${EX}c> }`],
    [`PREFIX ex: <${EX}>\n# ASK first\nDELETE WHERE { ?s ex:p ?o }`],
  ])('does not read a form keyword inside a comment: %j', (sparql) => {
    expect(queryForm(sparql)).toBeUndefined();
  });

  it('tells graph forms from result forms', () => {
    expect(isGraphForm('CONSTRUCT')).toBe(true);
    expect(isGraphForm('DESCRIBE')).toBe(true);
    expect(isGraphForm('SELECT')).toBe(false);
    expect(isGraphForm('ASK')).toBe(false);
    expect(isGraphForm(undefined)).toBe(false);
    expect(isGraphForm(queryForm(`PREFIX ex: <${EX}>\n# c\nCONSTRUCT WHERE { ?s ?p ?o }`))).toBe(true);
  });
});
