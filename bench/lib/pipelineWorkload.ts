/**
 * The workload of the pipeline benchmarks: a spec and a training loop shaped like the paper's Fig. 5
 * (35 batches per epoch, begin/end per batch and per epoch, a loss per batch, loss and accuracy per
 * epoch, hyperparameters and a training set on the training task), driven one capture call at a time.
 */
import type { Capture, TaskRun, WorkflowRun } from '@provml/capture-agent';

/** The prospective spec of the benchmark trainer. */
export const BENCH_SPEC = {
  workflow: 'bench-training',
  phase: 'learning',
  tasks: [
    {
      id: 'training',
      stage: 'training',
      inputs: [
        { name: 'learning_rate', semantics: 'hyperparameter' },
        { name: 'batch_size', semantics: 'hyperparameter' },
        { name: 'training_set', semantics: 'dataset-reference' },
      ],
      outputs: [{ name: 'final_loss', semantics: 'output-value' }],
    },
    {
      id: 'epoch',
      parent: 'training',
      outputs: [
        { name: 'loss', semantics: 'evaluation-measure' },
        { name: 'accuracy', semantics: 'evaluation-measure' },
      ],
    },
    { id: 'batch', parent: 'epoch', outputs: [{ name: 'loss', semantics: 'output-value' }] },
  ],
};

/** Batches per epoch, as in the paper's Fig. 5 workload. */
export const BATCHES_PER_EPOCH = 35;

/** Events of one training run of `epochs` epochs: 2 per batch, 2 per epoch, 2 for the training. */
export const eventsPerRun = (epochs: number): number => 2 + epochs * (2 + 2 * BATCHES_PER_EPOCH);

/**
 * The Fig. 5 loop as a state machine: each `step()` makes exactly one capture call (one event), so a
 * paced producer can offer an exact rate. Runs follow each other (a new workflow execution each).
 */
export class Fig5Loop {
  private run: WorkflowRun | undefined;
  private training: TaskRun | undefined;
  private epoch: TaskRun | undefined;
  private batch: TaskRun | undefined;
  private e = 0;
  private b = 0;
  private runs = 0;
  /** Events made so far. */
  events = 0;

  constructor(
    private readonly capture: Capture,
    private readonly epochs: number,
    private readonly runPrefix: string,
  ) {}

  /** Makes the next event. */
  step(): void {
    this.events++;
    if (this.training === undefined) {
      this.run = this.capture.workflowExecution(`${this.runPrefix}-${this.runs++}`);
      this.training = this.run.begin('training', {
        values: { learning_rate: 0.001, batch_size: 32 },
        dataRefs: [{ name: 'training_set', uri: 'file:///data/tiles/train.npz', store: 'lustre' }],
      });
      this.e = 0;
      return;
    }
    if (this.epoch === undefined) {
      if (this.e === this.epochs) {
        this.training.end({ values: { final_loss: 0.1 } });
        this.training = undefined;
        return;
      }
      this.epoch = this.training.begin('epoch');
      this.b = 0;
      return;
    }
    if (this.batch === undefined) {
      if (this.b === BATCHES_PER_EPOCH) {
        this.epoch.end({ values: { loss: 1 / (1 + this.e), accuracy: 0.5 + this.e / (2 * this.epochs) } });
        this.epoch = undefined;
        this.e++;
        return;
      }
      this.batch = this.epoch.begin('batch');
      return;
    }
    this.batch.end({ values: { loss: 1 / (1 + this.e + this.b / BATCHES_PER_EPOCH) } });
    this.batch = undefined;
    this.b++;
  }
}
