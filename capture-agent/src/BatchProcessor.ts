/** The capture queue: a bounded batch processor in the OpenTelemetry mould that never loses events silently. */
import { EventsDroppedError, type CaptureEvent } from '@provml/schemas';
import type { CaptureExporter, ExportResult } from './CaptureExporter.ts';
import { withRetry, type RetryOptions } from './retry.ts';

/** What happens when the queue is full. */
export type OverflowPolicy = 'block' | 'drop';

/** Settings of the batch processor (the paper's queue size is `maxBatchSize`). */
export interface BatchProcessorOptions {
  /** Events held before the overflow policy applies. Default 65536. */
  maxQueueSize?: number;
  /** Events per export; 1 publishes every event on its own (the paper's queue size 1). Default 512. */
  maxBatchSize?: number;
  /** Longest time an event waits before its batch is exported, in ms. Default 200. */
  scheduledDelayMs?: number;
  /** Each export races this timeout (ms); a timeout is retryable. Default 30000. */
  exportTimeoutMs?: number;
  /**
   * `drop`: an event arriving at a full queue is dropped and counted in `stats.dropped`.
   * `block`: it is still queued (counted in `stats.overflowed`) and `whenWritable()` holds callers
   * that await it (the scoped task helper does) until the queue has drained below its limit, so a
   * stalled transport stalls them. Default `drop` (the trainer never waits; with a spill spool the
   * queue drains at disk speed while the transport is down).
   */
  overflow?: OverflowPolicy;
  retry?: RetryOptions;
  /**
   * Background errors go here, never to the caller: failed exports, and dropped events as an
   * `EventsDroppedError` at most once per `dropReportIntervalMs` with the count since the last
   * report. Default: a Node process warning (`process.emitWarning`), so nothing is lost silently.
   */
  onError?: (error: Error) => void;
  /** Shortest time between two reports of dropped events, in ms. Default 10000. */
  dropReportIntervalMs?: number;
}

/** The default error handler: a process warning on stderr (libraries do not own the console). */
export const warnOnError = (error: Error): void =>
  process.emitWarning(error.message, { code: 'PROVML_CAPTURE' });

/** Counters of the batch processor, read by metrics. */
export interface BatchProcessorStats {
  enqueued: number;
  exported: number;
  dropped: number;
  overflowed: number;
  /** Refused for good by the exporter (a `failure` outcome). */
  rejected: number;
  /** Given up after retries (the retry deadline passed). */
  failed: number;
  batches: number;
  queueDepth: number;
  /** Duration of the last export in ms. */
  lastExportMs: number;
}

/** Exports chained in one go (microtasks) before yielding to the event loop once. */
const MAX_CHAINED_EXPORTS = 64;

/** Batches events in the background; the caller's thread only appends to an array. */
export class BatchProcessor {
  /** Queued events are `queue[head…]`; taking a batch moves `head` instead of splicing (O(1)). */
  private queue: CaptureEvent[] = [];
  private head = 0;
  private chained = 0;
  /** One timer for every export's timeout, re-armed with `refresh()`: no allocation per export. */
  private watchdog: NodeJS.Timeout | undefined;
  private onTimeout: (() => void) | undefined;
  private current: readonly CaptureEvent[] = [];
  private readonly attemptCurrent = (): Promise<ExportResult> => this.attempt(this.current);
  private inFlight: Promise<void> | undefined;
  private lastAttemptKind: ExportResult['kind'] = 'success';
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private shutdownPromise: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private readonly maxQueueSize: number;
  private readonly maxBatchSize: number;
  private readonly scheduledDelayMs: number;
  private readonly exportTimeoutMs: number;
  private readonly overflow: OverflowPolicy;
  private readonly retry: RetryOptions;
  private readonly onError: (error: Error) => void;
  private readonly dropReportIntervalMs: number;
  /** Drops not reported yet, and when the last report went out (ms, performance clock). */
  private unreportedDrops = 0;
  private lastDropReport = -Infinity;
  readonly stats: BatchProcessorStats = {
    enqueued: 0,
    exported: 0,
    dropped: 0,
    overflowed: 0,
    rejected: 0,
    failed: 0,
    batches: 0,
    queueDepth: 0,
    lastExportMs: 0,
  };

  constructor(
    private readonly exporter: CaptureExporter,
    options: BatchProcessorOptions = {},
  ) {
    this.maxQueueSize = options.maxQueueSize ?? 65_536;
    this.maxBatchSize = options.maxBatchSize ?? 512;
    this.scheduledDelayMs = options.scheduledDelayMs ?? 200;
    this.exportTimeoutMs = options.exportTimeoutMs ?? 30_000;
    this.overflow = options.overflow ?? 'drop';
    this.retry = options.retry ?? {};
    this.onError = options.onError ?? warnOnError;
    this.dropReportIntervalMs = options.dropReportIntervalMs ?? 10_000;
    if (!(this.maxBatchSize >= 1 && this.maxQueueSize >= this.maxBatchSize))
      throw new RangeError('maxBatchSize must be >= 1 and <= maxQueueSize');
  }

  /** Events waiting in the queue. */
  private get depth(): number {
    return this.queue.length - this.head;
  }

  /** Appends an event. Returns false if it was dropped (policy `drop`, queue full, or shut down). */
  enqueue(event: CaptureEvent): boolean {
    if (this.shutdownPromise !== undefined) return this.drop('after-shutdown');
    if (this.depth >= this.maxQueueSize) {
      if (this.overflow === 'drop') return this.drop('queue-full');
      this.stats.overflowed++;
    }
    this.queue.push(event);
    this.stats.enqueued++;
    const depth = this.depth;
    this.stats.queueDepth = depth;
    if (depth >= this.maxBatchSize) this.scheduleNow();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, this.scheduledDelayMs);
      this.timer.unref();
    }
    return true;
  }

  /** Resolves once the queue is below its limit (at once when it is). */
  whenWritable(): Promise<void> {
    if (this.depth < this.maxQueueSize) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Exports everything queued so far; resolves when it has been handed to the exporter. */
  async flush(): Promise<void> {
    while (this.depth > 0 || this.inFlight !== undefined) {
      if (this.inFlight === undefined) this.pump();
      await this.inFlight;
    }
  }

  /** Flushes, then shuts the exporter down. Idempotent. */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      await this.flush();
      if (this.unreportedDrops > 0) this.report(new EventsDroppedError(this.unreportedDrops, 'queue-full'));
      this.unreportedDrops = 0;
      if (this.timer !== undefined) clearTimeout(this.timer);
      if (this.immediate !== undefined) clearImmediate(this.immediate);
      if (this.watchdog !== undefined) clearTimeout(this.watchdog);
      await this.exporter.shutdown();
    })();
    return this.shutdownPromise;
  }

  /** Runs an export off the caller's stack. */
  private scheduleNow(): void {
    if (this.immediate !== undefined || this.inFlight !== undefined) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      this.chained = 0;
      this.pump();
    });
  }

  /** Starts one export if none is in flight; chains the next while batches are full. */
  private pump(): void {
    if (this.inFlight !== undefined || this.depth === 0) return;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    let batch: CaptureEvent[];
    if (this.head === 0 && this.queue.length <= this.maxBatchSize) {
      batch = this.queue;
      this.queue = [];
    } else {
      const end = Math.min(this.queue.length, this.head + this.maxBatchSize);
      batch = this.queue.slice(this.head, end);
      this.head = end;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      } else if (this.head >= 4096 && this.head * 2 >= this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
    }
    this.stats.queueDepth = this.depth;
    this.inFlight = this.exportBatch(batch).finally(() => {
      this.inFlight = undefined;
      const depth = this.depth;
      this.stats.queueDepth = depth;
      this.releaseWaiters();
      if (depth >= this.maxBatchSize) {
        // full batches follow each other at once, yielding to the event loop now and then
        if (this.chained++ < MAX_CHAINED_EXPORTS) this.pump();
        else {
          this.chained = 0;
          this.scheduleNow();
        }
      } else if (depth > 0 && this.timer === undefined && this.shutdownPromise === undefined) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, this.scheduledDelayMs);
        this.timer.unref();
      }
    });
  }

  /** One attempt: the exporter's outcome, an exception as retryable, or a timeout as retryable. */
  private attempt(batch: readonly CaptureEvent[]): Promise<ExportResult> {
    return new Promise<ExportResult>((resolve) => {
      let settled = false;
      const settle = (result: ExportResult): void => {
        if (settled) return;
        settled = true;
        this.lastAttemptKind = result.kind;
        this.onTimeout = undefined;
        resolve(result);
      };
      this.onTimeout = () =>
        settle({
          kind: 'retryable',
          error: new Error(`export timed out after ${this.exportTimeoutMs} ms`),
        });
      if (this.watchdog === undefined) {
        this.watchdog = setTimeout(() => this.onTimeout?.(), this.exportTimeoutMs);
        this.watchdog.unref();
      } else this.watchdog.refresh();
      try {
        // an exporter that throws (even synchronously) is treated as a retryable outcome
        this.exporter
          .exportEvents(batch)
          .then(settle, (error: unknown) => settle({ kind: 'retryable', error: error as Error }));
      } catch (error) {
        settle({ kind: 'retryable', error: error as Error });
      }
    });
  }

  private async exportBatch(batch: CaptureEvent[]): Promise<void> {
    const started = performance.now();
    this.current = batch;
    const first = await this.attempt(batch);
    // the fast path: one attempt; the retry decorator only when it is worth retrying
    const result =
      first.kind === 'retryable' ? await withRetry(this.attemptCurrent, this.retry, first) : first;
    this.stats.lastExportMs = performance.now() - started;
    this.stats.batches++;
    if (result.kind === 'success') this.stats.exported += batch.length;
    else {
      // a failure the exporter answered is a refusal; one withRetry made up is giving up
      const refused = this.lastAttemptKind === 'failure';
      this.stats[refused ? 'rejected' : 'failed'] += batch.length;
      this.report(
        new Error(
          `export of ${batch.length} events ${refused ? 'refused' : 'failed'}: ${result.error.message}`,
          {
            cause: result.error,
          },
        ),
      );
    }
  }

  /** Counts a dropped event and reports the drops, at most once per interval. Always false. */
  private drop(reason: 'queue-full' | 'after-shutdown'): false {
    this.stats.dropped++;
    this.unreportedDrops++;
    const now = performance.now();
    if (now - this.lastDropReport >= this.dropReportIntervalMs) {
      this.lastDropReport = now;
      const count = this.unreportedDrops;
      this.unreportedDrops = 0;
      this.report(new EventsDroppedError(count, reason));
    }
    return false;
  }

  /** Hands a background error to the handler; a throwing handler must not break the queue. */
  private report(error: Error): void {
    try {
      this.onError(error);
    } catch {
      // ignored: see above
    }
  }

  private releaseWaiters(): void {
    if (this.depth >= this.maxQueueSize) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
