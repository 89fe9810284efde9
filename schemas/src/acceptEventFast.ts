/**
 * The fast accept path of `parseEventJson`: a hand-written check of the common shape of a capture
 * event (numeric time, plain objects and arrays as `JSON.parse` makes them)
 * that returns the normalised event when it can prove the event valid, and `undefined` otherwise —
 * for anything invalid *or merely unusual* (an ISO time, an object with another prototype, a
 * `__proto__` or symbol key): the zod schema then decides and words the issues. It applies the
 * rules of `eventRules.ts`, the same the schema applies, and builds the event as the schema's path
 * does; `schemas/test/acceptEventFast.test.ts` checks both against zod on generated events.
 */
import { DIGEST_PATTERN, type CaptureEvent, type CaptureValue, type DataRef } from './CaptureEvent.ts';
import {
  EVENT_LIMITS,
  TEXT_LIMITS,
  isAbsoluteIri,
  isCaptureValue,
  isEventTime,
  wellFormed,
} from './eventRules.ts';

type Plain = Record<string, unknown>;

/** The fields of an event and of a data reference: those of their types, no more, no less. */
const EVENT_KEYS: ReadonlySet<string> = new Set(
  Object.keys({
    eventId: 1,
    workflow: 1,
    workflowExecution: 1,
    task: 1,
    taskExecution: 1,
    parentTaskExecution: 1,
    phase: 1,
    time: 1,
    values: 1,
    dataRefs: 1,
    status: 1,
    context: 1,
  } satisfies Record<keyof CaptureEvent, 1>),
);
const REF_KEYS: ReadonlySet<string> = new Set(
  Object.keys({ name: 1, uri: 1, store: 1, digest: 1 } satisfies Record<keyof DataRef, 1>),
);

/** An object literal or a null-prototype object (fast-check, `Object.create(null)`); other objects go to the schema. */
function isPlain(x: unknown): x is Plain {
  if (typeof x !== 'object' || x === null) return false;
  const proto: unknown = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** Whether every enumerable key of `o`, own or inherited (as the strict schema reads them), is in `keys`. */
function onlyKeys(o: Plain, keys: ReadonlySet<string>): boolean {
  for (const k in o) if (!keys.has(k)) return false;
  return true;
}

const isText = (s: unknown, min: number, max: number): s is string =>
  typeof s === 'string' && s.length >= min && s.length <= max && wellFormed(s);
const isId = (s: unknown): s is string => isText(s, 1, EVENT_LIMITS.idLength);

/**
 * The entries of a map (`values`, `context`) copied into a new object, or `undefined` when one
 * fails `valid` or the map is unusual (not plain, a `__proto__` or symbol key, too many entries).
 */
function copyMap<V>(
  raw: unknown,
  maxEntries: number,
  maxName: number,
  valid: (v: unknown) => v is V,
): Record<string, V> | undefined {
  if (raw === undefined) return {};
  if (!isPlain(raw) || Object.hasOwn(raw, '__proto__') || Object.getOwnPropertySymbols(raw).length > 0)
    return undefined;
  const names = Object.keys(raw);
  if (names.length > maxEntries) return undefined;
  const out: Record<string, V> = {};
  for (const name of names) {
    const v = raw[name];
    if (!isText(name, 1, maxName) || !valid(v)) return undefined;
    out[name] = v;
  }
  return out;
}

const isValue = (v: unknown): v is CaptureValue =>
  isCaptureValue(v) && (typeof v !== 'string' || wellFormed(v));
const isContextText = (v: unknown): v is string => isText(v, 0, TEXT_LIMITS.contextValue);

function copyRefs(raw: unknown): DataRef[] | undefined {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.length > EVENT_LIMITS.dataRefCount) return undefined;
  const out: DataRef[] = [];
  for (let i = 0; i < raw.length; i++) {
    const d: unknown = raw[i];
    if (!isPlain(d) || !onlyKeys(d, REF_KEYS)) return undefined;
    const { name, uri, store, digest } = d;
    if (!isText(name, 1, TEXT_LIMITS.refName) || typeof uri !== 'string' || !isAbsoluteIri(uri))
      return undefined;
    if (store !== undefined && store !== null && !isText(store, 1, TEXT_LIMITS.refStore)) return undefined;
    if (
      digest !== undefined &&
      digest !== null &&
      (typeof digest !== 'string' || !DIGEST_PATTERN.test(digest))
    )
      return undefined;
    out.push(
      typeof digest === 'string'
        ? { name, uri, store: store ?? null, digest }
        : { name, uri, store: store ?? null },
    );
  }
  return out;
}

/** The normalised event when `raw` is a valid event of the common shape; `undefined` to ask the schema. */
export function acceptEventFast(raw: unknown): CaptureEvent | undefined {
  if (!isPlain(raw) || !onlyKeys(raw, EVENT_KEYS)) return undefined;
  const {
    eventId,
    workflow,
    workflowExecution,
    task,
    taskExecution,
    parentTaskExecution,
    phase,
    time,
    status,
  } = raw;
  if (
    !isId(eventId) ||
    !isId(workflow) ||
    !isId(workflowExecution) ||
    !isId(task) ||
    !isId(taskExecution) ||
    (parentTaskExecution !== undefined && parentTaskExecution !== null && !isId(parentTaskExecution)) ||
    (phase !== 'begin' && phase !== 'end') ||
    typeof time !== 'number' ||
    !isEventTime(time) ||
    (status !== undefined && status !== null && status !== 'finished' && status !== 'failed')
  )
    return undefined;
  const values = copyMap(raw['values'], EVENT_LIMITS.valueCount, TEXT_LIMITS.valueName, isValue);
  if (values === undefined) return undefined;
  const dataRefs = copyRefs(raw['dataRefs']);
  if (dataRefs === undefined) return undefined;
  const context = copyMap(
    raw['context'],
    EVENT_LIMITS.contextEntries,
    TEXT_LIMITS.contextName,
    isContextText,
  );
  if (context === undefined) return undefined;
  return {
    eventId,
    workflow,
    workflowExecution,
    task,
    taskExecution,
    parentTaskExecution: parentTaskExecution ?? null,
    phase,
    time,
    values,
    dataRefs,
    status: status ?? null,
    context,
  };
}
