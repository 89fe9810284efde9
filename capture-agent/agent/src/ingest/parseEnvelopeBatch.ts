/** Pure validation of one socket batch (capture-agent/AGENT.md): NDJSON envelopes, all or nothing, issues by line. */
import { classifyEnvelope, MAX_PAYLOAD_BYTES } from '@provml/capture-agent';
import {
  checkEventAgainstSpec,
  compileSpec,
  extendSpec,
  parseEventJson,
  ValidationError,
  type CaptureEvent,
  type CompiledSpec,
} from '@provml/schemas';
import { parseAnnotations, type IriMinter } from '@provml/stream-processors';
import { sourceIssue } from './annotationSource.ts';
import { IssueList, type IssueReport } from './issueList.ts';
import { annotationSizeIssue, eventSizeIssue, specSizeIssue } from './recordLimits.ts';

/** A valid batch: the payload of each line to spool, and what it holds. */
export interface EnvelopeBatch {
  payloads: Buffer[];
  /** The event of each payload as validated (normalised), undefined for a spec or annotations. */
  events: (CaptureEvent | undefined)[];
  /** Specs in the batch, compiled (they count for the events after them). */
  specs: CompiledSpec[];
  counts: { events: number; specs: number; annotations: number };
}

/** The outcome of validating a batch: every line good, or the problems (the first 100) with their 1-based lines. */
export type ParsedBatch = ({ ok: true } & EnvelopeBatch) | ({ ok: false } & IssueReport);

/**
 * Validates the lines of one batch. A spec line counts for the events after it in the same batch;
 * events are checked against their workflow's spec like `POST /v1/events`, and annotations parse
 * as Turtle. Either every line is returned as a payload, or nothing is and the problems are named
 * (the first 100 and their count; validation stops at 10 000 problems, as `parseEventBody`).
 */
export function parseEnvelopeBatch(
  lines: readonly string[],
  specs: (workflow: string) => CompiledSpec | undefined,
  iris: IriMinter,
): ParsedBatch {
  const issues = new IssueList();
  const payloads: Buffer[] = [];
  const events: (CaptureEvent | undefined)[] = [];
  const batchSpecs = new Map<string, CompiledSpec>();
  const seen = new Map<string, number>();
  const counts = { events: 0, specs: 0, annotations: 0 };
  const specOf = (w: string): CompiledSpec | undefined => batchSpecs.get(w) ?? specs(w);
  for (let i = 0; i < lines.length; i++) {
    if (issues.full) {
      issues.stop();
      break;
    }
    const text = lines[i]!;
    const line = i + 1;
    const payload = Buffer.from(text, 'utf8');
    if (payload.length > MAX_PAYLOAD_BYTES) {
      issues.push({ path: '', message: `longer than ${MAX_PAYLOAD_BYTES} bytes`, line });
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      issues.push({ path: '', message: `not JSON: ${(error as Error).message}`, line });
      continue;
    }
    const envelope = classifyEnvelope(value);
    if (envelope === undefined) {
      issues.push({
        path: '',
        message: 'not an envelope: an object with exactly one of event, spec, annotations (+ source)',
        line,
      });
      continue;
    }
    const e = envelope.envelope as {
      event?: unknown;
      spec?: unknown;
      annotations?: string;
      source?: string;
      agent?: string;
    };
    const before = issues.count;
    let valid: CaptureEvent | undefined;
    if (envelope.kind === 'event') {
      const parsed = parseEventJson(e.event);
      if (!parsed.ok)
        for (const issue of parsed.issues) issues.push({ ...issue, path: `event.${issue.path}`, line });
      else {
        const event = parsed.event;
        valid = event;
        const size = eventSizeIssue(event);
        if (size !== undefined) issues.push({ ...size, path: 'event', line });
        const first = seen.get(event.eventId);
        if (first !== undefined)
          issues.push({ path: 'event.eventId', message: `duplicate of line ${first}`, line });
        seen.set(event.eventId, line);
        const spec = specOf(event.workflow);
        if (spec === undefined)
          issues.push({
            path: 'event.workflow',
            message: `unknown workflow '${event.workflow}': send its spec first`,
            line,
          });
        else
          for (const issue of checkEventAgainstSpec(event, spec))
            issues.push({ ...issue, path: `event.${issue.path}`, line });
        counts.events++;
      }
    } else if (envelope.kind === 'spec') {
      try {
        const compiled = compileSpec(e.spec);
        const size = specSizeIssue(compiled.spec);
        if (size !== undefined) issues.push({ ...size, path: 'spec', line });
        batchSpecs.set(compiled.spec.workflow, extendSpec(specOf(compiled.spec.workflow), compiled));
        counts.specs++;
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        for (const issue of error.issues) issues.push({ ...issue, path: `spec.${issue.path}`, line });
      }
    } else if (e.agent !== undefined) {
      // who annotated is the agent's to say (from an HTTP client's token), never a local client's
      issues.push({ path: 'agent', message: 'agent is set by the agent, not by its clients', line });
    } else {
      const source = sourceIssue(e.source);
      const size = source === undefined ? annotationSizeIssue(e.annotations!, e.source) : undefined;
      if (source !== undefined) issues.push({ ...source, line });
      else if (size !== undefined) issues.push({ ...size, path: 'annotations', line });
      else
        try {
          parseAnnotations(e.annotations!, e.source, iris);
          counts.annotations++;
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          for (const issue of error.issues)
            issues.push({
              path: `annotations${issue.path === '' ? '' : `.${issue.path}`}`,
              message: issue.message,
              line,
            });
        }
    }
    if (issues.count === before) {
      payloads.push(payload);
      events.push(valid);
    }
  }
  if (lines.length === 0) issues.push({ path: '', message: 'empty batch' });
  return issues.count > 0
    ? { ok: false, ...issues.report() }
    : { ok: true, payloads, events, specs: [...batchSpecs.values()], counts };
}
