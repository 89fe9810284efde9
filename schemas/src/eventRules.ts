/**
 * The rules of one capture event that both checks of its JSON form apply: the zod schema in
 * `validateEvent.ts` (the contract, and the only source of error messages) and the fast accept
 * path in `acceptEventFast.ts`. Each rule is written once, here.
 */
import { isRfc3987Iri } from './iri.ts';

/** Limits on one event; larger input is rejected, not truncated. */
export const EVENT_LIMITS = {
  idLength: 256,
  stringValueLength: 65_536,
  arrayValueLength: 100_000,
  valueCount: 1_000,
  dataRefCount: 1_000,
  contextEntries: 100,
} as const;

/** Lengths of names and texts that are not ids. */
export const TEXT_LIMITS = {
  valueName: 200,
  refName: 200,
  refStore: 500,
  contextName: 100,
  contextValue: 4096,
} as const;

/** Event times, in microseconds since the epoch: from the epoch to 2200-01-01. */
export const MIN_TIME_US = 0;
export const MAX_TIME_US = Date.UTC(2200, 0, 1) * 1000;

/** Whether `us` is an event time: integer microseconds in range. */
export const isEventTime = (us: number): boolean =>
  Number.isSafeInteger(us) && us >= MIN_TIME_US && us <= MAX_TIME_US;

/** A UTF-16 surrogate not in a pair (JSON can write one as `\ud800`): not Unicode text. */
const LONE_SURROGATE = /\p{Cs}/u;
/** Whether `s` is Unicode text: no unpaired surrogate. */
export const wellFormed = (s: string): boolean => !LONE_SURROGATE.test(s);

/** Whether a captured value is allowed (not its text: see `wellFormed`). */
export function isCaptureValue(v: unknown): boolean {
  switch (typeof v) {
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'string':
      return v.length <= EVENT_LIMITS.stringValueLength;
    case 'object':
      return (
        Array.isArray(v) &&
        v.length <= EVENT_LIMITS.arrayValueLength &&
        v.every((x) => typeof x === 'number' && Number.isFinite(x))
      );
    default:
      return false;
  }
}

/**
 * Whether `uri` is an absolute IRI an RDF store accepts: RFC 3987 (see `isRfc3987Iri`: no controls,
 * noncharacters, private-use characters or bad `%` escapes), at most 8192 characters, and one
 * that the WHATWG URL parser reads (a valid host and port).
 */
export function isAbsoluteIri(uri: string): boolean {
  if (uri.length === 0 || uri.length > 8192 || !isRfc3987Iri(uri)) return false;
  try {
    new URL(uri);
    return true;
  } catch {
    return false;
  }
}
