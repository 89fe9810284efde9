/** Links the values and data references of one task execution to each other, whichever of its events (begin, end) carried them. */
import { PROVML, type Semantics } from '@provml/schemas';

/** A data reference an execution carried that values link to: a model or a dataset. */
export interface RefFact {
  name: string;
  semantics: Semantics;
  /** IRI of the data entity it stands for. */
  entity: string;
}

/** A value an execution carried that links to a reference. */
export interface ValueFact {
  /** IRI of the value node. */
  iri: string;
  semantics: Semantics;
  /** For a dataset characteristic: the name of the dataset reference it describes, when declared. */
  characterizes?: string;
}

/** What an execution carried that links across its events, in the order the events carried it. */
export interface ExecutionFacts {
  refs: RefFact[];
  values: ValueFact[];
}

/** One link between a value node and a data entity: subject, predicate, object IRIs. */
export type Link = readonly [subject: string, predicate: string, object: string];

/** Reference semantics whose entities values link to. */
export const LINKED_REFERENCES: ReadonlySet<Semantics> = new Set(['model-reference', 'dataset-reference']);
/** Value semantics that link to a reference. */
export const LINKING_VALUES: ReadonlySet<Semantics> = new Set([
  'evaluation-measure',
  'model-hyperparameter',
  'dataset-characteristic',
]);

/**
 * The links among one execution's facts: an evaluation measure evaluates its (first) model, a model
 * hyperparameter is one of that model's, a dataset characteristic describes the dataset reference it
 * names (or the execution's only one).
 */
export function linksOf(facts: ExecutionFacts): Link[] {
  const model = facts.refs.find((r) => r.semantics === 'model-reference');
  const datasets = facts.refs.filter((r) => r.semantics === 'dataset-reference');
  const links: Link[] = [];
  for (const v of facts.values) {
    if (v.semantics === 'evaluation-measure' && model !== undefined)
      links.push([v.iri, PROVML.evaluatesModel, model.entity]);
    else if (v.semantics === 'model-hyperparameter' && model !== undefined)
      links.push([model.entity, PROVML.hasModelHyperParameterValue, v.iri]);
    else if (v.semantics === 'dataset-characteristic') {
      const target =
        v.characterizes !== undefined
          ? datasets.find((d) => d.name === v.characterizes)
          : datasets.length === 1
            ? datasets[0]
            : undefined;
      if (target !== undefined) links.push([v.iri, PROVML.characterizesDataset, target.entity]);
    }
  }
  return links;
}

/**
 * The links an event adds: among its own facts, and between them and those of the execution's
 * earlier event (its begin, when this is its end); links among the earlier facts alone were
 * stated by that event.
 */
export function newLinks(earlier: ExecutionFacts | undefined, own: ExecutionFacts): Link[] {
  if (earlier === undefined) return linksOf(own);
  const stated = new Set(linksOf(earlier).map((l) => l.join(' ')));
  return linksOf({
    refs: [...earlier.refs, ...own.refs],
    values: [...earlier.values, ...own.values],
  }).filter((l) => !stated.has(l.join(' ')));
}
