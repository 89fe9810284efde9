/** The JSON form of capture data (README, Public contracts §1): NaN and infinities stay numbers. */
import type { CaptureEvent } from '@provml/schemas';

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

/**
 * Whether a capture event holds a NaN or infinite number: only its `time` and its `values` (a
 * number, or an array of numbers) can; its other fields are strings, null and objects of strings
 * by the event's type. The hot path of every event sent or spooled: no walk of the whole event.
 */
function eventHasNonFinite(event: CaptureEvent): boolean {
  if (!Number.isFinite(event.time)) return true;
  const values = event.values as Record<string, unknown>;
  for (const key in values) {
    const v = values[key];
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return true;
    } else if (Array.isArray(v) && hasNonFinite(v)) return true;
  }
  return false;
}

/** `captureJson(event)` of a capture event, checking only the fields that can hold a non-finite number. */
export function eventJson(event: CaptureEvent): string {
  return eventHasNonFinite(event) ? JSON.stringify(event, spellNonFinite) : JSON.stringify(event);
}

/** `captureJson({ event })`: a capture event as a spool or socket envelope, without building the envelope. */
export function eventEnvelopeJson(event: CaptureEvent): string {
  return `{"event":${eventJson(event)}}`;
}
