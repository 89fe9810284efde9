/** Test fixtures of the processor's tests: a one-task learning spec and capture events of it. */
import type { CaptureEvent } from '@provml/schemas';

/** Workflow `w`: one training task `train` with a hyperparameter `lr`. */
export const SPEC = {
  workflow: 'w',
  phase: 'learning',
  tasks: [{ id: 'train', stage: 'training', inputs: [{ name: 'lr', semantics: 'hyperparameter' }] }],
};

/** A begin event of `train` in run `run-1`, with `over` applied. */
export const event = (over: Partial<CaptureEvent> = {}): CaptureEvent => ({
  eventId: 'e1',
  workflow: 'w',
  workflowExecution: 'run-1',
  task: 'train',
  taskExecution: 't1',
  parentTaskExecution: null,
  phase: 'begin',
  time: 1_700_000_000_000_000,
  values: { lr: 0.1 },
  dataRefs: [],
  status: null,
  context: {},
  ...over,
});
