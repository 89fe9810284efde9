/** Names and values checked at the capture call, against the spec and the event contract (the Python client's `_validate.py`). */
import {
  DIGEST_PATTERN,
  EVENT_LIMITS,
  isAbsoluteIri,
  REFERENCE_SEMANTICS,
  ValidationError,
  type CaptureValue,
  type CompiledSpec,
  type DataRef,
} from '@provml/schemas';
import { fileDigest } from './fileDigest.ts';

/** What a mistake at a capture call is: a name the spec does not declare, or a value the contract does not allow. */
export type MistakeKind = 'undeclared' | 'invalid';

/**
 * A name or value dropped at a capture call (not strict): `context.kind`, `context.task`,
 * `context.name`. Reported once per kind, task and name; `DeliveryResult` counts every one.
 */
export class CaptureMistakeError extends ValidationError {
  constructor(
    readonly kind: MistakeKind,
    message: string,
    task: string,
    name: string,
    /** `task`, `values.<name>` or `dataRefs.<name>`. */
    path: string,
  ) {
    super(message, [{ path, message }], { task, kind, name });
  }
}

/** Distinct names reported; beyond this, mistakes are still counted but no longer reported. */
const MAX_REPORTED = 10_000;

/** A data reference as a capture call gives it: `digest: true` asks for the file's digest. */
export type RefInput = Omit<DataRef, 'digest'> & { digest?: string | true };

const NO_VALUES = Object.freeze({}) as Record<string, CaptureValue>;
const NO_REFS = Object.freeze([]) as unknown as DataRef[];

/** A value the contract allows: a boolean, a number (NaN and infinities included), a string or an array of finite numbers. */
export function allowedValue(v: unknown): boolean {
  switch (typeof v) {
    case 'number':
    case 'boolean':
      return true;
    case 'string':
      return v.length <= EVENT_LIMITS.stringValueLength;
    default:
      return (
        Array.isArray(v) &&
        v.length <= EVENT_LIMITS.arrayValueLength &&
        v.every((x) => typeof x === 'number' && Number.isFinite(x))
      );
  }
}

/**
 * Checks capture calls against a compiled spec. A mistake throws a `CaptureMistakeError` at the
 * call with `strict`; otherwise it is dropped, counted, and reported to `report` the first time for
 * its kind, task and name, so the rest of the call goes through and the ingest never refuses an
 * event for it.
 */
export class SpecChecker {
  /** Values, data references and task executions dropped because the spec does not declare their name. */
  undeclared = 0;
  /** Values and data references dropped because the contract does not allow them. */
  invalid = 0;
  private readonly seen = new Set<string>();

  constructor(
    private readonly compiled: CompiledSpec,
    /** Throw at the call instead of dropping. */
    readonly strict: boolean,
    private readonly report: (error: Error) => void,
  ) {}

  /**
   * Counts a mistake and reports it the first time (or throws it, strict).
   * `quiet`: count only (the call already threw it in strict mode).
   */
  private mistake(error: CaptureMistakeError, strict = this.strict, quiet = false): void {
    if (strict) throw error;
    this[error.kind]++;
    const key = `${error.kind}\u0000${error.context.task}\u0000${error.context.name}`;
    if (quiet || this.seen.has(key) || this.seen.size >= MAX_REPORTED) return;
    this.seen.add(key);
    error.message += ` (dropped; later uses of '${error.context.name}' in task '${error.context.task}' are dropped and counted without a report)`;
    this.report(error);
  }

  /** Whether the spec declares `task`; an undeclared one throws (strict) or is counted and reported. */
  task(task: string, strict = this.strict): boolean {
    if (this.compiled.tasks.has(task)) return true;
    const declared = [...this.compiled.tasks.keys()].join(', ');
    this.mistake(
      new CaptureMistakeError(
        'undeclared',
        `unknown task '${task}' in workflow '${this.compiled.spec.workflow}' (declared tasks: ${declared})`,
        task,
        task,
        'task',
      ),
      strict,
    );
    return false;
  }

  /** A declared task run under an undeclared one: nothing of it is sent (counted, reported once). */
  underUndeclared(task: string): void {
    if (!this.compiled.tasks.has(task)) this.task(task, false);
    else
      this.mistake(
        new CaptureMistakeError(
          'undeclared',
          `task '${task}' runs under an undeclared task`,
          task,
          task,
          'task',
        ),
        false,
      );
  }

  /** The value to send for `name`, or undefined when it is dropped. */
  value(
    task: string,
    name: string,
    v: unknown,
    strict = this.strict,
    quiet = false,
  ): CaptureValue | undefined {
    const a = this.compiled.attributes.get(task)?.get(name);
    if (a === undefined || REFERENCE_SEMANTICS.has(a.semantics)) {
      const message =
        a === undefined
          ? `value '${name}' is not declared by task '${task}' of workflow '${this.compiled.spec.workflow}' (declared: ${this.names(task, false)})`
          : `'${name}' of task '${task}' is a ${a.semantics}: pass it in dataRefs`;
      this.mistake(
        new CaptureMistakeError('undeclared', message, task, name, `values.${name}`),
        strict,
        quiet,
      );
      return undefined;
    }
    if (allowedValue(v)) return v as CaptureValue;
    this.mistake(
      new CaptureMistakeError(
        'invalid',
        `value '${name}' must be a boolean, a number, a string (≤ ${EVENT_LIMITS.stringValueLength} characters) or an array of finite numbers (≤ ${EVENT_LIMITS.arrayValueLength})`,
        task,
        name,
        `values.${name}`,
      ),
      strict,
      quiet,
    );
    return undefined;
  }

  /** A checked copy of `values` without what is dropped (the caller may reuse its object). */
  values(
    task: string,
    values: Readonly<Record<string, unknown>> | undefined,
    strict = this.strict,
    quiet = false,
  ): Record<string, CaptureValue> {
    if (values === undefined) return NO_VALUES;
    const out: Record<string, CaptureValue> = {};
    for (const name of Object.keys(values)) {
      const v = this.value(task, name, values[name], strict, quiet);
      if (v !== undefined) out[name] = v;
    }
    return out;
  }

  /**
   * Checked data references without what is dropped; `digest: true` computed from the local file.
   * A digest that cannot be had (not a `file:` URI, an unreadable file, a malformed string) is an
   * `invalid` mistake that costs only the digest: the reference is sent without it.
   */
  refs(task: string, refs: readonly RefInput[], strict = this.strict, quiet = false): DataRef[] {
    if (refs.length === 0) return NO_REFS;
    const out: DataRef[] = [];
    for (const r of refs) {
      const a = this.compiled.attributes.get(task)?.get(r.name);
      let error: CaptureMistakeError | undefined;
      if (a === undefined || !REFERENCE_SEMANTICS.has(a.semantics))
        error = new CaptureMistakeError(
          'undeclared',
          a === undefined
            ? `data reference '${r.name}' is not declared by task '${task}' (declared: ${this.names(task, true)})`
            : `'${r.name}' of task '${task}' is a ${a.semantics}, not a reference: pass it in values`,
          task,
          r.name,
          `dataRefs.${r.name}`,
        );
      else if (typeof r.uri !== 'string' || !isAbsoluteIri(r.uri))
        error = new CaptureMistakeError(
          'invalid',
          `data reference '${r.name}': ${JSON.stringify(r.uri)} is not an absolute URI (RFC 3987: a scheme, no spaces or <>"{}|\\^\`)`,
          task,
          r.name,
          `dataRefs.${r.name}`,
        );
      else if (r.store !== null && (typeof r.store !== 'string' || r.store === ''))
        error = new CaptureMistakeError(
          'invalid',
          `data reference '${r.name}': store must be a non-empty string or null`,
          task,
          r.name,
          `dataRefs.${r.name}`,
        );
      if (error !== undefined) {
        this.mistake(error, strict, quiet);
        continue;
      }
      if (r.digest === undefined) {
        out.push(r as DataRef);
        continue;
      }
      const digest = this.digest(task, r, strict, quiet);
      out.push(
        digest === undefined
          ? { name: r.name, uri: r.uri, store: r.store }
          : { name: r.name, uri: r.uri, store: r.store, digest },
      );
    }
    return out;
  }

  /** The digest to send for a reference, or undefined when it cannot be had (a mistake: counted, or thrown). */
  private digest(task: string, r: RefInput, strict: boolean, quiet: boolean): string | undefined {
    let why: string;
    if (r.digest === true) {
      try {
        return fileDigest(r.uri);
      } catch (cause) {
        why = `its digest cannot be computed: ${(cause as Error).message}`;
      }
    } else if (typeof r.digest === 'string' && DIGEST_PATTERN.test(r.digest)) return r.digest;
    else why = `digest must be true or sha256: and 64 lowercase hex digits, not ${JSON.stringify(r.digest)}`;
    this.mistake(
      new CaptureMistakeError(
        'invalid',
        `data reference '${r.name}': ${why}`,
        task,
        r.name,
        `dataRefs.${r.name}.digest`,
      ),
      strict,
      quiet,
    );
    return undefined;
  }

  /** The declared names of a task's values (or references), for messages. */
  private names(task: string, references: boolean): string {
    const names = [...(this.compiled.attributes.get(task)?.values() ?? [])]
      .filter((a) => REFERENCE_SEMANTICS.has(a.semantics) === references)
      .map((a) => a.name)
      .sort();
    return names.length === 0 ? 'none' : names.join(', ');
  }
}
