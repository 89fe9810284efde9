/** Pure mapping of domain annotations (Turtle from domain scientists) into the domain graph, with their join index. */
import { createHash } from 'node:crypto';
import { Parser, type Quad, type Term } from 'n3';
import {
  isAbsoluteIri,
  MLS_NS,
  PROV,
  PROV_NS,
  PROVML,
  PROVML_NS,
  RDF,
  RDFS,
  ValidationError,
  type ValidationIssue,
} from '@provml/schemas';
import type { IriMinter } from './IriMinter.ts';
import type { MappingState } from './MappingState.ts';
import { dateTime, iri, namedNode, quad, str } from './terms.ts';

/** Largest annotation document accepted, in characters. */
export const MAX_ANNOTATION_LENGTH = 10_000_000;

/**
 * Parses Turtle and places every triple in the domain graph (`source` names a graph of its own).
 * Blank nodes are replaced by IRIs derived from the document's hash, so loading it twice adds nothing.
 * Each `X provml:annotates D` also yields `D provml:hasDomainAnnotation X`, and `state` learns that
 * data entity D has annotation X, so later events about D link to it.
 * @throws ValidationError naming the line of a syntax error, or each IRI that is relative or not a
 *   valid IRI (Turtle without `@base` keeps `<foo>` relative; no store can load it), or each
 *   triple that states provenance instead of describing data (see `provenanceTerms`).
 */
export function parseAnnotations(turtle: string, source: string | undefined, iris: IriMinter): Quad[] {
  if (turtle.length > MAX_ANNOTATION_LENGTH)
    throw new ValidationError('annotation document too large', [
      { path: '', message: `more than ${MAX_ANNOTATION_LENGTH} characters` },
    ]);
  const graph = iri(iris.domainGraph(source));
  const genid = `${iris.domainGraph(source)}/genid/${createHash('sha256').update(turtle).digest('hex').slice(0, 16)}-`;
  // blank nodes numbered by first appearance: the same document always gives the same IRIs
  const blanks = new Map<string, number>();
  const skolem = (t: Term): Term => {
    if (t.termType !== 'BlankNode') return t;
    let n = blanks.get(t.value);
    if (n === undefined) blanks.set(t.value, (n = blanks.size));
    return namedNode(`${genid}${n}`);
  };
  let parsed: Quad[];
  try {
    parsed = new Parser({ format: 'text/turtle' }).parse(turtle);
  } catch (cause) {
    const message = (cause as Error).message;
    const line = /on line (\d+)/.exec(message)?.[1];
    throw new ValidationError('invalid Turtle in annotations', [
      { path: '', message, ...(line === undefined ? {} : { line: Number(line) }) },
    ]);
  }
  const issues = invalidIris(parsed);
  if (issues.length > 0) throw new ValidationError('invalid IRIs in annotations', issues);
  const forged = provenanceTerms(parsed, iris.base);
  if (forged.length > 0)
    throw new ValidationError('annotations may describe data, not state provenance', forged);
  const out: Quad[] = [];
  const annotates = iri(PROVML.annotates);
  const hasAnnotation = iri(PROVML.hasDomainAnnotation);
  for (const q of parsed) {
    const s = skolem(q.subject) as Quad['subject'];
    const o = skolem(q.object) as Quad['object'];
    out.push(quad(s, q.predicate, o, graph));
    if (q.predicate.equals(annotates) && o.termType === 'NamedNode')
      out.push(quad(o, hasAnnotation, s, graph));
  }
  return out;
}

/** Most IRI problems reported for one document. */
const MAX_IRI_ISSUES = 20;

/** Every named node and literal datatype that is not an absolute IRI, by triple (1-based) and position. */
function invalidIris(quads: readonly Quad[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const check = (term: Term, where: string): void => {
    const value =
      term.termType === 'NamedNode'
        ? term.value
        : term.termType === 'Literal'
          ? term.datatype.value
          : undefined;
    if (value === undefined || isAbsoluteIri(value) || issues.length >= MAX_IRI_ISSUES) return;
    issues.push({
      path: where,
      message: `<${value}> is not an absolute IRI (add @base or write it in full)`,
    });
  };
  quads.forEach((q, i) => {
    check(q.subject, `triple ${i + 1} subject`);
    check(q.predicate, `triple ${i + 1} predicate`);
    check(q.object, `triple ${i + 1} object`);
  });
  return issues;
}

/** Namespaces whose terms only the pipeline states: PROV, PROV-ML and ML Schema. */
const RESERVED = [PROV_NS, PROVML_NS, MLS_NS];
const reserved = (value: string): boolean => RESERVED.some((ns) => value.startsWith(ns));

/**
 * Triples of an annotation document that would forge provenance, by triple (1-based): a predicate
 * of PROV, PROV-ML or ML Schema other than `provml:annotates` (`prov:wasDerivedFrom` would add a
 * lineage edge, `provml:status` a second status), a class of theirs (`a prov:Activity`), a subject
 * the pipeline mints (under `base`: executions, workflows, graphs), and a `provml:annotates` whose
 * object is not an IRI (the data it annotates). Domain annotations describe data, in vocabularies
 * of their own (README, contract 5).
 */
export function provenanceTerms(quads: readonly Quad[], base: string): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const [i, q] of quads.entries()) {
    if (issues.length >= MAX_IRI_ISSUES) break;
    const at = `triple ${i + 1}`;
    const p = q.predicate.value;
    if (p === PROVML.annotates) {
      if (q.object.termType !== 'NamedNode')
        issues.push({
          path: `${at} object`,
          message: 'provml:annotates takes the IRI of the data it annotates',
        });
    } else if (reserved(p))
      issues.push({
        path: `${at} predicate`,
        message: `<${p}> is stated by the pipeline, not by annotations (of its terms only provml:annotates is allowed)`,
      });
    else if (p === RDF.type && q.object.termType === 'NamedNode' && reserved(q.object.value))
      issues.push({ path: `${at} object`, message: `<${q.object.value}> is a class the pipeline assigns` });
    if (q.subject.termType === 'NamedNode' && q.subject.value.startsWith(base))
      issues.push({
        path: `${at} subject`,
        message: `<${q.subject.value}> is minted by the pipeline (${base}…); annotate the data instead`,
      });
  }
  return issues;
}

/**
 * Teaches the mapping state which data entities the annotation quads of `source` describe, in place
 * of what that source said before: a source posted again is replaced, and one withdrawn (no quads)
 * no longer links data that events reference later.
 */
export function indexAnnotations(quads: readonly Quad[], state: MappingState, source = ''): void {
  const before = state.annotationsBySource.get(source);
  const now = new Map<string, Set<string>>();
  for (const q of quads) {
    if (q.predicate.value !== PROVML.hasDomainAnnotation) continue;
    let set = now.get(q.subject.value);
    if (set === undefined) now.set(q.subject.value, (set = new Set()));
    set.add(q.object.value);
  }
  if (now.size === 0) state.annotationsBySource.delete(source);
  else state.annotationsBySource.set(source, now);
  // the data this source spoke of, before or now: their annotations, from every source again
  for (const data of new Set([...(before?.keys() ?? []), ...now.keys()])) {
    const merged = new Set<string>();
    for (const bySource of state.annotationsBySource.values())
      for (const annotation of bySource.get(data) ?? []) merged.add(annotation);
    if (merged.size === 0) state.annotations.delete(data);
    else state.annotations.set(data, merged);
  }
}

/** Who posted an annotation document, and when. */
export interface Attribution {
  /** Annotator id (`token-…` from the bearer token, or `anonymous`), see IriMinter.annotator. */
  annotator: string;
  /** When the document was posted, ms since the epoch. */
  atMs: number;
}

/**
 * The attribution of an annotation document, in PROV terms and in its own graph (so withdrawing the
 * source takes it too): the graph is a `prov:Bundle` `prov:wasAttributedTo` the annotator, a
 * `prov:Agent`, `prov:generatedAtTime` when it was posted; each annotation resource (the subject of
 * a `provml:annotates`) is a `prov:Entity` (stated, not only entailed by the domain of
 * `prov:wasAttributedTo`) `prov:wasAttributedTo` the annotator as well, which is what lineage shows.
 */
export function attributionQuads(
  quads: readonly Quad[],
  source: string | undefined,
  by: Attribution,
  iris: IriMinter,
): Quad[] {
  const graph = iri(iris.domainGraph(source));
  const agent = iri(iris.annotator(by.annotator));
  const attributedTo = iri(PROV.wasAttributedTo);
  const type = iri(RDF.type);
  const out = [
    quad(graph, type, iri(PROV.Bundle), graph),
    quad(graph, attributedTo, agent, graph),
    quad(graph, iri(PROV.generatedAtTime), dateTime(by.atMs * 1000), graph),
    quad(agent, type, iri(PROV.Agent), graph),
    quad(agent, iri(RDFS.label), str(`annotator ${by.annotator}`), graph),
  ];
  const annotations = new Set<string>();
  for (const q of quads)
    if (q.predicate.value === PROVML.annotates && !annotations.has(q.subject.value)) {
      annotations.add(q.subject.value);
      out.push(quad(q.subject, type, iri(PROV.Entity), graph), quad(q.subject, attributedTo, agent, graph));
    }
  return out;
}
