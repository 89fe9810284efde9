// The capture queue: batching by size and by time, one export in flight, overflow policies, retries, flush and shutdown.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BatchProcessor,
  type BatchProcessorOptions,
  type CaptureExporter,
  type ExportResult,
} from '@provml/capture-agent';
import type { CaptureEvent, EventsDroppedError, ProspectiveSpec } from '@provml/schemas';

const event = (i: number): CaptureEvent => ({
  eventId: `e${i}`,
  workflow: 'wf',
  workflowExecution: 'wfe-1',
  task: 'train',
  taskExecution: `t${i}`,
  parentTaskExecution: null,
  phase: 'begin',
  time: 1_700_000_000_000_000 + i,
  values: {},
  dataRefs: [],
  status: null,
  context: {},
});

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

const deferred = <T>(): Deferred<T> => {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};

const SUCCESS: ExportResult = { kind: 'success' };

/**
 * An exporter whose outcome per call is decided by `respond` (default: success at once).
 * Records every batch and how many calls are in flight at the same time.
 */
class ScriptedExporter implements CaptureExporter {
  readonly batches: CaptureEvent[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  shutdownCalls = 0;
  respond: (call: number, events: readonly CaptureEvent[]) => Promise<ExportResult> = () =>
    Promise.resolve(SUCCESS);

  get calls(): number {
    return this.batches.length;
  }

  get exported(): CaptureEvent[] {
    return this.batches.flat();
  }

  exportSpec(_spec: ProspectiveSpec): Promise<ExportResult> {
    return Promise.resolve(SUCCESS);
  }

  async exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    const call = this.batches.length;
    this.batches.push([...events]);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      return await this.respond(call, events);
    } finally {
      this.inFlight--;
    }
  }

  shutdown(): Promise<void> {
    this.shutdownCalls++;
    return Promise.resolve();
  }
}

/** Retry settings that never wait on a real clock: delays are recorded, jitter is off. */
const fakeRetry = () => {
  const sleeps: number[] = [];
  return {
    sleeps,
    retry: {
      initialDelayMs: 100,
      maxDelayMs: 1000,
      random: () => 1,
      sleep: (ms: number) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
    },
  };
};

const make = (exporter: CaptureExporter, options: BatchProcessorOptions = {}): BatchProcessor =>
  new BatchProcessor(exporter, { scheduledDelayMs: 1000, retry: fakeRetry().retry, ...options });

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('BatchProcessor batching', () => {
  it('exports a full batch at once, off the caller stack, without waiting for the timer', async () => {
    const exporter = new ScriptedExporter();
    const p = make(exporter, { maxBatchSize: 3, scheduledDelayMs: 60_000 });
    for (let i = 0; i < 3; i++) expect(p.enqueue(event(i))).toBe(true);
    expect(exporter.calls).toBe(0); // the caller only appends
    await vi.advanceTimersByTimeAsync(0);
    expect(exporter.batches.map((b) => b.map((e) => e.eventId))).toEqual([['e0', 'e1', 'e2']]);
    expect(p.stats).toMatchObject({ enqueued: 3, exported: 3, batches: 1, queueDepth: 0 });
  });

  it('exports a partial batch after scheduledDelayMs and not before', async () => {
    const exporter = new ScriptedExporter();
    const p = make(exporter, { maxBatchSize: 10, scheduledDelayMs: 200 });
    p.enqueue(event(0));
    p.enqueue(event(1));
    await vi.advanceTimersByTimeAsync(199);
    expect(exporter.calls).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(exporter.batches).toEqual([[event(0), event(1)]]);
    expect(p.stats.exported).toBe(2);
  });

  it('unrefs the batch timer so it does not keep the process alive', () => {
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const p = make(new ScriptedExporter(), { maxBatchSize: 10, scheduledDelayMs: 200 });
    p.enqueue(event(0));
    const timers = setTimeoutSpy.mock.results.map((r) => r.value as NodeJS.Timeout);
    expect(timers).toHaveLength(1);
    expect(timers[0]?.hasRef()).toBe(false);
  });

  it('keeps one export in flight at a time', async () => {
    const exporter = new ScriptedExporter();
    const gates: Deferred<ExportResult>[] = [];
    exporter.respond = () => {
      const d = deferred<ExportResult>();
      gates.push(d);
      return d.promise;
    };
    const p = make(exporter, { maxBatchSize: 3, maxQueueSize: 100, scheduledDelayMs: 1000 });
    for (let i = 0; i < 3; i++) p.enqueue(event(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(exporter.calls).toBe(1);
    // a partial batch whose timer fires while the first export is in flight waits for it
    p.enqueue(event(3));
    await vi.advanceTimersByTimeAsync(5000);
    expect(exporter.calls).toBe(1);
    // so does a full one
    for (let i = 4; i < 7; i++) p.enqueue(event(i));
    await vi.advanceTimersByTimeAsync(5000);
    expect(exporter.calls).toBe(1);
    for (let n = 1; n <= 3; n++) {
      gates[n - 1]?.resolve(SUCCESS);
      await vi.advanceTimersByTimeAsync(1000);
      expect(exporter.calls).toBe(Math.min(n + 1, 3));
    }
    expect(exporter.maxInFlight).toBe(1);
    expect(exporter.batches.map((b) => b.map((e) => e.eventId))).toEqual([
      ['e0', 'e1', 'e2'],
      ['e3', 'e4', 'e5'],
      ['e6'],
    ]);
    expect(p.stats.exported).toBe(7);
  });

  it('preserves event order across batches', async () => {
    const exporter = new ScriptedExporter();
    const p = make(exporter, { maxBatchSize: 4, scheduledDelayMs: 50 });
    for (let i = 0; i < 10; i++) p.enqueue(event(i));
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 10; i < 23; i++) p.enqueue(event(i));
    await vi.advanceTimersByTimeAsync(100);
    await p.flush();
    expect(exporter.exported.map((e) => e.eventId)).toEqual(Array.from({ length: 23 }, (_, i) => `e${i}`));
    expect(exporter.batches.every((b) => b.length <= 4)).toBe(true);
    expect(p.stats.exported).toBe(23);
  });
});

describe('BatchProcessor overflow', () => {
  /** An exporter held on its first call until `release` is resolved. */
  const heldExporter = () => {
    const exporter = new ScriptedExporter();
    const gates: Deferred<ExportResult>[] = [];
    exporter.respond = () => {
      const d = deferred<ExportResult>();
      gates.push(d);
      return d.promise;
    };
    return { exporter, gates };
  };

  it('drop: drops events arriving at a full queue, counts them and returns false', async () => {
    const { exporter, gates } = heldExporter();
    const p = make(exporter, { maxBatchSize: 2, maxQueueSize: 4, overflow: 'drop' });
    p.enqueue(event(0));
    p.enqueue(event(1));
    await vi.advanceTimersByTimeAsync(0); // e0, e1 in flight
    for (let i = 2; i < 6; i++) expect(p.enqueue(event(i))).toBe(true);
    expect(p.enqueue(event(6))).toBe(false);
    expect(p.enqueue(event(7))).toBe(false);
    expect(p.stats).toMatchObject({ dropped: 2, enqueued: 6, overflowed: 0 });
    const flushed = p.flush();
    for (let n = 0; n < 3; n++) {
      await vi.advanceTimersByTimeAsync(0);
      gates[n]?.resolve(SUCCESS);
    }
    await flushed;
    expect(exporter.exported.map((e) => e.eventId)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5']);
  });

  it('drop: reports drops to onError at most once per interval, and the rest at shutdown', async () => {
    const { exporter, gates } = heldExporter();
    const errors: Error[] = [];
    const p = make(exporter, {
      maxBatchSize: 2,
      maxQueueSize: 2,
      overflow: 'drop',
      dropReportIntervalMs: 1e9,
      onError: (e) => errors.push(e),
    });
    p.enqueue(event(0));
    p.enqueue(event(1));
    await vi.advanceTimersByTimeAsync(0); // e0, e1 in flight
    p.enqueue(event(2));
    p.enqueue(event(3)); // queue full
    for (let i = 4; i < 104; i++) expect(p.enqueue(event(i))).toBe(false);
    expect(errors.map((e) => [e.name, (e as EventsDroppedError).context])).toEqual([
      ['EventsDroppedError', { count: 1, reason: 'queue-full' }],
    ]);
    const stopped = p.shutdown();
    for (let n = 0; n < 3; n++) {
      await vi.advanceTimersByTimeAsync(0);
      gates[n]?.resolve(SUCCESS);
    }
    await stopped;
    expect(errors.map((e) => (e as EventsDroppedError).context.count)).toEqual([1, 99]);
    expect(p.stats.dropped).toBe(100);
  });

  it('drop: without onError the drops become one process warning, not silence', async () => {
    const { exporter } = heldExporter();
    const warnings: string[] = [];
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation((w) => void warnings.push(String(w)));
    const p = make(exporter, { maxBatchSize: 1, maxQueueSize: 1, overflow: 'drop' });
    p.enqueue(event(0));
    await vi.advanceTimersByTimeAsync(0);
    p.enqueue(event(1));
    p.enqueue(event(2));
    p.enqueue(event(3));
    expect(warnings).toEqual(['1 capture event(s) dropped: the queue was full (overflow policy drop)']);
    spy.mockRestore();
  });

  it('block: keeps every event, counts the overflow and holds whenWritable until the queue drains', async () => {
    const { exporter, gates } = heldExporter();
    const p = make(exporter, { maxBatchSize: 2, maxQueueSize: 4, overflow: 'block' });
    p.enqueue(event(0));
    p.enqueue(event(1));
    await vi.advanceTimersByTimeAsync(0); // e0, e1 in flight, queue empty
    await expect(p.whenWritable()).resolves.toBeUndefined();
    for (let i = 2; i < 8; i++) expect(p.enqueue(event(i))).toBe(true); // queue: 6 > 4
    expect(p.stats).toMatchObject({ overflowed: 2, dropped: 0, enqueued: 8 });

    let writable = false;
    void p.whenWritable().then(() => {
      writable = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(writable).toBe(false);

    gates[0]?.resolve(SUCCESS); // queue still holds 6 >= 4
    await vi.advanceTimersByTimeAsync(0);
    expect(writable).toBe(false);
    expect(exporter.calls).toBe(2);

    gates[1]?.resolve(SUCCESS); // second batch done: queue holds 4, still at the limit
    await vi.advanceTimersByTimeAsync(0);
    expect(writable).toBe(false);

    gates[2]?.resolve(SUCCESS); // third batch done: 2 left, below the limit
    await vi.advanceTimersByTimeAsync(0);
    expect(writable).toBe(true);
    expect(p.stats.queueDepth).toBeLessThan(4);

    const flushed = p.flush();
    await vi.advanceTimersByTimeAsync(0);
    gates[3]?.resolve(SUCCESS);
    await flushed;
    expect(exporter.exported.map((e) => e.eventId)).toEqual(Array.from({ length: 8 }, (_, i) => `e${i}`));
    expect(p.stats.exported).toBe(8);
  });
});

describe('BatchProcessor export outcomes', () => {
  it('retries retryable results with backoff, then counts the batch as exported', async () => {
    const exporter = new ScriptedExporter();
    exporter.respond = (call) =>
      Promise.resolve(call < 2 ? { kind: 'retryable', error: new Error('broker busy') } : SUCCESS);
    const { retry, sleeps } = fakeRetry();
    const onError = vi.fn();
    const p = make(exporter, { retry, onError });
    p.enqueue(event(0));
    p.enqueue(event(1));
    await p.flush();
    expect(exporter.calls).toBe(3);
    expect(exporter.batches[2]).toEqual([event(0), event(1)]);
    expect(sleeps).toEqual([100, 200]);
    expect(p.stats).toMatchObject({ exported: 2, failed: 0, batches: 1 });
    expect(onError).not.toHaveBeenCalled();
  });

  it('counts failure results in stats.rejected and reports them to onError without retrying or throwing', async () => {
    const exporter = new ScriptedExporter();
    const cause = new Error('schema rejected');
    exporter.respond = () => Promise.resolve({ kind: 'failure', error: cause });
    const onError = vi.fn();
    const p = make(exporter, { onError });
    p.enqueue(event(0));
    p.enqueue(event(1));
    p.enqueue(event(2));
    await expect(p.flush()).resolves.toBeUndefined();
    expect(exporter.calls).toBe(1);
    expect(p.stats).toMatchObject({ exported: 0, rejected: 3, failed: 0, batches: 1 });
    expect(onError).toHaveBeenCalledTimes(1);
    const reported = onError.mock.calls[0]?.[0] as Error;
    expect(reported).toBeInstanceOf(Error);
    expect(reported.message).toContain('schema rejected');
    expect(reported.cause).toBe(cause);
  });

  it('gives up on retryable results at the retry deadline and counts the batch as failed', async () => {
    const exporter = new ScriptedExporter();
    exporter.respond = () => Promise.resolve({ kind: 'retryable', error: new Error('still busy') });
    const onError = vi.fn();
    const p = make(exporter, {
      onError,
      retry: {
        initialDelayMs: 100,
        deadlineMs: 1000,
        random: () => 1,
        sleep: (ms) => {
          vi.setSystemTime(Date.now() + ms);
          return Promise.resolve();
        },
      },
    });
    p.enqueue(event(0));
    await expect(p.flush()).resolves.toBeUndefined();
    expect(exporter.calls).toBeGreaterThan(1);
    expect(p.stats).toMatchObject({ exported: 0, failed: 1 });
    expect(onError).toHaveBeenCalledTimes(1);
    expect((onError.mock.calls[0]?.[0] as Error).message).toContain('still busy');
  });

  it('treats an exporter that rejects as retryable', async () => {
    const exporter = new ScriptedExporter();
    exporter.respond = (call) =>
      call === 0 ? Promise.reject(new Error('socket closed')) : Promise.resolve(SUCCESS);
    const onError = vi.fn();
    const p = make(exporter, { onError });
    p.enqueue(event(0));
    await expect(p.flush()).resolves.toBeUndefined();
    expect(exporter.calls).toBe(2);
    expect(p.stats).toMatchObject({ exported: 1, failed: 0 });
    expect(onError).not.toHaveBeenCalled();
  });

  // regression: a synchronous throw used to escape withRetry and reject flush()
  it('treats an exporter that throws synchronously as retryable', async () => {
    let calls = 0;
    const exporter: CaptureExporter = {
      exportSpec: () => Promise.resolve(SUCCESS),
      exportEvents: () => {
        calls++;
        if (calls === 1) throw new Error('not connected');
        return Promise.resolve(SUCCESS);
      },
      shutdown: () => Promise.resolve(),
    };
    const p = make(exporter);
    p.enqueue(event(0));
    await expect(p.flush()).resolves.toBeUndefined();
    expect(calls).toBe(2);
    expect(p.stats.exported).toBe(1);
  });

  it('treats an export that outlasts exportTimeoutMs as retryable', async () => {
    const exporter = new ScriptedExporter();
    exporter.respond = (call) =>
      call === 0 ? new Promise<ExportResult>(() => undefined) : Promise.resolve(SUCCESS);
    const { retry, sleeps } = fakeRetry();
    const onError = vi.fn();
    const p = make(exporter, { exportTimeoutMs: 5000, retry, onError });
    p.enqueue(event(0));
    let flushed = false;
    void p.flush().then(() => {
      flushed = true;
    });
    await vi.advanceTimersByTimeAsync(4999);
    expect(flushed).toBe(false);
    expect(exporter.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(flushed).toBe(true);
    expect(exporter.calls).toBe(2);
    expect(sleeps).toEqual([100]);
    expect(p.stats).toMatchObject({ exported: 1, failed: 0 });
    expect(onError).not.toHaveBeenCalled();
  });
});

describe('BatchProcessor lifecycle', () => {
  it('flush() exports everything queued, in batches, and resolves without the timer', async () => {
    const exporter = new ScriptedExporter();
    const p = make(exporter, { maxBatchSize: 2, scheduledDelayMs: 60_000 });
    for (let i = 0; i < 5; i++) p.enqueue(event(i));
    await p.flush();
    expect(exporter.batches.map((b) => b.length)).toEqual([2, 2, 1]);
    expect(p.stats).toMatchObject({ exported: 5, batches: 3, queueDepth: 0 });
    await expect(p.flush()).resolves.toBeUndefined(); // nothing left: resolves at once
    expect(exporter.calls).toBe(3);
  });

  it('shutdown() flushes, shuts the exporter down once, and drops later events with a count', async () => {
    const exporter = new ScriptedExporter();
    const p = make(exporter, { maxBatchSize: 10 });
    p.enqueue(event(0));
    p.enqueue(event(1));
    const first = p.shutdown();
    const second = p.shutdown();
    await Promise.all([first, second]);
    await p.shutdown();
    expect(exporter.shutdownCalls).toBe(1);
    expect(exporter.exported.map((e) => e.eventId)).toEqual(['e0', 'e1']);
    expect(p.enqueue(event(2))).toBe(false);
    expect(p.stats).toMatchObject({ exported: 2, dropped: 1, enqueued: 2 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(exporter.calls).toBe(1);
  });

  it('rejects maxBatchSize larger than maxQueueSize, or below 1', () => {
    const exporter = new ScriptedExporter();
    expect(() => new BatchProcessor(exporter, { maxBatchSize: 11, maxQueueSize: 10 })).toThrow(RangeError);
    expect(() => new BatchProcessor(exporter, { maxBatchSize: 0 })).toThrow(RangeError);
    expect(() => new BatchProcessor(exporter, { maxBatchSize: 10, maxQueueSize: 10 })).not.toThrow();
  });
});
