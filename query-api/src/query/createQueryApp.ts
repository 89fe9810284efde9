/** The query API (README, Public contracts §4): the read-only SPARQL 1.1 Protocol endpoint, health and metrics. */
import express, { type Request, type Response } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '@provml/schemas';
import { QueryError, type QueryForm, type TripleStore } from '@provml/stores';
import type { IriMinter } from '@provml/stream-processors';
import { authMiddleware, metricsRoute, queryRouteScopes, roleOf, type BearerAuth } from '@provml/service';
import {
  answerSparql,
  RDF_XML,
  ResultTooLargeError,
  withinBytes,
  type AnswerFormat,
} from './answerSparql.ts';
import { NotRepresentableError } from './resultFormats.ts';
import { readSparqlRequest } from './sparqlRequest.ts';
import { openApiDocument } from './openApi.ts';
import { ForbiddenOperationError, guardQuery } from './sparqlGuard.ts';
import { ParserBusyError, QueryTooComplexError, SparqlParseWorker } from './SparqlParseWorker.ts';
import { answerViewFailure, mountViews } from './viewRoutes.ts';
import { mountDashboard } from '../dashboard/mountDashboard.ts';
import { loadQueries, PARAMETER_KINDS, runQuery, type QueryName } from '../catalog/QueryCatalog.ts';

/** Settings of the query app. */
export interface QueryAppOptions {
  store: TripleStore;
  registry: Registry;
  logger: Logger;
  /** Largest query accepted, in bytes. Default 100 kB. */
  maxQueryBytes?: number;
  /** Longest any query may run, ms. Default 30000. */
  queryTimeoutMs?: number;
  /** Most solutions (SELECT) or triples (CONSTRUCT/DESCRIBE) a `/sparql` answer may hold. Default 100000. */
  maxResultRows?: number;
  /**
   * Largest answer of `/sparql`, the views and the query catalogue, in bytes: past it the answer is
   * 422 `result-too-large`. Default 32 MiB.
   */
  maxResultBytes?: number;
  /** Allow SERVICE (federated queries) through `/sparql`: an administrator's choice. Default false. */
  allowService?: boolean;
  /**
   * Longest the parsing of one `/sparql` query may take, ms (it runs on a thread of its own, ended
   * past this; the answer is 400 `query-too-complex`). Default 5000.
   */
  parseTimeoutMs?: number;
  /** Deepest nesting of groups and brackets a `/sparql` query may have. Default 64. */
  maxQueryNesting?: number;
  /**
   * Access control: every route but `/healthz` (and `/metrics` unless `protectMetrics`) needs a
   * query or admin token; an admin token may also use SERVICE. Default: none (open).
   */
  auth?: BearerAuth;
  /** `/metrics` needs a token too. Default false. */
  protectMetrics?: boolean;
  /** IRI scheme of the processors (for workflow ids in filters). Default `urn:provml:`. */
  iris?: IriMinter;
  /** Observes each query's duration (for metrics). */
  onQuery?: (outcome: 'ok' | 'error', seconds: number) => void;
  /** The live feed served at `/v1/live`, when this process has one. */
  live?: { handle(req: Request, res: Response): void };
  /** Extra health checks; each returns null when healthy or a reason. */
  health?: () => Record<string, string | null>;
}

/** What each query form can be answered in, by media type, in order of preference (SPARQL 1.1 Protocol §2.1.6). */
const OFFERS: Readonly<Record<'select' | 'ask' | 'graph', readonly [string, AnswerFormat][]>> = {
  select: [
    ['application/sparql-results+json', 'json'],
    ['application/json', 'json'],
    ['application/sparql-results+xml', 'xml'],
    ['text/csv', 'csv'],
    ['text/tab-separated-values', 'tsv'],
  ],
  ask: [
    ['application/sparql-results+json', 'json'],
    ['application/json', 'json'],
    ['application/sparql-results+xml', 'xml'],
  ],
  graph: [
    ['application/n-triples', 'n-triples'],
    ['text/turtle', 'turtle'],
    [RDF_XML, 'rdf-xml'],
  ],
};

/**
 * The result format the Accept header prefers among those the query form can have (q-values
 * honoured; no Accept header or `*\/*`: the first), or the media types on offer when it accepts none.
 */
function negotiate(req: Request, form: QueryForm): AnswerFormat | readonly string[] {
  const offers =
    OFFERS[form === 'CONSTRUCT' || form === 'DESCRIBE' ? 'graph' : form === 'ASK' ? 'ask' : 'select'];
  const chosen = req.accepts(offers.map(([media]) => media));
  if (chosen === false) return offers.map(([media]) => media);
  return offers.find(([media]) => media === chosen)![1];
}

function problem(res: Response, status: number, error: string, message: string): void {
  res.status(status).json({ error, message });
}

/**
 * The base IRI of a query's relative IRIs: the endpoint's URL as the client addressed it (the protocol
 * lets the service choose; "which MAY be the service endpoint"), or a fixed one for a Host header that
 * does not make an IRI.
 */
function baseIri(req: Request): string {
  try {
    return new URL(req.baseUrl + req.path, `${req.protocol}://${req.get('host') ?? 'localhost'}`).href;
  } catch {
    return 'http://localhost/sparql';
  }
}

/** Creates the query app. Updates are refused: this endpoint is read-only. */
export function createQueryApp(options: QueryAppOptions): express.Express {
  const { store, registry, logger } = options;
  const maxBytes = options.maxQueryBytes ?? 100_000;
  const timeoutMs = options.queryTimeoutMs ?? 30_000;
  const maxResultRows = options.maxResultRows ?? 100_000;
  const maxResultBytes = options.maxResultBytes ?? 32 * 1024 * 1024;
  const viewContext = { store, queryOptions: { timeoutMs }, iris: options.iris };
  // started on the first query, ended when idle: nothing to close with the app
  const parser = new SparqlParseWorker({ timeoutMs: options.parseTimeoutMs });
  const app = express();
  app.disable('x-powered-by');
  if (options.auth !== undefined)
    app.use(authMiddleware(options.auth, queryRouteScopes(options.protectMetrics ?? false)));
  const form = express.urlencoded({ extended: false, limit: maxBytes });
  // raw bytes: the protocol allows UTF-8 only, checked (not transcoded) by readSparqlRequest
  const sparqlBody = express.raw({ type: 'application/sparql-query', limit: maxBytes });

  const handle = async (req: Request, res: Response): Promise<void> => {
    const request = readSparqlRequest(req);
    if ('problem' in request)
      return problem(res, request.problem.status, request.problem.error, request.problem.message);
    const { query, dataset } = request;
    if (Buffer.byteLength(query) > maxBytes)
      return problem(res, 413, 'too-large', `query longer than ${maxBytes} bytes`);
    const started = performance.now();
    try {
      const allowService = options.allowService === true || roleOf(res) === 'admin';
      const guarded = await guardQuery(
        query,
        { allowService, maxResultRows, maxNesting: options.maxQueryNesting, baseIri: baseIri(req), dataset },
        parser,
      );
      res.vary('accept');
      const format = negotiate(req, guarded.form);
      if (typeof format !== 'string') {
        options.onQuery?.('error', (performance.now() - started) / 1000);
        return problem(
          res,
          406,
          'not-acceptable',
          `the answer to ${guarded.form} can be had as ${format.join(', ')}; the Accept header allows none of them`,
        );
      }
      const answer = await answerSparql(store, guarded, format, { timeoutMs, maxResultRows, maxResultBytes });
      options.onQuery?.('ok', (performance.now() - started) / 1000);
      res.type(answer.contentType).send(answer.body);
    } catch (error) {
      options.onQuery?.('error', (performance.now() - started) / 1000);
      if (error instanceof QueryError) return problem(res, 400, 'invalid-query', error.message);
      if (error instanceof ForbiddenOperationError) return problem(res, 403, error.code, error.message);
      if (error instanceof QueryTooComplexError) return problem(res, 400, error.code, error.message);
      if (error instanceof ParserBusyError) {
        res.set('retry-after', '1');
        return problem(res, 503, error.code, error.message);
      }
      if (error instanceof ResultTooLargeError) return problem(res, 422, 'result-too-large', error.message);
      if (error instanceof NotRepresentableError) return problem(res, 406, error.code, error.message);
      if (answerViewFailure(res, error)) return;
      logger.error('query failed', { error });
      problem(res, 503, 'store-unavailable', 'the store could not answer; try again');
    }
  };

  app.get('/sparql', (req, res, next) => void handle(req, res).catch(next));
  app.post('/sparql', form, sparqlBody, (req, res, next) => void handle(req, res).catch(next));
  app.all('/sparql', (req, res) => {
    res.set('allow', 'GET, POST');
    problem(
      res,
      405,
      'method-not-allowed',
      `${req.method} is not a SPARQL 1.1 Protocol operation: use GET or POST`,
    );
  });

  const catalogue = loadQueries();

  app.get('/v1/queries', (_req, res) => {
    res.json(
      [...catalogue.values()].map((q) => ({
        name: q.name,
        title: q.title,
        parameters: q.parameters.map((p) => ({ name: p, kind: PARAMETER_KINDS[p] })),
        href: `/v1/queries/${q.name}`,
      })),
    );
  });

  app.get('/v1/queries/:name', (req, res, next) => {
    const query = catalogue.get(req.params.name as QueryName);
    if (query === undefined)
      return problem(res, 404, 'not-found', `no query '${req.params.name}': see GET /v1/queries`);
    const params: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(req.query)) params[k] = v;
    const started = performance.now();
    Promise.resolve()
      .then(() => runQuery(store, query, params, { timeoutMs }))
      .then((rows) => {
        const body = { query: query.name, title: query.title, parameters: params, rows };
        const json = withinBytes(JSON.stringify(body), maxResultBytes);
        options.onQuery?.('ok', (performance.now() - started) / 1000);
        res.type('application/json').send(json);
      })
      .catch((error: unknown) => {
        options.onQuery?.('error', (performance.now() - started) / 1000);
        if (!answerViewFailure(res, error)) next(error);
      });
  });

  mountViews(app, viewContext, options.onQuery, maxResultBytes);

  app.get('/v1/live', (req, res) => {
    if (options.live === undefined) return problem(res, 404, 'not-found', 'no live feed in this process');
    options.live.handle(req, res);
  });

  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument(catalogue));
  });

  app.get('/healthz', (_req, res) => {
    const checks = options.health?.() ?? {};
    const failing = Object.entries(checks).filter(([, reason]) => reason !== null);
    res
      .status(failing.length === 0 ? 200 : 503)
      .json({ status: failing.length === 0 ? 'ok' : 'degraded', checks });
  });

  app.get('/metrics', metricsRoute(registry));

  mountDashboard(app);

  app.use((req, res) => problem(res, 404, 'not-found', `no route ${req.method} ${req.path}`));
  app.use((error: Error & { type?: string }, _req: Request, res: Response, _next: express.NextFunction) => {
    if (error.type === 'entity.too.large') return problem(res, 413, 'too-large', error.message);
    // a body the parsers refused (a form in a charset other than UTF-8, a malformed body)
    const status = (error as { status?: number }).status;
    if (status !== undefined && status >= 400 && status < 500)
      return problem(res, status, error.type ?? 'bad-request', error.message);
    logger.error('request failed', { error });
    problem(res, 500, 'internal', 'internal error');
  });
  return app;
}
