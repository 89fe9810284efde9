/** Serialisations of exported quads: TriG and N-Quads (every statement), PROV-N and PROV-JSON (the PROV-DM records). */
import { readFileSync } from 'node:fs';
import { Writer, type Quad } from 'n3';
import { ML_SCHEMA_PATH, PROV_O_PATH, PROVML_ONTOLOGY_PATH } from '@provml/schemas';
import { classHierarchy, provDocument, toProvJson, toProvN } from './provDocument.ts';

/** The formats of `provml export`. */
export const EXPORT_FORMATS = ['trig', 'nquads', 'provn', 'provjson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

let hierarchy: ReturnType<typeof classHierarchy> | undefined;
/** rdfs:subClassOf* over PROV-O, ML Schema and PROV-ML (read once). */
export function provmlClassHierarchy(): ReturnType<typeof classHierarchy> {
  return (hierarchy ??= classHierarchy(
    [PROV_O_PATH, ML_SCHEMA_PATH, PROVML_ONTOLOGY_PATH].map((p) => readFileSync(p, 'utf8')),
  ));
}

/** Serialises quads in one of the formats. */
export async function serialize(quads: readonly Quad[], format: ExportFormat): Promise<string> {
  if (format === 'provn' || format === 'provjson') {
    const doc = provDocument(quads, provmlClassHierarchy());
    return format === 'provn' ? toProvN(doc) : toProvJson(doc);
  }
  const writer = new Writer({
    format: format === 'trig' ? 'application/trig' : 'N-Quads',
    ...(format === 'trig'
      ? {
          prefixes: {
            prov: 'http://www.w3.org/ns/prov#',
            provml: 'https://w3id.org/provml/ns#',
            mls: 'http://www.w3.org/ns/mls#',
            rdfs: 'http://www.w3.org/2000/01/rdf-schema#',
            xsd: 'http://www.w3.org/2001/XMLSchema#',
          },
        }
      : {}),
  });
  writer.addQuads([...quads]);
  return new Promise((resolve, reject) =>
    writer.end((error: Error | null, text: string) => (error ? reject(error) : resolve(text))),
  );
}
