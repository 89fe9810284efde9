/** Links the values and data references of one task execution to each other, whichever of its events (begin, end) carried them. */
import { PROVML, type Semantics } from '@provml/schemas';
import type { EntityRef } from './dataVersions.ts';

/** A data reference an execution carried that values link to: a model or a dataset. */
export interface RefFact {
  name: string;
  semantics: Semantics;
  /** The data entity (version) it stands for, or the use still waiting to learn it. */
  entity: EntityRef;
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

/** One link between a value node and a data entity: subject, predicate, object. */
export type Link = readonly [subject: EntityRef, predicate: string, object: EntityRef];

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
 * names (or the execution's only one). Links between two facts of `stated` are left out.
 */
function linksOf(facts: ExecutionFacts, stated?: ExecutionFacts): Link[] {
  const model = facts.refs.find((r) => r.semantics === 'model-reference');
  const datasets = facts.refs.filter((r) => r.semantics === 'dataset-reference');
  const known = new Set<RefFact | ValueFact>(stated === undefined ? [] : [...stated.refs, ...stated.values]);
  const links: Link[] = [];
  const add = (v: ValueFact, r: RefFact, link: Link): void => {
    if (!(known.has(v) && known.has(r))) links.push(link);
  };
  for (const v of facts.values) {
    if (v.semantics === 'evaluation-measure' && model !== undefined)
      add(v, model, [v.iri, PROVML.evaluatesModel, model.entity]);
    else if (v.semantics === 'model-hyperparameter' && model !== undefined)
      add(v, model, [model.entity, PROVML.hasModelHyperParameterValue, v.iri]);
    else if (v.semantics === 'dataset-characteristic') {
      const target =
        v.characterizes !== undefined
          ? datasets.find((d) => d.name === v.characterizes)
          : datasets.length === 1
            ? datasets[0]
            : undefined;
      if (target !== undefined) add(v, target, [v.iri, PROVML.characterizesDataset, target.entity]);
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
  return linksOf(
    { refs: [...earlier.refs, ...own.refs], values: [...earlier.values, ...own.values] },
    earlier,
  );
}
