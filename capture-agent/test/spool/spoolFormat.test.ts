// The spool's record format: golden bytes (CRC-32 as Python's zlib.crc32 computes it), scanning, names, envelopes.
import { describe, expect, it } from 'vitest';
import {
  classifyEnvelope,
  decodeEnvelope,
  encodeEnvelope,
  encodeRecord,
  parsePublished,
  parseSegmentName,
  scanRecords,
  segmentName,
} from '@provml/capture-agent';

// python3 -c "import zlib,struct; p=b'{\"spec\":{\"workflow\":\"w\"}}'; print((struct.pack('>II',len(p),zlib.crc32(p))+p).hex())"
const GOLDEN = '00000019ae57cc757b2273706563223a7b22776f726b666c6f77223a2277227d7d';

describe('spool record format', () => {
  it('frames a payload as u32 BE length, u32 BE CRC-32, UTF-8 JSON (golden bytes)', () => {
    expect(encodeEnvelope({ spec: { workflow: 'w' } }).toString('hex')).toBe(GOLDEN);
  });

  it('scans good records and stops at a torn tail, a bad length or a bad CRC', () => {
    const a = encodeRecord(Buffer.from('{"event":{}}'));
    const b = encodeRecord(Buffer.from('{"annotations":"x"}'));
    const ok = scanRecords(Buffer.concat([a, b]));
    expect(ok.stop).toBe('complete');
    expect(ok.records.map((r) => r.payload.toString())).toEqual(['{"event":{}}', '{"annotations":"x"}']);
    expect(ok.records.map((r) => r.offset)).toEqual([0, a.length]);

    const torn = scanRecords(Buffer.concat([a, b.subarray(0, b.length - 1)]));
    expect(torn).toMatchObject({ stop: 'incomplete', end: a.length });
    expect(torn.records).toHaveLength(1);

    const badCrc = Buffer.concat([a, b]);
    badCrc[a.length + 10]! ^= 0xff;
    expect(scanRecords(badCrc)).toMatchObject({ stop: 'bad-crc', end: a.length });

    const badLength = Buffer.concat([a, Buffer.from([0, 0, 0, 0, 1, 2, 3, 4])]);
    expect(scanRecords(badLength)).toMatchObject({ stop: 'bad-length', end: a.length });
    const tooLong = Buffer.concat([a, Buffer.from([0, 0x20, 0, 0, 1, 2, 3, 4])]);
    expect(scanRecords(tooLong)).toMatchObject({ stop: 'bad-length', end: a.length });
  });

  it('refuses empty and over-1-MiB payloads', () => {
    expect(() => encodeRecord(Buffer.alloc(0))).toThrow(RangeError);
    expect(() => encodeRecord(Buffer.alloc(1_048_577, 0x20))).toThrow(RangeError);
  });

  it('names segments by their first sequence number, 20 digits', () => {
    expect(segmentName(4096)).toBe('00000000000000004096.seg');
    expect(parseSegmentName('00000000000000004096.seg')).toBe(4096);
    expect(parseSegmentName('published')).toBeUndefined();
    expect(parsePublished('123\n')).toBe(123);
    expect(parsePublished('x')).toBeUndefined();
  });

  it('knows an envelope by its one key (annotations may name a source)', () => {
    expect(classifyEnvelope({ event: {} })?.kind).toBe('event');
    expect(classifyEnvelope({ spec: {} })?.kind).toBe('spec');
    expect(classifyEnvelope({ annotations: 'ttl', source: 's' })?.kind).toBe('annotations');
    expect(classifyEnvelope({ event: {}, spec: {} })).toBeUndefined();
    expect(classifyEnvelope({ annotations: 1 })).toBeUndefined();
    expect(classifyEnvelope([])).toBeUndefined();
    expect(decodeEnvelope(Buffer.from('not json'))).toBeUndefined();
  });
});
