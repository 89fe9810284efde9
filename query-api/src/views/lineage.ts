/**
 * Lineage as a graph, hop by hop to a depth limit: backward from any entity or execution to the raw
 * data it came from and the domain annotations about it (what Q1 walks), or forward from a raw file or
 * dataset to everything derived from it, down to the models trained on it. A file that another
 * workflow wrote is where lineage across workflows meets: backward, a file reached by a use or a
 * derivation leads on to its versions (what generated it); a file reached from one of its own versions
 * does not (its other versions are other runs' writes of the same path).
 */
import { integerValue, iriTerm, oneOf, sparql, type SparqlTerm } from './terms.ts';
import { rows, type ViewContext } from './ViewContext.ts';

/** How two nodes are related; the edge points from the later thing to the earlier one. */
export type LineageRelation =
  | 'wasDerivedFrom'
  | 'wasGeneratedBy'
  | 'used'
  | 'partOfExecution'
  | 'hasDomainAnnotation'
  | 'specializationOf';

/** A node of the lineage graph. */
export interface LineageNode {
  id: string;
  label: string;
  kind: 'entity' | 'activity' | 'annotation';
  /** Local names of its classes (`ModelReferenceValue`, `LearningStageExecution`, …). */
  types: string[];
  /**
   * Literal properties: annotation facts (basin, field), execution times and status; and for an
   * annotation, `wasAttributedTo`: the agent who posted it (`urn:provml:agent/annotator/…`).
   */
  properties: Record<string, string>;
}

/** An edge: `source` (later) relates to `target` (earlier) by `relation`. */
export interface LineageEdge {
  source: string;
  target: string;
  relation: LineageRelation;
}

/** A lineage graph around `root`. */
export interface LineageGraph {
  root: string;
  direction: 'backward' | 'forward';
  depth: number;
  nodes: LineageNode[];
  edges: LineageEdge[];
  /** True when the node limit cut the walk short. */
  truncated: boolean;
  /** Forward only: the models reached. */
  models?: string[];
}

const MAX_NODES = 2000;

/**
 * The frontier is repeated inside every UNION branch: a `VALUES` outside a union whose branches `BIND`
 * is not pushed into them (RDF4J evaluates such a union in a scope of its own, Oxigraph joins its
 * branches by hash), so each branch would read every such edge in the store.
 */
const each = (values: string, branches: string[]): string =>
  branches.map((b) => `{ ${values} ${b} }`).join('\n  UNION ');

/**
 * One hop backward: what each frontier node came from; for the `files` among them, their versions
 * (edges from the version to the file, the version reached).
 */
const backwardHop = (frontier: SparqlTerm[], files: SparqlTerm[]): string => {
  const values = sparql`VALUES ?from { ${frontier} }`;
  const versions =
    files.length === 0
      ? ''
      : `\n  UNION { ${sparql`VALUES ?to { ${files} }`} ?from prov:specializationOf ?to . BIND("specializationOf" AS ?rel) }`;
  return `SELECT DISTINCT ?from ?rel ?to WHERE {
  ${each(values, [
    '?from prov:wasDerivedFrom ?to . BIND("wasDerivedFrom" AS ?rel)',
    '?from prov:wasGeneratedBy ?to . BIND("wasGeneratedBy" AS ?rel)',
    '?from prov:used ?to . BIND("used" AS ?rel)',
    '?from provml:partOfExecution ?to . ?to a provml:TaskExecution . BIND("partOfExecution" AS ?rel)',
    // only an annotation still stated: a withdrawn source leaves the link an execution graph holds
    '?from provml:hasDomainAnnotation ?to . ?to provml:annotates ?from . BIND("hasDomainAnnotation" AS ?rel)',
    '?from prov:specializationOf ?to . BIND("specializationOf" AS ?rel)',
  ])}${versions}
}`;
};

/**
 * One hop forward: what was made from, or by, each frontier node, and the file each version is of
 * (what other workflows use); edges still point backward.
 */
const forwardHop = (frontier: SparqlTerm[]): string => {
  const values = sparql`VALUES ?to { ${frontier} }`;
  return `SELECT DISTINCT ?from ?rel ?to WHERE {
  ${each(values, [
    '?from prov:wasDerivedFrom ?to . BIND("wasDerivedFrom" AS ?rel)',
    '?from prov:wasGeneratedBy ?to . BIND("wasGeneratedBy" AS ?rel)',
    `?from prov:used ?to . ?from provml:partOfExecution ?run . ?run a provml:WorkflowExecution .
          BIND("used" AS ?rel)`,
  ])}
  UNION { ${sparql`VALUES ?from { ${frontier} }`} ?from prov:specializationOf ?to . BIND("specializationOf" AS ?rel) }
}`;
};

const local = (iri: string): string => iri.replace(/^.*[#/]/, '');

/** A percent-encoded IRI segment made readable (left as it is when it is not valid percent-encoding). */
function readable(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Walks lineage from `entity` (backward or forward) up to `depth` hops. */
export async function lineage(
  context: ViewContext,
  params: Readonly<Record<string, unknown>>,
  direction: 'backward' | 'forward',
): Promise<LineageGraph> {
  const root = iriTerm('entity', params.entity);
  const rootIri = root.text.slice(1, -1);
  const depth = params.depth === undefined ? 10 : integerValue('depth', params.depth, 1, 50);
  oneOf('direction', direction, ['backward', 'forward'] as const);
  const seen = new Set<string>([rootIri]);
  const annotations = new Set<string>();
  const edges = new Map<string, LineageEdge>();
  let frontier = [rootIri];
  // nodes whose versions a backward walk goes on to: reached by anything but their own version
  let files = new Set<string>([rootIri]);
  let truncated = false;
  for (let hop = 0; hop < depth && frontier.length > 0 && !truncated; hop++) {
    const terms = frontier.map((f) => iriTerm('node', f));
    const versionable = frontier.filter((f) => files.has(f)).map((f) => iriTerm('node', f));
    const found = await rows(
      context,
      direction === 'backward' ? backwardHop(terms, versionable) : forwardHop(terms),
    );
    const current = new Set(frontier);
    const next: string[] = [];
    files = new Set();
    for (const r of found) {
      const edge: LineageEdge = { source: r.from!, target: r.to!, relation: r.rel as LineageRelation };
      edges.set(`${edge.source} ${edge.relation} ${edge.target}`, edge);
      // a version and its file: the end that was not in the frontier (either way round backward)
      const reached =
        edge.relation === 'specializationOf'
          ? current.has(edge.source)
            ? edge.target
            : edge.source
          : direction === 'backward'
            ? edge.target
            : edge.source;
      if (edge.relation === 'hasDomainAnnotation') annotations.add(reached);
      if (seen.has(reached)) continue;
      if (seen.size >= MAX_NODES) {
        truncated = true;
        break;
      }
      seen.add(reached);
      if (edge.relation !== 'hasDomainAnnotation') next.push(reached);
      if (edge.relation !== 'specializationOf') files.add(reached);
    }
    frontier = next;
  }
  const nodes = await describe(context, [...seen], annotations);
  const graph: LineageGraph = {
    root: rootIri,
    direction,
    depth,
    nodes,
    edges: [...edges.values()].filter((e) => seen.has(e.source) && seen.has(e.target)),
    truncated,
  };
  if (direction === 'forward')
    graph.models = nodes.filter((n) => n.types.includes('ModelReferenceValue')).map((n) => n.id);
  return graph;
}

/** Labels, classes and literal properties of the nodes, in batches. */
async function describe(
  context: ViewContext,
  ids: string[],
  annotations: ReadonlySet<string>,
): Promise<LineageNode[]> {
  const nodes = new Map<string, LineageNode>(
    ids.map((id) => [
      id,
      { id, label: '', kind: annotations.has(id) ? 'annotation' : 'entity', types: [], properties: {} },
    ]),
  );
  for (let i = 0; i < ids.length; i += 200) {
    const batch = ids.slice(i, i + 200).map((id) => iriTerm('node', id));
    const found = await rows(
      context,
      `SELECT DISTINCT ?n ?p ?o WHERE {
  ${each(sparql`VALUES ?n { ${batch} }`, [
    '?n a ?o . BIND(<http://www.w3.org/1999/02/22-rdf-syntax-ns#type> AS ?p)',
    '?n rdfs:label ?o . BIND(rdfs:label AS ?p)',
    '?n provml:executesTask/rdfs:label ?o . BIND(provml:executesTask AS ?p)',
    '?n prov:wasAttributedTo ?o . BIND(prov:wasAttributedTo AS ?p)',
    '?n ?p ?o . FILTER(isLiteral(?o) && ?p != rdfs:label)',
  ])}
}`,
    );
    for (const r of found) {
      const node = nodes.get(r.n!)!;
      if (r.p === RDF_TYPE) {
        node.types.push(local(r.o!));
        if (r.o === `${PROV}Activity` && node.kind !== 'annotation') node.kind = 'activity';
      } else if (r.p === `${RDFS}label` || r.p === `${PROVML}executesTask`) node.label ||= r.o!;
      else node.properties[local(r.p!)] = r.o!;
    }
  }
  for (const node of nodes.values()) {
    node.types.sort();
    if (node.label === '') node.label = readable(local(node.id)) || node.id;
  }
  return [...nodes.values()];
}

const RDF_TYPE = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#type';
const RDFS = 'http://www.w3.org/2000/01/rdf-schema#';
const PROV = 'http://www.w3.org/ns/prov#';
const PROVML = 'https://w3id.org/provml/ns#';
