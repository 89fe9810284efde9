/** N-Quads serialisation of mapped quads: the payload of the triples topic. */
import { Writer, type Quad } from 'n3';

/** Serialises quads as N-Quads text (one quad per line). */
export function toNQuads(quads: readonly Quad[]): string {
  return new Writer({ format: 'N-Quads' }).quadsToString(quads as Quad[]);
}
