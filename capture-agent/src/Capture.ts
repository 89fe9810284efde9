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
import {
  BatchProcessor,
  warnOnError,
  type BatchProcessorOptions,
  type BatchProcessorStats,
} from './BatchProcessor.ts';
import type { CaptureExporter } from './CaptureExporter.ts';
import {
  detectDistributed,
  distributedContext,
  jobWorkflowExecution,
  resolveCaptureRanks,
  type Distributed,
} from './distributedContext.ts';
import { pastDeadline } from './deadline.ts';
import { deliveryResult, type DeliveryResult } from './DeliveryResult.ts';
import { collectExecutionContext } from './executionContext.ts';
import { withRetry } from './retry.ts';
import { draftParts, DRAFT_ENV } from './draft/draftParts.ts';
import { SpecChecker, type RefInput } from './SpecChecker.ts';
import { DiskfulCaptureExporter, type DiskfulOptions } from './spool/DiskfulCaptureExporter.ts';
import { SpillingCaptureExporter, type SpillOptions } from './spool/SpillingCaptureExporter.ts';

/**
 * One data reference as given: `digest` is a content digest (`sha256:` and 64 lowercase hex
 * digits), or `true` to have the library compute it from the local file a `file:` URI names.
 */
export interface DataRefInput {
  name: string;
  uri: string;
  store?: string | null;
  digest?: string | true;
}

/** Data references as an array of `{name, uri, store?, digest?}` or as `{ name: uri }`. */
export type DataRefsInput = readonly DataRefInput[] | Record<string, string>;

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
  /**
   * A name the spec does not declare (or a value the contract does not allow) throws a
   * `CaptureMistakeError` at the call that used it. Default false: it is dropped there, counted
   * (`DeliveryResult.undeclared` / `invalid`) and reported once per name to `onError`, and the rest
   * of the call goes through.
   */
  strict?: boolean;
  /**
   * Online diskless settings (A, D): where events wait while the transport is down or behind (see
   * `SpillOptions`); `false`: none, failed exports are retried in memory until `retry.deadlineMs`,
   * then dropped and counted. Default: a spill spool under the temporary directory.
   */
  spill?: SpillOptions | false;
  /** Longest time `shutdown()` takes, ms, also with the transport down or hanging. Default 5000. */
  shutdownTimeoutMs?: number;
}

const nowMicros = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

const NO_REFS = Object.freeze([]) as unknown as DataRef[];
const NO_VALUES = Object.freeze({}) as Record<string, CaptureValue>;
const NO_CONTEXT = Object.freeze({}) as Record<string, string>;

function toDataRefs(input: DataRefsInput | undefined): RefInput[] {
  if (input === undefined) return NO_REFS;
  if (Array.isArray(input))
    return (input as readonly DataRefInput[]).map((d) =>
      d.digest === undefined
        ? { name: d.name, uri: d.uri, store: d.store ?? null }
        : { name: d.name, uri: d.uri, store: d.store ?? null, digest: d.digest },
    );
  return Object.entries(input as Record<string, string>).map(([name, uri]) => ({ name, uri, store: null }));
}

/** One execution of a task; create children with `begin`/`run`, close with `end`. */
export class TaskRun {
  private ended = false;
  /** Its task (or an ancestor's) is not in the spec: nothing of it is sent. */
  private void = false;
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

  /** Whether it ended (`end`, `run` returning or throwing). */
  get hasEnded(): boolean {
    return this.ended;
  }

  /**
   * Records a value for the end event (e.g. a loss computed inside a scoped helper). Checked here:
   * a name the spec does not declare for this task is dropped and reported once (throws with `strict`).
   */
  set(name: string, value: CaptureValue): this {
    if (this.void) return this;
    const v = this.workflowRun.checker.value(this.task, name, value);
    if (v !== undefined) (this.pendingValues ??= {})[name] = v;
    return this;
  }

  /**
   * Records a data reference for the end event (e.g. the model file written); checked as `set`.
   * `digest`: its content digest, or `true` to compute it now from the local file (see `DataRefInput`).
   */
  addDataRef(name: string, uri: string, store: string | null = null, digest?: string | true): this {
    if (this.void) return this;
    const ref: RefInput = digest === undefined ? { name, uri, store } : { name, uri, store, digest };
    const refs = this.workflowRun.checker.refs(this.task, [ref]);
    if (refs.length > 0) (this.pendingRefs ??= []).push(refs[0]!);
    return this;
  }

  /** Begins a child task execution. */
  begin(task: string, values: TaskValues = {}): TaskRun {
    if (this.void) return this.workflowRun.voidChild(task, this.id);
    return this.workflowRun.beginTask(task, this.id, values);
  }

  /** Runs `fn` as a child task: ended as finished when it returns, as failed when it throws. */
  run<T>(task: string, values: TaskValues, fn: (t: TaskRun) => Promise<T> | T): Promise<T> {
    return this.workflowRun.runTask(() => this.begin(task, values), fn);
  }

  /**
   * Ends this task execution. A second call is ignored. `values` and `dataRefs` are checked here;
   * with `strict` a mistake in them throws after the end event was queued (status `failed`, with
   * the valid values), so a throw never leaves the task execution open.
   */
  end(values: EndValues = {}): void {
    if (this.ended) return;
    this.ended = true;
    if (this.void) return;
    const check = this.workflowRun.checker;
    let status = values.status ?? 'finished';
    let v: Record<string, CaptureValue>;
    let refs: DataRef[];
    let mistake: Error | undefined;
    try {
      v = check.values(this.task, values.values);
      refs = check.refs(this.task, toDataRefs(values.dataRefs));
    } catch (error) {
      mistake = error as Error;
      status = 'failed';
      v = check.values(this.task, values.values, false, true);
      refs = check.refs(this.task, toDataRefs(values.dataRefs), false, true);
    }
    if (this.pendingValues !== undefined) v = { ...this.pendingValues, ...v };
    if (this.pendingRefs !== undefined) refs = [...this.pendingRefs, ...refs];
    if (!this.workflowRun.emit(this.task, this.id, this.parent, 'end', v, refs, status)) this.dropped = true;
    if (mistake !== undefined) throw mistake;
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

  /** @internal */
  markVoid(): this {
    this.void = true;
    return this;
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
    return this.runTask(() => this.begin(task, values), fn);
  }

  /** @internal */
  get checker(): SpecChecker {
    return this.capture.checker;
  }

  /** @internal */
  beginTask(task: string, parent: string | null, values: TaskValues): TaskRun {
    const check = this.capture.checker;
    const id = this.capture.nextId('t');
    const run = new TaskRun(this, task, id, parent);
    if (!check.task(task)) return run.markVoid(); // not strict: runs, sends nothing
    const v = values.values === undefined ? NO_VALUES : check.values(task, values.values);
    const refs = values.dataRefs === undefined ? NO_REFS : check.refs(task, toDataRefs(values.dataRefs));
    if (!this.emit(task, id, parent, 'begin', v, refs, null)) run.markIncomplete();
    return run;
  }

  /** @internal A child of a task run that sends nothing: it sends nothing either (counted, reported once). */
  voidChild(task: string, parent: string): TaskRun {
    this.capture.checker.underUndeclared(task);
    return new TaskRun(this, task, this.capture.nextId('t'), parent).markVoid();
  }

  /** @internal */
  async runTask<T>(begin: () => TaskRun, fn: (t: TaskRun) => Promise<T> | T): Promise<T> {
    await this.capture.whenWritable();
    const t = begin();
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

/** How a session's events travel: what `Capture` needs to tell where they went. */
interface Delivery {
  exporter: CaptureExporter;
  /** The diskful settings' own spool. */
  diskful?: DiskfulCaptureExporter;
  /** The spill spool of the online diskless settings. */
  spill?: SpillingCaptureExporter;
  /** Where the events of a diskful setting are written. */
  spoolDir?: string;
}

/** A capture session for one workflow spec. Create with `init`. */
export class Capture {
  private counter = 0;
  private executions = 0;
  private readonly prefix = randomBytes(6).toString('hex');
  private closed: Promise<DeliveryResult> | undefined;

  /** @internal use `init`. */
  constructor(
    private readonly compiled: CompiledSpec,
    private readonly processor: BatchProcessor,
    /** Execution context attached to top-level task executions. */
    readonly context: Record<string, string>,
    /** @internal */
    readonly checker: SpecChecker,
    private readonly delivery: Delivery,
    private readonly shutdownTimeoutMs: number,
    /** The distributed job this process is a rank of (its context carries the rank); undefined outside one. */
    readonly distributed?: Distributed,
    /** A rank other than 0 with `captureRanks: 'zero'`: its events are not queued. */
    readonly silent = false,
  ) {}

  /** The workflow id of the spec. */
  get workflow(): string {
    return this.compiled.spec.workflow;
  }

  /** Counters of the background queue (`exported`: handed to the transport, or to the spill spool). */
  get stats(): Readonly<BatchProcessorStats> {
    return this.processor.stats;
  }

  /** Counters of the spool and its publisher (diskful settings only). */
  get spoolStats(): DiskfulCaptureExporter['stats'] | undefined {
    return this.delivery.diskful?.stats;
  }

  /** Where every event captured so far went, now. */
  delivered(timedOut = false): DeliveryResult {
    const p = this.processor.stats;
    const pending = Math.max(0, p.enqueued - p.exported - p.rejected - p.failed);
    const base = {
      pending,
      undeclared: this.checker.undeclared,
      invalid: this.checker.invalid,
      timedOut,
    };
    const spill = this.delivery.spill;
    if (spill === undefined)
      return deliveryResult({
        ...base,
        delivered: p.exported,
        rejected: p.rejected,
        dropped: p.dropped + p.failed,
        spooled: 0,
        spoolPath: this.delivery.spoolDir ?? null,
      });
    const s = spill.stats;
    return deliveryResult({
      ...base,
      delivered: s.delivered,
      rejected: s.rejected + p.rejected,
      dropped: p.dropped + p.failed + s.dropped,
      spooled: s.spooled,
      spoolPath: s.spooled > 0 ? (spill.spoolPath ?? null) : null,
    });
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

  /**
   * Exports everything captured so far and resolves once it is delivered (or rejected), or the
   * transport proved down (an attempt after the call failed, and the one tried at once after it:
   * the events wait in the spill spool), or `timeoutMs` passed (default: no limit).
   */
  async flush(timeoutMs = Infinity): Promise<DeliveryResult> {
    const deadline = Date.now() + timeoutMs;
    const timedOut =
      (await pastDeadline(this.processor.flush(), deadline)) ||
      ((await this.delivery.spill?.flush(deadline)) ?? false);
    return this.delivered(timedOut);
  }

  /**
   * Flushes and closes the transport, within `timeoutMs` (default `shutdownTimeoutMs`, 5 s), also
   * with the transport down or hanging: what was not delivered by then goes to the spill spool
   * (`spooled`, `spoolPath`). `Infinity` waits until everything is delivered. Idempotent: later
   * calls return the first call's result.
   */
  shutdown(timeoutMs = this.shutdownTimeoutMs): Promise<DeliveryResult> {
    this.closed ??= (async () => {
      const deadline = Date.now() + timeoutMs;
      // a tenth of the time (at least 100 ms) is kept for spilling what is left and closing the spill
      // spool; none with no limit (Infinity − Infinity / 10 is NaN, a deadline already past)
      const closeBy = timeoutMs === Infinity ? Infinity : deadline - Math.max(100, timeoutMs / 10);
      let timedOut = await pastDeadline(this.processor.flush(), closeBy);
      const spill = this.delivery.spill;
      if (spill !== undefined) {
        if (timedOut) {
          spill.spillOnly(); // what is still in memory goes to disk, not waiting for the transport
          await pastDeadline(this.processor.flush(), deadline);
        }
        timedOut = (await pastDeadline(spill.shutdown(closeBy), deadline)) || spill.closedLate || timedOut;
      }
      timedOut = (await pastDeadline(this.processor.shutdown(), deadline)) || timedOut;
      return this.delivered(timedOut);
    })();
    return this.closed;
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

/** The transport of a setting: the given exporter behind a spill spool (diskless), or a spool with or without a publisher. */
function settingDelivery(options: CaptureOptions, workflow: string, report: (e: Error) => void): Delivery {
  if (options.offline === true && options.spool === undefined)
    throw new ValidationError('offline capture needs a spool', [
      { path: 'spool', message: 'give spool.dir (offline writes only the spool)' },
    ]);
  if (options.spool === undefined) {
    if (options.exporter === undefined)
      throw new ValidationError('no exporter', [{ path: 'exporter', message: 'required unless offline' }]);
    if (options.spill === false) return { exporter: options.exporter };
    const spill = new SpillingCaptureExporter(options.exporter, { ...options.spill, workflow }, report);
    return { exporter: spill, spill };
  }
  if (options.offline !== true && options.exporter === undefined)
    throw new ValidationError('online diskful capture needs an exporter', [
      { path: 'exporter', message: 'the publisher ships the spool through it; or set offline: true' },
    ]);
  const diskful = new DiskfulCaptureExporter(
    options.spool,
    options.offline === true ? undefined : options.exporter,
  );
  return { exporter: diskful, diskful, spoolDir: options.spool.dir };
}

/**
 * Validates the spec, publishes it through the exporter and returns a capture session.
 * The paper's settings A–F are `queueSize` (1 or ≥ 50), `spool` (diskful) or none (diskless), and
 * `offline`. The online diskless settings spill to a local spool while the transport is down
 * (the spec too, so `init` does not wait for it).
 * @throws ValidationError for an invalid spec or setting; Error when the spec cannot be published.
 */
export async function init(options: CaptureOptions): Promise<Capture> {
  const env = options.env ?? process.env;
  const draft = env[DRAFT_ENV];
  if (draft !== undefined && draft !== '') return initDraft(options, draft, env);
  const source = typeof options.spec === 'string' ? await readFile(options.spec, 'utf8') : options.spec;
  const compiled = compileSpec(source);
  const ranks = resolveCaptureRanks(options.captureRanks, env);
  const report = options.onError ?? warnOnError;
  const delivery = settingDelivery(options, compiled.spec.workflow, report);
  const exporter = delivery.exporter;
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
  const processorOptions = {
    ...options,
    onError: report,
    ...(options.queueSize === undefined ? {} : { maxBatchSize: options.queueSize }),
  };
  const silent = distributed !== undefined && distributed.rank !== 0 && ranks === 'zero';
  return new Capture(
    compiled,
    new BatchProcessor(exporter, processorOptions),
    context,
    // a silent rank reports nothing: rank 0 reports the same mistakes
    new SpecChecker(compiled, options.strict ?? false, silent ? () => undefined : report),
    delivery,
    options.shutdownTimeoutMs ?? 5000,
    distributed,
    silent,
  );
}

/**
 * A draft run (`provml spec init` sets `PROVML_SPEC_DRAFT`): every task and name is accepted, nothing
 * is sent, and the names used are written to the draft file at shutdown (src/draft/).
 */
async function initDraft(
  options: CaptureOptions,
  path: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Capture> {
  const { compiled, recorder, checker } = await draftParts(options.spec, path, env);
  return new Capture(
    compiled,
    new BatchProcessor(recorder, { onError: options.onError ?? warnOnError }),
    { ...collectExecutionContext(env), ...options.context },
    checker,
    { exporter: recorder },
    options.shutdownTimeoutMs ?? 5000,
  );
}
