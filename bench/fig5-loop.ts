/**
 * The paper's Fig. 5 training loop, shared by bench/fig5.ts and bench/peers.ts: training ▸ epochs ▸ 35
 * batches, begin/end of each, a calibrated CPU busy-loop as each batch's compute, with or without capture.
 */
import type { Capture, TaskRun } from '@provml/capture-agent';

/** Batches per epoch, as in the paper's Fig. 5 training. */
export const BATCHES_PER_EPOCH = 35;

/** The prospective spec of the loop (the same in the Python twin, bench/fig5_python.py). */
export const FIG5_SPEC = {
  workflow: 'fig5-training',
  phase: 'learning',
  tasks: [
    {
      id: 'training',
      stage: 'training',
      inputs: [
        { name: 'learning_rate', semantics: 'hyperparameter' },
        { name: 'epochs', semantics: 'hyperparameter' },
        { name: 'training_set', semantics: 'dataset-reference' },
      ],
    },
    {
      id: 'epoch',
      parent: 'training',
      inputs: [{ name: 'epoch', semantics: 'model-hyperparameter' }],
      outputs: [
        { name: 'loss', semantics: 'evaluation-measure' },
        { name: 'model', semantics: 'model-reference' },
      ],
    },
    { id: 'batch', parent: 'epoch', outputs: [{ name: 'loss', semantics: 'output-value' }] },
  ],
};

/** Capture events of one run of `epochs` epochs: training, epochs and batches, begin and end each. */
export const eventsOf = (epochs: number): number => 2 + epochs * (2 + 2 * BATCHES_PER_EPOCH);

/** Epochs giving about `events` events per run. */
export const epochsFor = (events: number): number =>
  Math.max(1, Math.round((events - 2) / (2 + 2 * BATCHES_PER_EPOCH)));

/** The stand-in for a batch's compute: `iterations` rounds of integer mixing (fixed work, not fixed time). */
export function busyWork(iterations: number): number {
  let x = 0x9e3779b9 | 0;
  for (let i = 0; i < iterations; i++) x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + i) | 0;
  return x;
}

/** Iterations of `busyWork` taking about `micros` µs on this machine (median of a few probes). */
export function calibrate(micros: number): number {
  const probe = 2_000_000;
  busyWork(probe); // let the JIT optimise it
  const rates: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    busyWork(probe);
    rates.push(probe / ((performance.now() - t) * 1000));
  }
  rates.sort((a, b) => a - b);
  return Math.max(1, Math.round(rates[3]! * micros));
}

/** What one run measured. */
export interface LoopResult {
  /** Wall time of the whole loop, training begin to training end (ms). */
  loopMs: number;
  /** Time inside capture calls (begin/end), ms (≈ 0 without capture). */
  callMs: number;
  /** Time spent yielding to the event loop once per batch, ms: where background batching and export run. */
  yieldMs: number;
  /** CPU time of the whole process during the loop (all its threads), ms. */
  cpuMs: number;
  /** Capture events emitted. */
  events: number;
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs the loop. A trainer in Node yields to its event loop between batches (data loading, async I/O),
 * so the loop yields once per batch, with or without capture: the background exports run there and
 * their cost is in `loopMs`.
 */
export async function trainingLoop(
  epochs: number,
  iterations: number,
  capture: Capture | undefined,
): Promise<LoopResult> {
  const now = (): number => performance.now();
  let callMs = 0;
  let yieldMs = 0;
  let sink = 0;
  const cpu0 = process.cpuUsage();
  const started = now();
  let t = now();
  const run = capture?.workflowExecution();
  const training = run?.begin('training', {
    values: { learning_rate: 0.001, epochs },
    dataRefs: { training_set: 'file:///data/seismic/train.npz' },
  });
  callMs += now() - t;
  for (let e = 0; e < epochs; e++) {
    t = now();
    const epoch: TaskRun | undefined = training?.begin('epoch', { values: { epoch: e } });
    callMs += now() - t;
    let epochLoss = 0;
    for (let b = 0; b < BATCHES_PER_EPOCH; b++) {
      t = now();
      const batch = epoch?.begin('batch');
      callMs += now() - t;
      const x = busyWork(iterations);
      sink ^= x;
      const loss = (x >>> 0) / 4_294_967_296;
      epochLoss += loss;
      t = now();
      batch?.end({ values: { loss } });
      const y = now();
      callMs += y - t;
      await yieldToLoop();
      yieldMs += now() - y;
    }
    t = now();
    epoch?.end({
      values: { loss: epochLoss / BATCHES_PER_EPOCH },
      dataRefs: { model: `file:///models/fig5/epoch-${e}.pt` },
    });
    callMs += now() - t;
  }
  t = now();
  training?.end();
  callMs += now() - t;
  const loopMs = now() - started;
  const cpu = process.cpuUsage(cpu0);
  if (sink === 0.5) console.log(sink); // keeps the busy-loop's result alive
  return {
    loopMs,
    callMs,
    yieldMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    events: capture === undefined ? 0 : eventsOf(epochs),
  };
}
