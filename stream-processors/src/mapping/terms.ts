/** RDF term helpers shared by the mappers: n3 terms, typed literals for captured values. */
import { DataFactory, type Literal, type NamedNode, type Quad, type Quad_Object } from 'n3';
import { microsToIso, XSD, RDF, type CaptureValue } from '@provml/schemas';

/** n3's term constructors, bound (they are methods of DataFactory). */
export const namedNode = (value: string): NamedNode => DataFactory.namedNode(value);
const literal = (value: string, datatype: NamedNode): Literal => DataFactory.literal(value, datatype);
/** A quad in a named graph. */
export const quad = (s: Quad['subject'], p: Quad['predicate'], o: Quad['object'], g: Quad['graph']): Quad =>
  DataFactory.quad(s, p, o, g);

const nodes = new Map<string, NamedNode>();
/** A named node, cached for vocabulary IRIs used on every event. */
export const iri = (value: string): NamedNode => {
  let n = nodes.get(value);
  if (n === undefined) {
    n = namedNode(value);
    if (nodes.size < 10_000) nodes.set(value, n);
  }
  return n;
};

const xsdString = iri(XSD.string);
const xsdBoolean = iri(XSD.boolean);
const xsdInteger = iri(XSD.integer);
const xsdDouble = iri(XSD.double);
const xsdDateTime = iri(XSD.dateTime);
const rdfJson = iri(RDF.JSON);

/** A plain string literal. */
export const str = (s: string): Literal => literal(s, xsdString);
/**
 * The `xsd:double` lexical form of a number: NaN and the infinities as XSD spells them (`NaN`, `INF`,
 * `-INF`), so they stay numbers in the store.
 */
const doubleLexical = (n: number): string =>
  Number.isFinite(n) ? String(n) : Number.isNaN(n) ? 'NaN' : n > 0 ? 'INF' : '-INF';

/**
 * The strings that stand for NaN and the infinities in a captured value (contract 1): JSON has no
 * such numbers, so clients send `"NaN"`, `"Infinity"` or `"-Infinity"` (what JavaScript's `String`
 * and the Python client write); they are mapped to the `xsd:double` they name.
 */
export const NON_FINITE_STRINGS: ReadonlyMap<string, number> = new Map([
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
]);

/** An `xsd:double` literal (NaN and the infinities included). */
export const dbl = (n: number): Literal => literal(doubleLexical(n), xsdDouble);
/** An `xsd:integer` literal. */
export const int = (n: number): Literal => literal(String(n), xsdInteger);
/** An `xsd:dateTime` literal from microseconds since the epoch. */
export const dateTime = (us: number): Literal => literal(microsToIso(us), xsdDateTime);

/**
 * The literal of a captured value: booleans, integers, doubles (NaN and the infinities, as numbers or
 * as the strings of NON_FINITE_STRINGS, included), strings, number arrays as `rdf:JSON`.
 */
export function valueLiteral(v: CaptureValue): Literal {
  if (typeof v === 'boolean') return literal(String(v), xsdBoolean);
  if (typeof v === 'number') return Number.isSafeInteger(v) ? literal(String(v), xsdInteger) : dbl(v);
  if (typeof v === 'string') {
    const special = NON_FINITE_STRINGS.get(v);
    return special === undefined ? literal(v, xsdString) : dbl(special);
  }
  return literal(JSON.stringify(v), rdfJson);
}

/** Collects quads into one graph. */
export class QuadCollector {
  readonly quads: Quad[] = [];
  constructor(private readonly graph: NamedNode) {}
  add(s: NamedNode, p: string, o: Quad_Object): void {
    this.quads.push(quad(s, iri(p), o, this.graph));
  }
  type(s: NamedNode, ...classes: string[]): void {
    for (const c of classes) this.quads.push(quad(s, iri(RDF.type), iri(c), this.graph));
  }
}
