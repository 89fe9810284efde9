/**
 * System metrics for the TypeScript library: this process's CPU and RSS, and the GPUs through
 * nvidia-smi, sampled on a worker thread of their own (samplerThread.mjs) into a shared window that
 * `read()` swaps without I/O, recorded as declared output values (`declareSystemMetrics`). The same
 * names and units as the Python client's `provml_client.sysmetrics`.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { TaskRun } from '../Capture.ts';

/** The output values recorded, with their unit and meaning. */
export const SYSTEM_METRICS = [
  ['sys_cpu_percent', '%', 'CPU used by this process (all threads) over the window, in % of one core'],
  ['sys_rss_mib', 'MiB', 'Peak resident set size of this process over the window'],
  ['sys_gpu_utilization_percent', '%', 'Mean GPU utilisation over the window (mean of the GPUs watched)'],
  ['sys_gpu_memory_mib', 'MiB', 'Peak GPU memory used over the window (sum of the GPUs watched)'],
] as const;

const GPU_NAMES = new Set(['sys_gpu_utilization_percent', 'sys_gpu_memory_mib']);

/** A spec attribute (as written in a spec). */
interface Attribute {
  name: string;
  semantics: string;
  unit?: string;
  description?: string;
}
interface WrittenTask {
  id: string;
  parent?: string;
  outputs?: Attribute[];
  [key: string]: unknown;
}

/** The spec's output attributes for the system metrics (semantics `output-value`, with units). */
export function systemMetricOutputs(gpu = true): Attribute[] {
  return SYSTEM_METRICS.filter(([name]) => gpu || !GPU_NAMES.has(name)).map(([name, unit, description]) => ({
    name,
    semantics: 'output-value',
    unit,
    description,
  }));
}

/**
 * A copy of `spec` whose task `task` declares the system metrics as outputs; a task the spec lacks is
 * added under `parent` (required then): the task the interval mode records.
 */
export function declareSystemMetrics<S extends { tasks: readonly object[] }>(
  spec: S,
  task: string,
  options: { parent?: string; gpu?: boolean } = {},
): S {
  const copy = structuredClone(spec) as unknown as { tasks: WrittenTask[] };
  let found = copy.tasks.find((t) => t.id === task);
  if (found === undefined) {
    if (options.parent === undefined)
      throw new Error(`task '${task}' is not in the spec: name the parent task to add it under`);
    found = { id: task, parent: options.parent, description: 'System metrics sampled by SystemMetrics' };
    copy.tasks.push(found);
  }
  const outputs = (found.outputs ??= []);
  const have = new Set(outputs.map((a) => a.name));
  outputs.push(...systemMetricOutputs(options.gpu ?? true).filter((a) => !have.has(a.name)));
  return copy as unknown as S;
}

/** Options of `SystemMetrics`. */
export interface SystemMetricsOptions {
  /** Between samples, ms. Default 1000. */
  intervalMs?: number;
  /** Watch the GPUs: all (`true`, the default), those of these indexes, or none (`false`). */
  gpu?: boolean | readonly number[];
  /** Records one child task run `task` of `parent` with the window's values every interval. */
  record?: { parent: TaskRun; task: string };
  /** Where nvidia-smi is looked for: `PATH` of this environment. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Receives the one line said when no GPU can be read. Default: standard error. */
  onInfo?: (line: string) => void;
}

/** The nvidia-smi executable on `path` (a PATH value), or undefined. */
export function findNvidiaSmi(path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, 'nvidia-smi'), constants.X_OK);
      return join(dir, 'nvidia-smi');
    } catch {
      // not here
    }
  }
  return undefined;
}

// the shared window (samplerThread.mjs): an Int32 lock and stop flag, then Float64 slots
const T0 = 0;
const CPU0 = 1;
const T1 = 2;
const CPU1 = 3;
const RSS = 4;
const GPU_UTIL_SUM = 5;
const GPU_UTIL_N = 6;
const GPU_MEM = 7;
const SAMPLES = 8;
const THREAD = 9;

const round2 = (v: number): number => Math.round(v * 100) / 100;

/**
 * Samples CPU, RSS and GPU every `intervalMs` on a worker thread (`start()` … `stop()`), even while the
 * trainer's thread computes without yielding. `read()` returns the window since the previous read as
 * the values `declareSystemMetrics` declares: pass it to `epoch.end({ values })`.
 */
export class SystemMetrics {
  private readonly buffer = new SharedArrayBuffer(8 + 8 * 10);
  private readonly lock = new Int32Array(this.buffer, 0, 2);
  private readonly w = new Float64Array(this.buffer, 8);
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private last: Record<string, number> = {};
  private stopped: Promise<void> | undefined;
  /** Where the GPU values come from: `nvidia-smi`, or null. */
  gpuSource: 'nvidia-smi' | null = null;
  /** Windows recorded (`record`). */
  recorded = 0;

  constructor(private readonly options: SystemMetricsOptions = {}) {
    if (!((options.intervalMs ?? 1000) > 0)) throw new RangeError('intervalMs must be > 0');
    this.w[RSS] = this.w[GPU_MEM] = Number.NaN; // nothing sampled yet
  }

  /** Starts the sampler thread (once); it takes its first sample at once. */
  start(): this {
    if (this.worker !== undefined) return this;
    const gpu = this.options.gpu ?? true;
    const smi = gpu === false ? undefined : findNvidiaSmi((this.options.env ?? process.env).PATH);
    if (smi === undefined && gpu !== false)
      (this.options.onInfo ?? ((l) => process.stderr.write(`${l}\n`)))(
        'provml system metrics: no GPU metrics: nvidia-smi is not on PATH',
      );
    this.gpuSource = smi === undefined ? null : 'nvidia-smi';
    const cpu = process.cpuUsage();
    this.w.fill(0);
    this.w[T0] = this.w[T1] = Number(process.hrtime.bigint()) / 1e9; // the sampler thread's clock too
    this.w[CPU0] = this.w[CPU1] = (cpu.user + cpu.system) / 1e6;
    this.w[RSS] = this.w[GPU_MEM] = Number.NaN;
    this.worker = new Worker(new URL('./samplerThread.mjs', import.meta.url), {
      workerData: {
        buffer: this.buffer,
        intervalMs: this.options.intervalMs ?? 1000,
        indexes: Array.isArray(gpu) ? gpu : undefined,
        smi,
      },
    });
    this.worker.unref();
    const record = this.options.record;
    if (record !== undefined) {
      this.timer = setInterval(() => this.recordWindow(record), this.options.intervalMs ?? 1000);
      this.timer.unref();
    }
    return this;
  }

  /** Whether the sampler thread runs. */
  get running(): boolean {
    return this.worker !== undefined && this.stopped === undefined;
  }

  /** Samples taken so far. */
  get samples(): number {
    return this.w[SAMPLES]!;
  }

  /** The id of the thread that samples (never the trainer's, 0), once it started. */
  get samplingThread(): number {
    return this.w[THREAD]!;
  }

  /**
   * The values of the window since the previous read (no I/O: the sampler thread measured them); the
   * latest values when no sample fell in the window; empty before the first sample.
   */
  read(): Record<string, number> {
    const w = this.w;
    const values: Record<string, number> = {};
    this.locked(() => {
      if (w[T1]! > w[T0]!) values.sys_cpu_percent = round2((100 * (w[CPU1]! - w[CPU0]!)) / (w[T1]! - w[T0]!));
      if (!Number.isNaN(w[RSS]!)) values.sys_rss_mib = round2(w[RSS]!);
      if (w[GPU_UTIL_N]! > 0) values.sys_gpu_utilization_percent = round2(w[GPU_UTIL_SUM]! / w[GPU_UTIL_N]!);
      if (!Number.isNaN(w[GPU_MEM]!)) values.sys_gpu_memory_mib = round2(w[GPU_MEM]!);
      if (Object.keys(values).length === 0) return;
      w[T0] = w[T1]!;
      w[CPU0] = w[CPU1]!;
      w[RSS] = w[GPU_MEM] = Number.NaN;
      w[GPU_UTIL_SUM] = w[GPU_UTIL_N] = 0;
    });
    if (Object.keys(values).length === 0) return { ...this.last };
    this.last = values;
    return values;
  }

  /** Stops the sampler thread and waits for it to end. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      if (this.timer !== undefined) clearInterval(this.timer);
      const worker = this.worker;
      if (worker === undefined) return;
      worker.ref(); // held until it is gone, or a process awaiting only this would exit first
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      Atomics.store(this.lock, 1, 1);
      Atomics.notify(this.lock, 1);
      await exited;
    })();
    return this.stopped;
  }

  private recordWindow(record: { parent: TaskRun; task: string }): void {
    if (record.parent.hasEnded) return void this.stop();
    const values = this.read();
    if (Object.keys(values).length === 0) return;
    record.parent.begin(record.task).end({ values });
    this.recorded++;
  }

  private locked(fn: () => void): void {
    while (Atomics.compareExchange(this.lock, 0, 0, 1) !== 0);
    try {
      fn();
    } finally {
      Atomics.store(this.lock, 0, 0);
    }
  }
}
