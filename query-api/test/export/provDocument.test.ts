// PROV-O quads as PROV-DM records: the kinds come from the class hierarchy, roles from the qualified forms.
import { DataFactory as f } from 'n3';
import { describe, expect, it } from 'vitest';
import { PROV, PROVML } from '@provml/schemas';
import { provDocument, provmlClassHierarchy, toProvJson, toProvN } from '../../src/index.ts';

const g = f.namedNode('urn:provml:graph/execution/r');
const type = f.namedNode('http://www.w3.org/1999/02/22-rdf-syntax-ns#type');
const q = (s: string, p: string, o: string) => f.quad(f.namedNode(s), f.namedNode(p), f.namedNode(o), g);

const RUN = 'urn:provml:execution/r/t';
const FILE = 'file:///data/x.bin';
const VALUE = 'urn:provml:execution/r/t/loss';
const QUADS = [
  q(RUN, type.value, PROVML.TaskExecution),
  q(VALUE, type.value, PROVML.ModelEvaluation), // an entity only by the ontologies' subclass axioms
  q(FILE, type.value, PROV.Entity),
  q(RUN, PROV.used, FILE),
  q(RUN, PROV.qualifiedUsage, 'urn:provml:execution/r/t/x'),
  q('urn:provml:execution/r/t/x', type.value, PROV.Usage),
  q('urn:provml:execution/r/t/x', PROV.entity, FILE),
  q('urn:provml:execution/r/t/x', PROV.hadRole, 'urn:provml:workflow/w/task/t/attribute/x'),
  q('urn:provml:store/lustre', type.value, PROVML.DataStoreInstance),
  f.quad(
    f.namedNode(VALUE),
    f.namedNode(PROV.value),
    f.literal('0.5', f.namedNode('http://www.w3.org/2001/XMLSchema#double')),
    g,
  ),
  f.quad(
    f.namedNode(RUN),
    f.namedNode(PROV.startedAtTime),
    f.literal('2026-01-01T00:00:00Z', f.namedNode('http://www.w3.org/2001/XMLSchema#dateTime')),
    g,
  ),
];

describe('PROV-DM export', () => {
  const doc = provDocument([...QUADS, ...QUADS], provmlClassHierarchy());

  it('makes records of entities, activities and relations, once each, with the usage role', () => {
    expect(doc.records.map((r) => [r.kind, r.id ?? r.args!.join(' ')])).toEqual([
      ['entity', FILE],
      ['activity', RUN],
      ['entity', VALUE],
      ['used', `${RUN} ${FILE}`],
    ]);
    expect(doc.records.find((r) => r.kind === 'used')!.attributes).toEqual([
      ['http://www.w3.org/ns/prov#role', { iri: 'urn:provml:workflow/w/task/t/attribute/x' }],
    ]);
    expect(doc.omitted).toBe(5); // the store and the usage node are not PROV-DM records
  });

  it('writes PROV-N and PROV-JSON with the same prefixes and times', () => {
    const provn = toProvN(doc);
    expect(provn).toContain(
      "  activity(ns2:execution/r/t, 2026-01-01T00:00:00Z, -, [prov:type='provml:TaskExecution'])",
    );
    expect(provn).toContain(
      "  used(ns2:execution/r/t, ns1:data/x.bin, -, [prov:role='ns2:workflow/w/task/t/attribute/x'])",
    );
    expect(provn).toContain('prov:value="0.5" %% xsd:double');
    const json = JSON.parse(toProvJson(doc)) as {
      prefix: Record<string, string>;
      activity: Record<string, Record<string, unknown>>;
    };
    expect(json.prefix).toMatchObject({ ns1: 'file:///', ns2: 'urn:provml:' }); // numbered as first met
    expect(json.activity['ns2:execution/r/t']!['prov:startTime']).toBe('2026-01-01T00:00:00Z');
  });
});
