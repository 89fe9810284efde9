/**
 * PROV-O quads as a PROV-DM document, written as PROV-N or PROV-JSON (for `provml export`).
 *
 * What becomes a record: every node whose rdf:types, closed under rdfs:subClassOf of the ontologies
 * given (PROV-O, ML Schema, PROV-ML), include prov:Entity, prov:Activity or prov:Agent (so a
 * provml:ModelEvaluation, typed only with PROV-ML classes, is an entity); and every prov:used,
 * prov:wasGeneratedBy, prov:wasDerivedFrom, prov:wasInformedBy, prov:wasAssociatedWith and
 * prov:specializationOf statement, with the prov:hadRole of its qualified usage or generation as
 * `prov:role`. The other statements about a record become its attributes (rdf:type → `prov:type`,
 * rdfs:label → `prov:label`, the rest under their own names). Statements about nodes that are none of
 * the three (data stores, the qualified usage and generation nodes, domain annotations) have no place
 * in PROV-DM and are left out; the RDF formats keep everything. Named graphs are merged (a triple in
 * two graphs is one statement).
 */
import { Parser, type Quad, type Term } from 'n3';
import { MLS_NS, PROV, PROV_NS, PROVML_NS, RDF, RDF_NS, RDFS, RDFS_NS, XSD_NS } from '@provml/schemas';

const KINDS = [
  ['entity', PROV.Entity],
  ['activity', PROV.Activity],
  ['agent', PROV.Agent],
] as const;
type ElementKind = (typeof KINDS)[number][0];

/** The relations written, with PROV-JSON's names for their two arguments. */
const RELATIONS: Readonly<Record<string, { name: string; args: readonly [string, string] }>> = {
  [PROV.used]: { name: 'used', args: ['prov:activity', 'prov:entity'] },
  [PROV.wasGeneratedBy]: { name: 'wasGeneratedBy', args: ['prov:entity', 'prov:activity'] },
  [PROV.wasDerivedFrom]: { name: 'wasDerivedFrom', args: ['prov:generatedEntity', 'prov:usedEntity'] },
  [PROV.wasInformedBy]: { name: 'wasInformedBy', args: ['prov:informed', 'prov:informant'] },
  [PROV.wasAssociatedWith]: { name: 'wasAssociatedWith', args: ['prov:activity', 'prov:agent'] },
  [PROV.specializationOf]: { name: 'specializationOf', args: ['prov:specificEntity', 'prov:generalEntity'] },
};

const QUALIFIED = new Set([PROV.qualifiedUsage, PROV.qualifiedGeneration]);

/** An attribute value: a literal, or an IRI (a qualified name). */
type Value = { iri: string } | { literal: string; datatype: string; language?: string };

/** An element (entity, activity, agent) or a relation, ready to write. */
export interface ProvRecord {
  /** `entity`, `activity`, `agent`, or the relation's PROV-N name (`used`, `wasGeneratedBy`, …). */
  kind: string;
  /** The element's IRI; relations have none. */
  id?: string;
  /** A relation's two arguments (IRIs), in PROV-N order. */
  args?: readonly [string, string];
  startTime?: string;
  endTime?: string;
  attributes: [name: string, value: Value][];
}

/** A PROV-DM document: its records in a stable order. */
export interface ProvDocument {
  records: ProvRecord[];
  /** Statements left out: about nodes that are not entities, activities or agents. */
  omitted: number;
}

/** rdfs:subClassOf* of every named class in the ontologies given (Turtle texts). */
export function classHierarchy(ontologies: readonly string[]): (cls: string) => ReadonlySet<string> {
  const parents = new Map<string, string[]>();
  for (const text of ontologies)
    for (const q of new Parser({ format: 'text/turtle' }).parse(text))
      if (q.predicate.value === RDFS.subClassOf && q.object.termType === 'NamedNode')
        parents.set(q.subject.value, [...(parents.get(q.subject.value) ?? []), q.object.value]);
  const memo = new Map<string, Set<string>>();
  const closure = (cls: string): Set<string> => {
    let all = memo.get(cls);
    if (all !== undefined) return all;
    memo.set(cls, (all = new Set([cls])));
    for (const p of parents.get(cls) ?? []) for (const a of closure(p)) all.add(a);
    return all;
  };
  return closure;
}

const valueOf = (t: Term): Value =>
  t.termType === 'Literal'
    ? { literal: t.value, datatype: t.datatype.value, ...(t.language ? { language: t.language } : {}) }
    : { iri: t.value };

/** Builds the PROV-DM document of a set of quads. */
export function provDocument(
  quads: readonly Quad[],
  superClasses: (cls: string) => ReadonlySet<string>,
): ProvDocument {
  const seen = new Set<string>();
  const triples: Quad[] = [];
  for (const q of quads) {
    const key = `${q.subject.termType}|${q.subject.value}|${q.predicate.value}|${q.object.termType}|${q.object.value}|${q.object.termType === 'Literal' ? q.object.datatype.value + q.object.language : ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    triples.push(q);
  }
  const kinds = new Map<string, Set<ElementKind>>();
  for (const q of triples)
    if (q.predicate.value === RDF.type)
      for (const [kind, cls] of KINDS)
        if (superClasses(q.object.value).has(cls)) {
          let k = kinds.get(q.subject.value);
          if (k === undefined) kinds.set(q.subject.value, (k = new Set()));
          k.add(kind);
        }
  // the roles of qualified usages (activity, entity) and generations (entity, activity)
  const byNode = new Map<string, Quad[]>();
  for (const q of triples) byNode.set(q.subject.value, [...(byNode.get(q.subject.value) ?? []), q]);
  const one = (node: string, p: string): string | undefined =>
    byNode.get(node)?.find((q) => q.predicate.value === p)?.object.value;
  const roles = new Map<string, string[]>();
  for (const q of triples) {
    if (!QUALIFIED.has(q.predicate.value)) continue;
    const other = one(
      q.object.value,
      q.predicate.value === PROV.qualifiedUsage ? PROV.entity : PROV.activity,
    );
    const role = one(q.object.value, PROV.hadRole);
    if (other === undefined || role === undefined) continue;
    const key = `${q.predicate.value} ${q.subject.value} ${other}`;
    roles.set(key, [...(roles.get(key) ?? []), role]);
  }

  const elements = new Map<string, ProvRecord[]>();
  const relations: ProvRecord[] = [];
  let omitted = 0;
  for (const [node, k] of kinds)
    elements.set(
      node,
      [...k].map((kind) => ({ kind, id: node, attributes: [] })),
    );
  for (const q of triples) {
    const s = q.subject.value;
    const p = q.predicate.value;
    const relation = RELATIONS[p];
    if (relation !== undefined) {
      const qualifier =
        p === PROV.used ? PROV.qualifiedUsage : p === PROV.wasGeneratedBy ? PROV.qualifiedGeneration : '';
      const found = roles.get(`${qualifier} ${s} ${q.object.value}`) ?? [];
      const attributes: ProvRecord['attributes'] = found.map((r) => [`${PROV_NS}role`, { iri: r }]);
      relations.push({ kind: relation.name, args: [s, q.object.value], attributes });
      continue;
    }
    const records = elements.get(s);
    if (records === undefined || QUALIFIED.has(p)) {
      omitted++;
      continue;
    }
    for (const r of records) {
      if (p === RDF.type) {
        if (!KINDS.some(([kind, cls]) => kind === r.kind && cls === q.object.value))
          r.attributes.push([`${PROV_NS}type`, { iri: q.object.value }]);
      } else if (r.kind === 'activity' && p === PROV.startedAtTime) r.startTime = q.object.value;
      else if (r.kind === 'activity' && p === PROV.endedAtTime) r.endTime = q.object.value;
      else r.attributes.push([p === RDFS.label ? `${PROV_NS}label` : p, valueOf(q.object)]);
    }
  }
  const order = (a: ProvRecord, b: ProvRecord): number =>
    (a.id ?? '').localeCompare(b.id ?? '') || a.kind.localeCompare(b.kind);
  const relOrder = (a: ProvRecord, b: ProvRecord): number =>
    a.kind.localeCompare(b.kind) ||
    a.args![0].localeCompare(b.args![0]) ||
    a.args![1].localeCompare(b.args![1]);
  return { records: [...[...elements.values()].flat().sort(order), ...relations.sort(relOrder)], omitted };
}

const KNOWN_PREFIXES: readonly (readonly [string, string])[] = [
  ['prov', PROV_NS],
  ['provml', PROVML_NS],
  ['mls', MLS_NS],
  ['xsd', XSD_NS],
  ['rdf', RDF_NS],
  ['rdfs', RDFS_NS],
];

/** Qualified names for IRIs: the known vocabularies by their prefixes, other IRIs by scheme and authority. */
class QualifiedNames {
  readonly prefixes = new Map<string, string>(KNOWN_PREFIXES.map(([p, ns]) => [p, ns]));
  private readonly byNamespace = new Map<string, string>(KNOWN_PREFIXES.map(([p, ns]) => [ns, p]));

  /** [prefix, local] of an IRI. */
  split(iri: string): [string, string] {
    for (const [prefix, ns] of KNOWN_PREFIXES)
      if (iri.startsWith(ns) && iri.length > ns.length) return [prefix, iri.slice(ns.length)];
    const ns = /^(urn:[^:]+:|[A-Za-z][A-Za-z0-9+.-]*:(?:\/\/[^/?#]*)?\/?)/.exec(iri)?.[1] ?? '';
    let prefix = this.byNamespace.get(ns);
    if (prefix === undefined) {
      prefix = `ns${this.byNamespace.size - KNOWN_PREFIXES.length + 1}`;
      this.byNamespace.set(ns, prefix);
      this.prefixes.set(prefix, ns);
    }
    return [prefix, iri.slice(ns.length)];
  }

  /** PROV-JSON's form: `prefix:local`, the local part as it is. */
  json(iri: string): string {
    return this.split(iri).join(':');
  }

  /** PROV-N's form: the local part with PROV-N's backslash escapes. */
  provn(iri: string): string {
    const [prefix, local] = this.split(iri);
    const escaped = local.replace(/[=',;[\]:()\\]/g, (c) => `\\${c}`).replace(/^[.-]/, (c) => `\\${c}`);
    return `${prefix}:${escaped.endsWith('.') ? `${escaped.slice(0, -1)}\\.` : escaped}`;
  }
}

const XSD_STRING = `${XSD_NS}string`;

/** The document as PROV-JSON (W3C Member Submission, 2013). */
export function toProvJson(doc: ProvDocument): string {
  const names = new QualifiedNames();
  const out: Record<string, Record<string, Record<string, unknown>>> = {};
  const value = (v: Value): unknown =>
    'iri' in v
      ? { $: names.json(v.iri), type: 'prov:QUALIFIED_NAME' }
      : v.language !== undefined
        ? { $: v.literal, lang: v.language }
        : v.datatype === XSD_STRING
          ? v.literal
          : { $: v.literal, type: names.json(v.datatype) };
  let n = 0;
  for (const r of doc.records) {
    const body: Record<string, unknown> = {};
    if (r.args !== undefined) {
      const { args } = Object.values(RELATIONS).find((x) => x.name === r.kind)!;
      body[args[0]] = names.json(r.args[0]);
      body[args[1]] = names.json(r.args[1]);
    }
    if (r.startTime !== undefined) body['prov:startTime'] = r.startTime;
    if (r.endTime !== undefined) body['prov:endTime'] = r.endTime;
    for (const [name, v] of r.attributes) {
      const key = names.json(name);
      const prior: unknown = body[key];
      body[key] =
        prior === undefined
          ? value(v)
          : [...(Array.isArray(prior) ? (prior as unknown[]) : [prior]), value(v)];
    }
    const id = r.id === undefined ? `_:${r.kind}${++n}` : names.json(r.id);
    (out[r.kind] ??= {})[id] = body;
  }
  return `${JSON.stringify({ prefix: Object.fromEntries(names.prefixes), ...out }, null, 1)}\n`;
}

const provnString = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;

/** The document as PROV-N (W3C Recommendation, 2013). */
export function toProvN(doc: ProvDocument): string {
  const names = new QualifiedNames();
  const value = (v: Value): string =>
    'iri' in v
      ? `'${names.provn(v.iri)}'`
      : v.language !== undefined
        ? `${provnString(v.literal)}@${v.language}`
        : v.datatype === XSD_STRING
          ? provnString(v.literal)
          : `${provnString(v.literal)} %% ${names.provn(v.datatype)}`;
  const lines: string[] = [];
  for (const r of doc.records) {
    const attributes = r.attributes.map(([name, v]) => `${names.provn(name)}=${value(v)}`).join(', ');
    const tail = attributes === '' ? '' : `, [${attributes}]`;
    if (r.args !== undefined) {
      const [a, b] = r.args.map((x) => names.provn(x));
      // PROV-N takes a usage's or generation's time, and an association's plan, with the second argument
      const marker =
        r.kind === 'used' || r.kind === 'wasGeneratedBy' || r.kind === 'wasAssociatedWith' ? ', -' : '';
      lines.push(`  ${r.kind}(${a}, ${b}${marker}${tail})`);
    } else if (r.kind === 'activity') {
      lines.push(`  activity(${names.provn(r.id!)}, ${r.startTime ?? '-'}, ${r.endTime ?? '-'}${tail})`);
    } else lines.push(`  ${r.kind}(${names.provn(r.id!)}${tail})`);
  }
  const prefixes = [...names.prefixes].map(([p, ns]) => `  prefix ${p} <${ns}>`);
  return ['document', ...prefixes, ...lines, 'endDocument', ''].join('\n');
}
