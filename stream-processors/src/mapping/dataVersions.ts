/**
 * Versioned data entities: which entity a data reference stands for in a workflow execution — the
 * version it generated there, or the URI's own entity — and uses that wait for a running generator.
 *
 * The rule: each generation of a URI is its own entity (minted under the generating task execution),
 * `prov:specializationOf` the URI's entity. A use resolves to the version its workflow execution
 * generated last before it, else to the URI's entity (data from elsewhere: where lineage across
 * workflows meets). A generation is reported on its execution's begin or end, so a use made while a
 * task execution of the same workflow execution that declares a reference output is running cannot be
 * resolved yet (a script saves `best.pt` and validates it inside one epoch, and reports the file when
 * the epoch ends): it waits, and resolves to the version of the first such execution that ends
 * reporting the URI, or as above once all of them ended without it. Until then what names its entity
 * (the use, evaluations of it, derivations from it) is held, and stated when it resolves.
 */
import { PROV } from '@provml/schemas';
import { iri, type QuadCollector } from './terms.ts';

/** A use that waits to learn which version of its URI it read. */
export interface PendingUse {
  uri: string;
  /** The task execution that used it. */
  user: string;
  /** What it resolves to when no awaited execution reports generating the URI. */
  prior: string;
  /** The activity that generated `prior`, if known (for `prov:wasInformedBy`). */
  priorGenerator?: string;
  /** Open task executions of the same workflow execution that may still report generating the URI. */
  awaiting: Set<string>;
  /** Statements naming its entity, stated once that is known. */
  held: HeldLink[];
  /** The entity, once resolved. */
  entity?: string;
}

/** An entity IRI, or a use still waiting for its entity. */
export type EntityRef = string | PendingUse;

/** A statement between IRIs of which one may be a waiting use's entity. */
export type HeldLink = readonly [subject: EntityRef, predicate: string, object: EntityRef];

/** A version a workflow execution generated: its entity and the task execution that generated it. */
export interface DataVersion {
  entity: string;
  generator: string;
}

/** The IRI an entity reference stands for, undefined while it waits. */
export const entityOf = (r: EntityRef): string | undefined => (typeof r === 'string' ? r : r.entity);

/** Key of a URI's latest version in one workflow execution. */
export const versionKey = (workflowExecutionIri: string, uri: string): string =>
  `${workflowExecutionIri} ${uri}`;

/** States `s p o` now, or holds it on whichever side still waits for its entity. */
export function link(out: QuadCollector, s: EntityRef, p: string, o: EntityRef): void {
  const subject = entityOf(s);
  const object = entityOf(o);
  if (subject === undefined) (s as PendingUse).held.push([s, p, o]);
  else if (object === undefined) (o as PendingUse).held.push([s, p, o]);
  else out.add(iri(subject), p, iri(object));
}

/**
 * Resolves a waiting use to `version` (reported by an execution it awaited), or to its prior entity,
 * and states everything held on it.
 */
export function resolveUse(use: PendingUse, version: DataVersion | undefined, out: QuadCollector): void {
  use.entity = version?.entity ?? use.prior;
  const generator = version?.generator ?? use.priorGenerator;
  if (generator !== undefined && generator !== use.user)
    out.add(iri(use.user), PROV.wasInformedBy, iri(generator));
  const held = use.held;
  use.held = [];
  for (const [s, p, o] of held) link(out, s, p, o);
}
