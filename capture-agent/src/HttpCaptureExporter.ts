/** The HTTP transport: exports onto an ingest (README, Public contracts §3) as NDJSON, the way `provml replay --http` publishes a spool. */
import {
  ValidationError,
  type CaptureEvent,
  type ProspectiveSpec,
  type ValidationIssue,
} from '@provml/schemas';
import type { CaptureExporter, ExportResult } from './CaptureExporter.ts';
import { eventJson } from './captureJson.ts';

/** Where and how to send. */
export interface HttpExporterOptions {
  /** Base URL of the ingest, e.g. `http://127.0.0.1:7071` (the routes `/v1/…` are appended). */
  url: string;
  /** Bearer token with the ingest scope, when the ingest asks for one. */
  token?: string;
  /** Longest wait for one answer, ms; then the export is retryable. Default 30000. */
  timeoutMs?: number;
}

const SUCCESS: ExportResult = { kind: 'success' };
/** Answers that sending the same request again will not change: the input is refused. */
const PERMANENT = new Set([400, 413, 415]);

/**
 * Sends events as NDJSON of their JSON form to `/v1/events`, specs to `/v1/workflows` and
 * annotations to `/v1/annotations?source=`. A 2xx answer is a success; 400, 413 and 415 are a
 * failure whose `ValidationError` carries the ingest's issues with their 1-based `line` (the
 * refused events of a batch); everything else is retryable: 5xx, 408, 429 and network errors, and
 * also 401, 403 and 404, which a wrong token or URL gives, so that events are kept rather than
 * refused. `shutdown()` aborts a request still waiting for its answer.
 */
export class HttpCaptureExporter implements CaptureExporter {
  private readonly base: string;
  private readonly aborts = new AbortController();

  constructor(private readonly options: HttpExporterOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    return this.post('/v1/events', 'application/x-ndjson', events.map(eventJson).join('\n'));
  }

  exportSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return this.post('/v1/workflows', 'application/json', JSON.stringify(spec));
  }

  /** Publishes domain annotations (Turtle); `source` names their graph. */
  /** An empty document (a withdrawal of the source) is `DELETE /v1/annotations?source=`. */
  exportAnnotations(turtle: string, source: string | undefined): Promise<ExportResult> {
    const query = source === undefined ? '' : `?source=${encodeURIComponent(source)}`;
    if (turtle === '') return this.post(`/v1/annotations${query}`, undefined, undefined, 'DELETE');
    return this.post(`/v1/annotations${query}`, 'text/turtle', turtle);
  }

  shutdown(): Promise<void> {
    this.aborts.abort(new Error('the HTTP capture exporter was shut down'));
    return Promise.resolve();
  }

  private async post(
    path: string,
    contentType: string | undefined,
    body: string | undefined,
    method: 'POST' | 'DELETE' = 'POST',
  ): Promise<ExportResult> {
    const headers: Record<string, string> = contentType === undefined ? {} : { 'content-type': contentType };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers,
        body,
        signal: AbortSignal.any([AbortSignal.timeout(this.options.timeoutMs ?? 30_000), this.aborts.signal]),
      });
      text = await response.text();
    } catch (error) {
      const e = error as Error & { cause?: { code?: string; message?: string } };
      const why = e.cause?.code ?? e.cause?.message ?? e.message;
      return {
        kind: 'retryable',
        error: new Error(`${method} ${this.base}${path}: ${why}`, { cause: error }),
      };
    }
    if (response.ok) return SUCCESS;
    const message = `${method} ${this.base}${path} answered ${response.status}: ${answerMessage(text)}`;
    if (PERMANENT.has(response.status))
      return { kind: 'failure', error: new ValidationError(message, answerIssues(text)) };
    return { kind: 'retryable', error: new Error(message) };
  }
}

/** The `message` of a JSON error answer, or the start of the body. */
function answerMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    // not JSON: the body itself
  }
  return text.slice(0, 200) || '(no body)';
}

/** The issues of a JSON error answer (path, message and line), if it has them. */
function answerIssues(text: string): ValidationIssue[] {
  try {
    const issues = (JSON.parse(text) as { issues?: unknown }).issues;
    if (Array.isArray(issues))
      return issues.map((i: { path?: unknown; line?: unknown; message?: unknown }) => ({
        path: typeof i.path === 'string' ? i.path : '',
        message: typeof i.message === 'string' ? i.message : '',
        ...(typeof i.line === 'number' ? { line: i.line } : {}),
      }));
  } catch {
    // no issues to give
  }
  return [];
}
