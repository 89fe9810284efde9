/**
 * Annotation records to triples records, without I/O. A record of the annotations topic is the whole
 * document of its source (its key): it replaces what the source said before, so its triples records
 * begin with the drop of the source's graph; an empty record (a tombstone) withdraws the source.
 */
import type { Quad } from 'n3';
import {
  ANNOTATION_AGENT_HEADER,
  ANNOTATION_SOURCE_HEADER,
  DROP_GRAPH_HEADER,
  type ConsumedRecord,
  type ProducedRecord,
} from '@provml/log';
import type { IriMinter } from './mapping/IriMinter.ts';
import { attributionQuads, parseAnnotations } from './mapping/mapAnnotations.ts';
import { toNQuads } from './mapping/nquads.ts';
import { splitNQuads } from './mapRecords.ts';

/** Who posted an annotation record without naming an annotator (no access control at its ingest). */
export const ANONYMOUS_ANNOTATOR = 'anonymous';

/** An annotation record, read. */
export interface AnnotationPost {
  /** Its source (undefined: the domain graph without a name). */
  source: string | undefined;
  /** Its document; undefined when the record withdraws the source (an empty value, a tombstone). */
  turtle: string | undefined;
  /** Who posted it (ANNOTATION_AGENT_HEADER), ANONYMOUS_ANNOTATOR when unsaid. */
  annotator: string;
  /** When it was appended, ms since the epoch. */
  atMs: number;
}

/** The source, document and annotator of an annotation record. */
export function readAnnotationPost(record: ConsumedRecord): AnnotationPost {
  const source = record.headers[ANNOTATION_SOURCE_HEADER];
  const annotator = record.headers[ANNOTATION_AGENT_HEADER];
  return {
    source: source === undefined || source === '' ? undefined : source,
    turtle: record.value.length === 0 ? undefined : record.value.toString('utf8'),
    annotator: annotator === undefined || annotator === '' ? ANONYMOUS_ANNOTATOR : annotator,
    atMs: record.timestamp,
  };
}

/** The quads a post states (none for a withdrawal). @throws ValidationError as parseAnnotations. */
export function annotationQuads(post: AnnotationPost, iris: IriMinter): Quad[] {
  return post.turtle === undefined ? [] : parseAnnotations(post.turtle, post.source, iris);
}

/**
 * The triples records of a post, keyed by its source (as on the annotations topic, and as earlier
 * versions keyed them) so that they stay in order on one partition: the drop of the source's graph,
 * then (unless withdrawn) its quads with their attribution.
 * @throws ValidationError as parseAnnotations (nothing is dropped then)
 */
export function annotationTriplesRecords(
  post: AnnotationPost,
  iris: IriMinter,
): { records: ProducedRecord[]; quads: number } {
  const graph = iris.domainGraph(post.source);
  const key = post.source ?? '';
  const stated = annotationQuads(post, iris);
  const records: ProducedRecord[] = [
    { key, value: Buffer.alloc(0), headers: { [DROP_GRAPH_HEADER]: graph } },
  ];
  if (post.turtle === undefined) return { records, quads: 0 };
  const quads = [...stated, ...attributionQuads(stated, post.source, post, iris)];
  for (const text of splitNQuads(toNQuads(quads))) records.push({ key, value: Buffer.from(text) });
  return { records, quads: quads.length };
}
