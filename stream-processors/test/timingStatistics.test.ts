/**
 * Timing statistics recorded by the mapper when an execution ends: per task, the durations of the
 * executions that ended inside it (children and descendants), only when its begin was seen.
 */
import { describe, expect, it } from 'vitest';
import type { Quad } from 'n3';
import { compileSpec, PROVML, type CaptureEvent } from '@provml/schemas';
import { IriMinter, mapEvent, MappingState } from '@provml/stream-processors';

const iris = new IriMinter();
const spec = compileSpec({
  workflow: 'w',
  phase: 'learning',
  tasks: [
    { id: 'training', stage: 'training' },
    { id: 'epoch', parent: 'training' },
    { id: 'batch', parent: 'epoch' },
  ],
});

const event = (
  task: string,
  taskExecution: string,
  parent: string | null,
  phase: 'begin' | 'end',
  seconds: number,
): CaptureEvent => ({
  eventId: `${taskExecution}-${phase}`,
  workflow: 'w',
  workflowExecution: 'run',
  task,
  taskExecution,
  parentTaskExecution: parent,
  phase,
  time: 1_700_000_000_000_000 + Math.round(seconds * 1e6),
  values: {},
  dataRefs: [],
  status: phase === 'end' ? 'finished' : null,
  context: {},
});

/** A training of two epochs: epoch 0 with batches of 1, 2 and 3 s, epoch 1 with one batch of 6 s. */
function training(): CaptureEvent[] {
  const e: CaptureEvent[] = [event('training', 'tr', null, 'begin', 0)];
  let t = 0;
  e.push(event('epoch', 'e0', 'tr', 'begin', t));
  for (const [i, d] of [1, 2, 3].entries()) {
    e.push(event('batch', `b0${i}`, 'e0', 'begin', t), event('batch', `b0${i}`, 'e0', 'end', (t += d)));
  }
  e.push(event('epoch', 'e0', 'tr', 'end', (t += 0.5))); // 6.5 s
  e.push(event('epoch', 'e1', 'tr', 'begin', t));
  e.push(event('batch', 'b10', 'e1', 'begin', t), event('batch', 'b10', 'e1', 'end', (t += 6)));
  e.push(event('epoch', 'e1', 'tr', 'end', (t += 0.5))); // 6.5 s
  e.push(event('training', 'tr', null, 'end', (t += 1)));
  return e;
}

/** The statistics stated in `quads`: execution → task id → figures. */
function statistics(quads: readonly Quad[]): Record<string, Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, Record<string, number>>> = {};
  const of = (p: string): Quad[] => quads.filter((q) => q.predicate.value === p);
  for (const link of of(PROVML.hasTimingStatistics)) {
    const node = link.object.value;
    const task = of(PROVML.ofTask)
      .find((q) => q.subject.value === node)!
      .object.value.split('/')
      .pop()!;
    const figure = (p: string): number => Number(of(p).find((q) => q.subject.value === node)!.object.value);
    const execution = link.subject.value.split('/').pop()!;
    (out[execution] ??= {})[task] = {
      count: figure(PROVML.executionCount),
      min: figure(PROVML.minSeconds),
      mean: figure(PROVML.meanSeconds),
      max: figure(PROVML.maxSeconds),
    };
  }
  return out;
}

describe('timing statistics', () => {
  it('states per task the count, min, mean and max of the durations inside each ended execution', () => {
    const state = new MappingState();
    const quads = training().flatMap((e) => mapEvent(e, spec, state, iris));
    expect(statistics(quads)).toEqual({
      e0: { batch: { count: 3, min: 1, mean: 2, max: 3 } },
      e1: { batch: { count: 1, min: 6, mean: 6, max: 6 } },
      tr: {
        epoch: { count: 2, min: 6.5, mean: 6.5, max: 6.5 },
        batch: { count: 4, min: 1, mean: 3, max: 6 },
      },
    });
    expect(state.open.size).toBe(0);
  });

  it('states none for an execution whose begin it did not see (a restarted processor): no partial figures', () => {
    const events = training();
    const state = new MappingState();
    // the processor restarted after the training and its first epoch began: their begins are lost
    const afterRestart = events.filter(
      (e) => !(e.phase === 'begin' && (e.taskExecution === 'tr' || e.taskExecution === 'e0')),
    );
    const stats = statistics(afterRestart.flatMap((e) => mapEvent(e, spec, state, iris)));
    expect(stats).toEqual({ e1: { batch: { count: 1, min: 6, mean: 6, max: 6 } } });
  });

  it('keeps nothing of a leaf execution beyond its open entry (batches carry no summaries)', () => {
    const state = new MappingState();
    const events = training();
    for (const e of events.slice(0, 3)) mapEvent(e, spec, state, iris); // training, epoch, batch begun
    const batch = state.open.get(iris.taskExecution('run', 'b00'))!;
    expect(batch.timings).toBeUndefined();
    mapEvent(events[3]!, spec, state, iris); // the batch ends
    expect(state.open.get(iris.taskExecution('run', 'e0'))!.timings?.get('batch')).toEqual({
      count: 1,
      sum: 1,
      min: 1,
      max: 1,
    });
  });
});
