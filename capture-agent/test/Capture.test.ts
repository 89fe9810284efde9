// The capture library: init with a spec, begin/end of nested tasks, scoped helpers, execution context, flush and shutdown.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectExecutionContext,
  InMemoryCaptureExporter,
  init,
  type Capture,
  type CaptureOptions,
  type ExportResult,
} from '@provml/capture-agent';
import { ValidationError, type CaptureEvent, type ProspectiveSpec } from '@provml/schemas';

const SPEC = {
  workflow: 'seismic-training',
  phase: 'learning',
  tasks: [
    { id: 'training', stage: 'training', inputs: [{ name: 'learning_rate', semantics: 'hyperparameter' }] },
    {
      id: 'epoch',
      parent: 'training',
      inputs: [{ name: 'training_set', semantics: 'dataset-reference' }],
      outputs: [
        { name: 'loss', semantics: 'evaluation-measure' },
        { name: 'model', semantics: 'model-reference' },
      ],
    },
    { id: 'batch', parent: 'epoch', outputs: [{ name: 'batch_loss', semantics: 'evaluation-measure' }] },
  ],
};

const SPEC_YAML = `
workflow: seismic-training
phase: learning
tasks:
  - id: training
    stage: training
    inputs:
      - { name: learning_rate, semantics: hyperparameter }
  - id: epoch
    parent: training
`;

/** Records the order of spec and event exports. */
class RecordingExporter extends InMemoryCaptureExporter {
  readonly order: string[] = [];
  shutdownCalls = 0;

  override exportSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    this.order.push(`spec:${spec.workflow}`);
    return super.exportSpec(spec);
  }

  override exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    for (const e of events) this.order.push(`event:${e.eventId}`);
    return super.exportEvents(events);
  }

  override shutdown(): Promise<void> {
    this.shutdownCalls++;
    return super.shutdown();
  }
}

const start = async (
  options: Partial<CaptureOptions> = {},
): Promise<{ capture: Capture; exporter: RecordingExporter }> => {
  const exporter = new RecordingExporter();
  const capture = await init({ spec: SPEC, exporter, scheduledDelayMs: 60_000, ...options });
  return { capture, exporter };
};

const byPhase = (events: readonly CaptureEvent[], task: string, phase: 'begin' | 'end'): CaptureEvent[] =>
  events.filter((e) => e.task === task && e.phase === phase);

const only = (events: readonly CaptureEvent[], task: string, phase: 'begin' | 'end'): CaptureEvent => {
  const found = byPhase(events, task, phase);
  expect(found, `${task} ${phase}`).toHaveLength(1);
  return found[0] as CaptureEvent;
};

describe('init', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provml-capture-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes the spec before any event', async () => {
    const { capture, exporter } = await start();
    expect(exporter.order).toEqual(['spec:seismic-training']);
    expect(exporter.specs[0]?.tasks.map((t) => t.id)).toEqual(['training', 'epoch', 'batch']);
    capture.workflowExecution('wfe-1').begin('training').end();
    await capture.flush();
    expect(exporter.order[0]).toBe('spec:seismic-training');
    expect(exporter.order.slice(1)).toEqual(exporter.events.map((e) => `event:${e.eventId}`));
    expect(exporter.events).toHaveLength(2);
    expect(capture.workflow).toBe('seismic-training');
  });

  it('rejects an invalid spec with a ValidationError listing its issues, publishing nothing', async () => {
    const exporter = new RecordingExporter();
    const bad = {
      workflow: 'w',
      phase: 'sleeping',
      tasks: [{ id: 't', inputs: [{ name: 'x', semantics: 'vibe' }] }],
    };
    const error = await init({ spec: bad, exporter }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    const paths = (error as ValidationError).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['phase', 'tasks.0.inputs.0.semantics']));
    expect(exporter.specs).toHaveLength(0);
  });

  it('reads the spec from a YAML file path', async () => {
    const file = join(dir, 'spec.yaml');
    await writeFile(file, SPEC_YAML, 'utf8');
    const exporter = new RecordingExporter();
    const capture = await init({ spec: file, exporter, strict: true });
    expect(exporter.specs).toHaveLength(1);
    expect(exporter.specs[0]).toMatchObject({ workflow: 'seismic-training', phase: 'learning' });
    const run = capture.workflowExecution('wfe-yaml');
    run.begin('training').begin('epoch').end();
    expect(() => run.begin('batch')).toThrow(ValidationError); // not declared in the YAML spec
    await capture.shutdown();
  });

  it('fails when the spec cannot be published', async () => {
    const exporter = new RecordingExporter();
    exporter.exportSpec = () => Promise.resolve({ kind: 'failure', error: new Error('registry down') });
    await expect(init({ spec: SPEC, exporter })).rejects.toThrow(/registry down/);
  });
});

describe('events', () => {
  it('begin/end carry the contract fields', async () => {
    const { capture, exporter } = await start();
    const run = capture.workflowExecution('wfe-1');
    const before = Date.now() * 1000;
    const t = run.begin('training', { values: { learning_rate: 0.01 } });
    const e = t.begin('epoch', {
      values: {},
      dataRefs: { training_set: 's3://bucket/train.h5' },
    });
    e.end({
      values: { loss: 0.25 },
      dataRefs: [{ name: 'model', uri: 'file:///models/m.pt' }],
    });
    t.end({ status: 'failed' });
    const after = Date.now() * 1000;
    await capture.flush();

    const events = exporter.events;
    expect(events).toHaveLength(4);
    expect(new Set(events.map((x) => x.eventId)).size).toBe(4);
    for (const x of events) {
      expect(x.workflow).toBe('seismic-training');
      expect(x.workflowExecution).toBe('wfe-1');
      expect(Number.isInteger(x.time)).toBe(true);
      expect(x.time).toBeGreaterThanOrEqual(before - 5_000);
      expect(x.time).toBeLessThanOrEqual(after + 5_000);
    }

    const tb = only(events, 'training', 'begin');
    expect(tb).toMatchObject({
      taskExecution: t.id,
      parentTaskExecution: null,
      values: { learning_rate: 0.01 },
      dataRefs: [],
      status: null,
    });
    expect(t.task).toBe('training');

    const eb = only(events, 'epoch', 'begin');
    expect(eb).toMatchObject({
      taskExecution: e.id,
      parentTaskExecution: t.id,
      status: null,
      dataRefs: [{ name: 'training_set', uri: 's3://bucket/train.h5', store: null }],
    });

    const ee = only(events, 'epoch', 'end');
    expect(ee).toMatchObject({
      taskExecution: e.id,
      parentTaskExecution: t.id,
      status: 'finished',
      values: { loss: 0.25 },
      dataRefs: [{ name: 'model', uri: 'file:///models/m.pt', store: null }],
    });

    const te = only(events, 'training', 'end');
    expect(te).toMatchObject({
      taskExecution: t.id,
      parentTaskExecution: null,
      status: 'failed',
      values: {},
    });
    expect(t.id).not.toBe(e.id);
    expect(events.map((x) => x.phase)).toEqual(['begin', 'begin', 'end', 'end']);
    expect(te.time).toBeGreaterThanOrEqual(tb.time);
  });

  it('keeps the store of array-form data references', async () => {
    const { capture, exporter } = await start();
    capture
      .workflowExecution('wfe-1')
      .begin('training')
      .begin('epoch', { dataRefs: [{ name: 'training_set', uri: 'file:///lustre/t.h5', store: 'lustre' }] });
    await capture.flush();
    expect(only(exporter.events, 'epoch', 'begin').dataRefs).toEqual([
      { name: 'training_set', uri: 'file:///lustre/t.h5', store: 'lustre' },
    ]);
  });

  it('links workflow ▸ training ▸ epoch ▸ batch by parentTaskExecution', async () => {
    const { capture, exporter } = await start();
    const run = capture.workflowExecution();
    expect(run.id).toMatch(/^seismic-training-/);
    const training = run.begin('training');
    const epochs = [training.begin('epoch'), training.begin('epoch')];
    const batches = epochs.flatMap((ep) => [ep.begin('batch'), ep.begin('batch')]);
    for (const b of batches) b.end({ values: { batch_loss: 1 } });
    for (const ep of epochs) ep.end();
    training.end();
    await capture.flush();

    const events = exporter.events;
    expect(events).toHaveLength(2 * (1 + 2 + 4));
    expect(new Set(events.map((x) => x.workflowExecution))).toEqual(new Set([run.id]));
    const parentOf = new Map(events.map((x) => [x.taskExecution, x.parentTaskExecution]));
    expect(parentOf.get(training.id)).toBeNull();
    for (const ep of epochs) expect(parentOf.get(ep.id)).toBe(training.id);
    batches.forEach((b, i) => expect(parentOf.get(b.id)).toBe(epochs[Math.floor(i / 2)]?.id));
    // end events carry the same parent as their begin
    for (const x of events.filter((ev) => ev.phase === 'end')) {
      const begin = events.find((ev) => ev.phase === 'begin' && ev.taskExecution === x.taskExecution);
      expect(x.parentTaskExecution).toBe(begin?.parentTaskExecution);
    }
    expect(new Set(events.map((x) => x.taskExecution)).size).toBe(7);
  });

  it('end() twice emits one end event', async () => {
    const { capture, exporter } = await start();
    const t = capture.workflowExecution('wfe-1').begin('training');
    t.end();
    t.end({ status: 'failed' });
    await capture.flush();
    expect(byPhase(exporter.events, 'training', 'end')).toHaveLength(1);
    expect(only(exporter.events, 'training', 'end').status).toBe('finished');
  });

  it('strict: throws a ValidationError synchronously for an unknown task and emits nothing', async () => {
    const { capture, exporter } = await start({ strict: true });
    const run = capture.workflowExecution('wfe-1');
    let thrown: unknown;
    try {
      run.begin('inference');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect((thrown as ValidationError).issues[0]?.path).toBe('task');
    expect(() => run.begin('training').begin('nope')).toThrow(ValidationError);
    await capture.flush();
    expect(exporter.events.map((e) => e.task)).toEqual(['training']);
  });
});

describe('scoped helper run', () => {
  it('ends the task as finished with the values set inside, and returns the result', async () => {
    const { capture, exporter } = await start();
    const run = capture.workflowExecution('wfe-1');
    const result = await run.run('training', { values: { learning_rate: 0.1 } }, async (t) =>
      t.run('epoch', {}, (ep) => {
        ep.set('loss', 0.5).addDataRef('model', 'file:///models/e1.pt', 'lustre');
        return 42;
      }),
    );
    expect(result).toBe(42);
    await capture.flush();
    const epochEnd = only(exporter.events, 'epoch', 'end');
    expect(epochEnd).toMatchObject({
      status: 'finished',
      values: { loss: 0.5 },
      dataRefs: [{ name: 'model', uri: 'file:///models/e1.pt', store: 'lustre' }],
    });
    expect(only(exporter.events, 'epoch', 'begin').values).toEqual({});
    expect(epochEnd.parentTaskExecution).toBe(only(exporter.events, 'training', 'begin').taskExecution);
    expect(only(exporter.events, 'training', 'end')).toMatchObject({ status: 'finished' });
  });

  it('ends the task as failed when the callback throws, and rethrows', async () => {
    const { capture, exporter } = await start();
    const run = capture.workflowExecution('wfe-1');
    const boom = new Error('diverged');
    await expect(
      run.run('training', {}, async (t) => {
        t.set('learning_rate', 1e9);
        await Promise.resolve();
        throw boom;
      }),
    ).rejects.toBe(boom);
    await expect(
      run.run('training', {}, () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    await capture.flush();
    const ends = byPhase(exporter.events, 'training', 'end');
    expect(ends.map((e) => e.status)).toEqual(['failed', 'failed']);
    expect(ends[0]?.values).toEqual({ learning_rate: 1e9 });
  });

  it('values passed to end() win over values set before', async () => {
    const { capture, exporter } = await start();
    const t = capture.workflowExecution('wfe-1').begin('training').begin('epoch');
    t.set('loss', 1).end({ values: { loss: 2 } });
    await capture.flush();
    expect(only(exporter.events, 'epoch', 'end').values).toEqual({ loss: 2 });
  });
});

describe('execution context', () => {
  it('is on top-level begin events only, with host and pid, job ids from the injected env', async () => {
    const { capture, exporter } = await start({
      env: { SLURM_JOB_ID: '991823', SLURM_JOB_NODELIST: 'gpu[01-04]' },
      context: { experiment: 'exp-7' },
    });
    const t = capture.workflowExecution('wfe-1').begin('training');
    t.begin('epoch').end();
    t.end();
    await capture.flush();
    const top = only(exporter.events, 'training', 'begin').context;
    expect(top).toMatchObject({
      host: hostname(),
      pid: String(process.pid),
      scheduler: 'slurm',
      jobId: '991823',
      nodes: 'gpu[01-04]',
      experiment: 'exp-7',
    });
    expect(capture.context).toEqual(top);
    for (const e of exporter.events.filter((x) => !(x.task === 'training' && x.phase === 'begin')))
      expect(e.context).toEqual({});
  });

  it('reads process.env when no env is given, and none of it with env {}', async () => {
    const previous = process.env.SLURM_JOB_ID;
    process.env.SLURM_JOB_ID = 'from-process-env';
    try {
      const byDefault = (await start()).capture;
      expect(byDefault.context).toMatchObject({ scheduler: 'slurm', jobId: 'from-process-env' });
      const none = (await start({ env: {} })).capture;
      expect(none.context.jobId).toBeUndefined();
      expect(none.context.scheduler).toBeUndefined();
    } finally {
      if (previous === undefined) delete process.env.SLURM_JOB_ID;
      else process.env.SLURM_JOB_ID = previous;
    }
  });

  it('collectExecutionContext recognises SLURM, PBS and LSF and visible GPUs', () => {
    const base = collectExecutionContext({});
    expect(base).toMatchObject({ host: hostname(), pid: String(process.pid) });
    expect(base.runtime).toBe(`node ${process.version}`);
    expect(base).not.toHaveProperty('jobId');
    expect(base).not.toHaveProperty('scheduler');
    expect(base).not.toHaveProperty('gpus');

    expect(collectExecutionContext({ SLURM_JOB_ID: '1', SLURM_JOB_NODELIST: 'n[1-2]' })).toMatchObject({
      scheduler: 'slurm',
      jobId: '1',
      nodes: 'n[1-2]',
    });
    expect(
      collectExecutionContext({ PBS_JOBID: '2.pbs01', PBS_NODEFILE: '/var/spool/pbs/aux/2' }),
    ).toMatchObject({
      scheduler: 'pbs',
      jobId: '2.pbs01',
      nodes: '/var/spool/pbs/aux/2',
    });
    const lsf = collectExecutionContext({ LSB_JOBID: '3' });
    expect(lsf).toMatchObject({ scheduler: 'lsf', jobId: '3' });
    expect(lsf).not.toHaveProperty('nodes');
    expect(collectExecutionContext({ SLURM_JOB_ID: '', PBS_JOBID: '4' })).toMatchObject({
      scheduler: 'pbs',
      jobId: '4',
    });
    // the first scheduler found wins, and its nodes are not mixed with another's
    const both = collectExecutionContext({ SLURM_JOB_ID: '5', LSB_JOBID: '6', LSB_HOSTS: 'h1 h2' });
    expect(both).toMatchObject({ scheduler: 'slurm', jobId: '5' });
    expect(both).not.toHaveProperty('nodes');
    expect(collectExecutionContext({ CUDA_VISIBLE_DEVICES: '0,1' }).gpus).toBe('0,1');
    expect(collectExecutionContext({ CUDA_VISIBLE_DEVICES: '' })).not.toHaveProperty('gpus');
  });
});

describe('lifecycle', () => {
  it('flush() delivers every event to the exporter before the batch timer fires', async () => {
    const { capture, exporter } = await start({ maxBatchSize: 4 });
    const run = capture.workflowExecution('wfe-1');
    const t = run.begin('training');
    for (let i = 0; i < 5; i++) t.begin('epoch').end({ values: { loss: i } });
    t.end();
    expect(exporter.events.length).toBeLessThan(12);
    await capture.flush();
    expect(exporter.events).toHaveLength(12);
    expect(capture.stats).toMatchObject({ enqueued: 12, exported: 12, dropped: 0, failed: 0 });
    expect(byPhase(exporter.events, 'epoch', 'end').map((e) => e.values.loss)).toEqual([0, 1, 2, 3, 4]);
  });

  it('shutdown(Infinity) waits for a slow transport as long as it takes: nothing is spilled', async () => {
    /** Answers each batch after 30 ms. */
    class SlowExporter extends RecordingExporter {
      override async exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
        await new Promise((r) => setTimeout(r, 30));
        return super.exportEvents(events);
      }
    }
    const exporter = new SlowExporter();
    const errors: Error[] = [];
    const capture = await init({
      spec: SPEC,
      exporter,
      scheduledDelayMs: 60_000,
      spill: { dir: await mkdtemp(join(tmpdir(), 'provml-spill-infinity-')) },
      onError: (e) => errors.push(e),
    });
    capture.workflowExecution('wfe-1').begin('training').end();
    const result = await capture.shutdown(Infinity);
    expect(errors.map((e) => e.message)).toEqual([]); // before: "capture transport down (no answer within 2000 ms)" at once
    expect(result).toMatchObject({ delivered: 2, spooled: 0, ok: true });
    expect(exporter.events).toHaveLength(2);
  });

  it('shutdown() flushes, closes the exporter once and is idempotent', async () => {
    const { capture, exporter } = await start();
    capture.workflowExecution('wfe-1').begin('training').end();
    await Promise.all([capture.shutdown(), capture.shutdown()]);
    await capture.shutdown();
    expect(exporter.shutdownCalls).toBe(1);
    expect(exporter.isShutdown).toBe(true);
    expect(exporter.events).toHaveLength(2);
    const late = capture.workflowExecution('wfe-2').begin('training');
    expect(capture.stats.dropped).toBe(1);
    expect(late.complete).toBe(false); // the caller can see its provenance is partial
  });
});
