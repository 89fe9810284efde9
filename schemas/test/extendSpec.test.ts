// Spec versions of one workflow add up: a later version adds and restates, never takes a name back.
import { describe, expect, it } from 'vitest';
import { compileSpec, extendSpec } from '../src/index.ts';

const v1 = compileSpec({
  workflow: 'w',
  phase: 'learning',
  tasks: [
    { id: 'training', stage: 'training', inputs: [{ name: 'lr', semantics: 'hyperparameter' }] },
    { id: 'epoch', parent: 'training', outputs: [{ name: 'loss', semantics: 'evaluation-measure' }] },
  ],
});

const names = (spec: ReturnType<typeof compileSpec>, task: string): string[] =>
  [...(spec.attributes.get(task)?.keys() ?? [])].sort();

describe('extendSpec', () => {
  it('keeps the names and tasks of the earlier version that the later one does not restate', () => {
    const v2 = compileSpec({
      workflow: 'w',
      phase: 'learning',
      name: 'second',
      tasks: [
        { id: 'training', stage: 'training', inputs: [{ name: 'batch_size', semantics: 'hyperparameter' }] },
      ],
    });
    const spec = extendSpec(v1, v2);
    expect(names(spec, 'training')).toEqual(['batch_size', 'lr']);
    expect(names(spec, 'epoch')).toEqual(['loss']);
    expect(spec.tasks.get('epoch')?.parent).toBe('training');
    expect(spec.spec.name).toBe('second'); // the later version's fields win
  });

  it('lets the later version restate a name with other semantics or direction', () => {
    const v2 = compileSpec({
      workflow: 'w',
      phase: 'learning',
      tasks: [{ id: 'training', stage: 'training', outputs: [{ name: 'lr', semantics: 'output-value' }] }],
    });
    const lr = extendSpec(v1, v2).attributes.get('training')?.get('lr');
    expect(lr).toMatchObject({ semantics: 'output-value', direction: 'output' });
  });

  it('answers the later version itself when it adds nothing, when there is no earlier one or another workflow', () => {
    expect(extendSpec(v1, v1)).toBe(v1);
    expect(extendSpec(undefined, v1)).toBe(v1);
    const other = compileSpec({ ...v1.spec, workflow: 'other' });
    expect(extendSpec(v1, other)).toBe(other);
  });

  it('answers the later version alone where keeping the earlier names would make an invalid spec', () => {
    // the earlier characteristic describes a dataset the later version restates as a plain parameter
    const d1 = compileSpec({
      workflow: 'd',
      phase: 'learning',
      tasks: [
        {
          id: 'load',
          inputs: [
            { name: 'data', semantics: 'dataset-reference' },
            { name: 'rows', semantics: 'dataset-characteristic', characterizes: 'data' },
          ],
        },
      ],
    });
    const d2 = compileSpec({
      workflow: 'd',
      phase: 'learning',
      tasks: [{ id: 'load', inputs: [{ name: 'data', semantics: 'parameter' }] }],
    });
    expect(extendSpec(d1, d2)).toBe(d2);
  });
});
