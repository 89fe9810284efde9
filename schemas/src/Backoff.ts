/** Exponential backoff with full jitter: the one delay rule of every retry loop. */

/** Delays of a backoff. */
export interface BackoffOptions {
  /** Ceiling of the first delay in ms. Default 100. */
  initialMs?: number;
  /** Largest ceiling in ms. Default 5000. */
  maxMs?: number;
  /** Injected for tests: a number in [0, 1). */
  random?: () => number;
}

/**
 * The delays of successive attempts: each is drawn uniformly below a ceiling that doubles from
 * `initialMs` up to `maxMs` ("full jitter", so that many clients retrying together spread out).
 * `reset()` after a success starts again from the first ceiling.
 */
export class Backoff {
  private attempts = 0;

  constructor(private readonly options: BackoffOptions = {}) {}

  /** The ceiling of the next delay, in ms (for log lines). */
  get ceilingMs(): number {
    return Math.min(this.options.maxMs ?? 5000, (this.options.initialMs ?? 100) * 2 ** this.attempts);
  }

  /** How many delays were drawn since the last reset. */
  get count(): number {
    return this.attempts;
  }

  /** The delay before the next attempt, in ms; counts the attempt. */
  next(): number {
    const delay = this.ceilingMs * (this.options.random ?? Math.random)();
    this.attempts++;
    return delay;
  }

  /** Starts again from the first ceiling. */
  reset(): void {
    this.attempts = 0;
  }
}
