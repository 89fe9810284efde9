/** Properties of the Avro single-object codec: valid events round-trip; any other bytes give a DecodeError, nothing else. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, decodeCaptureEvent, encodeCaptureEvent } from '@provml/schemas';
import { captureEvent } from '../../deploy/testing/arbitraries.ts';

const RUNS = { numRuns: 400 };
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));

/** Decodes, returning the error when it is a DecodeError and rethrowing anything else. */
function decodeOrError(bytes: Uint8Array): unknown {
  try {
    return decodeCaptureEvent(bytes);
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw error;
  }
}

describe('Avro codec properties', () => {
  it('decodes what it encodes', () => {
    fc.assert(
      fc.property(captureEvent, (event) => {
        expect(plain(decodeCaptureEvent(encodeCaptureEvent(event)))).toEqual(plain(event));
      }),
      RUNS,
    );
  });

  it('answers arbitrary bytes with a DecodeError only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(decodeOrError(bytes)).toBeInstanceOf(DecodeError);
      }),
      RUNS,
    );
  });

  it('answers a valid header with an arbitrary body with an event or a DecodeError', () => {
    const header = encodeCaptureEvent({
      eventId: 'e',
      workflow: 'w',
      workflowExecution: 'r',
      task: 't',
      taskExecution: 'x',
      parentTaskExecution: null,
      phase: 'begin',
      time: 0,
      values: {},
      dataRefs: [],
      status: null,
      context: {},
    }).subarray(0, 10);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (body) => {
        const r = decodeOrError(Buffer.concat([header, body]));
        if (!(r instanceof DecodeError)) expect(typeof (r as { eventId: unknown }).eventId).toBe('string');
      }),
      RUNS,
    );
  });

  it('answers a valid encoding with bytes flipped, cut or appended with an event or a DecodeError', () => {
    fc.assert(
      fc.property(
        captureEvent,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 4 }),
        (event, flips, cut, extra) => {
          const bytes = Buffer.from(encodeCaptureEvent(event));
          for (const [at, mask] of flips) bytes[at % bytes.length]! ^= mask;
          decodeOrError(bytes);
          decodeOrError(bytes.subarray(0, cut % bytes.length));
          decodeOrError(Buffer.concat([bytes, extra]));
        },
      ),
      RUNS,
    );
  });
});
