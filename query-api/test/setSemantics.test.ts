/**
 * The guard's set semantics (src/query/setSemantics.mjs) against an oracle: the same triples held once
 * in the default graph of a plain Oxigraph store (a set, queried without the union) must give the same
 * answers as the guarded query over a store where some triples are stated in two or three named
 * graphs (queried with the union default graph, as the embedded store does). Each query is also run
 * unguarded on the union, to show that the data does repeat solutions there.
 */
import oxigraph from 'oxigraph';
import { afterAll, describe, expect, it } from 'vitest';
import { guardQuery, SparqlParseWorker } from '@provml/query-api';

const E = 'http://e/';
/** Triples, each with the graphs that state it. */
const DATA: [string, string[]][] = [
  [`<${E}a> <${E}p> <${E}b>`, ['g1', 'g2']],
  [`<${E}a> <${E}p> <${E}c>`, ['g1']],
  [`<${E}b> <${E}q> <${E}d>`, ['g2', 'g3']],
  [`<${E}c> <${E}q> <${E}d>`, ['g1', 'g2', 'g3']],
  [`<${E}b> <${E}n> "2"`, ['g1', 'g3']],
  [`<${E}c> <${E}n> "3"`, ['g2']],
  [`<${E}a> <${E}r> _:x`, ['g1']],
];

const union = new oxigraph.Store();
const reference = new oxigraph.Store();
for (const [triple, graphs] of DATA) {
  reference.load(`${triple} .\n`, { format: 'application/n-triples' });
  for (const g of graphs)
    union.load(`${triple.replace('_:x', `<${E}x>`)} <${E}${g}> .\n`, { format: 'application/n-quads' });
}
// the blank node as an IRI in the union (a blank node shared by two loads would be two nodes)
reference.update(`DELETE { ?s ?p ?b } INSERT { ?s ?p <${E}x> } WHERE { ?s ?p ?b FILTER isBlank(?b) }`);

/** Sorted rows of a SELECT (or the boolean of an ASK) as text, variables by name (`*` aside). */
function answer(store: oxigraph.Store, query: string, options: Record<string, unknown>): string {
  const json = JSON.parse(store.query(query, { ...options, results_format: 'json' }) as string) as {
    boolean?: boolean;
    head: { vars?: string[] };
    results?: { bindings: Record<string, { value: string }>[] };
  };
  if (json.boolean !== undefined) return String(json.boolean);
  const vars = [...(json.head.vars ?? [])].sort();
  const rows = json.results!.bindings.map((b) => vars.map((v) => `${v}=${b[v]?.value ?? ''}`).join(' '));
  return [`vars: ${vars.join(' ')}`, ...rows.sort()].join('\n');
}

const QUERIES: Record<string, string> = {
  'one pattern': `SELECT ?s ?o WHERE { ?s <${E}p> ?o }`,
  'a join': `SELECT ?s ?d WHERE { ?s <${E}p> ?o . ?o <${E}q> ?d }`,
  'COUNT(*)': `SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }`,
  'COUNT by group': `SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p`,
  'a blank node of the pattern counts': `SELECT ?s WHERE { ?s <${E}p> [] }`,
  'a sequence path counts its middle nodes': `SELECT ?s ?d WHERE { ?s <${E}p>/<${E}q> ?d }`,
  'SELECT *': `SELECT * WHERE { ?s <${E}p> ?o . ?o <${E}q> ?d }`,
  OPTIONAL: `SELECT ?o ?n WHERE { <${E}a> <${E}p> ?o OPTIONAL { ?o <${E}n> ?n } }`,
  UNION: `SELECT ?x WHERE { { ?x <${E}p> ?y } UNION { ?y <${E}q> ?x } }`,
  MINUS: `SELECT ?s WHERE { ?s ?p ?o MINUS { ?s <${E}n> ?n } }`,
  'FILTER EXISTS': `SELECT ?s WHERE { ?s <${E}q> ?d FILTER EXISTS { ?s <${E}n> ?n } }`,
  'a subquery with LIMIT': `SELECT ?o WHERE { { SELECT ?o WHERE { ?s ?p ?o } ORDER BY ?o LIMIT 3 } }`,
  'VALUES and BIND': `SELECT ?s ?t WHERE { VALUES ?s { <${E}b> <${E}c> } ?s <${E}q> ?d BIND(STR(?d) AS ?t) }`,
  'SUM of values': `SELECT (SUM(?n) AS ?total) WHERE { ?s <${E}n> ?v BIND(xsd:integer(?v) AS ?n) }`,
  'two FROM graphs': `SELECT ?s ?d FROM <${E}g2> FROM <${E}g3> WHERE { ?s <${E}q> ?d }`,
  ASK: `ASK { <${E}a> <${E}p> ?o }`,
};

describe('the union default graph as a set (guard rewrite vs a set-valued default graph)', () => {
  const parser = new SparqlParseWorker();
  afterAll(() => parser.close());

  it.each(Object.entries(QUERIES))('%s', async (_name, written) => {
    const query = `PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n${written}`;
    const guarded = await guardQuery(query, { allowService: false, maxResultRows: 1000 }, parser);
    const fromClauses = /FROM <([^>]+)> FROM <([^>]+)>/.exec(written);
    // the reference: the triples of the FROM graphs, or all of them, once each in a default graph
    const oracle = fromClauses === null ? reference : new oxigraph.Store();
    if (fromClauses !== null)
      for (const [triple, graphs] of DATA)
        if (graphs.some((g) => fromClauses.slice(1).includes(`${E}${g}`)))
          oracle.load(`${triple} .\n`, { format: 'application/n-triples' });
    const expected = answer(oracle, query.replace(/FROM <[^>]+> /g, ''), {});
    const options =
      guarded.dataset === undefined
        ? { use_default_graph_as_union: true }
        : {
            default_graph: guarded.dataset.defaultGraphs.map((g) => oxigraph.namedNode(g)),
            named_graphs: guarded.dataset.namedGraphs.map((g) => oxigraph.namedNode(g)),
          };
    expect(answer(union, guarded.text, options)).toBe(expected);
  });

  it('the union does repeat solutions without the rewrite', () => {
    const once = answer(reference, QUERIES['COUNT(*)']!, {});
    const repeated = answer(union, QUERIES['COUNT(*)']!, { use_default_graph_as_union: true });
    expect(once).toBe('vars: n\nn=7');
    expect(repeated).toBe('vars: n\nn=12');
  });

  it('leaves a query whose answer cannot show repeats as it is', async () => {
    const policy = { allowService: false, maxResultRows: 1000 };
    for (const text of [
      `SELECT DISTINCT ?s WHERE { ?s ?p ?o }`,
      `ASK { ?s ?p ?o }`,
      `SELECT DISTINCT ?o WHERE { { SELECT DISTINCT ?o WHERE { ?s ?p ?o } ORDER BY ?o LIMIT 1 } }`,
      `SELECT ?s FROM <${E}g1> WHERE { ?s ?p ?o }`,
    ])
      expect((await guardQuery(text, policy, parser)).setSemantics, text).toBe(false);
    for (const text of [
      `SELECT ?s WHERE { ?s ?p ?o }`,
      `SELECT DISTINCT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }`,
      `SELECT DISTINCT ?o WHERE { { SELECT ?o WHERE { ?s ?p ?o } LIMIT 1 } }`,
      `CONSTRUCT WHERE { ?s ?p ?o }`,
    ])
      expect((await guardQuery(text, policy, parser)).setSemantics, text).toBe(true);
  });
});
