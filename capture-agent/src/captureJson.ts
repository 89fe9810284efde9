/** The JSON form of capture data (README, Public contracts §1): NaN and infinities stay numbers. */

/** Spells a NaN or infinite number as `String(x)`; every other value is left as it is. */
function spellNonFinite(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

/** Whether a NaN or infinite number occurs anywhere in `value` (plain data: objects and arrays). */
function hasNonFinite(value: unknown): boolean {
  if (typeof value === 'number') return !Number.isFinite(value);
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(hasNonFinite);
  for (const key in value) if (hasNonFinite((value as Record<string, unknown>)[key])) return true;
  return false;
}

/**
 * JSON text of an event, an envelope or a batch in the contract's JSON form: a NaN or infinite
 * number is written as the string `"NaN"`, `"Infinity"` or `"-Infinity"`, which the ingest reads
 * back as that number for a declared numeric value, where `JSON.stringify` alone writes `null`
 * (refused). Data without such numbers is written by `JSON.stringify` unchanged.
 */
export function captureJson(value: unknown): string {
  return hasNonFinite(value) ? JSON.stringify(value, spellNonFinite) : JSON.stringify(value);
}
