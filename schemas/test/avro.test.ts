/** Avro wire format: CRC-64-AVRO, Parsing Canonical Form, single-object golden bytes, evolution and decode errors. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withoutNullDigests, type CaptureEvent } from '../src/CaptureEvent.ts';
import { DecodeError, ValidationError } from '../src/errors.ts';
import { CRC64_AVRO_EMPTY, crc64Avro } from '../src/avro/crc64Avro.ts';
import {
  CAPTURE_EVENT_SCHEMA,
  CAPTURE_EVENT_SCHEMA_V1,
  captureEventType,
  parsingCanonicalForm,
  schemaFingerprint,
} from '../src/avro/captureEventSchema.ts';
import type { AvroSchema } from '../src/avro/captureEventSchema.ts';
import {
  SINGLE_OBJECT_MARKER,
  SingleObjectCodec,
  captureEventCodec,
  decodeCaptureEvent,
  encodeCaptureEvent,
  isSingleObjectEncoded,
} from '../src/avro/SingleObjectCodec.ts';

const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);

/** CRC-64-AVRO of the CaptureEvent v1 Parsing Canonical Form. Changes only with a new schema version. */
const CAPTURE_EVENT_V1_FINGERPRINT = 0x99ef7c07d56bd51bn;
/** The same of CaptureEvent v2 (v1 plus `dataRefs[].digest`), the schema events are written with now. */
const CAPTURE_EVENT_V2_FINGERPRINT = schemaFingerprint(CAPTURE_EVENT_SCHEMA);

interface SchemaVector {
  id: string;
  input: string;
  canonical: string;
  fingerprint: bigint | undefined;
}

/** Parses the Avro project's `share/test/data/schema-tests.txt` (copied verbatim as a fixture). */
function readSchemaVectors(): SchemaVector[] {
  const text = readFileSync(fixture('schema-tests.txt'), 'utf8');
  const vectors: SchemaVector[] = [];
  const entry =
    /^\/\/ (\d{3})\n(?:\/\/.*\n)*<<INPUT(?: (.*)|\n([\s\S]*?)\nINPUT)\n<<canonical (.*)(?:\n<<fingerprint (-?\d+))?/gm;
  for (const m of text.matchAll(entry)) {
    vectors.push({
      id: m[1] as string,
      input: (m[2] ?? m[3]) as string,
      canonical: m[4] as string,
      fingerprint: m[5] === undefined ? undefined : BigInt(m[5]),
    });
  }
  return vectors;
}

/** The v1 golden event and its bytes, as CaptureEvent v1 wrote them (still read). */
const goldenEvent = JSON.parse(readFileSync(fixture('capture-event.v1.json'), 'utf8')) as CaptureEvent;
const goldenBytes = readFileSync(fixture('capture-event.v1.bin'));
/** The v2 golden event (a data reference with a digest) and its bytes. */
const goldenV2Event = JSON.parse(readFileSync(fixture('capture-event.v2.json'), 'utf8')) as CaptureEvent;
const goldenV2Bytes = readFileSync(fixture('capture-event.v2.bin'));
/** A codec that writes and reads CaptureEvent v1 only: a producer or consumer not yet updated. */
const v1Codec = new SingleObjectCodec<CaptureEvent>({ readerSchema: CAPTURE_EVENT_SCHEMA_V1 });

/** A v1 event with every field at its simplest. */
function minimalEvent(overrides: Partial<CaptureEvent> = {}): CaptureEvent {
  return {
    eventId: 'e-1',
    workflow: 'wf',
    workflowExecution: 'wfe-1',
    task: 'training',
    taskExecution: 'te-1',
    parentTaskExecution: null,
    phase: 'begin',
    time: 0,
    values: {},
    dataRefs: [],
    status: null,
    context: {},
    ...overrides,
  };
}

/** The current schema plus an optional field at the end: what a compatible next version would look like. */
const V3_SCHEMA = {
  ...(CAPTURE_EVENT_SCHEMA as Record<string, unknown>),
  fields: [
    ...(CAPTURE_EVENT_SCHEMA as { fields: unknown[] }).fields,
    { name: 'attempt', type: ['null', 'int'], default: null, doc: 'Retry number of the task execution.' },
  ],
} as AvroSchema;

/** Deterministic pseudo-random bytes (mulberry32), so garbage cases are the same on every run. */
function pseudoRandomBytes(seed: number, length: number): Buffer {
  let a = seed >>> 0;
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

/** Zig-zag varint, for hand-built bodies. */
function varint(n: number): number[] {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  while (z >= 0x80) {
    out.push((z % 128) | 0x80);
    z = Math.floor(z / 128);
  }
  out.push(z);
  return out;
}

function withHeader(body: readonly number[] | Buffer, fingerprint = CAPTURE_EVENT_V1_FINGERPRINT): Buffer {
  const header = Buffer.alloc(10);
  header.set(SINGLE_OBJECT_MARKER, 0);
  header.writeBigUInt64LE(fingerprint, 2);
  return Buffer.concat([header, Buffer.from(body)]);
}

/** Decodes and returns the DecodeError, failing the test on success or on any other exception type. */
function decodeError(
  bytes: Uint8Array,
  codec: SingleObjectCodec<CaptureEvent> = captureEventCodec,
): DecodeError {
  let thrown: unknown;
  try {
    codec.decode(bytes);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(DecodeError);
  const error = thrown as DecodeError;
  expect(error.code).toBe('decode-failed');
  expect(error.retriable).toBe(false);
  return error;
}

describe('crc64Avro', () => {
  it('starts from the EMPTY constant of the specification', () => {
    expect(crc64Avro(new Uint8Array(0))).toBe(0xc15d213aa4d7a795n);
    expect(CRC64_AVRO_EMPTY).toBe(0xc15d213aa4d7a795n);
  });

  it('gives unsigned 64-bit values', () => {
    const fp = crc64Avro(Buffer.from('"string"'));
    expect(fp >= 0n && fp < 1n << 64n).toBe(true);
  });
});

describe('Parsing Canonical Form and fingerprints: the Avro project test vectors', () => {
  const vectors = readSchemaVectors();

  it('reads every vector of the fixture', () => {
    expect(vectors.map((v) => v.id)).toEqual(
      Array.from({ length: 34 }, (_, i) => String(i).padStart(3, '0')),
    );
    expect(vectors.filter((v) => v.fingerprint !== undefined).length).toBeGreaterThanOrEqual(15);
  });

  it.each(vectors)('vector $id: canonical form', ({ input, canonical }) => {
    expect(parsingCanonicalForm(JSON.parse(input) as AvroSchema)).toBe(canonical);
  });

  it.each(vectors.filter((v) => v.fingerprint !== undefined))(
    'vector $id: fingerprint $fingerprint',
    ({ input, canonical, fingerprint }) => {
      expect(BigInt.asIntN(64, crc64Avro(Buffer.from(canonical, 'utf8')))).toBe(fingerprint);
      expect(BigInt.asIntN(64, schemaFingerprint(JSON.parse(input) as AvroSchema))).toBe(fingerprint);
    },
  );

  it('strips logical types, defaults and docs, and qualifies references', () => {
    const schema = {
      type: 'record',
      name: 'R',
      namespace: 'a.b',
      doc: 'x',
      fields: [
        { name: 't', type: { type: 'long', logicalType: 'timestamp-micros' }, default: 0 },
        { name: 'e', type: { type: 'enum', name: 'E', symbols: ['X'], default: 'X' } },
        { name: 'e2', type: 'E' },
        { name: 'f', type: { type: 'fixed', name: 'c.F', size: '016' } },
        { name: 'f2', type: ['null', 'c.F'] },
        { name: 'self', type: ['null', 'R'] },
      ],
    };
    expect(parsingCanonicalForm(schema)).toBe(
      '{"name":"a.b.R","type":"record","fields":[{"name":"t","type":"long"},' +
        '{"name":"e","type":{"name":"a.b.E","type":"enum","symbols":["X"]}},{"name":"e2","type":"a.b.E"},' +
        '{"name":"f","type":{"name":"c.F","type":"fixed","size":16}},{"name":"f2","type":["null","c.F"]},' +
        '{"name":"self","type":["null","a.b.R"]}]}',
    );
  });

  it('rejects malformed schemas with a ValidationError naming the place', () => {
    const unknown = () =>
      parsingCanonicalForm({ type: 'record', name: 'R', fields: [{ name: 'x', type: 'Nope' }] });
    expect(unknown).toThrow(ValidationError);
    expect(unknown).toThrow(/\$\.fields\[0\]\.type: unknown type "Nope"/);
    expect(() => parsingCanonicalForm({ type: 'enum', symbols: [] })).toThrow(/needs a name/);
  });

  it('CaptureEvent v1 and v2: the fingerprints are pinned and avsc agrees on the canonical form', () => {
    expect(schemaFingerprint(CAPTURE_EVENT_SCHEMA_V1)).toBe(CAPTURE_EVENT_V1_FINGERPRINT);
    expect(CAPTURE_EVENT_V2_FINGERPRINT).toBe(0x8fbb905c984734a4n);
    expect(captureEventCodec.fingerprint).toBe(CAPTURE_EVENT_V2_FINGERPRINT);
    expect(parsingCanonicalForm(CAPTURE_EVENT_SCHEMA)).toBe(JSON.stringify(captureEventType.schema()));
    // Docs are not part of the canonical form, so a doc-only edit keeps the fingerprint.
    for (const [schema, fingerprint] of [
      [CAPTURE_EVENT_SCHEMA_V1, CAPTURE_EVENT_V1_FINGERPRINT],
      [CAPTURE_EVENT_SCHEMA, CAPTURE_EVENT_V2_FINGERPRINT],
    ] as const) {
      const withoutDocs = JSON.parse(
        JSON.stringify(schema, (k, v: unknown) => (k === 'doc' ? undefined : v)),
      ) as AvroSchema;
      expect(schemaFingerprint(withoutDocs)).toBe(fingerprint);
    }
  });
});

describe('single-object encoding: golden bytes', () => {
  it('v2: encodes the fixture event (a digest on a data reference) to exactly the fixture bytes', () => {
    expect(encodeCaptureEvent(goldenV2Event).equals(goldenV2Bytes)).toBe(true);
    expect(goldenV2Bytes.readBigUInt64LE(2)).toBe(CAPTURE_EVENT_V2_FINGERPRINT);
    expect(goldenV2Bytes.subarray(10).equals(captureEventType.toBuffer(goldenV2Event))).toBe(true);
    expect(decodeCaptureEvent(goldenV2Bytes)).toEqual(goldenV2Event);
  });

  it('v1: a v1 writer still encodes the v1 fixture event to exactly the v1 fixture bytes', () => {
    expect(v1Codec.encode(goldenEvent).equals(goldenBytes)).toBe(true);
  });

  it('v1: starts with the marker C3 01 and the little-endian v1 fingerprint', () => {
    expect([...goldenBytes.subarray(0, 2)]).toEqual([0xc3, 0x01]);
    expect(goldenBytes.subarray(2, 10).toString('hex')).toBe('1bd56bd5077cef99');
    expect(goldenBytes.readBigUInt64LE(2)).toBe(schemaFingerprint(CAPTURE_EVENT_SCHEMA_V1));
    expect(isSingleObjectEncoded(goldenBytes)).toBe(true);
  });

  it('v1 and v2 bodies of an event without digests differ by one null branch per data reference', () => {
    const v1Body = goldenBytes.subarray(10);
    const v2Body = encodeCaptureEvent(goldenEvent).subarray(10);
    expect(v2Body.length - v1Body.length).toBe(goldenEvent.dataRefs.length);
  });

  it('decodes the v1 fixture bytes to the fixture event (no digest where none was written)', () => {
    const decoded = decodeCaptureEvent(goldenBytes);
    expect(decoded).toEqual(goldenEvent);
    expect(decoded.dataRefs.every((r) => !('digest' in r))).toBe(true);
  });
});

describe('single-object encoding: round trips', () => {
  const cases: [string, CaptureEvent][] = [
    ['minimal: null optionals, empty maps and arrays', minimalEvent()],
    [
      'every value kind',
      minimalEvent({
        values: {
          yes: true,
          no: false,
          zero: 0,
          int: 42,
          negative: -7,
          fraction: 0.1,
          tiny: 5e-324,
          huge: 1.7976931348623157e308,
          infinity: Number.POSITIVE_INFINITY,
          notANumber: Number.NaN,
          empty: '',
          text: 'hello',
          unicode: 'Δ λ → 🚀',
          emptyArray: [],
          oneItem: [3.5],
          manyItems: [1, -2, 0.25, 1e10],
        },
      }),
    ],
    [
      'non-null optionals and full collections',
      minimalEvent({
        parentTaskExecution: 'parent-1',
        phase: 'end',
        status: 'failed',
        time: 1_717_243_200_123_456,
        dataRefs: [
          { name: 'in', uri: 'file:///data/in.segy', store: 'lustre' },
          { name: 'out', uri: 'https://example.org/out', store: null },
        ],
        context: { host: 'node-1', pid: '1234', '': 'empty key' },
      }),
    ],
    ['status finished', minimalEvent({ phase: 'end', status: 'finished' })],
  ];

  it.each(cases)('%s', (_name, event) => {
    const bytes = encodeCaptureEvent(event);
    expect(isSingleObjectEncoded(bytes)).toBe(true);
    const decoded = decodeCaptureEvent(bytes);
    expect(decoded).toEqual(event);
    expect(encodeCaptureEvent(decoded).equals(bytes)).toBe(true);
  });

  it('decodes values as plain JS values, not wrapped union branches', () => {
    const event = minimalEvent({ values: { b: true, n: 1.5, s: 'x', a: [1, 2] } });
    const { values } = decodeCaptureEvent(encodeCaptureEvent(event));
    expect(Object.getPrototypeOf(values)).toBe(Object.prototype);
    expect(typeof values['b']).toBe('boolean');
    expect(typeof values['n']).toBe('number');
    expect(typeof values['s']).toBe('string');
    expect(Array.isArray(values['a'])).toBe(true);
    expect(JSON.parse(JSON.stringify(values))).toEqual({ b: true, n: 1.5, s: 'x', a: [1, 2] });
  });

  it('keeps -0 as a double', () => {
    const decoded = decodeCaptureEvent(encodeCaptureEvent(minimalEvent({ values: { z: -0 } })));
    expect(Object.is(decoded.values['z'], -0)).toBe(true);
  });

  it('accepts a Uint8Array that is not a Buffer', () => {
    const bytes = new Uint8Array(goldenBytes.length + 3);
    bytes.set(goldenBytes, 3);
    expect(decodeCaptureEvent(bytes.subarray(3))).toEqual(goldenEvent);
  });

  it('rejects an event that does not fit the schema with a ValidationError naming the field', () => {
    const bad = { ...minimalEvent(), eventId: 42 } as unknown as CaptureEvent;
    expect(() => encodeCaptureEvent(bad)).toThrow(ValidationError);
    expect(() => encodeCaptureEvent(bad)).toThrow(/eventId: not a valid string/);
    const badValue = minimalEvent({ values: { v: { nested: 1 } as unknown as string } });
    expect(() => encodeCaptureEvent(badValue)).toThrow(/values\.v/);
  });
});

describe('schema evolution', () => {
  it('v2 reads v1 bytes (digest: the default, null, left out of the event) and v1 reads v2 bytes (digest dropped)', () => {
    expect(captureEventCodec.knows(CAPTURE_EVENT_V1_FINGERPRINT)).toBe(true);
    expect(captureEventCodec.decode(goldenBytes).dataRefs[0]).toMatchObject({ digest: null });
    expect(decodeCaptureEvent(goldenBytes)).toEqual(goldenEvent);
    const v1Reader = new SingleObjectCodec<CaptureEvent>({
      readerSchema: CAPTURE_EVENT_SCHEMA_V1,
      writerSchemas: [CAPTURE_EVENT_SCHEMA],
    });
    const decoded = v1Reader.decode(goldenV2Bytes);
    expect(decoded.dataRefs.some((r) => 'digest' in r)).toBe(false);
    expect(decoded).toEqual({
      ...goldenV2Event,
      dataRefs: goldenV2Event.dataRefs.map(({ name, uri, store }) => ({ name, uri, store })),
    });
  });

  const v3Fingerprint = schemaFingerprint(V3_SCHEMA);
  const v3Reader = new SingleObjectCodec<CaptureEvent & { attempt: number | null }>({
    readerSchema: V3_SCHEMA,
    writerSchemas: [CAPTURE_EVENT_SCHEMA],
  });
  const v2Reader = new SingleObjectCodec<CaptureEvent>({
    readerSchema: CAPTURE_EVENT_SCHEMA,
    writerSchemas: [V3_SCHEMA],
  });

  it('gives a next version its own fingerprint', () => {
    expect(v3Fingerprint).not.toBe(CAPTURE_EVENT_V2_FINGERPRINT);
    expect(v3Reader.fingerprint).toBe(v3Fingerprint);
    expect(v3Reader.knows(CAPTURE_EVENT_V2_FINGERPRINT)).toBe(true);
    expect(captureEventCodec.knows(v3Fingerprint)).toBe(false);
  });

  it('a next-version reader reads v2 bytes, filling the added field with its default', () => {
    // a raw codec decodes an absent digest as null; decodeCaptureEvent leaves it out
    expect(withoutNullDigests(v3Reader.decode(goldenV2Bytes))).toEqual({ ...goldenV2Event, attempt: null });
  });

  it('a v2 reader reads next-version bytes, dropping the added field', () => {
    const v3Bytes = v3Reader.encode({ ...goldenV2Event, attempt: 3 });
    expect(v3Bytes.readBigUInt64LE(2)).toBe(v3Fingerprint);
    expect(withoutNullDigests(v3Reader.decode(v3Bytes))).toEqual({ ...goldenV2Event, attempt: 3 });
    const decoded = withoutNullDigests(v2Reader.decode(v3Bytes));
    expect(decoded).toEqual(goldenV2Event);
    expect('attempt' in decoded).toBe(false);
  });

  it('a codec that was not told about a version refuses its bytes', () => {
    const v3Bytes = v3Reader.encode({ ...goldenV2Event, attempt: null });
    expect(decodeError(v3Bytes).message).toContain(`0x${v3Fingerprint.toString(16).padStart(16, '0')}`);
    expect(decodeError(goldenV2Bytes, v1Codec).message).toContain('Unknown writer schema fingerprint');
  });

  it('registering a writer schema is idempotent and refuses schemas that cannot be resolved', () => {
    expect(v2Reader.addWriterSchema(V3_SCHEMA)).toBe(v3Fingerprint);
    const incompatible = {
      type: 'record',
      name: 'org.provml.capture.v1.CaptureEvent',
      fields: [{ name: 'x', type: 'int' }],
    };
    expect(() => v2Reader.addWriterSchema(incompatible)).toThrow(ValidationError);
  });
});

describe('decode errors', () => {
  it('wrong marker: says so and shows the bytes seen', () => {
    const json = Buffer.from(JSON.stringify(goldenEvent));
    const error = decodeError(json);
    expect(error.message).toMatch(
      /^Not Avro single-object encoded: expected marker c3 01, got \d+ bytes: 7b 22 65 76/,
    );
    expect(isSingleObjectEncoded(json)).toBe(false);
    const confluent = withHeader([0]);
    confluent[0] = 0x00; // Confluent wire format magic byte
    expect(decodeError(confluent).message).toContain('got 11 bytes: 00 01 1b d5');
  });

  it('too short for a header: says how many bytes there were', () => {
    expect(decodeError(new Uint8Array(0)).message).toBe(
      'Not Avro single-object encoded: the header needs 10 bytes, got 0 bytes',
    );
    expect(decodeError(goldenBytes.subarray(0, 5)).message).toBe(
      'Not Avro single-object encoded: the header needs 10 bytes, got 5 bytes: c3 01 1b d5 6b',
    );
    expect(decodeError(Buffer.from([0x7b])).message).toBe(
      'Not Avro single-object encoded: expected marker c3 01, got 1 byte: 7b',
    );
    expect(isSingleObjectEncoded(goldenBytes.subarray(0, 9))).toBe(false);
  });

  it('unknown fingerprint: names it in hex, and the known ones', () => {
    const bytes = Buffer.from(goldenBytes);
    bytes.writeBigUInt64LE(0x0123456789abcdefn, 2);
    const error = decodeError(bytes);
    expect(error.message).toBe(
      `Unknown writer schema fingerprint 0x0123456789abcdef (known: 0x${CAPTURE_EVENT_V2_FINGERPRINT.toString(16)}, 0x99ef7c07d56bd51b)`,
    );
    expect(error.context['fingerprint']).toBe('0x0123456789abcdef');
  });

  it('truncated body: every proper prefix of the golden bytes is refused', () => {
    for (let length = 10; length < goldenBytes.length; length++) {
      const error = decodeError(goldenBytes.subarray(0, length));
      expect(error.message).toMatch(
        /^Corrupt Avro body \(writer schema 0x99ef7c07d56bd51b\): truncated(: | or corrupt: ).* at byte \d+ of \d+$/,
      );
    }
  });

  it('trailing bytes after the event are refused', () => {
    const error = decodeError(Buffer.concat([goldenBytes, Buffer.from([0])]));
    expect(error.message).toContain('1 trailing bytes after the value');
  });

  it('random garbage, with or without a valid header, is always a DecodeError', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const garbage = pseudoRandomBytes(seed, 1 + (seed % 200));
      expect(decodeError(garbage).message).toMatch(/^Not Avro single-object encoded/);
      const error = decodeError(withHeader(garbage));
      expect(error.message).toMatch(
        /^(Corrupt|Cannot decode) Avro body \(writer schema 0x99ef7c07d56bd51b\): /,
      );
    }
  });

  it('a corrupt block count is refused before anything is allocated', () => {
    const head = [...[2, 0x61], ...[2, 0x61], ...[2, 0x61], ...[2, 0x61], ...[2, 0x61], 0, 0, 0];
    const hugeArray = withHeader([...head, 0, ...varint(1_000_000_000), 0, 0]);
    expect(decodeError(hugeArray).message).toMatch(
      /array block of 1000000000 items needs 3000000000\+ bytes, \d+ left/,
    );
    const hugeMap = withHeader([...head, ...varint(2 ** 40), 0]);
    expect(decodeError(hugeMap).message).toMatch(
      /map block of 1099511627776 items needs \d+\+ bytes, 1 left/,
    );
  });

  it('bad enum and union indexes are refused with their position', () => {
    const head = [...[2, 0x61], ...[2, 0x61], ...[2, 0x61], ...[2, 0x61], ...[2, 0x61]];
    expect(decodeError(withHeader([...head, ...varint(2)])).message).toContain(
      'union branch index 2 is not in 0..1 at byte 20',
    );
    expect(decodeError(withHeader([...head, 0, ...varint(5)])).message).toContain(
      'enum symbol index 5 is not in 0..1 at byte 21',
    );
  });

  it('tryDecode returns the failure as a value', () => {
    const outcome = captureEventCodec.tryDecode(Buffer.from('nope'));
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.error).toBeInstanceOf(DecodeError);
    const decoded = captureEventCodec.tryDecode(goldenV2Bytes);
    expect(decoded.ok && withoutNullDigests(decoded.value)).toEqual(goldenV2Event);
  });
});
