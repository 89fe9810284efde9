// A name the spec does not declare, or a value the contract does not allow, is dealt with at the call that used it: dropped, counted and reported once by default; thrown there with strict.
import { describe, expect, it } from 'vitest';
import {
  CaptureMistakeError,
  InMemoryCaptureExporter,
  init,
  type CaptureOptions,
} from '@provml/capture-agent';

const SPEC = {
  workflow: 'mistakes',
  phase: 'learning',
  tasks: [
    { id: 'training', stage: 'training', inputs: [{ name: 'learning_rate', semantics: 'hyperparameter' }] },
    {
      id: 'validation',
      parent: 'training',
      inputs: [{ name: 'model', semantics: 'model-reference' }],
      outputs: [
        { name: 'val_loss', semantics: 'evaluation-measure' },
        { name: 'val_accuracy', semantics: 'evaluation-measure' },
      ],
    },
  ],
};

async function start(options: Partial<CaptureOptions> = {}) {
  const exporter = new InMemoryCaptureExporter();
  const errors: Error[] = [];
  const capture = await init({ spec: SPEC, exporter, env: {}, onError: (e) => errors.push(e), ...options });
  return { capture, exporter, errors };
}

describe('mistakes at the capture call (default: not strict)', () => {
  it('a typo costs only the mistyped value: reported once at the call, counted, the rest is sent', async () => {
    const { capture, exporter, errors } = await start();
    const run = capture.workflowExecution('typo');
    const t = run.begin('training', { values: { learning_rate: 0.1, learning_rat: 1 } });
    const v = t.begin('validation', { dataRefs: { model: 'file:///m.pt' } });
    v.set('val_los', 0.31); // the typo
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringContaining("value 'learning_rat' is not declared by task 'training'"),
      expect.stringContaining("value 'val_los' is not declared by task 'validation'"),
    ]);
    v.set('val_los', 0.3).set('val_loss', 0.31); // the same typo again: counted, not reported again
    v.end({ values: { val_accuracy: 0.9 }, dataRefs: { modle: 'file:///m.pt' } });
    t.end();
    const result = await capture.shutdown();
    expect(errors).toHaveLength(3);
    expect(errors[2]).toBeInstanceOf(CaptureMistakeError);
    expect((errors[2] as CaptureMistakeError).context).toMatchObject({ kind: 'undeclared', name: 'modle' });
    expect(result).toMatchObject({ delivered: 4, undeclared: 4, invalid: 0, rejected: 0, ok: false });
    const end = exporter.events.find((e) => e.task === 'validation' && e.phase === 'end')!;
    expect(end.values).toEqual({ val_loss: 0.31, val_accuracy: 0.9 });
    expect(end.dataRefs).toEqual([]);
    expect(exporter.events[0]!.values).toEqual({ learning_rate: 0.1 });
  });

  it('values the contract does not allow and relative URIs are dropped as invalid; NaN is a number', async () => {
    const { capture, exporter, errors } = await start();
    const t = capture.workflowExecution('invalid').begin('training');
    const v = t.begin('validation', { dataRefs: { model: 'models/m.pt' } });
    v.set('val_loss', { mean: 1 } as never).set('val_accuracy', Number.NaN);
    v.end();
    t.end();
    const result = await capture.shutdown();
    expect(result).toMatchObject({ invalid: 2, undeclared: 0, delivered: 4 });
    expect(errors.map((e) => (e as CaptureMistakeError).context.kind)).toEqual(['invalid', 'invalid']);
    const end = exporter.events.find((e) => e.task === 'validation' && e.phase === 'end')!;
    expect(end.values.val_accuracy).toBeNaN();
    expect(exporter.events.find((e) => e.task === 'validation')!.dataRefs).toEqual([]);
  });

  it('an undeclared task runs and sends nothing, nor do its children; counted once each', async () => {
    const { capture, exporter, errors } = await start();
    const t = capture.workflowExecution('task').begin('training');
    const x = t.begin('inference', { values: { anything: 1 } });
    x.set('anything', 2);
    x.begin('validation').end({ values: { val_loss: 1 } });
    await x.run('validation', {}, () => undefined);
    x.end();
    t.end();
    const result = await capture.shutdown();
    expect(exporter.events.map((e) => `${e.task}:${e.phase}`)).toEqual(['training:begin', 'training:end']);
    expect(result.undeclared).toBe(3);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringContaining("unknown task 'inference'"),
      expect.stringContaining("task 'validation' runs under an undeclared task"),
    ]);
  });
});

describe('mistakes at the capture call with strict', () => {
  it('set throws there and records nothing; end queues a failed end with the valid values, then throws', async () => {
    const { capture, exporter, errors } = await start({ strict: true });
    const t = capture.workflowExecution('strict').begin('training');
    const v = t.begin('validation');
    expect(() => v.set('val_los', 1)).toThrow(CaptureMistakeError);
    expect(() => v.end({ values: { val_loss: 0.5, val_los: 1 } })).toThrow(/val_los/);
    t.end();
    const result = await capture.shutdown();
    const end = exporter.events.find((e) => e.task === 'validation' && e.phase === 'end')!;
    expect(end).toMatchObject({ status: 'failed', values: { val_loss: 0.5 } });
    expect(errors).toEqual([]);
    expect(result.delivered).toBe(4);
  });
});
