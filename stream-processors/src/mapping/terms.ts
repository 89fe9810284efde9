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
/** An `xsd:double` literal. */
export const dbl = (n: number): Literal => literal(String(n), xsdDouble);
/** An `xsd:integer` literal. */
export const int = (n: number): Literal => literal(String(n), xsdInteger);
/** An `xsd:dateTime` literal from microseconds since the epoch. */
export const dateTime = (us: number): Literal => literal(microsToIso(us), xsdDateTime);

/** The literal of a captured value: booleans, integers, doubles, strings, number arrays as `rdf:JSON`. */
export function valueLiteral(v: CaptureValue): Literal {
  if (typeof v === 'boolean') return literal(String(v), xsdBoolean);
  if (typeof v === 'number')
    return Number.isSafeInteger(v) ? literal(String(v), xsdInteger) : literal(String(v), xsdDouble);
  if (typeof v === 'string') return literal(v, xsdString);
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
