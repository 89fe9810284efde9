/**
 * The HTTP ingest (README, Public contracts §3): events, workflow specs and domain annotations. A
 * plain `node:http` request listener (no web framework: the agent's resident set,
 * bench/results/memory.md); express mounts it as it is.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { compileSpec, ValidationError, type Logger, type ValidationIssue } from '@provml/schemas';
import { ANONYMOUS_ANNOTATOR, IriMinter, parseAnnotations } from '@provml/stream-processors';
import {
  authMiddleware,
  ingestRouteScopes,
  pathOf,
  roleOf,
  sendJson,
  tokenIdOf,
  type BearerAuth,
  type ResponseLocals,
} from '@provml/service';
import { sourceIssue } from './annotationSource.ts';
import { UNKNOWN_OWNER, type IngestTarget } from './IngestTarget.ts';
import { reportOf, type IssueReport } from './issueList.ts';
import { parseEventBody } from './parseEventBody.ts';
import { BodyError, byteSize, hasBody, readBody } from './readBody.ts';
import { annotationSizeIssue, specSizeIssue } from './recordLimits.ts';

type Response = ServerResponse & ResponseLocals;

/** Settings of the ingest app. */
export interface IngestAppOptions {
  target: IngestTarget;
  logger: Logger;
  /** Largest request body. Default `32mb`. */
  bodyLimit?: string;
  /** Counts accepted and rejected requests (for metrics). */
  onResult?: (route: string, outcome: 'accepted' | 'rejected', count: number) => void;
  /** Access control: every route but `/healthz` needs an ingest (or admin) token. Default: none (open). */
  auth?: BearerAuth;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a raw body as strict UTF-8, or answers 400. */
function bodyText(body: Buffer, res: Response): string | undefined {
  if (body.length === 0) {
    reject(res, 'empty body', [{ path: '', message: 'the request has no body' }]);
    return undefined;
  }
  try {
    return utf8.decode(body);
  } catch {
    reject(res, 'body is not valid UTF-8', [{ path: '', message: 'invalid UTF-8 byte sequence' }]);
    return undefined;
  }
}

/** The counter label of each route. */
const ROUTES: Readonly<Record<string, string>> = {
  '/v1/events': 'events',
  '/v1/workflows': 'workflows',
  '/v1/annotations': 'annotations',
};

/**
 * Answers 400 `invalid-input` (or 413 `too-large`: a record no deployment can carry, which sending
 * again will not help) with the first issues and their count (`reportOf` caps a plain list).
 */
function reject(
  res: Response,
  message: string,
  issues: readonly ValidationIssue[] | IssueReport,
  status: 400 | 413 = 400,
): void {
  const r = 'issueCount' in issues ? issues : reportOf(issues);
  sendJson(res, status, {
    error: status === 413 ? 'too-large' : 'invalid-input',
    message,
    issues: r.issues,
    issueCount: r.issueCount,
    complete: r.complete,
  });
}

/** `rejected: N problem(s)`, `N+` when parsing stopped before the end. */
const rejectedMessage = (r: IssueReport): string =>
  `rejected: ${r.issueCount}${r.complete ? '' : '+'} problem(s); nothing was stored`;

/**
 * The answer to a body that could not be read for the client's reasons (`readBody`'s 4xx errors):
 * 415 for a `Content-Encoding` other than one `gzip`, `deflate`, `br` or `identity` (`compress`,
 * `gzip, gzip`), 400 for a body that is not what its encoding says (not gzip) or a request aborted
 * before its end; undefined for anything else (the ingest's own failure).
 */
export function clientError(
  error: Error & { status?: number; type?: string },
): { status: number; body: { error: string; message: string } } | undefined {
  if (error.type === 'encoding.unsupported' || error.type === 'charset.unsupported')
    return {
      status: 415,
      body: { error: 'unsupported-encoding', message: `${error.message}: use one of gzip, deflate, br` },
    };
  if (error.type === 'request.aborted')
    return { status: 400, body: { error: 'aborted', message: 'the request ended before its body' } };
  if (typeof error.status === 'number' && error.status >= 400 && error.status < 500)
    return {
      status: 400,
      body: { error: 'invalid-body', message: `the body could not be read: ${error.message}` },
    };
  return undefined;
}

/**
 * Whether the request may replace or withdraw `source`: with access control, a source belongs to the
 * token that posted its current document, and only that token or an admin token may replace or
 * withdraw it (a withdrawn source is free again). Answers 403 `not-owner`, or 503 `owner-unknown`
 * when the target cannot tell now, and returns false; without access control everyone may.
 */
async function mayChange(target: IngestTarget, source: string | undefined, res: Response): Promise<boolean> {
  const annotator = tokenIdOf(res);
  if (annotator === undefined || roleOf(res) === 'admin') return true;
  const owner = await target.annotationOwner(source);
  if (owner === UNKNOWN_OWNER) {
    sendJson(res, 503, {
      error: 'owner-unknown',
      message: `cannot check who owns annotation source '${source ?? ''}' now (the broker does not answer); nothing was stored, try again`,
    });
    return false;
  }
  if (owner === undefined || owner === annotator) return true;
  sendJson(res, 403, {
    error: 'not-owner',
    message: `annotation source '${source ?? ''}' was posted by another token (${owner}); only that token or an admin token may replace or withdraw it`,
  });
  return false;
}

/** The `source` query parameter, checked; answers 400 and returns null when it is not a valid one. */
function sourceParam(req: IncomingMessage, res: Response): string | undefined | null {
  const q = (req.url ?? '').indexOf('?');
  const all = new URLSearchParams(q === -1 ? '' : req.url!.slice(q + 1)).getAll('source');
  const given = all.length > 1 ? all : all[0] === '' ? undefined : all[0];
  const invalid = sourceIssue(given);
  if (invalid === undefined) return given as string | undefined;
  reject(res, 'invalid source', [invalid]);
  return null;
}

/** A route's answer, given the request and its body (empty for a request without one). */
type Route = (req: IncomingMessage, res: Response, body: Buffer) => Promise<void> | void;

const NO_BODY = Buffer.alloc(0);

/**
 * Creates the ingest app: a request listener (`http.createServer(app)`, `listenIngest(app, …)`, or
 * mounted by express). All-or-nothing: a 400 stores nothing of the request.
 */
export function createIngestApp(options: IngestAppOptions): RequestListener {
  const { target, logger } = options;
  const count = options.onResult ?? (() => undefined);
  const limit = byteSize(options.bodyLimit ?? '32mb');
  const auth =
    options.auth === undefined ? undefined : authMiddleware(options.auth, ingestRouteScopes(false));
  const iris = new IriMinter();

  const postEvents: Route = async (_req, res, body) => {
    const text = bodyText(body, res);
    if (text === undefined) return count('events', 'rejected', 1);
    // the specs this agent knows first; only a body they refuse (an unknown workflow, or a task or
    // value of a version registered elsewhere) waits for the broker's specs and is checked again.
    // Versions only add names (extendSpec), so what the known specs accept the latest accepts too.
    let parsed = parseEventBody(text, (w) => target.spec(w));
    if (!parsed.ok && !parsed.tooLarge) {
      await target.refreshSpecs();
      parsed = parseEventBody(text, (w) => target.spec(w));
    }
    if (!parsed.ok) {
      count('events', 'rejected', 1);
      if (parsed.tooLarge)
        return reject(res, 'rejected: an event is larger than one record may be', parsed, 413);
      return reject(res, rejectedMessage(parsed), parsed);
    }
    await target.publishEvents(parsed.events);
    count('events', 'accepted', parsed.events.length);
    sendJson(res, 202, { accepted: parsed.events.length });
  };

  const postWorkflow: Route = async (_req, res, body) => {
    const text = bodyText(body, res);
    if (text === undefined) return count('workflows', 'rejected', 1);
    let compiled;
    try {
      compiled = compileSpec(text);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      count('workflows', 'rejected', 1);
      return reject(res, error.message, error.issues);
    }
    const size = specSizeIssue(compiled.spec);
    if (size !== undefined) {
      count('workflows', 'rejected', 1);
      return reject(res, 'rejected: the spec is larger than one record may be', [size], 413);
    }
    await target.publishSpec(compiled);
    count('workflows', 'accepted', 1);
    sendJson(res, 201, { workflow: compiled.spec.workflow, tasks: compiled.spec.tasks.length });
  };

  const postAnnotations: Route = async (req, res, body) => {
    const text = bodyText(body, res);
    if (text === undefined) return count('annotations', 'rejected', 1);
    const source = sourceParam(req, res);
    if (source === null) return count('annotations', 'rejected', 1);
    const size = annotationSizeIssue(text, source);
    if (size !== undefined) {
      count('annotations', 'rejected', 1);
      return reject(res, 'rejected: the document is larger than one record may be', [size], 413);
    }
    let triples: number;
    try {
      triples = parseAnnotations(text, source, iris).length;
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      count('annotations', 'rejected', 1);
      return reject(res, error.message, error.issues);
    }
    if (!(await mayChange(target, source, res))) return count('annotations', 'rejected', 1);
    await target.publishAnnotations(text, source, tokenIdOf(res) ?? ANONYMOUS_ANNOTATOR);
    count('annotations', 'accepted', 1);
    sendJson(res, 202, { triples });
  };

  // withdraws a source: its graph leaves the store (and stays gone across restarts)
  const deleteAnnotations: Route = async (req, res) => {
    const source = sourceParam(req, res);
    if (source === null) return count('annotations', 'rejected', 1);
    if (!(await mayChange(target, source, res))) return count('annotations', 'rejected', 1);
    await target.publishAnnotations('', source, tokenIdOf(res) ?? ANONYMOUS_ANNOTATOR);
    count('annotations', 'accepted', 1);
    sendJson(res, 202, { withdrawn: source ?? '' });
  };

  const health: Route = (_req, res) => sendJson(res, 200, { status: 'ok' });

  /** Routes by `METHOD path`; POST routes get their body read first. */
  const routes: Readonly<Record<string, Route>> = {
    'POST /v1/events': postEvents,
    'POST /v1/workflows': postWorkflow,
    'POST /v1/annotations': postAnnotations,
    'DELETE /v1/annotations': deleteAnnotations,
    'GET /healthz': health,
    'HEAD /healthz': health,
  };

  const failed = (error: Error & { status?: number; type?: string }, path: string, res: Response): void => {
    if (error instanceof BodyError && error.type === 'entity.too.large') {
      count(ROUTES[path] ?? 'other', 'rejected', 1);
      return sendJson(res, 413, { error: 'too-large', message: error.message });
    }
    const client = clientError(error);
    if (client !== undefined) {
      // the client's doing (a body that is not what its headers say, a request it gave up): no alarm
      logger.debug('request refused', { status: client.status, type: error.type, message: error.message });
      count(ROUTES[path] ?? 'other', 'rejected', 1);
      if (!res.headersSent) sendJson(res, client.status, client.body);
      return;
    }
    if ((error as { code?: string }).code === 'spool-full')
      return sendJson(res, 503, { error: 'spool-full', message: error.message });
    logger.error('ingest failed', { error });
    if (!res.headersSent)
      sendJson(res, 503, {
        error: 'unavailable',
        message: 'could not publish; nothing was acknowledged, try again',
      });
  };

  const answer = async (req: IncomingMessage, res: Response, path: string): Promise<void> => {
    const route = routes[`${req.method ?? ''} ${path}`];
    if (route === undefined)
      return sendJson(res, 404, { error: 'not-found', message: `no route ${req.method ?? ''} ${path}` });
    const body = req.method === 'POST' && hasBody(req) ? await readBody(req, limit) : NO_BODY;
    await route(req, res, body);
  };

  return (req, res: Response) => {
    const path = pathOf(req);
    const run = (): void => void answer(req, res, path).catch((error: Error) => failed(error, path, res));
    if (auth === undefined) run();
    else auth(req, res, run);
  };
}
