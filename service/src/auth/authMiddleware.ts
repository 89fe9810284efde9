/** The express middleware of access control: 401 with WWW-Authenticate without a valid token, 403 for a wrong scope. */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { BearerAuth, Role, Scope } from './BearerAuth.ts';

/** The scope a request needs, or null for an open route. */
export type RouteScopes = (req: Request) => Scope | null;

/** Where the role of an authorized request is kept (`res.locals`). */
export const ROLE_LOCAL = 'provmlRole';

/** Where the token id (`tokenId`) of an authorized request is kept (`res.locals`). */
export const TOKEN_ID_LOCAL = 'provmlTokenId';

/** The role an earlier auth middleware granted this request, if any. */
export const roleOf = (res: Response): Role | undefined => res.locals[ROLE_LOCAL] as Role | undefined;

/** The id of the token an earlier auth middleware accepted for this request, if any. */
export const tokenIdOf = (res: Response): string | undefined =>
  res.locals[TOKEN_ID_LOCAL] as string | undefined;

const REALM = 'Bearer realm="provml"';

/**
 * Checks every request against `auth` with the scope `scopes` names for it.
 * Answers (JSON `{error, message}`): 401 `unauthorized` when the token is missing, 401
 * `invalid-token` when it is not a configured one, 403 `forbidden` when its role lacks the scope.
 */
export function authMiddleware(auth: BearerAuth, scopes: RouteScopes): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const needed = scopes(req);
    if (needed === null) return next();
    const decision = auth.decide(req.get('authorization'), needed);
    if (decision.kind === 'allowed') {
      res.locals[ROLE_LOCAL] = decision.role;
      res.locals[TOKEN_ID_LOCAL] = decision.id;
      return next();
    }
    if (decision.kind === 'missing') {
      res.set('WWW-Authenticate', `${REALM}, scope="${needed}"`);
      return void res.status(401).json({
        error: 'unauthorized',
        message: `this route needs a bearer token with the '${needed}' scope (Authorization: Bearer <token>)`,
      });
    }
    if (decision.kind === 'invalid') {
      res.set('WWW-Authenticate', `${REALM}, error="invalid_token", scope="${needed}"`);
      return void res.status(401).json({ error: 'invalid-token', message: 'the bearer token is not valid' });
    }
    res.set('WWW-Authenticate', `${REALM}, error="insufficient_scope", scope="${needed}"`);
    res.status(403).json({
      error: 'forbidden',
      message: `a token of role '${decision.role}' may not do this: the '${needed}' scope is needed`,
    });
  };
}

/**
 * Scopes of the query API: `/healthz` open; `/metrics` open unless `protectMetrics` (then
 * `query`); everything else (`/sparql`, `/v1/*`, `/dashboard`, `/openapi.json`, …) needs `query`.
 */
export const queryRouteScopes =
  (protectMetrics: boolean): RouteScopes =>
  (req) =>
    req.path === '/healthz' ? null : req.path === '/metrics' ? (protectMetrics ? 'query' : null) : 'query';

/**
 * Scopes of an ingest server (the agent's HTTP, the ingest app): `/healthz` open; `/metrics` open
 * unless `protectMetrics` (then `query`); everything else needs `ingest`.
 */
export const ingestRouteScopes =
  (protectMetrics: boolean): RouteScopes =>
  (req) =>
    req.path === '/healthz' ? null : req.path === '/metrics' ? (protectMetrics ? 'query' : null) : 'ingest';
