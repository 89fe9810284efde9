/** Properties of the ingest parser: any input gives events or issues, never an exception; valid events round-trip. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseEventJson } from '@provml/schemas';
import { parseEventBody } from '../../src/ingest/parseEventBody.ts';
import { captureEvent, PROPERTY_SPEC } from '../../../../deploy/testing/arbitraries.ts';

const specs = (w: string) => (w === 'prop' ? PROPERTY_SPEC : undefined);
const RUNS = { numRuns: 300 };

/** Checks the shape of a parse result: ok with events, or not ok with at least one well-formed issue. */
function wellFormed(result: ReturnType<typeof parseEventBody>): void {
  if (result.ok) expect(result.events.length).toBeGreaterThan(0);
  else {
    expect(result.issues.length).toBeGreaterThan(0);
    for (const i of result.issues) {
      expect(typeof i.path).toBe('string');
      expect(typeof i.message).toBe('string');
    }
  }
}

describe('ingest parser properties', () => {
  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) =>
        wellFormed(parseEventBody(text, specs)),
      ),
      RUNS,
    );
  });

  it('never throws on arbitrary JSON, as a line or in an array', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), (value, asArray) =>
        wellFormed(parseEventBody(JSON.stringify(asArray ? [value] : value), specs)),
      ),
      RUNS,
    );
  });

  it('parseEventJson never throws on arbitrary values and events with one field replaced', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const r = parseEventJson(value);
        if (!r.ok) expect(r.issues.length).toBeGreaterThan(0);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(
        captureEvent,
        fc.constantFrom('eventId', 'time', 'values', 'dataRefs', 'phase', 'context', 'status'),
        fc.anything(),
        (event, field, replacement) => {
          const r = parseEventJson({ ...event, [field]: replacement });
          if (!r.ok) expect(r.issues.length).toBeGreaterThan(0);
        },
      ),
      RUNS,
    );
  });

  it('round-trips valid events through NDJSON and JSON arrays', () => {
    fc.assert(
      fc.property(fc.array(captureEvent, { minLength: 1, maxLength: 5 }), fc.boolean(), (events, asArray) => {
        const unique = events.map((e, i) => ({
          ...e,
          eventId: `${i}-${e.eventId}`,
          taskExecution: `${i}-${e.taskExecution}`,
        }));
        const text = asArray ? JSON.stringify(unique) : unique.map((e) => JSON.stringify(e)).join('\n');
        const result = parseEventBody(text, specs);
        expect(result.ok ? [] : result.issues).toEqual([]);
        expect(result.ok && result.events).toEqual(unique);
      }),
      RUNS,
    );
  });
});
