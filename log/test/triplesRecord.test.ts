/** The triples record format: version 1 bytes (header, frozen dictionary, a golden value), plain N-Quads read as before, bad values refused with DecodeError. */
import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '@provml/schemas';
import { TRIPLES_DICTIONARY_V1, decodeTriples, encodeTriples, isEncodedTriples } from '@provml/log';

const TEXT =
  '<urn:provml:execution/run-1/t1> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://w3id.org/provml/ns#TaskExecution> <urn:provml:graph/execution/run-1> .\n' +
  '<urn:provml:execution/run-1/t1> <http://www.w3.org/ns/prov#startedAtTime> "2026-01-01T00:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> <urn:provml:graph/execution/run-1> .\n';

/** TEXT as version 1 wrote it when the format was made: it must decode forever. */
const GOLDEN_V1 =
  '0001c3eeaea2d23c5d43fd12c301ac9dc14e20d385b82a03230323335d03435d03c31003032b308aa262a2823b1900';

describe('triples record format', () => {
  it('freezes the dictionary of version 1 (a change needs a new version)', () => {
    expect(createHash('sha256').update(TRIPLES_DICTIONARY_V1).digest('hex')).toBe(
      '49d34ac0674adcba66f00785b11b0c4b8beb5934c3cf9ba01e4376fd14dce52e',
    );
  });

  it('decodes the golden version 1 value', () => {
    const value = Buffer.from(GOLDEN_V1, 'hex');
    expect(isEncodedTriples(value)).toBe(true);
    expect(decodeTriples(value)).toBe(TEXT);
  });

  it('writes the header, then raw DEFLATE with the dictionary, and reads it back', () => {
    const value = encodeTriples(TEXT);
    expect([...value.subarray(0, 2)]).toEqual([0x00, 0x01]);
    expect(value.length).toBeLessThan(Buffer.byteLength(TEXT) / 5);
    expect(decodeTriples(value)).toBe(TEXT);
    expect(decodeTriples(encodeTriples(Buffer.from(TEXT)))).toBe(TEXT);
  });

  it('reads plain N-Quads (records written before version 1) and empty values as they are', () => {
    expect(isEncodedTriples(Buffer.from(TEXT))).toBe(false);
    expect(decodeTriples(Buffer.from(TEXT))).toBe(TEXT);
    expect(decodeTriples(Buffer.alloc(0))).toBe('');
  });

  it('keeps text empty and non-ASCII literals intact', () => {
    expect(encodeTriples('').length).toBe(0);
    const text = '<urn:x> <http://www.w3.org/2000/01/rdf-schema#label> "Ümlaut ✓ 数据" <urn:g> .\n';
    expect(decodeTriples(encodeTriples(text))).toBe(text);
  });

  it('refuses an unknown version and a corrupt body with DecodeError', () => {
    const body = deflateRawSync(Buffer.from(TEXT), { dictionary: TRIPLES_DICTIONARY_V1 });
    expect(() => decodeTriples(Buffer.concat([Buffer.from([0, 2]), body]))).toThrow(DecodeError);
    expect(() => decodeTriples(Buffer.concat([Buffer.from([0, 1]), body.subarray(0, 5)]))).toThrow(
      DecodeError,
    );
    // bytes after the header that are no DEFLATE stream
    expect(() =>
      decodeTriples(Buffer.concat([Buffer.from([0, 1]), Buffer.from('not deflate at all')])),
    ).toThrow(DecodeError);
  });
});
