/** A linear-time SPARQL 1.1 tokenizer for what the parser must not be given: too deeply nested brackets. */

/** What a token is, as far as brackets are concerned. */
export type TokenKind = 'open' | 'close' | 'string' | 'iri' | 'comment' | 'escape' | 'other';

/** One token: its kind and where it is in the text (`end` excluded). */
export interface Token {
  kind: TokenKind;
  start: number;
  end: number;
}

/** IRIREF (§19.8 [139]): no length limit, and linear (one character class, no backtracking). */
// eslint-disable-next-line no-control-regex -- the grammar excludes U+0000-U+0020 from IRIs
const IRIREF = /<[^<>"{}|^`\\\u0000-\u0020]*>/y;

/** NIL `()` and ANON `[]` (§19.8 [161], [163]): one token each, nothing nested. */
const EMPTY = /\((?:[ \t\r\n])*\)|\[(?:[ \t\r\n])*\]/y;

/** End of the match of sticky `regex` at `at`, or -1. */
function matchEnd(regex: RegExp, text: string, at: number): number {
  regex.lastIndex = at;
  return regex.test(text) ? regex.lastIndex : -1;
}

const OPEN = new Set(['{', '(', '[']);
const CLOSE = new Set(['}', ')', ']']);

/** The characters a string's `\` escape may name (ECHAR, §19.8 [160]); any other ends the match. */
const ECHAR = new Set(['t', 'b', 'n', 'r', 'f', '\\', '"', "'"]);

/**
 * Finds where string literals end, in linear time overall: a scan that does not close is remembered
 * (to the end of its line for a short string, to an escape the grammar has not, or to the end of the
 * text), since every later scan for the same quote inside that stretch meets the same characters and
 * does not close either.
 */
class StringScanner {
  /** Per closing quote: scans for it starting before this offset do not close. */
  private readonly failsBefore = new Map<string, number>();

  constructor(private readonly text: string) {}

  /** End of the string closing with `close` whose content starts at `from`, or -1. */
  private closeAt(from: number, close: string): number {
    const { text } = this;
    if (from < (this.failsBefore.get(close) ?? -1)) return -1;
    const short = close.length === 1;
    for (let i = from; i < text.length; i++) {
      const c = text[i]!;
      if (c === '\\') {
        // `""""{\)"""` is no long string (`\)` is no escape): the lexer reads `""`, `""`, `{`, stops at `\`
        if (!ECHAR.has(text[i + 1] ?? '')) {
          this.failsBefore.set(close, i);
          return -1;
        }
        i++;
      } else if (text.startsWith(close, i)) return i + close.length;
      else if (short && (c === '\n' || c === '\r')) {
        this.failsBefore.set(close, i);
        return -1;
      }
    }
    this.failsBefore.set(close, text.length);
    return -1;
  }

  /**
   * End of the string literal opening at `start` (§19.8 [156]-[159]), as the parser's lexer takes the
   * longest match: a long string (`'''`, `"""`) up to the first unescaped triple quote; when that does
   * not close, a short one up to the first unescaped quote on the same line (`""` is an empty string);
   * -1 when neither closes (the parser then fails at the quote and reads nothing after it).
   */
  end(start: number): number {
    const quote = this.text[start]!;
    if (this.text.startsWith(quote.repeat(3), start)) {
      const end = this.closeAt(start + 3, quote.repeat(3));
      if (end >= 0) return end;
    }
    return this.closeAt(start + 1, quote);
  }
}

/**
 * The tokens of a query that decide its nesting, in order: brackets, string literals (short and long,
 * with `\` escapes), IRIs (any length), comments (to the end of the line), and the escapes of prefixed
 * names' local parts (`ex:a\#`, `ex:a\)`: one character of the name, never a comment or a bracket).
 * Everything else is `other`, one character at a time. Linear in the length of the text; the codepoint
 * escapes (`\u`) must have been decoded first, as the parser reads them.
 */
export function* sparqlTokens(text: string): Generator<Token> {
  const strings = new StringScanner(text);
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const start = i;
    let kind: TokenKind = 'other';
    if (c === '#') {
      kind = 'comment';
      while (i < text.length && text[i] !== '\n' && text[i] !== '\r') i++;
    } else if (c === '"' || c === "'") {
      const end = strings.end(i);
      if (end < 0) i++;
      else [kind, i] = ['string', end];
    } else if (c === '<') {
      const end = matchEnd(IRIREF, text, i);
      if (end < 0) i++;
      else [kind, i] = ['iri', end];
    } else if (c === '\\') {
      // only a prefixed name's local part holds a backslash (PN_LOCAL_ESC, §19.8 [173]): it and the
      // character after it are part of the name; anywhere else the parser stops at it
      [kind, i] = ['escape', Math.min(i + 2, text.length)];
    } else if ((c === '(' || c === '[') && matchEnd(EMPTY, text, i) > 0) {
      i = matchEnd(EMPTY, text, i);
    } else {
      if (OPEN.has(c)) kind = 'open';
      else if (CLOSE.has(c)) kind = 'close';
      i++;
    }
    yield { kind, start, end: i };
  }
}

/**
 * Deepest nesting of `{ ( [` in a query, by its tokens (`sparqlTokens`): checked in one pass before
 * parsing, because the parser's time grows faster than linearly with depth (16 kB of nested braces
 * held it for 32 s). A closing bracket with nothing open counts for nothing (the parser stops there).
 */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (const token of sparqlTokens(text))
    if (token.kind === 'open') max = Math.max(max, ++depth);
    else if (token.kind === 'close') depth = Math.max(0, depth - 1);
  return max;
}
