/**
 * Access control as a connect-style middleware (express mounts it; the agent's `node:http` server calls
 * it directly): 401 with WWW-Authenticate without a valid token, 403 for a wrong scope.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BearerAuth, Role, Scope } from './BearerAuth.ts';

/** What the scope of a request depends on: its path (without the query). */
export interface ScopedRequest {
  path: string;
}

/** The scope a request needs, or null for an open route. */
export type RouteScopes = (req: ScopedRequest) => Scope | null;

/** A response that carries per-request values (express's `res.locals`; set here on a plain one). */
export interface ResponseLocals {
  locals?: Record<string, unknown>;
}

/** Where the role of an authorized request is kept (`res.locals`). */
export const ROLE_LOCAL = 'provmlRole';

/** Where the token id (`tokenId`) of an authorized request is kept (`res.locals`). */
export const TOKEN_ID_LOCAL = 'provmlTokenId';

/** The role an earlier auth middleware granted this request, if any. */
export const roleOf = (res: ResponseLocals): Role | undefined => res.locals?.[ROLE_LOCAL] as Role | undefined;

/** The id of the token an earlier auth middleware accepted for this request, if any. */
export const tokenIdOf = (res: ResponseLocals): string | undefined =>
  res.locals?.[TOKEN_ID_LOCAL] as string | undefined;

/** The path of a request without its query (express's `req.path`). */
export const pathOf = (req: IncomingMessage): string => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
};

/** Answers `status` with a JSON body and the given headers. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const REALM = 'Bearer realm="provml"';

/**
 * Checks every request against `auth` with the scope `scopes` names for it.
 * Answers (JSON `{error, message}`): 401 `unauthorized` when the token is missing, 401
 * `invalid-token` when it is not a configured one, 403 `forbidden` when its role lacks the scope.
 */
export function authMiddleware(
  auth: BearerAuth,
  scopes: RouteScopes,
): (req: IncomingMessage, res: ServerResponse & ResponseLocals, next: () => void) => void {
  return (req, res, next) => {
    const needed = scopes({ path: pathOf(req) });
    if (needed === null) return next();
    const decision = auth.decide(req.headers.authorization, needed);
    if (decision.kind === 'allowed') {
      res.locals ??= {};
      res.locals[ROLE_LOCAL] = decision.role;
      res.locals[TOKEN_ID_LOCAL] = decision.id;
      return next();
    }
    if (decision.kind === 'missing')
      return sendJson(
        res,
        401,
        {
          error: 'unauthorized',
          message: `this route needs a bearer token with the '${needed}' scope (Authorization: Bearer <token>)`,
        },
        { 'www-authenticate': `${REALM}, scope="${needed}"` },
      );
    if (decision.kind === 'invalid')
      return sendJson(
        res,
        401,
        { error: 'invalid-token', message: 'the bearer token is not valid' },
        { 'www-authenticate': `${REALM}, error="invalid_token", scope="${needed}"` },
      );
    sendJson(
      res,
      403,
      {
        error: 'forbidden',
        message: `a token of role '${decision.role}' may not do this: the '${needed}' scope is needed`,
      },
      { 'www-authenticate': `${REALM}, error="insufficient_scope", scope="${needed}"` },
    );
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
