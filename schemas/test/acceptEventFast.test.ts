// The fast accept path of parseEventJson against the zod schema, on generated valid and broken events:
// whatever the fast path accepts, zod accepts with the same normalised event, and parseEventJson answers
// exactly as the schema alone (same event, same issues).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EVENT_LIMITS,
  microsToIso,
  parseEventJson,
  parseEventWithSchema,
  type CaptureEvent,
} from '@provml/schemas';
import { captureEvent } from '../../deploy/testing/arbitraries.ts';
import { acceptEventFast } from '../src/acceptEventFast.ts';
import { TEXT_LIMITS } from '../src/eventRules.ts';

type Raw = Record<string, unknown>;

/** Checks the three answers for one input; returns what the fast path said. */
function agree(raw: unknown): CaptureEvent | undefined {
  const schema = parseEventWithSchema(raw);
  const fast = acceptEventFast(raw);
  if (fast !== undefined) {
    expect(schema.ok).toBe(true);
    if (schema.ok) expect(fast).toStrictEqual(schema.event);
  }
  expect(parseEventJson(raw)).toStrictEqual(schema);
  return fast;
}

/** The event the schema makes of `raw`, which must be valid. */
function accepted(raw: unknown): CaptureEvent {
  const r = parseEventWithSchema(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.event;
}

/** The smallest valid event. */
const MINIMAL: Raw = {
  eventId: 'e',
  workflow: 'w',
  workflowExecution: 'r',
  task: 't',
  taskExecution: 'x',
  phase: 'end',
  time: 0,
};

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

/** An optional field written in one of the forms the contract allows for its default. */
const omittable = (value: unknown, isDefault: boolean) =>
  isDefault ? fc.constantFrom<unknown>('absent', undefined, value) : fc.constant<unknown>(value);

/** A valid event in one of its JSON forms: defaults left out or explicit, digests on some references. */
const rawEvent: fc.Arbitrary<Raw> = captureEvent.chain((e) =>
  fc
    .record({
      parentTaskExecution: omittable(e.parentTaskExecution, e.parentTaskExecution === null),
      values: omittable(e.values, Object.keys(e.values).length === 0),
      status: omittable(e.status, e.status === null),
      context: omittable(e.context, Object.keys(e.context).length === 0),
      dataRefs: fc.tuple(
        ...e.dataRefs.map((d) =>
          fc.record({
            store: omittable(d.store, d.store === null),
            digest: fc.constantFrom<unknown>('absent', undefined, null, DIGEST),
          }),
        ),
      ),
      noRefs: fc.boolean(),
    })
    .map((forms) => {
      const raw: Raw = { ...e };
      for (const k of ['parentTaskExecution', 'values', 'status', 'context'] as const)
        if (forms[k] === 'absent') delete raw[k];
        else raw[k] = forms[k];
      raw['dataRefs'] = e.dataRefs.map((d, i) => {
        const ref: Raw = { name: d.name, uri: d.uri };
        const form = forms.dataRefs[i]!;
        if (form.store !== 'absent') ref['store'] = form.store;
        if (form.digest !== 'absent') ref['digest'] = form.digest;
        return ref;
      });
      if (forms.noRefs && e.dataRefs.length === 0) delete raw['dataRefs'];
      return raw;
    }),
);

const LONG_ID = 'x'.repeat(EVENT_LIMITS.idLength + 1);
const LONG_STRING = 'x'.repeat(EVENT_LIMITS.stringValueLength + 1);
const LONG_ARRAY = Array.from({ length: EVENT_LIMITS.arrayValueLength + 1 }, () => 1);
const many = (n: number, v: unknown): Raw =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, v]));
/** An object from JSON text: the only way to give it an own `__proto__` key. */
const fromJson = (text: string): Raw => JSON.parse(text) as Raw;
const protoMap = (v: unknown): Raw => fromJson(`{"a":${JSON.stringify(v)},"__proto__":${JSON.stringify(v)}}`);
class Boxed {
  constructor(readonly x = 1) {}
}

/** Values of the wrong kind, or of the right kind just outside the contract, for any field. */
const badValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    undefined,
    null,
    true,
    0,
    -0,
    -1,
    1.5,
    NaN,
    Infinity,
    -Infinity,
    '',
    'x',
    LONG_ID,
    LONG_STRING,
    'a\ud800',
    '\udc00',
    'begin',
    'finished',
    [],
    [1, NaN],
    [1, Infinity],
    [1, 'x'],
    [[1]],
    // eslint-disable-next-line no-sparse-arrays
    [1, , 2],
    LONG_ARRAY,
    {},
    { a: 1 },
    { a: NaN },
    { a: 'x\ud800' },
    { 'x\ud800': 1 },
    { a: [1, -Infinity] },
    { '': 1 },
    { [LONG_ID]: 'x' },
    protoMap(1),
    protoMap('x'),
    fromJson('{"__proto__":{"a":1}}'),
    { [Symbol('s')]: 1 },
    Object.create(null),
    Object.assign(Object.create(null), { a: 1 }),
    new Boxed(),
    new Date(0),
    many(EVENT_LIMITS.contextEntries + 1, 'x'),
    many(EVENT_LIMITS.valueCount + 1, 1),
    'data/x.sgy',
    '/abs/x',
    'file:///a b',
    'http://example.org/\ue000',
    'http://[::1/x',
    'http://example.org:99999/x',
    `sha256:${'AB'.repeat(32)}`,
    `sha256:${'ab'.repeat(31)}`,
    DIGEST,
    microsToIso(1_717_243_200_123_456),
    '2026-01-01T00:00:00Z',
    '2300-01-01T00:00:00Z',
    '2026-02-31T00:00:00Z',
    '1717243200123456',
    Date.UTC(2200, 0, 1) * 1000,
    Date.UTC(2200, 0, 1) * 1000 + 1,
    Number.MAX_SAFE_INTEGER + 1,
  ),
  fc.anything({ withNullPrototype: true, withObjectString: true, withSparseArray: true }),
);

/** A data reference that is wrong in one way. */
const badRef: fc.Arbitrary<unknown> = fc.oneof(
  fc
    .record({ field: fc.constantFrom('name', 'uri', 'store', 'digest', 'size', '__proto__'), v: badValue })
    .map(({ field, v }) => {
      const ref: Raw = { name: 'r0', uri: 'file:///lustre/x.h5', store: 'lustre' };
      if (field === '__proto__') return fromJson(`{"name":"r0","uri":"file:///x","__proto__":1}`);
      ref[field] = v;
      return ref;
    }),
  badValue,
);

/** Every field of an event (those of a normalised one), one unknown field and `__proto__`. */
const FIELDS = [...Object.keys(accepted(MINIMAL)), 'extra', '__proto__'];

/** A valid event with one thing broken: a field replaced or added, a value, a name or a reference. */
const brokenEvent: fc.Arbitrary<unknown> = fc.oneof(
  fc
    .record({ raw: rawEvent, field: fc.constantFrom(...FIELDS), v: badValue })
    .map(({ raw, field, v }) =>
      field === '__proto__'
        ? Object.assign(fromJson(`{"__proto__":${JSON.stringify(v) ?? 'null'}}`), raw)
        : { ...raw, [field]: v },
    ),
  fc
    .record({ raw: rawEvent, map: fc.constantFrom('values', 'context'), name: fc.string(), v: badValue })
    .map(({ raw, map, name, v }) => ({ ...raw, [map]: { ...(raw[map] as Raw | undefined), [name]: v } })),
  fc.record({ raw: rawEvent, ref: badRef, at: fc.nat(3) }).map(({ raw, ref, at }) => {
    const refs = [...((raw['dataRefs'] as unknown[] | undefined) ?? [])];
    refs.splice(Math.min(at, refs.length), 0, ref);
    return { ...raw, dataRefs: refs };
  }),
  fc
    .record({ raw: rawEvent, k: fc.constantFrom('values', 'context'), sym: fc.boolean() })
    .map(({ raw, k, sym }) => {
      const map: Raw = { ...(raw[k] as Raw | undefined) };
      if (sym) Object.defineProperty(map, Symbol('s'), { value: 'x', enumerable: true });
      else Object.defineProperty(map, '__proto__', { value: 'x', enumerable: true });
      return { ...raw, [k]: map };
    }),
  badValue,
);

describe('acceptEventFast', () => {
  it('accepts every valid event of the common shape, exactly as the schema normalises it', () => {
    fc.assert(
      fc.property(rawEvent, (raw) => {
        expect(parseEventWithSchema(raw).ok).toBe(true);
        expect(agree(raw)).toBeDefined();
      }),
      { numRuns: 1000 },
    );
  });

  it('leaves an ISO time to the schema, which answers as before', () => {
    fc.assert(
      fc.property(rawEvent, (raw) => {
        const iso = { ...raw, time: microsToIso(raw['time'] as number) };
        expect(agree(iso)).toBeUndefined();
        expect(parseEventJson(iso)).toStrictEqual(parseEventJson(raw));
      }),
      { numRuns: 200 },
    );
  });

  it('never accepts what the schema refuses, and parseEventJson gives the schema issues', () => {
    let refused = 0;
    fc.assert(
      fc.property(brokenEvent, (raw) => {
        agree(raw);
        if (!parseEventWithSchema(raw).ok) refused++;
      }),
      { numRuns: 3000 },
    );
    expect(refused).toBeGreaterThan(1500); // the mutations do break events
  });

  describe('takes every limit up to the bound and leaves one past it to the schema', () => {
    const ref = (over: Raw = {}): Raw => ({ name: 'r0', uri: 'file:///x', ...over });
    const s = (n: number) => 'x'.repeat(n);
    const cases: [string, (n: number) => Raw, number][] = [
      ['id length', (n) => ({ taskExecution: s(n) }), EVENT_LIMITS.idLength],
      ['parent id length', (n) => ({ parentTaskExecution: s(n) }), EVENT_LIMITS.idLength],
      ['value name length', (n) => ({ values: { [s(n)]: 1 } }), TEXT_LIMITS.valueName],
      ['string value length', (n) => ({ values: { v: s(n) } }), EVENT_LIMITS.stringValueLength],
      [
        'array value length',
        (n) => ({ values: { v: new Array<number>(n).fill(0.5) } }),
        EVENT_LIMITS.arrayValueLength,
      ],
      ['value count', (n) => ({ values: many(n, 1) }), EVENT_LIMITS.valueCount],
      [
        'reference count',
        (n) => ({ dataRefs: Array.from({ length: n }, () => ref()) }),
        EVENT_LIMITS.dataRefCount,
      ],
      ['reference name length', (n) => ({ dataRefs: [ref({ name: s(n) })] }), TEXT_LIMITS.refName],
      ['reference store length', (n) => ({ dataRefs: [ref({ store: s(n) })] }), TEXT_LIMITS.refStore],
      ['context name length', (n) => ({ context: { [s(n)]: 'x' } }), TEXT_LIMITS.contextName],
      ['context value length', (n) => ({ context: { c: s(n) } }), TEXT_LIMITS.contextValue],
      ['context entries', (n) => ({ context: many(n, 'x') }), EVENT_LIMITS.contextEntries],
      ['time', (n) => ({ time: n }), Date.UTC(2200, 0, 1) * 1000],
    ];
    it.each(cases)('%s', (_, make, bound) => {
      expect(agree({ ...MINIMAL, ...make(bound) })).toBeDefined();
      const past = { ...MINIMAL, ...make(bound + 1) };
      expect(agree(past)).toBeUndefined();
      expect(parseEventWithSchema(past).ok).toBe(false);
    });
  });

  it('reads values arrays in place and builds new maps, as the schema does', () => {
    const values = { a: [1, 2] };
    const event = { ...MINIMAL, values };
    const fast = acceptEventFast(event);
    const schema = parseEventWithSchema(event);
    expect(fast?.values['a']).toBe(values.a);
    expect(schema.ok && schema.event.values['a']).toBe(values.a);
    expect(fast?.values).not.toBe(values);
  });
});
