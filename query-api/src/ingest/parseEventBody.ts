/** Pure parsing and validation of an ingest body: NDJSON or a JSON array of capture events, all or nothing. */
import {
  checkEventAgainstSpec,
  parseEventJson,
  type CaptureEvent,
  type CompiledSpec,
  type ValidationIssue,
} from '@provml/schemas';

/** Largest number of events in one request. */
export const MAX_EVENTS_PER_REQUEST = 100_000;

/** The events of a body, or every problem found, each naming its line (NDJSON) or index (array, 1-based). */
export type ParsedBody = { ok: true; events: CaptureEvent[] } | { ok: false; issues: ValidationIssue[] };

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

/** Splits the body into records, each with the line (NDJSON) or 1-based index (JSON array) that names it. */
function records(text: string): { records: { line: number; value: unknown }[]; issues: ValidationIssue[] } {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    try {
      const value: unknown = JSON.parse(text);
      if (!Array.isArray(value))
        return { records: [], issues: [{ path: '', message: 'expected a JSON array' }] };
      return { records: (value as unknown[]).map((v, i) => ({ line: i + 1, value: v })), issues: [] };
    } catch (error) {
      return { records: [], issues: [jsonError(text, error)] };
    }
  }
  const out: { line: number; value: unknown }[] = [];
  const issues: ValidationIssue[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    try {
      out.push({ line: i + 1, value: JSON.parse(line) as unknown });
    } catch (error) {
      issues.push({ ...jsonError(line, error, i), line: i + 1 });
    }
  });
  return { records: out, issues };
}

/**
 * Parses and validates a body against the registered specs. Either every event is valid and
 * returned, or none is and every problem is reported with its line.
 */
export function parseEventBody(
  text: string,
  specs: (workflow: string) => CompiledSpec | undefined,
): ParsedBody {
  const { records: recs, issues } = records(text);
  if (issues.length === 0 && recs.length === 0) issues.push({ path: '', message: 'no events in the body' });
  if (recs.length > MAX_EVENTS_PER_REQUEST)
    issues.push({ path: '', message: `more than ${MAX_EVENTS_PER_REQUEST} events in one request` });
  const events: CaptureEvent[] = [];
  const seen = new Map<string, number>();
  for (const { line, value } of recs) {
    const checked = parseEventJson(value);
    if (!checked.ok) {
      for (const issue of checked.issues) issues.push({ ...issue, line });
      continue;
    }
    const event = checked.event;
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
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, events };
}
