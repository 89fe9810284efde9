/** The `source` of an annotation document (it names the document's domain graph), checked the same at HTTP and at the socket. */
import type { ValidationIssue } from '@provml/schemas';

const SOURCE = /^[A-Za-z0-9._~-]{1,200}$/;
/** `.` and `..` are path segments a resolver removes: `graph/domain/..` would name another graph. */
const DOTS = /^\.+$/;

/**
 * The problem with a source, or undefined when it is absent or fine: 1 to 200 letters, digits and
 * `. _ ~ -`, not dots only. Anything but one string (an HTTP query with `source` twice) is refused.
 */
export function sourceIssue(source: unknown): ValidationIssue | undefined {
  if (source === undefined) return undefined;
  if (typeof source !== 'string') return { path: 'source', message: 'give one source' };
  if (!SOURCE.test(source) || DOTS.test(source))
    return { path: 'source', message: 'use letters, digits and . _ ~ - only (not dots only)' };
  return undefined;
}
