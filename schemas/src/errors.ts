/** Typed errors shared by every package: a code, a retriable flag, a cause and context fields. */

/** Where an error happened: whichever of these apply. */
export interface ErrorContext {
  topic?: string;
  partition?: number;
  offset?: string;
  eventId?: string;
  workflow?: string;
  task?: string;
  /** 1-based line of an NDJSON body, or 1-based index in a JSON array. */
  line?: number;
  /** JSON path of the offending field, e.g. `values.loss`. */
  path?: string;
  [key: string]: string | number | undefined;
}

/** Base of every error this project throws or returns. Nobody has to parse `message`. */
export class ProvmlError extends Error {
  /** Stable machine-readable code, e.g. `invalid-event`. */
  readonly code: string;
  /** Whether trying the same operation again may succeed. */
  readonly retriable: boolean;
  readonly context: ErrorContext;

  constructor(
    code: string,
    message: string,
    options: { retriable?: boolean; cause?: unknown; context?: ErrorContext } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.context = options.context ?? {};
  }
}

/** Input that breaks a contract (event, spec, annotation, query parameter). Never retriable. */
export class ValidationError extends ProvmlError {
  /** Every problem found, each with its own context. */
  readonly issues: readonly ValidationIssue[];
  constructor(message: string, issues: readonly ValidationIssue[], context: ErrorContext = {}) {
    super('invalid-input', message, { context });
    this.issues = issues;
  }
}

/** One problem found while validating input. */
export interface ValidationIssue {
  /** JSON path of the field, `''` for the whole document. */
  path: string;
  message: string;
  /** 1-based line (NDJSON) or index (JSON array) when the input had several records. */
  line?: number;
}

/** Bytes that cannot be decoded as a capture event (bad marker, unknown schema, truncated). */
export class DecodeError extends ProvmlError {
  constructor(message: string, options: { cause?: unknown; context?: ErrorContext } = {}) {
    super('decode-failed', message, options);
  }
}

/** A store, broker or other dependency failed; `retriable` says whether to try again. */
export class DependencyError extends ProvmlError {
  constructor(
    code: string,
    message: string,
    options: { retriable: boolean; cause?: unknown; context?: ErrorContext },
  ) {
    super(code, message, options);
  }
}

/**
 * The local spool holds its size cap of unpublished data (policy `reject`): nothing of the batch
 * was kept. Retriable: the writer keeps the batch and tries again once the publisher caught up.
 */
export class SpoolFullError extends ProvmlError {
  constructor(message: string, context: ErrorContext = {}) {
    super('spool-full', message, { retriable: true, context });
  }
}

/** Another live process holds the spool's LOCK (its pid is in `context.pid`). */
export class SpoolLockedError extends ProvmlError {
  constructor(message: string, context: ErrorContext = {}) {
    super('spool-locked', message, { retriable: false, context });
  }
}

/**
 * Capture events the capture queue dropped (`context.count` of them since the last report): the
 * queue was full under the `drop` overflow policy, or the capture was already shut down. Reported
 * at most once per interval; `stats.dropped` counts every drop.
 */
export class EventsDroppedError extends ProvmlError {
  constructor(count: number, reason: 'queue-full' | 'after-shutdown') {
    super(
      'events-dropped',
      `${count} capture event(s) dropped: ${reason === 'queue-full' ? 'the queue was full (overflow policy drop)' : 'the capture was already shut down'}`,
      { retriable: false, context: { count, reason } },
    );
  }
}
