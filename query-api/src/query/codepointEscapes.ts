/** SPARQL 1.1 §19.2 codepoint escapes (`\uXXXX`, `\UXXXXXXXX`): decoded before parsing, as stores do. */
import { QueryError } from '@provml/stores';

/** A `\u` or `\U` escape with its hexadecimal digits, at the position where a regex is set. */
const ESCAPE = /\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8}))/y;

/** A UTF-16 code unit of a surrogate pair that has no partner. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Calls `visit` for each codepoint escape of `text` a SPARQL parser decodes before parsing: a
 * backslash preceded by an even number of backslashes, then `u` and 4 hex digits or `U` and 8. This
 * is the rule of RDF4J's and Jena's parsers (Java's: in `\\u0022` the second backslash is escaped,
 * not escaping), which decode in one pass (`\u005Cu0022` is a backslash then `u0022`).
 */
function eachEscape(text: string, visit: (start: number, end: number, codePoint: number) => void): void {
  let backslashes = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== 0x5c) {
      backslashes = 0;
      continue;
    }
    if (backslashes % 2 === 0) {
      ESCAPE.lastIndex = i;
      const match = ESCAPE.exec(text);
      if (match !== null) {
        visit(i, ESCAPE.lastIndex, parseInt(match[1] ?? match[2]!, 16));
        i = ESCAPE.lastIndex - 1;
        backslashes = 0;
        continue;
      }
    }
    backslashes++;
  }
}

/**
 * The text a SPARQL 1.1 parser reads (§19.2: "codepoint escape sequences … are processed before
 * parsing"): each `\uXXXX` and `\UXXXXXXXX` replaced by its character, anywhere in the query (keywords,
 * strings, IRIs, comments). RDF4J does this, Oxigraph does not; checking the decoded text and forwarding
 * a query made from it gives both the same query.
 *
 * @throws QueryError when an escape names no character (past U+10FFFF) or leaves half of a surrogate pair
 */
export function decodeCodepointEscapes(text: string): string {
  let out = '';
  let from = 0;
  eachEscape(text, (start, end, codePoint) => {
    if (codePoint > 0x10ffff)
      throw new QueryError(
        `the escape ${text.slice(start, end)} at offset ${start} is no Unicode character (past U+10FFFF)`,
      );
    out += text.slice(from, start) + String.fromCodePoint(codePoint);
    from = end;
  });
  if (from === 0) return text;
  out += text.slice(from);
  if (LONE_SURROGATE.test(out))
    throw new QueryError(
      'a \\u escape of the query decodes to half of a surrogate pair, which is no character',
    );
  return out;
}

/** Whether a parser that decodes codepoint escapes before parsing would read `text` differently. */
export function hasCodepointEscape(text: string): boolean {
  let found = false;
  eachEscape(text, () => {
    found = true;
  });
  return found;
}
