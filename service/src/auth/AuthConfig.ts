/** The access-control part of a service's configuration, its environment variables, and its resolution into a BearerAuth. */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { ValidationError, type Logger } from '@provml/schemas';
import { BearerAuth, type Scope } from './BearerAuth.ts';

const token = z
  .string()
  .min(16, 'tokens must be at least 16 characters (e.g. openssl rand -hex 32)')
  .regex(/^[\x21-\x7e]+$/, 'tokens are printable ASCII without spaces');

/**
 * `auth` in ServiceConfig. Tokens come as values or from files (one token per line; blank lines
 * and `#` comments ignored), e.g. mounted secrets. An admin token carries every scope.
 */
export const authConfigSchema = z
  .object({
    /**
     * Run without access control. Default false: a distributed service with HTTP routes refuses to
     * start without tokens unless this is set (and then logs a warning).
     */
    disabled: z.boolean().default(false),
    /** Tokens that may POST /v1/events, /v1/workflows, /v1/annotations. */
    ingestTokens: z.array(token).default([]),
    /** Read-only tokens: /sparql, /v1/*, /dashboard, /openapi.json. */
    queryTokens: z.array(token).default([]),
    /** Tokens with every scope, plus admin operations (SERVICE in /sparql per request). */
    adminTokens: z.array(token).default([]),
    ingestTokenFile: z.string().min(1).optional(),
    queryTokenFile: z.string().min(1).optional(),
    adminTokenFile: z.string().min(1).optional(),
    /** Require a query or admin token for /metrics. Default false (Prometheus scrapes it; keep it on a private network). */
    protectMetrics: z.boolean().default(false),
  })
  .strict()
  .default({ disabled: false, ingestTokens: [], queryTokens: [], adminTokens: [], protectMetrics: false });

/** The `auth` settings, resolved. */
export type AuthConfig = z.infer<typeof authConfigSchema>;

/** Environment variables of `auth`, and the setting each fills. */
export const AUTH_ENV = {
  PROVML_AUTH_DISABLED: 'auth.disabled (true|false)',
  PROVML_INGEST_TOKENS: 'auth.ingestTokens (comma-separated)',
  PROVML_QUERY_TOKENS: 'auth.queryTokens (comma-separated)',
  PROVML_ADMIN_TOKENS: 'auth.adminTokens (comma-separated)',
  PROVML_INGEST_TOKEN_FILE: 'auth.ingestTokenFile',
  PROVML_QUERY_TOKEN_FILE: 'auth.queryTokenFile',
  PROVML_ADMIN_TOKEN_FILE: 'auth.adminTokenFile',
  PROVML_PROTECT_METRICS: 'auth.protectMetrics (true|false)',
} as const;

/** The `auth` values found in the environment (undefined where unset). */
export function authFromEnv(env: Readonly<Record<string, string | undefined>>): Record<string, unknown> {
  const e = (k: keyof typeof AUTH_ENV): string | undefined => (env[k] === '' ? undefined : env[k]);
  const list = (v: string | undefined): string[] | undefined =>
    v
      ?.split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');
  const bool = (v: string | undefined): boolean | string | undefined =>
    v === 'true' ? true : v === 'false' ? false : v;
  return {
    disabled: bool(e('PROVML_AUTH_DISABLED')),
    ingestTokens: list(e('PROVML_INGEST_TOKENS')),
    queryTokens: list(e('PROVML_QUERY_TOKENS')),
    adminTokens: list(e('PROVML_ADMIN_TOKENS')),
    ingestTokenFile: e('PROVML_INGEST_TOKEN_FILE'),
    queryTokenFile: e('PROVML_QUERY_TOKEN_FILE'),
    adminTokenFile: e('PROVML_ADMIN_TOKEN_FILE'),
    protectMetrics: bool(e('PROVML_PROTECT_METRICS')),
  };
}

/** Reads a token file: one token per line, blank lines and `#` comments ignored. */
function readTokenFile(path: string, setting: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ValidationError('cannot read a token file', [
      {
        path: `auth.${setting}`,
        message: `${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
      },
    ]);
  }
  const tokens = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const bad = tokens.filter((t) => !token.safeParse(t).success).length;
  if (bad > 0)
    throw new ValidationError('invalid token file', [
      {
        path: `auth.${setting}`,
        message: `${path}: ${bad} line(s) are not tokens (16+ printable ASCII characters, no spaces)`,
      },
    ]);
  return tokens;
}

/**
 * The access control of a service whose routes need `scopes`: undefined when disabled (with a
 * warning), otherwise a BearerAuth over the configured tokens and token files.
 * @throws ValidationError when no token grants one of `scopes` and auth is not disabled
 */
export function resolveAuth(
  config: AuthConfig,
  scopes: readonly Scope[],
  logger: Logger,
): BearerAuth | undefined {
  if (config.disabled) {
    logger.warn(
      'ACCESS CONTROL IS DISABLED (auth.disabled / PROVML_AUTH_DISABLED=true): anyone who reaches this port may read and write provenance',
    );
    return undefined;
  }
  const file = (path: string | undefined, setting: string): string[] =>
    path === undefined ? [] : readTokenFile(path, setting);
  const auth = new BearerAuth({
    ingest: [...config.ingestTokens, ...file(config.ingestTokenFile, 'ingestTokenFile')],
    query: [...config.queryTokens, ...file(config.queryTokenFile, 'queryTokenFile')],
    admin: [...config.adminTokens, ...file(config.adminTokenFile, 'adminTokenFile')],
  });
  const missing = scopes.filter((s) => auth.count(s) === 0);
  if (missing.length > 0)
    throw new ValidationError('access control is not configured', [
      {
        path: 'auth',
        message: `no token grants the ${missing.map((s) => `'${s}'`).join(' and ')} scope: set PROVML_${missing[0]!.toUpperCase()}_TOKEN_FILE (or PROVML_ADMIN_TOKEN_FILE), or run without access control with PROVML_AUTH_DISABLED=true`,
      },
    ]);
  return auth;
}
