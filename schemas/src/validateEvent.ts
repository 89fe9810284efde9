/** Validation of capture events: the JSON form at the ingest, and events against their workflow's spec. */
import * as z from 'zod';
import { DIGEST_PATTERN, type CaptureEvent, type CaptureValue } from './CaptureEvent.ts';
import type { ValidationIssue } from './errors.ts';
import { acceptEventFast } from './acceptEventFast.ts';
import {
  EVENT_LIMITS,
  TEXT_LIMITS,
  isAbsoluteIri,
  isCaptureValue,
  isEventTime,
  wellFormed,
} from './eventRules.ts';
import { REFERENCE_SEMANTICS, type CompiledSpec } from './ProspectiveSpec.ts';

export { EVENT_LIMITS, isAbsoluteIri };

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.(\d{1,9}))?(Z|[+-](\d{2}):(\d{2}))$/;

/** Converts an ISO-8601 timestamp to microseconds since the epoch, keeping sub-millisecond digits. */
export function isoToMicros(iso: string): number | undefined {
  const m = ISO_8601.exec(iso);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const offsetOk = m[9] === 'Z' || (Number(m[10]) <= 23 && Number(m[11]) <= 59);
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    !offsetOk
  )
    return undefined;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return undefined;
  const fraction = (m[8] ?? '').padEnd(6, '0').slice(0, 6);
  return Math.floor(ms / 1000) * 1_000_000 + Number(fraction);
}

/** Formats microseconds since the epoch as an `xsd:dateTime` with microsecond precision. */
export function microsToIso(us: number): string {
  const seconds = Math.floor(us / 1_000_000);
  const micros = us - seconds * 1_000_000;
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}Z`;
}

/** Encoders replace a lone surrogate with U+FFFD, so distinct ids would collide: refused instead. */
const UNPAIRED = 'holds an unpaired UTF-16 surrogate (\\ud800-\\udfff alone), which is not Unicode text';
const text = (min: number, max: number) => z.string().min(min).max(max).refine(wellFormed, UNPAIRED);

const id = text(1, EVENT_LIMITS.idLength);
const key = (max: number) => text(1, max);

/**
 * Own `__proto__` keys (JSON.parse creates them) in the maps of an event: zod skips them, so the
 * entry would vanish unvalidated; they are refused instead.
 */
function protoKeys(raw: unknown): ValidationIssue[] {
  if (typeof raw !== 'object' || raw === null) return [];
  const issues: ValidationIssue[] = [];
  for (const field of ['values', 'context'] as const) {
    const map = (raw as Record<string, unknown>)[field];
    if (typeof map === 'object' && map !== null && Object.hasOwn(map, '__proto__'))
      issues.push({ path: `${field}.__proto__`, message: 'the name __proto__ is not allowed' });
  }
  return issues;
}
const value = z.unknown().superRefine((v, ctx) => {
  if (typeof v === 'string' && !wellFormed(v))
    return void ctx.addIssue({ code: 'custom', message: UNPAIRED });
  if (!isCaptureValue(v))
    ctx.addIssue({
      code: 'custom',
      message: `must be a boolean, a finite number, a string (≤ ${EVENT_LIMITS.stringValueLength} chars) or an array of numbers (≤ ${EVENT_LIMITS.arrayValueLength})`,
    });
}) as z.ZodType<CaptureValue>;
const time = z.unknown().transform((v, ctx): number => {
  const us = typeof v === 'number' ? v : typeof v === 'string' ? isoToMicros(v) : undefined;
  if (us === undefined || !isEventTime(us)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'must be integer microseconds since the epoch or an ISO-8601 date-time with time zone, before 2200',
    });
    return z.NEVER;
  }
  return us;
});

/** The JSON form of one capture event (also the source of the Go agent's JSON Schema: deploy/agent-go-schemas.ts). */
export const eventJsonSchema = z
  .object({
    eventId: id,
    workflow: id,
    workflowExecution: id,
    task: id,
    taskExecution: id,
    parentTaskExecution: id.nullable().optional(),
    phase: z.enum(['begin', 'end']),
    time,
    values: z
      .record(key(TEXT_LIMITS.valueName), value)
      .refine((v) => Object.keys(v).length <= EVENT_LIMITS.valueCount, 'too many values')
      .optional(),
    dataRefs: z
      .array(
        z
          .object({
            name: text(1, TEXT_LIMITS.refName),
            uri: z
              .string()
              .refine(
                isAbsoluteIri,
                'must be an absolute URI by RFC 3987 (scheme; no spaces, controls, <>"{}|\\^`, noncharacters or private use)',
              ),
            store: text(1, TEXT_LIMITS.refStore).nullable().optional(),
            digest: z
              .string()
              .regex(DIGEST_PATTERN, 'must be sha256: and 64 lowercase hex digits')
              .nullable()
              .optional(),
          })
          .strict(),
      )
      .max(EVENT_LIMITS.dataRefCount)
      .optional(),
    status: z.enum(['finished', 'failed']).nullable().optional(),
    context: z
      .record(key(TEXT_LIMITS.contextName), text(0, TEXT_LIMITS.contextValue))
      .refine((v) => Object.keys(v).length <= EVENT_LIMITS.contextEntries, 'too many context entries')
      .optional(),
  })
  .strict();

/** Result of checking one JSON record: the event, or every problem with it. */
export type EventCheck = { ok: true; event: CaptureEvent } | { ok: false; issues: ValidationIssue[] };

/**
 * Validates one capture event in its JSON form and normalises it (defaults filled, time in µs).
 * The common shape is accepted by `acceptEventFast` (a few µs less per event); everything else,
 * and every error message, comes from the zod schema (`parseEventWithSchema`).
 */
export function parseEventJson(raw: unknown): EventCheck {
  const event = acceptEventFast(raw);
  return event !== undefined ? { ok: true, event } : parseEventWithSchema(raw);
}

/** `parseEventJson` by the zod schema alone: the contract the fast path is tested against. */
export function parseEventWithSchema(raw: unknown): EventCheck {
  const r = eventJsonSchema.safeParse(raw);
  const proto = protoKeys(raw);
  if (!r.success || proto.length > 0)
    return {
      ok: false,
      issues: [
        ...proto,
        ...(r.error?.issues ?? []).map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
      ],
    };
  const e = r.data;
  return {
    ok: true,
    event: {
      eventId: e.eventId,
      workflow: e.workflow,
      workflowExecution: e.workflowExecution,
      task: e.task,
      taskExecution: e.taskExecution,
      parentTaskExecution: e.parentTaskExecution ?? null,
      phase: e.phase,
      time: e.time,
      values: e.values ?? {},
      dataRefs: (e.dataRefs ?? []).map((d) =>
        typeof d.digest === 'string'
          ? { name: d.name, uri: d.uri, store: d.store ?? null, digest: d.digest }
          : { name: d.name, uri: d.uri, store: d.store ?? null },
      ),
      status: e.status ?? null,
      context: e.context ?? {},
    },
  };
}

/**
 * Checks an event against its workflow's spec: the task exists, every value and data reference
 * is declared by the task, values are not references and references are not values.
 * Returns the problems found (empty when the event fits).
 */
export function checkEventAgainstSpec(event: CaptureEvent, spec: CompiledSpec): ValidationIssue[] {
  const attrs = spec.attributes.get(event.task);
  if (attrs === undefined)
    return [{ path: 'task', message: `unknown task '${event.task}' in workflow '${event.workflow}'` }];
  const issues: ValidationIssue[] = [];
  for (const name of Object.keys(event.values)) {
    const a = attrs.get(name);
    if (a === undefined)
      issues.push({ path: `values.${name}`, message: `'${name}' is not declared by task '${event.task}'` });
    else if (REFERENCE_SEMANTICS.has(a.semantics))
      issues.push({ path: `values.${name}`, message: `'${name}' is a ${a.semantics}: send it in dataRefs` });
  }
  event.dataRefs.forEach((d, i) => {
    const a = attrs.get(d.name);
    if (a === undefined)
      issues.push({
        path: `dataRefs.${i}.name`,
        message: `'${d.name}' is not declared by task '${event.task}'`,
      });
    else if (!REFERENCE_SEMANTICS.has(a.semantics))
      issues.push({
        path: `dataRefs.${i}.name`,
        message: `'${d.name}' is a ${a.semantics}, not a reference`,
      });
  });
  if (event.phase === 'begin' && event.status !== null)
    issues.push({ path: 'status', message: 'status is only allowed on end events' });
  if (event.parentTaskExecution === event.taskExecution)
    issues.push({ path: 'parentTaskExecution', message: 'a task execution cannot be its own parent' });
  return issues;
}
