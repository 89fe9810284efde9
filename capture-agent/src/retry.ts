/** The one retry decorator: exponential backoff with full jitter and a deadline, driven by ExportResult. */
import { Backoff } from '@provml/schemas';
import type { ExportResult } from './CaptureExporter.ts';

/** Backoff settings for retryable outcomes. */
export interface RetryOptions {
  /** First delay in ms. Default 100. */
  initialDelayMs?: number;
  /** Largest delay in ms. Default 5000. */
  maxDelayMs?: number;
  /** Give up (returning the last retryable outcome as a failure) after this many ms. Default 30000. */
  deadlineMs?: number;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const defaultSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/**
 * Runs `attempt` until it succeeds, fails for good, or the deadline passes.
 * Only `retryable` outcomes are tried again; the decision is taken from the outcome alone.
 */
export async function withRetry(
  attempt: () => Promise<ExportResult>,
  options: RetryOptions = {},
  /** The outcome of a first attempt the caller already made (its fast path); tried again from there. */
  first?: ExportResult,
): Promise<ExportResult> {
  const backoff = new Backoff({
    initialMs: options.initialDelayMs,
    maxMs: options.maxDelayMs,
    random: options.random,
  });
  const deadline = Date.now() + (options.deadlineMs ?? 30_000);
  const sleep = options.sleep ?? defaultSleep;
  for (let n = 0; ; n++) {
    const result = n === 0 && first !== undefined ? first : await attempt();
    if (result.kind !== 'retryable') return result;
    const delay = backoff.next();
    if (Date.now() + delay > deadline)
      return {
        kind: 'failure',
        error: new Error(`gave up after ${n + 1} attempts: ${result.error.message}`, { cause: result.error }),
      };
    await sleep(delay);
  }
}
