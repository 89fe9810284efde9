/**
 * The quads of one workflow execution, one workflow or everything, read from the store graph by graph
 * (for `provml export`): an execution's graph with its workflow's spec graph; a workflow's spec graph
 * with the graphs of all its executions; or every named graph.
 */
import { DataFactory, type Quad, type Quad_Object, type Quad_Subject } from 'n3';
import { PROVML, ProvmlError } from '@provml/schemas';
import { selectRows, type SparqlJsonResults, type TripleStore } from '@provml/stores';
import type { IriMinter } from '@provml/stream-processors';

/** What to export. */
export type ExportScope =
  { kind: 'all' } | { kind: 'execution'; workflowExecution: string } | { kind: 'workflow'; workflow: string };

const iriTerm = (iri: string): string => `<${iri}>`;

/** The named graphs a scope covers, in IRI order. @throws ProvmlError (`not-found`) when the execution or workflow is not in the store. */
export async function exportGraphs(
  store: TripleStore,
  scope: ExportScope,
  iris: IriMinter,
): Promise<string[]> {
  let query: string;
  if (scope.kind === 'all') query = 'SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }';
  else if (scope.kind === 'execution') {
    const graph = iriTerm(iris.executionGraph(scope.workflowExecution));
    const execution = iriTerm(iris.workflowExecution(scope.workflowExecution));
    query = `SELECT DISTINCT ?g WHERE {
      { GRAPH ${graph} { ${execution} a <${PROVML.WorkflowExecution}> } BIND(${graph} AS ?g) }
      UNION { GRAPH ${graph} { ${execution} <${PROVML.executesWorkflow}> ?w } GRAPH ?g { ?w a <${PROVML.Workflow}> } }
    }`;
  } else {
    const workflow = iriTerm(iris.workflow(scope.workflow));
    query = `SELECT DISTINCT ?g WHERE {
      { GRAPH ?g { ${workflow} a <${PROVML.Workflow}> } }
      UNION { GRAPH ?g { ?x <${PROVML.executesWorkflow}> ${workflow} } }
    }`;
  }
  const graphs = (await selectRows(store, query)).map((r) => r.g!).sort();
  if (graphs.length === 0 && scope.kind !== 'all')
    throw new ProvmlError(
      'not-found',
      scope.kind === 'execution'
        ? `no workflow execution '${scope.workflowExecution}' in the store`
        : `no workflow '${scope.workflow}' in the store`,
    );
  return graphs;
}

type Binding = SparqlJsonResults['results']['bindings'][number][string];

function term(b: Binding): Quad_Object {
  if (b.type === 'uri') return DataFactory.namedNode(b.value);
  if (b.type === 'bnode') return DataFactory.blankNode(b.value);
  if (b['xml:lang'] !== undefined) return DataFactory.literal(b.value, b['xml:lang']);
  return DataFactory.literal(
    b.value,
    DataFactory.namedNode(b.datatype ?? 'http://www.w3.org/2001/XMLSchema#string'),
  );
}

/** The quads of one named graph, its blank nodes labelled `g{index}_…` to keep them apart from other graphs'. */
export async function graphQuads(store: TripleStore, graph: string, index: number): Promise<Quad[]> {
  const response = await store.query(
    `SELECT ?s ?p ?o WHERE { GRAPH ${iriTerm(graph)} { ?s ?p ?o } }`,
    'json',
  );
  const { results } = JSON.parse(response.body) as SparqlJsonResults;
  const g = DataFactory.namedNode(graph);
  const scoped = (t: Quad_Object): Quad_Object =>
    t.termType === 'BlankNode' ? DataFactory.blankNode(`g${index}_${t.value}`) : t;
  return results.bindings.map((b) =>
    DataFactory.quad(
      scoped(term(b.s!)) as Quad_Subject,
      DataFactory.namedNode(b.p!.value),
      scoped(term(b.o!)),
      g,
    ),
  );
}

/** Every quad of a scope, graph by graph. */
export async function exportQuads(store: TripleStore, scope: ExportScope, iris: IriMinter): Promise<Quad[]> {
  const quads: Quad[] = [];
  const graphs = await exportGraphs(store, scope, iris);
  for (const [i, graph] of graphs.entries()) quads.push(...(await graphQuads(store, graph, i)));
  return quads;
}
