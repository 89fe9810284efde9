// The prospective spec (contract 2): JSON/YAML input, validation issues with their paths, and the indexes built from it.
import { describe, expect, it } from 'vitest';
import { compileSpec, ValidationError, type CompiledSpec, type ValidationIssue } from '@provml/schemas';

const validSpec = () => ({
  workflow: 'seismic-facies-training',
  name: 'Seismic facies classification',
  phase: 'learning',
  version: '1',
  tasks: [
    {
      id: 'training',
      stage: 'training',
      inputs: [
        { name: 'learning_rate', semantics: 'hyperparameter' },
        { name: 'training_set', semantics: 'dataset-reference' },
        { name: 'tile_count', semantics: 'dataset-characteristic', characterizes: 'training_set' },
      ],
      outputs: [{ name: 'model', semantics: 'model-reference' }],
    },
    {
      id: 'epoch',
      parent: 'training',
      outputs: [{ name: 'loss', semantics: 'evaluation-measure', unit: '1' }],
    },
    { id: 'validation', parent: null, stage: 'validation' },
  ],
});

const YAML_TEXT = `
# a YAML spec with the same content as validSpec()
workflow: seismic-facies-training
name: Seismic facies classification
phase: learning
version: "1"
tasks:
  - id: training
    stage: training
    inputs:
      - { name: learning_rate, semantics: hyperparameter }
      - { name: training_set, semantics: dataset-reference }
      - name: tile_count
        semantics: dataset-characteristic
        characterizes: training_set
    outputs:
      - { name: model, semantics: model-reference }
  - id: epoch
    parent: training
    outputs:
      - { name: loss, semantics: evaluation-measure, unit: "1" }
  - id: validation
    parent: null
    stage: validation
`;

/** Compiles `input` expecting a ValidationError, and returns it. */
const rejection = (input: unknown): ValidationError => {
  try {
    compileSpec(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    const v = error as ValidationError;
    expect(v.issues.length).toBeGreaterThan(0);
    expect(v.code).toBe('invalid-input');
    expect(v.retriable).toBe(false);
    return v;
  }
  throw new Error('expected compileSpec to throw');
};

const paths = (issues: readonly ValidationIssue[]): string[] => issues.map((i) => i.path);

/** A valid spec with `change` applied to a deep copy. */
const variant = (change: (spec: ReturnType<typeof validSpec>) => void): unknown => {
  const spec = validSpec();
  change(spec);
  return spec;
};

const expectCompiled = (compiled: CompiledSpec): void => {
  expect(compiled.spec.workflow).toBe('seismic-facies-training');
  expect(compiled.spec.phase).toBe('learning');
  expect([...compiled.tasks.keys()]).toEqual(['training', 'epoch', 'validation']);
  expect(compiled.tasks.get('training')?.stage).toBe('training');
  expect(compiled.tasks.get('epoch')?.parent).toBe('training');
  // inputs and outputs default to empty lists
  expect(compiled.tasks.get('validation')).toMatchObject({ inputs: [], outputs: [] });

  const training = compiled.attributes.get('training');
  expect([...(training?.keys() ?? [])]).toEqual(['learning_rate', 'training_set', 'tile_count', 'model']);
  expect(training?.get('learning_rate')).toEqual({
    name: 'learning_rate',
    semantics: 'hyperparameter',
    direction: 'input',
  });
  expect(training?.get('tile_count')).toMatchObject({ direction: 'input', characterizes: 'training_set' });
  expect(training?.get('model')).toMatchObject({ semantics: 'model-reference', direction: 'output' });
  expect(compiled.attributes.get('epoch')?.get('loss')).toEqual({
    name: 'loss',
    semantics: 'evaluation-measure',
    unit: '1',
    direction: 'output',
  });
  expect(compiled.attributes.get('validation')?.size).toBe(0);
  expect(compiled.attributes.has('unknown')).toBe(false);
};

describe('compileSpec: valid input', () => {
  it('compiles a JSON object and indexes tasks and attributes with their direction', () => {
    expectCompiled(compileSpec(validSpec()));
  });

  it('compiles JSON text', () => {
    expectCompiled(compileSpec(JSON.stringify(validSpec(), null, 2)));
  });

  it('compiles YAML text', () => {
    const compiled = compileSpec(YAML_TEXT);
    expectCompiled(compiled);
    expect(compiled.spec).toEqual(compileSpec(validSpec()).spec);
  });

  it('accepts every lifecycle phase and a minimal task', () => {
    for (const phase of ['data-curation', 'learning-data-preparation', 'learning'])
      expect(compileSpec({ workflow: 'w', phase, tasks: [{ id: 't' }] }).spec.phase).toBe(phase);
  });
});

describe('compileSpec: invalid input names the path', () => {
  it('rejects unknown semantics', () => {
    const e = rejection(variant((s) => Object.assign(s.tasks[0]!.inputs![0]!, { semantics: 'weight' })));
    expect(paths(e.issues)).toEqual(['tasks.0.inputs.0.semantics']);
  });

  it('rejects a missing phase', () => {
    const e = rejection(variant((s) => delete (s as { phase?: string }).phase));
    expect(paths(e.issues)).toEqual(['phase']);
  });

  it('rejects an unknown lifecycle phase', () => {
    const e = rejection(variant((s) => Object.assign(s, { phase: 'inference' })));
    expect(paths(e.issues)).toEqual(['phase']);
  });

  it('rejects an unknown stage', () => {
    const e = rejection(variant((s) => Object.assign(s.tasks[1]!, { stage: 'deployment' })));
    expect(paths(e.issues)).toEqual(['tasks.1.stage']);
  });

  it('rejects a spec without tasks', () => {
    const e = rejection(variant((s) => Object.assign(s, { tasks: [] })));
    expect(paths(e.issues)).toEqual(['tasks']);
  });

  it('rejects a duplicate task id', () => {
    const e = rejection(variant((s) => s.tasks.push({ id: 'epoch', parent: 'training', outputs: [] })));
    expect(paths(e.issues)).toEqual(['tasks.3.id']);
    expect(e.issues[0]?.message).toContain('epoch');
    expect(e.context.workflow).toBe('seismic-facies-training');
  });

  it('rejects an unknown parent', () => {
    const e = rejection(variant((s) => Object.assign(s.tasks[1]!, { parent: 'trainnig' })));
    expect(paths(e.issues)).toEqual(['tasks.1.parent']);
    expect(e.issues[0]?.message).toContain('trainnig');
  });

  it('rejects a parent cycle', () => {
    const e = rejection({
      workflow: 'w',
      phase: 'learning',
      tasks: [
        { id: 'a', parent: 'b' },
        { id: 'b', parent: 'a' },
        { id: 'c', parent: 'a' },
      ],
    });
    expect(e.issues.length).toBeGreaterThan(0);
    expect(e.issues.every((i) => i.path === 'tasks' && /cycle/.test(i.message))).toBe(true);
  });

  it('rejects a task that is its own parent', () => {
    const e = rejection({ workflow: 'w', phase: 'learning', tasks: [{ id: 'a', parent: 'a' }] });
    expect(paths(e.issues)).toEqual(['tasks']);
  });

  it('rejects an attribute declared twice in a task, across inputs and outputs', () => {
    const e = rejection(
      variant((s) => s.tasks[1]!.outputs!.push({ name: 'loss', semantics: 'output-value', unit: '1' })),
    );
    expect(paths(e.issues)).toEqual(['tasks.1']);
    expect(e.issues[0]?.message).toContain('loss');
    const io = rejection(
      variant((s) =>
        s.tasks[0]!.outputs!.push({ name: 'learning_rate', semantics: 'output-value', unit: '1' }),
      ),
    );
    expect(paths(io.issues)).toEqual(['tasks.0']);
  });

  it('allows the same attribute name in different tasks', () => {
    const spec = variant((s) =>
      s.tasks[1]!.outputs!.push({ name: 'learning_rate', semantics: 'output-value', unit: '1' }),
    );
    expect(compileSpec(spec).attributes.get('epoch')?.get('learning_rate')?.direction).toBe('output');
  });

  it('rejects characterizes naming a non-dataset-reference', () => {
    const e = rejection(
      variant((s) => Object.assign(s.tasks[0]!.inputs![2]!, { characterizes: 'learning_rate' })),
    );
    expect(paths(e.issues)).toEqual(['tasks.0']);
    expect(e.issues[0]?.message).toContain('tile_count');
    const missing = rejection(
      variant((s) => Object.assign(s.tasks[0]!.inputs![2]!, { characterizes: 'nothing' })),
    );
    expect(paths(missing.issues)).toEqual(['tasks.0']);
  });

  it('rejects characterizes on anything but a dataset-characteristic', () => {
    const e = rejection(
      variant((s) => Object.assign(s.tasks[0]!.inputs![0]!, { characterizes: 'training_set' })),
    );
    expect(paths(e.issues)).toEqual(['tasks.0']);
  });

  it('rejects unknown fields at every level (strict)', () => {
    const top = rejection(variant((s) => Object.assign(s, { owner: 'me' })));
    expect(paths(top.issues)).toEqual(['']);
    expect(top.issues[0]?.message).toContain('owner');
    const task = rejection(variant((s) => Object.assign(s.tasks[1]!, { stages: 'training' })));
    expect(paths(task.issues)).toEqual(['tasks.1']);
    const attr = rejection(variant((s) => Object.assign(s.tasks[0]!.inputs![0]!, { type: 'float' })));
    expect(paths(attr.issues)).toEqual(['tasks.0.inputs.0']);
  });

  it('rejects identifiers with bad characters', () => {
    expect(paths(rejection(variant((s) => Object.assign(s, { workflow: 'my workflow' }))).issues)).toEqual([
      'workflow',
    ]);
    expect(paths(rejection(variant((s) => Object.assign(s.tasks[1]!, { id: 'ep/och' }))).issues)).toContain(
      'tasks.1.id',
    );
    expect(
      paths(rejection(variant((s) => Object.assign(s.tasks[0]!.inputs![0]!, { name: '-lr' }))).issues),
    ).toEqual(['tasks.0.inputs.0.name']);
    expect(new Set(paths(rejection(variant((s) => Object.assign(s, { workflow: '' }))).issues))).toEqual(
      new Set(['workflow']),
    );
  });

  it('reports every problem at once', () => {
    const e = rejection({
      workflow: 'w',
      phase: 'nope',
      tasks: [{ id: 't', stage: 'x', inputs: [{ name: 'a', semantics: 'b' }] }],
    });
    expect(paths(e.issues)).toEqual(
      expect.arrayContaining(['phase', 'tasks.0.stage', 'tasks.0.inputs.0.semantics']),
    );
  });

  it('rejects text that is neither JSON nor YAML', () => {
    const e = rejection('{"workflow": "w", "phase": "learning", "tasks": [');
    expect(e.message).toMatch(/neither JSON nor YAML/);
    expect(paths(e.issues)).toEqual(['']);
  });

  it('rejects text that parses to something other than a spec object', () => {
    expect(paths(rejection('just a sentence').issues)).toEqual(['']);
    expect(paths(rejection('').issues)).toEqual(['']);
    expect(paths(rejection(42).issues)).toEqual(['']);
  });
});
