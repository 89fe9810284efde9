/** Pure parsing and validation of an ingest body: NDJSON or a JSON array of capture events, all or nothing. */
import {
  checkEventAgainstSpec,
  parseEventJson,
  type CaptureEvent,
  type CompiledSpec,
  type ValidationIssue,
} from '@provml/schemas';
import { IssueList, type IssueReport } from './issueList.ts';
import { eventSizeIssue } from './recordLimits.ts';

/** Largest number of events in one request. */
export const MAX_EVENTS_PER_REQUEST = 100_000;

/**
 * The events of a body, or the problems found (the first 100), each naming its line (NDJSON) or
 * index (array, 1-based); `tooLarge` when every problem is an event over the record size limit.
 */
export type ParsedBody =
  { ok: true; events: CaptureEvent[] } | ({ ok: false; tooLarge: boolean } & IssueReport);

const lineOfPosition = (text: string, position: number): number => text.slice(0, position).split('\n').length;

function jsonError(text: string, error: unknown, lineOffset = 0): ValidationIssue {
  const message = (error as Error).message;
  const position = /position (\d+)/.exec(message)?.[1];
  return {
    path: '',
    message: `not JSON: ${message}`,
    line: position === undefined ? lineOffset + 1 : lineOffset + lineOfPosition(text, Number(position)),
  };
}

const tooMany = (): ValidationIssue => ({
  path: '',
  message: `more than ${MAX_EVENTS_PER_REQUEST} events in one request`,
});

/**
 * The records of the body, each with the line (NDJSON) or 1-based index (JSON array) that names it.
 * Stops (calling `issues.stop()`) at the first record past `MAX_EVENTS_PER_REQUEST` or once `issues`
 * is full, so a body of millions of bad lines costs no more than a bounded number of them.
 */
function* records(text: string, issues: IssueList): Generator<{ line: number; value: unknown }> {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return void issues.push(jsonError(text, error));
    }
    if (!Array.isArray(value)) return void issues.push({ path: '', message: 'expected a JSON array' });
    if (value.length > MAX_EVENTS_PER_REQUEST) {
      issues.push(tooMany());
      return void issues.stop();
    }
    for (let i = 0; i < value.length; i++) {
      if (issues.full) return void issues.stop();
      yield { line: i + 1, value: value[i] as unknown };
    }
    return;
  }
  let count = 0;
  for (let start = 0, i = 0; start <= text.length; i++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') continue;
    if (issues.full || ++count > MAX_EVENTS_PER_REQUEST) {
      if (!issues.full) issues.push(tooMany());
      return void issues.stop();
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      issues.push({ ...jsonError(line, error, i), line: i + 1 });
      continue;
    }
    yield { line: i + 1, value };
  }
}

/** Where a task execution's begin and end appear in one request. */
interface Phases {
  begin?: { line: number; time: number };
  end?: { line: number; time: number };
}

/**
 * Checks the begin/end order of each task execution within one request: at most one begin and one
 * end, the end not before the begin (by line or by time). An end whose begin came in an earlier
 * request is fine: the ingest keeps no state between requests (the processor maps such an end and
 * counts it in `unmatchedEnds` when it never saw the begin).
 */
function orderIssues(events: readonly { line: number; event: CaptureEvent }[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const phases = new Map<string, Phases>();
  for (const { line, event } of events) {
    const key = JSON.stringify([event.workflowExecution, event.taskExecution]);
    let p = phases.get(key);
    if (p === undefined) phases.set(key, (p = {}));
    const seen = p[event.phase];
    if (seen !== undefined) {
      issues.push({
        path: 'phase',
        message: `second ${event.phase} of task execution '${event.taskExecution}' (first on line ${seen.line})`,
        line,
      });
      continue;
    }
    p[event.phase] = { line, time: event.time };
    if (event.phase === 'begin' && p.end !== undefined)
      issues.push({
        path: 'phase',
        message: `end of task execution '${event.taskExecution}' (line ${p.end.line}) comes before its begin`,
        line: p.end.line,
      });
    if (p.begin !== undefined && p.end !== undefined && p.end.time < p.begin.time)
      issues.push({
        path: 'time',
        message: `task execution '${event.taskExecution}' ends before it begins (begin on line ${p.begin.line})`,
        line: p.end.line,
      });
  }
  return issues;
}

/**
 * Parses and validates a body against the registered specs. Either every event is valid and
 * returned, or none is and the problems are reported with their lines (the first 100 and their
 * count; parsing stops at 10 000 problems). An event over `MAX_RECORD_BYTES` is a problem too:
 * no deployment could carry it to the store.
 */
export function parseEventBody(
  text: string,
  specs: (workflow: string) => CompiledSpec | undefined,
): ParsedBody {
  const issues = new IssueList();
  const events: CaptureEvent[] = [];
  const lined: { line: number; event: CaptureEvent }[] = [];
  const seen = new Map<string, number>();
  let any = false;
  let oversized = 0;
  for (const { line, value } of records(text, issues)) {
    any = true;
    const checked = parseEventJson(value);
    if (!checked.ok) {
      for (const issue of checked.issues) issues.push({ ...issue, line });
      continue;
    }
    const event = checked.event;
    const size = eventSizeIssue(event);
    if (size !== undefined) {
      issues.push({ ...size, line });
      oversized++;
    }
    const first = seen.get(event.eventId);
    if (first !== undefined) issues.push({ path: 'eventId', message: `duplicate of line ${first}`, line });
    seen.set(event.eventId, line);
    const spec = specs(event.workflow);
    if (spec === undefined) {
      issues.push({
        path: 'workflow',
        message: `unknown workflow '${event.workflow}': POST its spec to /v1/workflows first`,
        line,
      });
      continue;
    }
    for (const issue of checkEventAgainstSpec(event, spec)) issues.push({ ...issue, line });
    events.push(event);
    lined.push({ line, event });
  }
  if (issues.count === 0 && !any) issues.push({ path: '', message: 'no events in the body' });
  if (!issues.full) issues.push(...orderIssues(lined));
  return issues.count > 0
    ? { ok: false, tooLarge: oversized === issues.count, ...issues.report() }
    : { ok: true, events };
}
