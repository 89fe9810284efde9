/** The REST views of the query API: executions, models, best model, epoch timing, runs, measures, lineage. */
import type express from 'express';
import type { Request, Response } from 'express';
import { ValidationError } from '@provml/schemas';
import { AnswerTooLargeError, QueryTimeoutError, TooManyQueriesError } from '@provml/stores';
import { listExecutions } from '../views/executions.ts';
import { lineage } from '../views/lineage.ts';
import { listMeasures } from '../views/measures.ts';
import { bestModel, listModels, NotFoundError } from '../views/models.ts';
import { listRuns } from '../views/runs.ts';
import { epochTiming } from '../views/timing.ts';
import type { ViewContext } from '../views/ViewContext.ts';
import { ResultTooLargeError, withinBytes } from './answerSparql.ts';

type View = (context: ViewContext, params: Readonly<Record<string, unknown>>) => Promise<unknown>;

/** Path → view; each takes its query-string parameters. */
export const VIEWS: Readonly<Record<string, View>> = {
  '/v1/executions': listExecutions,
  '/v1/models': listModels,
  '/v1/models/best': bestModel,
  '/v1/timing': epochTiming,
  '/v1/runs': listRuns,
  '/v1/measures': listMeasures,
  '/v1/lineage/backward': (c, p) => lineage(c, p, 'backward'),
  '/v1/lineage/forward': (c, p) => lineage(c, p, 'forward'),
};

/** Answers an expected failure of a view (bad parameter, nothing found, deadline, too large); false for others. */
export function answerViewFailure(res: Response, error: unknown): boolean {
  if (error instanceof ValidationError) {
    res.status(400).json({ error: 'invalid-parameter', message: error.message, issues: error.issues });
    return true;
  }
  if (error instanceof NotFoundError) {
    res.status(404).json({ error: 'not-found', message: error.message });
    return true;
  }
  if (error instanceof QueryTimeoutError) {
    res.status(504).json({
      error: 'query-timeout',
      message: `${error.message}; narrow the request (depth, filters) or ask an administrator to raise query.timeoutMs`,
    });
    return true;
  }
  // an answer over a limit: this app's rows or bytes, or the store's own byte budget
  if (error instanceof ResultTooLargeError || error instanceof AnswerTooLargeError) {
    res.status(422).json({ error: 'result-too-large', message: error.message });
    return true;
  }
  // the store's query side refuses a client over its share of heavy queries
  if (error instanceof TooManyQueriesError) {
    res.status(429).set('retry-after', '5').json({ error: 'too-many-queries', message: error.message });
    return true;
  }
  return false;
}

/** Mounts every view on `app`; an answer over `maxResultBytes` is 422 `result-too-large`. */
export function mountViews(
  app: express.Express,
  context: ViewContext,
  onQuery?: (outcome: 'ok' | 'error', seconds: number) => void,
  maxResultBytes = Number.POSITIVE_INFINITY,
): void {
  for (const [path, view] of Object.entries(VIEWS))
    app.get(path, (req: Request, res: Response, next: express.NextFunction) => {
      const params: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(req.query))
        params[k] = typeof v === 'string' || v === undefined ? v : JSON.stringify(v);
      const started = performance.now();
      Promise.resolve()
        .then(() => view(context, params))
        .then((body) => {
          const json = withinBytes(JSON.stringify(body), maxResultBytes);
          onQuery?.('ok', (performance.now() - started) / 1000);
          res.type('application/json').send(json);
        })
        .catch((error: unknown) => {
          onQuery?.('error', (performance.now() - started) / 1000);
          if (!answerViewFailure(res, error)) next(error);
        });
    });
}
