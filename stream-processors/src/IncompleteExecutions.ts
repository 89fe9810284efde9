/**
 * Unfinished work made visible: task executions that began and never ended (a trainer killed, a node
 * lost) are closed by a synthetic `end` event with status `failed` once their workflow execution has
 * shown no sign of life for a configured time, so queries and dashboards do not count them as running
 * (or silently leave them out) forever. The synthetic events go through the events topic like any
 * other, keyed by their workflow execution, so they are mapped in order and exactly once.
 */
import type { CaptureEvent } from '@provml/schemas';

/** Prefix of the event id of a synthetic end; the rest is the task execution id. */
export const INCOMPLETE_EVENT_PREFIX = 'incomplete:';

/** Context key set on a synthetic end, with the reason. */
export const INCOMPLETE_CONTEXT_KEY = 'provml_incomplete';

interface OpenTask {
  workflow: string;
  task: string;
  parentTaskExecution: string | null;
  /** Nesting depth under the top-level task (children end before their parents). */
  depth: number;
}

interface Run {
  /** Capture time (µs) of its latest event. */
  lastEventUs: number;
  /** Wall-clock time (ms) when its latest event was seen here. */
  lastSeenMs: number;
  open: Map<string, OpenTask>;
}

/** Tracks open task executions per workflow execution, from the events a processor maps. */
export class IncompleteExecutions {
  private readonly runs = new Map<string, Run>();

  /** @param maxRuns workflow executions tracked at most (the oldest are forgotten first). */
  constructor(private readonly maxRuns = 100_000) {}

  /** Records an event this processor mapped. */
  observe(event: CaptureEvent, nowMs: number): void {
    let run = this.runs.get(event.workflowExecution);
    if (run === undefined) {
      run = { lastEventUs: event.time, lastSeenMs: nowMs, open: new Map() };
      if (this.runs.size >= this.maxRuns) this.runs.delete(this.runs.keys().next().value!);
    } else this.runs.delete(event.workflowExecution); // re-insert: most recently active last
    this.runs.set(event.workflowExecution, run);
    run.lastEventUs = Math.max(run.lastEventUs, event.time);
    run.lastSeenMs = nowMs;
    if (event.phase === 'begin') {
      const parent = event.parentTaskExecution === null ? undefined : run.open.get(event.parentTaskExecution);
      run.open.set(event.taskExecution, {
        workflow: event.workflow,
        task: event.task,
        parentTaskExecution: event.parentTaskExecution,
        depth: parent === undefined ? 0 : parent.depth + 1,
      });
    } else run.open.delete(event.taskExecution);
    if (run.open.size === 0) this.runs.delete(event.workflowExecution);
  }

  /** Whether `taskExecution` of `workflowExecution` is open here. */
  isOpen(workflowExecution: string, taskExecution: string): boolean {
    return this.runs.get(workflowExecution)?.open.has(taskExecution) ?? false;
  }

  /** Workflow executions tracked (with open task executions). */
  get size(): number {
    return this.runs.size;
  }

  /**
   * Synthetic end events for every task execution of the runs silent for `afterMs` (deepest first),
   * which stop being tracked. Their time is the run's last sign of life.
   */
  expire(nowMs: number, afterMs: number): CaptureEvent[] {
    const out: CaptureEvent[] = [];
    for (const [workflowExecution, run] of this.runs) {
      if (nowMs - run.lastSeenMs < afterMs) continue;
      const reason = `no end captured within ${Math.round(afterMs / 1000)} s of the run's last event`;
      const open = [...run.open.entries()].sort((a, b) => b[1].depth - a[1].depth);
      for (const [taskExecution, t] of open)
        out.push({
          eventId: `${INCOMPLETE_EVENT_PREFIX}${taskExecution}`,
          workflow: t.workflow,
          workflowExecution,
          task: t.task,
          taskExecution,
          parentTaskExecution: t.parentTaskExecution,
          phase: 'end',
          time: run.lastEventUs,
          values: {},
          dataRefs: [],
          status: 'failed',
          context: { [INCOMPLETE_CONTEXT_KEY]: reason },
        });
      this.runs.delete(workflowExecution);
    }
    return out;
  }
}
