/**
 * The paper's Fig. 5 training loop, shared by bench/fig5.ts and bench/peers.ts: training ▸ epochs ▸ 35
 * batches, begin/end of each, with or without capture. Each batch's compute is either a GPU-like wait
 * (`wait`, the default: the host thread waits for the kernel, so the event loop runs meanwhile) or a
 * calibrated CPU busy-loop (`busy`: the host thread itself computes).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Capture, TaskRun } from '@provml/capture-agent';

/** Batches per epoch, as in the paper's Fig. 5 training. */
export const BATCHES_PER_EPOCH = 35;

/**
 * The paper's density: about 15,000 events in a 21.3-minute run, i.e. ~85 ms of training per event and
 * ~170 ms per batch (two events per batch), on K80 GPUs.
 */
export const PAPER_US_PER_EVENT = 85_000;

/** How a batch computes. */
export type ComputeMode = 'wait' | 'busy';

/**
 * A batch's compute. `wait`: the host thread waits `waitMs` for the "GPU" the way a PyTorch trainer
 * waits on a CUDA sync (an awaited timer: the event loop, hence background capture work, runs during
 * it). `busy`: `iterations` rounds of `busyWork` on the host thread, then one yield to the event loop.
 */
export interface Compute {
  mode: ComputeMode;
  waitMs: number;
  iterations: number;
}

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

/**
 * Waits (up to `maxS` seconds, polling every 5 s) for the 1-minute load average to drop below `below`,
 * so a final run does not start in the middle of someone else's benchmark. Returns the seconds waited
 * and the load average when it stopped waiting, for the results.
 */
export async function waitForQuiet(
  maxS: number,
  below = 2.0,
): Promise<{ waitedS: number; load: number[]; quiet: boolean }> {
  const { loadavg } = await import('node:os');
  const t0 = performance.now();
  for (;;) {
    const load = loadavg();
    const waitedS = (performance.now() - t0) / 1000;
    if (load[0]! < below || waitedS >= maxS) return { waitedS, load, quiet: load[0]! < below };
    await sleep(5000);
  }
}

/** What one run measured. */
export interface LoopResult {
  /** Wall time of the whole loop, training begin to training end (ms). */
  loopMs: number;
  /** Time inside capture calls (begin/end), ms (≈ 0 without capture). */
  callMs: number;
  /**
   * Time in the per-batch wait (`wait`: the GPU-like wait itself) or yield (`busy`: one setImmediate), ms:
   * where background batching and export run.
   */
  yieldMs: number;
  /** CPU time of the whole process during the loop (all its threads), ms. */
  cpuMs: number;
  /** Of `cpuMs`, the time in the kernel (system calls: file writes, fsync), ms. */
  cpuSystemMs?: number;
  /** Of `cpuMs`, the trainer's own thread (the rest: GC, JIT and I/O threads, or the client's threads), ms. */
  cpuMainMs?: number;
  /** CPU time of the whole process before the loop: start-up, imports, warm-up, `init` (ms). */
  startCpuMs?: number;
  /** Capture events emitted. */
  events: number;
}

/** CPU time of this process's main thread so far (ms; Linux /proc, undefined elsewhere). */
function mainThreadCpuMs(): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return undefined;
  }
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs the loop. `busy`: a trainer in Node yields to its event loop between batches (data loading, async
 * I/O), so the loop yields once per batch, with or without capture. `wait`: the batch's wait is the
 * yield. Either way the background exports run there and their cost is in `loopMs` when it delays the
 * next step.
 */
export async function trainingLoop(
  epochs: number,
  compute: Compute,
  capture: Capture | undefined,
): Promise<LoopResult> {
  const busy = compute.mode === 'busy';
  const { iterations, waitMs } = compute;
  const now = (): number => performance.now();
  let callMs = 0;
  let yieldMs = 0;
  let sink = 0;
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  const startCpuMs = (cpu0.user + cpu0.system) / 1000;
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
      let x: number;
      let y = 0;
      if (busy) x = busyWork(iterations);
      else {
        y = now();
        await sleep(waitMs);
        yieldMs += now() - y;
        x = Math.imul(e * BATCHES_PER_EPOCH + b + 1, 0x9e3779b1);
      }
      sink ^= x;
      const loss = (x >>> 0) / 4_294_967_296;
      epochLoss += loss;
      t = now();
      batch?.end({ values: { loss } });
      y = now();
      callMs += y - t;
      if (busy) {
        await yieldToLoop();
        yieldMs += now() - y;
      }
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
  const main1 = mainThreadCpuMs();
  if (sink === 0.5) console.log(sink); // keeps the busy-loop's result alive
  return {
    loopMs,
    callMs,
    yieldMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    cpuSystemMs: cpu.system / 1000,
    cpuMainMs: main0 === undefined || main1 === undefined ? undefined : main1 - main0,
    startCpuMs,
    events: capture === undefined ? 0 : eventsOf(epochs),
  };
}
