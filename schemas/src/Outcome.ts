/** The one result type of every export, publish and load: expected outcomes are values, not exceptions. */

/**
 * What an attempt came to: `success`; `retryable` when the same attempt may succeed later (the
 * broker, store or agent is unavailable, overloaded or timed out); `failure` when it never will (the
 * input is refused). Retry loops decide from `kind` alone.
 */
export type Outcome =
  { kind: 'success' } | { kind: 'retryable'; error: Error } | { kind: 'failure'; error: Error };
