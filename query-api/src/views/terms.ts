/**
 * The only way user input reaches a SPARQL text: each builder checks a parameter against its kind and
 * returns a term whose text cannot end or escape its place (an IRI, a number, a plain name literal).
 * Nothing here escapes: what would need escaping is refused, which also keeps SPARQL's `\u` pre-pass
 * out of play.
 */
import { isAbsoluteIri, ValidationError } from '@provml/schemas';

/** A SPARQL term made from checked input; `text` is safe to place where a term goes. */
export interface SparqlTerm {
  readonly text: string;
}

const invalid = (param: string, message: string, value: unknown): ValidationError =>
  new ValidationError(`parameter ${param} ${message}`, [
    { path: param, message: `got ${JSON.stringify(value)}` },
  ]);

/** An absolute IRI. */
export function iriTerm(param: string, value: unknown): SparqlTerm {
  if (typeof value !== 'string' || !isAbsoluteIri(value))
    throw invalid(param, 'must be an absolute IRI', value);
  return { text: `<${value}>` }; // isAbsoluteIri refused every character that could end or escape the IRI
}

/** An integer, optionally within bounds; from a number or a decimal string. */
export function integerValue(param: string, value: unknown, min = -1e15, max = 1e15): number {
  const n = typeof value === 'string' && /^-?\d{1,15}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max)
    throw invalid(param, `must be an integer from ${min} to ${max}`, value);
  return n;
}

/** An `xsd:integer` literal. */
export function integerTerm(param: string, value: unknown): SparqlTerm {
  return { text: `"${integerValue(param, value)}"^^<http://www.w3.org/2001/XMLSchema#integer>` };
}

const NAME = /^[\p{L}\p{N}_.:/-]{1,200}$/u;

/** A name (value name, task label, workflow id): letters, digits and `_ . : / -`. */
export function nameValue(param: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value))
    throw invalid(param, 'must be a name of letters, digits and _ . : / - (at most 200)', value);
  return value;
}

/** A name as a plain literal. */
export function nameTerm(param: string, value: unknown): SparqlTerm {
  return { text: `"${nameValue(param, value)}"` };
}

const NUMBER = /^-?(\d{1,20}(\.\d{1,20})?|\.\d{1,20})([eE][-+]?\d{1,3})?$/;

/**
 * A value to compare with a captured value: a number (compared by value, so `0.01` matches a double
 * `1.0E-2`), `true`/`false`, or a name. Returns the SPARQL expression of it.
 */
export function valueTerm(param: string, value: unknown): SparqlTerm {
  if (typeof value === 'number' && Number.isFinite(value)) return { text: String(value) };
  if (typeof value === 'string' && NUMBER.test(value)) return { text: value };
  if (value === 'true' || value === 'false' || typeof value === 'boolean') return { text: String(value) };
  if (typeof value === 'string' && NAME.test(value)) return { text: `"${value}"` };
  throw invalid(param, 'must be a number, true/false, or a name of letters, digits and _ . : / -', value);
}

/** One of a fixed set of words. */
export function oneOf<T extends string>(param: string, value: unknown, words: readonly T[], fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || !words.includes(value as T))
    throw invalid(param, `must be one of ${words.join(', ')}`, value);
  return value as T;
}

/** Joins SPARQL text around checked terms: `sparql\`… ${term} …\`` accepts only SparqlTerm values. */
export function sparql(strings: TemplateStringsArray, ...terms: (SparqlTerm | SparqlTerm[])[]): string {
  return strings.reduce((out, s, i) => {
    const t = terms[i - 1]!;
    return out + (Array.isArray(t) ? t.map((x) => x.text).join(' ') : t.text) + s;
  });
}

/** Verbatim SPARQL text written in this program (never user input), for composing queries. */
export const fragment = (text: string): SparqlTerm => ({ text });
