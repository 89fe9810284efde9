/** Where the PROV-ML ontology and its SHACL shapes live on disk, and how to read them. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of the PROV-ML ontology (Turtle, namespace `https://w3id.org/provml/ns#`). */
export const PROVML_ONTOLOGY_PATH: string = fileURLToPath(new URL('./provml.ttl', import.meta.url));

/** Absolute path of the SHACL shapes (Turtle, namespace `https://w3id.org/provml/shapes#`) for mapper output. */
export const PROVML_SHAPES_PATH: string = fileURLToPath(new URL('./provml-shapes.ttl', import.meta.url));

/** Reads the PROV-ML ontology as Turtle text (synchronously; the file is small). */
export function readOntologyTurtle(): string {
  return readFileSync(PROVML_ONTOLOGY_PATH, 'utf8');
}

/** Reads the PROV-ML SHACL shapes as Turtle text (synchronously; the file is small). */
export function readShapesTurtle(): string {
  return readFileSync(PROVML_SHAPES_PATH, 'utf8');
}

/** Absolute path of W3C PROV-O (Turtle, 2013-04-30), copied unchanged (third-party/NOTICE.md). */
export const PROV_O_PATH: string = fileURLToPath(new URL('./third-party/prov-o.ttl', import.meta.url));

/** Absolute path of W3C ML Schema core 1.0 (Turtle), copied unchanged (third-party/NOTICE.md). */
export const ML_SCHEMA_PATH: string = fileURLToPath(new URL('./third-party/MLSchema.ttl', import.meta.url));
