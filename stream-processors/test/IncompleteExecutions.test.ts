/** Unfinished work: open task executions of silent runs become synthetic failed ends, deepest first. */
import { describe, expect, it } from 'vitest';
import type { CaptureEvent } from '@provml/schemas';
import { IncompleteExecutions, INCOMPLETE_CONTEXT_KEY } from '@provml/stream-processors';

const event = (
  workflowExecution: string,
  taskExecution: string,
  phase: 'begin' | 'end',
  time: number,
  parentTaskExecution: string | null = null,
): CaptureEvent => ({
  eventId: `${taskExecution}-${phase}`,
  workflow: 'w',
  workflowExecution,
  task: taskExecution.split('-')[0]!,
  taskExecution,
  parentTaskExecution,
  phase,
  time,
  values: {},
  dataRefs: [],
  status: phase === 'end' ? 'finished' : null,
  context: {},
});

describe('IncompleteExecutions', () => {
  it('closes the open task executions of a run silent past the limit, children first, at its last event', () => {
    const t = new IncompleteExecutions();
    t.observe(event('run1', 'training-1', 'begin', 1_000), 0);
    t.observe(event('run1', 'epoch-1', 'begin', 2_000, 'training-1'), 0);
    t.observe(event('run1', 'batch-1', 'begin', 3_000, 'epoch-1'), 10);
    t.observe(event('run1', 'batch-1', 'end', 4_000, 'epoch-1'), 20);
    expect(t.expire(500, 1_000)).toEqual([]);
    const ends = t.expire(1_020, 1_000);
    expect(ends.map((e) => e.taskExecution)).toEqual(['epoch-1', 'training-1']);
    for (const e of ends) {
      expect(e).toMatchObject({ phase: 'end', status: 'failed', time: 4_000, workflowExecution: 'run1' });
      expect(e.eventId).toBe(`incomplete:${e.taskExecution}`);
      expect(e.context[INCOMPLETE_CONTEXT_KEY]).toContain('no end captured within 1 s');
    }
    expect(ends[0]!.parentTaskExecution).toBe('training-1');
    expect(t.expire(10_000, 1_000)).toEqual([]); // closed once
  });

  it('leaves runs that ended, and runs still active, alone', () => {
    const t = new IncompleteExecutions();
    t.observe(event('done', 'training-1', 'begin', 1), 0);
    t.observe(event('done', 'training-1', 'end', 2), 0);
    t.observe(event('busy', 'training-2', 'begin', 1), 0);
    t.observe(event('busy', 'epoch-2', 'begin', 5, 'training-2'), 900);
    expect(t.size).toBe(1);
    expect(t.expire(1_500, 1_000)).toEqual([]);
    expect(t.isOpen('busy', 'epoch-2')).toBe(true);
  });

  it('forgets the least recently active runs beyond its bound', () => {
    const t = new IncompleteExecutions(2);
    for (const r of ['a', 'b', 'c']) t.observe(event(r, `training-${r}`, 'begin', 1), 0);
    expect(t.size).toBe(2);
    expect(t.isOpen('a', 'training-a')).toBe(false);
  });
});
