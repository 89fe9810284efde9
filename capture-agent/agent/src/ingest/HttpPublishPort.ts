/** A publish port onto an HTTP ingest (README, Public contracts §3): `provml replay DIR --http URL`. */
import { captureJson, type ExportResult, type SpoolPublishPort } from '@provml/capture-agent';
import { ValidationError, type CaptureEvent, type ProspectiveSpec } from '@provml/schemas';

/** Where and how to send. */
export interface HttpPublishPortOptions {
  /** Base URL of the ingest, e.g. `http://127.0.0.1:8081` (the routes `/v1/…` are appended). */
  url: string;
  /** Bearer token with the ingest scope, when the ingest asks for one. */
  token?: string;
  /** Longest wait for one answer, ms; then the send is retryable. Default 30000. */
  timeoutMs?: number;
}

const SUCCESS: ExportResult = { kind: 'success' };
/** Answers that sending the same request again will not change: the input is refused. */
const PERMANENT = new Set([400, 413, 415]);

/**
 * Sends events as NDJSON of their JSON form to `/v1/events`, specs to `/v1/workflows` and
 * annotations to `/v1/annotations?source=`. A 2xx answer is a success; 400, 413 and 415 are a
 * failure (the record is refused; the publisher skips and counts it); everything else is
 * retryable: 5xx, 408, 429 and network errors, and also 401, 403 and 404, which a wrong token or
 * URL gives, so that records are kept rather than skipped and the replay stops at its bound.
 */
export class HttpPublishPort implements SpoolPublishPort {
  private readonly base: string;

  constructor(private readonly options: HttpPublishPortOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  publishEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    return this.post('/v1/events', 'application/x-ndjson', events.map((e) => captureJson(e)).join('\n'));
  }

  publishSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return this.post('/v1/workflows', 'application/json', JSON.stringify(spec));
  }

  /** An empty document (a withdrawal) is `DELETE /v1/annotations?source=`; the ingest attributes by this token. */
  publishAnnotations(turtle: string, source: string | undefined): Promise<ExportResult> {
    const query = source === undefined ? '' : `?source=${encodeURIComponent(source)}`;
    if (turtle === '') return this.post(`/v1/annotations${query}`, undefined, undefined, 'DELETE');
    return this.post(`/v1/annotations${query}`, 'text/turtle', turtle);
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
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
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
    if (PERMANENT.has(response.status)) {
      const issues = answerIssues(text);
      return { kind: 'failure', error: new ValidationError(message, issues) };
    }
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

/** The issues of a JSON error answer (path and message), if it has them. */
function answerIssues(text: string): { path: string; message: string }[] {
  try {
    const issues = (JSON.parse(text) as { issues?: unknown }).issues;
    if (Array.isArray(issues))
      return issues.slice(0, 10).map((i: { path?: unknown; line?: unknown; message?: unknown }) => ({
        path: `${typeof i.line === 'number' ? `line ${i.line} ` : ''}${typeof i.path === 'string' ? i.path : ''}`.trim(),
        message: typeof i.message === 'string' ? i.message : '',
      }));
  } catch {
    // no issues to give
  }
  return [];
}
