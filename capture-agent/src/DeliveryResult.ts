/** What `Capture.flush()` and `Capture.shutdown()` return: where every captured event went (the Python client's `DeliveryResult`). */

/**
 * Counts since `init` (events, unless noted). `ok` is true only when everything captured was
 * delivered: nothing rejected, dropped, spooled, pending, undeclared or invalid.
 */
export interface DeliveryResult {
  /** Accepted by the transport (the diskful and offline settings: written to their spool). */
  readonly delivered: number;
  /** Refused for good by the receiver (it named them, or refused a batch of one): never sent again. */
  readonly rejected: number;
  /**
   * Lost before delivery: the queue was full (overflow `drop`), captured after shutdown, the spill
   * spool could not be written, or given up after retries without a spill spool.
   */
  readonly dropped: number;
  /** Kept in the spill spool `spoolPath`, not delivered yet (sent by the next capture with that `spill.dir`, or by `provml replay`). */
  readonly spooled: number;
  /** The spill spool's directory while it holds `spooled` events; else the spool of a diskful setting; else null. */
  readonly spoolPath: string | null;
  /** Still in memory when the call returned (a flush that timed out; after shutdown, lost). */
  readonly pending: number;
  /** Values, data references and task executions dropped at the capture call: names the spec does not declare (not events). */
  readonly undeclared: number;
  /** Values and data references dropped at the capture call: not allowed by the event contract (not events). */
  readonly invalid: number;
  /** The call returned because its time was up. */
  readonly timedOut: boolean;
  /** Everything captured was delivered, and nothing was lost on the way. */
  readonly ok: boolean;
}

/** A `DeliveryResult` from its counts (`ok` derived). */
export function deliveryResult(counts: Omit<DeliveryResult, 'ok'>): DeliveryResult {
  const ok =
    counts.rejected === 0 &&
    counts.dropped === 0 &&
    counts.spooled === 0 &&
    counts.pending === 0 &&
    counts.undeclared === 0 &&
    counts.invalid === 0;
  // the fields in the order the type lists them (printed results read alike)
  const { delivered, rejected, dropped, spooled, spoolPath, pending, undeclared, invalid, timedOut } = counts;
  return Object.freeze({
    delivered,
    rejected,
    dropped,
    spooled,
    spoolPath,
    pending,
    undeclared,
    invalid,
    timedOut,
    ok,
  });
}
