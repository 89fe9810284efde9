/** mapRecords: a batch of decoded capture events to triples records and dead letters, with no I/O. */
import { describe, expect, it } from 'vitest';
import { compileSpec, DecodeError } from '@provml/schemas';
import { DLQ_HEADERS, type ConsumedRecord } from '@provml/log';
import {
  IriMinter,
  mapRecords,
  MappingState,
  SpecRegistry,
  type DecodedRecord,
} from '@provml/stream-processors';
import { event, SPEC } from './fixtures.ts';

let offset = 0;
const record = (): ConsumedRecord => ({
  topic: 'provml.events',
  partition: 0,
  offset: String(offset++),
  key: 'run-1',
  value: Buffer.from('(encoded)'),
  headers: {},
  timestamp: 0,
});
const context = () => {
  const specs = new SpecRegistry();
  specs.set(compileSpec(SPEC));
  return { specs, state: new MappingState(), iris: new IriMinter() };
};

describe('mapRecords', () => {
  const batch: DecodedRecord[] = [
    { record: record(), event: event() },
    { record: record(), error: new DecodeError('bad marker') },
    { record: record(), event: event({ eventId: 'e2', workflow: 'unknown' }) },
    { record: record(), event: event({ eventId: 'e3', phase: 'end', values: {}, status: 'finished' }) },
    { record: record(), event: event({ eventId: 'e4', taskExecution: 't9', phase: 'end', values: {} }) },
  ];

  it('returns one triples record per workflow execution, and a dead letter per poison record with its stage', () => {
    const r = mapRecords(batch, context());
    expect(r.out.map((o) => o.key)).toEqual(['run-1']);
    expect(r.out[0]!.value.toString()).toContain('urn:provml:');
    expect(r.dead.map((d) => d.headers?.[DLQ_HEADERS.stage])).toEqual(['decode', 'validate']);
    expect(r.dead[1]!.headers?.[DLQ_HEADERS.reason]).toMatch(/unknown workflow 'unknown'/);
    expect(r.events.map((e) => e.eventId)).toEqual(['e1', 'e3', 'e4']);
    expect(r.unmatchedEnds.map((e) => e.eventId)).toEqual(['e4']);
    expect(r.quads).toBeGreaterThan(0);
  });

  it('gives the same output for the same records in the same state (no clock, no I/O)', () => {
    const a = mapRecords(batch, context());
    const b = mapRecords(batch, context());
    expect(b.out.map((o) => o.value.toString())).toEqual(a.out.map((o) => o.value.toString()));
    expect(b.dead.length).toBe(a.dead.length);
  });
});
