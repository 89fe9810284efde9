/** fast-check arbitraries of valid capture events and the spec that declares their values. */
import fc from 'fast-check';
import { compileSpec, isAbsoluteIri, type CaptureEvent, type CaptureValue } from '@provml/schemas';

/** Names of declared values and data references. */
export const VALUE_NAMES = ['v0', 'v1', 'v2', 'v3'] as const;
export const REF_NAMES = ['r0', 'r1'] as const;

/** A spec whose one task declares every value and reference name above. */
export const PROPERTY_SPEC = compileSpec({
  workflow: 'prop',
  phase: 'learning',
  tasks: [
    {
      id: 'task',
      inputs: [
        ...VALUE_NAMES.map((name) => ({ name, semantics: 'parameter' })),
        ...REF_NAMES.map((name) => ({ name, semantics: 'data-reference' })),
      ],
    },
  ],
});

/** A finite double, with -0 read as 0 (JSON has no negative zero). */
const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x));

/** Any value the contract allows. */
export const captureValue: fc.Arbitrary<CaptureValue> = fc.oneof(
  fc.boolean(),
  finite,
  fc.string({ maxLength: 40, unit: 'binary' }),
  fc.array(finite, { maxLength: 8 }),
);

const id = fc.string({ minLength: 1, maxLength: 40, unit: 'binary' });
const uri = fc.webUrl({ withQueryParameters: true, withFragments: true }).filter(isAbsoluteIri);

/** A valid capture event of {@link PROPERTY_SPEC}, in its normalised form. */
export const captureEvent: fc.Arbitrary<CaptureEvent> = fc
  .record({
    eventId: id,
    workflowExecution: id,
    taskExecution: id,
    parentTaskExecution: fc.option(id, { nil: null }),
    phase: fc.constantFrom('begin' as const, 'end' as const),
    time: fc.integer({ min: 0, max: Date.UTC(2199, 0, 1) * 1000 }),
    values: fc.dictionary(fc.constantFrom(...VALUE_NAMES), captureValue, { maxKeys: 4 }),
    dataRefs: fc.array(
      fc.record({
        name: fc.constantFrom(...REF_NAMES),
        uri,
        store: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: null }),
      }),
      { maxLength: 3 },
    ),
    failed: fc.boolean(),
    context: fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 20 }), {
      maxKeys: 3,
    }),
  })
  .filter((e) => e.parentTaskExecution !== e.taskExecution && !Object.hasOwn(e.context, '__proto__'))
  .map(({ failed, ...e }) => ({
    ...e,
    workflow: 'prop',
    task: 'task',
    status: e.phase === 'end' ? (failed ? ('failed' as const) : ('finished' as const)) : null,
  }));
