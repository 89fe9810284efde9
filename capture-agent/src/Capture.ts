/** The capture library: init with a spec, then begin/end of nested tasks; the caller's thread only enqueues. */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  compileSpec,
  ValidationError,
  type CaptureEvent,
  type CaptureValue,
  type CompiledSpec,
  type DataRef,
  type ExecutionStatus,
} from '@provml/schemas';
import { BatchProcessor, type BatchProcessorOptions, type BatchProcessorStats } from './BatchProcessor.ts';
import type { CaptureExporter } from './CaptureExporter.ts';
import {
  detectDistributed,
  distributedContext,
  jobWorkflowExecution,
  resolveCaptureRanks,
  type Distributed,
} from './distributedContext.ts';
import { collectExecutionContext } from './executionContext.ts';
import { withRetry } from './retry.ts';
import { DiskfulCaptureExporter, type DiskfulOptions } from './spool/DiskfulCaptureExporter.ts';

/** Data references as an array of `{name, uri, store?}` or as `{ name: uri }`. */
export type DataRefsInput =
  readonly { name: string; uri: string; store?: string | null }[] | Record<string, string>;

/** What a begin or end call may carry. */
export interface TaskValues {
  values?: Record<string, CaptureValue>;
  dataRefs?: DataRefsInput;
}

/** What an end call may carry. */
export interface EndValues extends TaskValues {
  /** Default `finished`. */
  status?: ExecutionStatus;
}

/** Options of `init`. */
export interface CaptureOptions extends BatchProcessorOptions {
  /** The prospective spec: an object, or the path of a JSON/YAML file. */
  spec: unknown;
  /**
   * Where events go (in-process log, Kafka, sidecar, ...). Required unless `offline`; with `spool`
   * it is where the background publisher ships the spool.
   */
  exporter?: CaptureExporter;
  /**
   * The paper's queue size: events gathered before one export (1 for settings A–C, ≥ 50 for D–F).
   * The same setting as `maxBatchSize`, which it overrides. Default 512.
   */
  queueSize?: number;
  /** Diskful (settings B, C, E, F): every export is written to this spool first. Default diskless. */
  spool?: DiskfulOptions;
  /** Offline (settings C, F): only the spool is written; `provml replay <dir>` publishes it later. Needs `spool`. */
  offline?: boolean;
  /**
   * Environment for the execution context (SLURM/PBS/LSF job ids, visible GPUs). `init` is the
   * capture library's entry point, so it defaults to `process.env`; pass `{}` to capture none.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Extra execution context merged over the collected one. */
  context?: Record<string, string>;
  /**
   * In a distributed job (torchrun, srun, mpirun, PBS, LSF: read from `env`), `all` ranks capture or
   * only rank `zero` (the others queue nothing). Default `PROVML_CAPTURE_RANKS`, else `all`.
   */
  captureRanks?: 'all' | 'zero';
}

const nowMicros = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

const NO_REFS = Object.freeze([]) as unknown as DataRef[];
const NO_VALUES = Object.freeze({}) as Record<string, CaptureValue>;
const NO_CONTEXT = Object.freeze({}) as Record<string, string>;

function toDataRefs(input: DataRefsInput | undefined): DataRef[] {
  if (input === undefined) return NO_REFS;
  if (Array.isArray(input))
    return (input as readonly { name: string; uri: string; store?: string | null }[]).map((d) => ({
      name: d.name,
      uri: d.uri,
      store: d.store ?? null,
    }));
  return Object.entries(input as Record<string, string>).map(([name, uri]) => ({ name, uri, store: null }));
}

/** One execution of a task; create children with `begin`/`run`, close with `end`. */
export class TaskRun {
  private ended = false;
  private dropped = false;
  private pendingValues: Record<string, CaptureValue> | undefined;
  private pendingRefs: DataRef[] | undefined;

  /** @internal use `WorkflowRun.begin` or `TaskRun.begin`. */
  constructor(
    private readonly workflowRun: WorkflowRun,
    /** Task id from the spec. */
    readonly task: string,
    /** Unique id of this task execution. */
    readonly id: string,
    /** The enclosing task execution, or null for a top-level task. */
    readonly parent: string | null,
  ) {}

  /** Records a value for the end event (e.g. a loss computed inside a scoped helper). */
  set(name: string, value: CaptureValue): this {
    (this.pendingValues ??= {})[name] = value;
    return this;
  }

  /** Records a data reference for the end event (e.g. the model file written). */
  addDataRef(name: string, uri: string, store: string | null = null): this {
    (this.pendingRefs ??= []).push({ name, uri, store });
    return this;
  }

  /** Begins a child task execution. */
  begin(task: string, values: TaskValues = {}): TaskRun {
    return this.workflowRun.beginTask(task, this.id, values);
  }

  /** Runs `fn` as a child task: ended as finished when it returns, as failed when it throws. */
  run<T>(task: string, values: TaskValues, fn: (t: TaskRun) => Promise<T> | T): Promise<T> {
    return this.workflowRun.runTask(task, this.id, values, fn);
  }

  /** Ends this task execution. A second call is ignored. */
  end(values: EndValues = {}): void {
    if (this.ended) return;
    this.ended = true;
    let v = values.values ?? NO_VALUES;
    if (this.pendingValues !== undefined) v = { ...this.pendingValues, ...v };
    let refs = toDataRefs(values.dataRefs);
    if (this.pendingRefs !== undefined) refs = [...this.pendingRefs, ...refs];
    if (!this.workflowRun.emit(this.task, this.id, this.parent, 'end', v, refs, values.status ?? 'finished'))
      this.dropped = true;
  }

  /**
   * False when the capture queue dropped this execution's begin or end event (overflow policy
   * `drop`, or after shutdown): its provenance is partial. The drop is also counted in
   * `Capture.stats.dropped` and reported to `onError`.
   */
  get complete(): boolean {
    return !this.dropped;
  }

  /** @internal */
  markIncomplete(): void {
    this.dropped = true;
  }
}

/** One execution of the workflow: the root of its task executions and the Kafka key. */
export class WorkflowRun {
  /** @internal use `Capture.workflowExecution`. */
  constructor(
    private readonly capture: Capture,
    /** The workflow execution id. */
    readonly id: string,
  ) {}

  /** Begins a top-level task execution. */
  begin(task: string, values: TaskValues = {}): TaskRun {
    return this.beginTask(task, null, values);
  }

  /** Runs `fn` as a top-level task: ended as finished when it returns, as failed when it throws. */
  run<T>(task: string, values: TaskValues, fn: (t: TaskRun) => Promise<T> | T): Promise<T> {
    return this.runTask(task, null, values, fn);
  }

  /** @internal */
  beginTask(task: string, parent: string | null, values: TaskValues): TaskRun {
    this.capture.assertTask(task);
    const id = this.capture.nextId('t');
    const run = new TaskRun(this, task, id, parent);
    if (!this.emit(task, id, parent, 'begin', values.values ?? NO_VALUES, toDataRefs(values.dataRefs), null))
      run.markIncomplete();
    return run;
  }

  /** @internal */
  async runTask<T>(
    task: string,
    parent: string | null,
    values: TaskValues,
    fn: (t: TaskRun) => Promise<T> | T,
  ): Promise<T> {
    await this.capture.whenWritable();
    const t = this.beginTask(task, parent, values);
    let result: T;
    try {
      result = await fn(t);
    } catch (error) {
      t.end({ status: 'failed' });
      throw error;
    }
    t.end();
    return result;
  }

  /** @internal Queues one event; false when the capture queue dropped it. */
  emit(
    task: string,
    taskExecution: string,
    parent: string | null,
    phase: 'begin' | 'end',
    values: Record<string, CaptureValue>,
    dataRefs: DataRef[],
    status: ExecutionStatus | null,
  ): boolean {
    return this.capture.record({
      eventId: this.capture.nextId('e'),
      workflow: this.capture.workflow,
      workflowExecution: this.id,
      task,
      taskExecution,
      parentTaskExecution: parent,
      phase,
      time: nowMicros(),
      values,
      dataRefs,
      status,
      // only top-level begins carry the execution context, to keep batch events small
      context: phase === 'begin' && parent === null ? this.capture.context : NO_CONTEXT,
    });
  }
}

/** A capture session for one workflow spec. Create with `init`. */
export class Capture {
  private counter = 0;
  private executions = 0;
  private readonly prefix = randomBytes(6).toString('hex');

  /** @internal use `init`. */
  constructor(
    private readonly compiled: CompiledSpec,
    private readonly processor: BatchProcessor,
    /** Execution context attached to top-level task executions. */
    readonly context: Record<string, string>,
    private readonly diskful?: DiskfulCaptureExporter,
    /** The distributed job this process is a rank of (its context carries the rank); undefined outside one. */
    readonly distributed?: Distributed,
    /** A rank other than 0 with `captureRanks: 'zero'`: its events are not queued. */
    readonly silent = false,
  ) {}

  /** The workflow id of the spec. */
  get workflow(): string {
    return this.compiled.spec.workflow;
  }

  /** Counters of the background queue. */
  get stats(): Readonly<BatchProcessorStats> {
    return this.processor.stats;
  }

  /** Counters of the spool and its publisher (diskful settings only). */
  get spoolStats(): DiskfulCaptureExporter['stats'] | undefined {
    return this.diskful?.stats;
  }

  /**
   * Starts a workflow execution; `id` defaults to `<workflow>-<time>-<random>`, or in a distributed job
   * to the job's, the same on every rank: `<workflow>-<launcher>-<job id>` (`-2`, … for later ones).
   */
  workflowExecution(id?: string): WorkflowRun {
    const n = this.executions++;
    const job =
      this.distributed === undefined ? undefined : jobWorkflowExecution(this.distributed, this.workflow, n);
    return new WorkflowRun(
      this,
      id ??
        job ??
        `${this.workflow}-${Date.now().toString(36)}-${this.prefix}${(this.counter++).toString(36)}`,
    );
  }

  /** Exports everything captured so far. */
  flush(): Promise<void> {
    return this.processor.flush();
  }

  /** Flushes and closes the transport. Idempotent. */
  shutdown(): Promise<void> {
    return this.processor.shutdown();
  }

  /** @internal */
  assertTask(task: string): void {
    if (!this.compiled.tasks.has(task))
      throw new ValidationError(`unknown task '${task}' in workflow '${this.workflow}'`, [
        { path: 'task', message: `declared tasks: ${[...this.compiled.tasks.keys()].join(', ')}` },
      ]);
  }

  /** @internal */
  nextId(kind: string): string {
    return `${this.prefix}.${kind}${(this.counter++).toString(36)}`;
  }

  /** @internal Queues an event; false when the queue dropped it (counted and reported by the queue). */
  record(event: CaptureEvent): boolean {
    if (this.silent) return true;
    return this.processor.enqueue(event);
  }

  /** @internal */
  whenWritable(): Promise<void> {
    return this.processor.whenWritable();
  }
}

/** The exporter of a setting: the given one (diskless), or a spool with or without a publisher. */
function settingExporter(options: CaptureOptions): {
  exporter: CaptureExporter;
  diskful?: DiskfulCaptureExporter;
} {
  if (options.offline === true && options.spool === undefined)
    throw new ValidationError('offline capture needs a spool', [
      { path: 'spool', message: 'give spool.dir (offline writes only the spool)' },
    ]);
  if (options.spool === undefined) {
    if (options.exporter === undefined)
      throw new ValidationError('no exporter', [{ path: 'exporter', message: 'required unless offline' }]);
    return { exporter: options.exporter };
  }
  if (options.offline !== true && options.exporter === undefined)
    throw new ValidationError('online diskful capture needs an exporter', [
      { path: 'exporter', message: 'the publisher ships the spool through it; or set offline: true' },
    ]);
  const diskful = new DiskfulCaptureExporter(
    options.spool,
    options.offline === true ? undefined : options.exporter,
  );
  return { exporter: diskful, diskful };
}

/**
 * Validates the spec, publishes it through the exporter and returns a capture session.
 * The paper's settings A–F are `queueSize` (1 or ≥ 50), `spool` (diskful) or none (diskless), and
 * `offline`.
 * @throws ValidationError for an invalid spec or setting; Error when the spec cannot be published.
 */
export async function init(options: CaptureOptions): Promise<Capture> {
  const source = typeof options.spec === 'string' ? await readFile(options.spec, 'utf8') : options.spec;
  const compiled = compileSpec(source);
  const env = options.env ?? process.env;
  const ranks = resolveCaptureRanks(options.captureRanks, env);
  const { exporter, diskful } = settingExporter(options);
  const published = await withRetry(() => exporter.exportSpec(compiled.spec), options.retry);
  if (published.kind !== 'success') {
    await exporter.shutdown();
    throw new Error(`could not publish spec '${compiled.spec.workflow}': ${published.error.message}`, {
      cause: published.error,
    });
  }
  const distributed = detectDistributed(env);
  const context = {
    ...collectExecutionContext(env),
    ...(distributed === undefined ? {} : distributedContext(distributed)),
    ...options.context,
  };
  const processorOptions =
    options.queueSize === undefined ? options : { ...options, maxBatchSize: options.queueSize };
  const silent = distributed !== undefined && distributed.rank !== 0 && ranks === 'zero';
  return new Capture(
    compiled,
    new BatchProcessor(exporter, processorOptions),
    context,
    diskful,
    distributed,
    silent,
  );
}
