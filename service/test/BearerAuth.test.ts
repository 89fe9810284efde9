/** Bearer tokens: roles and scopes, the configuration (values, files, environment), and refusal to run unconfigured. */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createJsonLogger, ValidationError } from '@provml/schemas';
import { resolveAuth, type AuthConfig } from '../src/auth/AuthConfig.ts';
import { BearerAuth, tokenId } from '../src/auth/BearerAuth.ts';
import { resolveServiceConfig, SERVICE_ENV } from '../src/ServiceConfig.ts';

const INGEST = 'ingest-token-0123456789abcdef';
const QUERY = 'query-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef';

const auth = new BearerAuth({ ingest: [INGEST], query: [QUERY], admin: [ADMIN] });
const authConfig = (values: Record<string, unknown>): AuthConfig =>
  resolveServiceConfig({ auth: values }, {}).auth;

describe('BearerAuth', () => {
  it('gives each token its role, and an admin token every scope', () => {
    expect(auth.decide(`Bearer ${INGEST}`, 'ingest')).toMatchObject({ kind: 'allowed', role: 'ingest' });
    expect(auth.decide(`Bearer ${QUERY}`, 'query')).toMatchObject({ kind: 'allowed', role: 'query' });
    for (const scope of ['ingest', 'query', 'admin'] as const)
      expect(auth.decide(`bearer ${ADMIN}`, scope)).toMatchObject({ kind: 'allowed', role: 'admin' });
  });

  it('names who was let in by a public id of the token, one per token, that does not contain it', () => {
    const ids = (
      [
        [INGEST, 'ingest'],
        [QUERY, 'query'],
        [ADMIN, 'admin'],
      ] as const
    ).map(([t, scope]) => {
      const d = auth.decide(`Bearer ${t}`, scope);
      return d.kind === 'allowed' ? d.id : undefined;
    });
    expect(new Set(ids).size).toBe(3);
    for (const [i, t] of [INGEST, QUERY, ADMIN].entries()) {
      expect(ids[i]).toBe(tokenId(t));
      expect(ids[i]).toMatch(/^token-[0-9a-f]{16}$/);
      expect(ids[i]).not.toContain(t.slice(0, 8));
    }
  });

  it('forbids a known token outside its scope', () => {
    expect(auth.decide(`Bearer ${QUERY}`, 'ingest')).toEqual({
      kind: 'forbidden',
      role: 'query',
      needed: 'ingest',
    });
    expect(auth.decide(`Bearer ${INGEST}`, 'query').kind).toBe('forbidden');
    expect(auth.decide(`Bearer ${QUERY}`, 'admin').kind).toBe('forbidden');
  });

  it('tells a missing token from an invalid one', () => {
    expect(auth.decide(undefined, 'query').kind).toBe('missing');
    expect(auth.decide('', 'query').kind).toBe('missing');
    for (const header of [
      `Bearer ${QUERY}x`,
      `Bearer ${QUERY.slice(0, -1)}`,
      `Basic ${Buffer.from(`u:${QUERY}`).toString('base64')}`,
      QUERY,
      'Bearer',
      `Bearer ${QUERY} extra`,
    ])
      expect(auth.decide(header, 'query').kind, header).toBe('invalid');
  });

  it('counts the tokens granting a scope', () => {
    expect(auth.count('ingest')).toBe(2);
    expect(auth.count('admin')).toBe(1);
    expect(new BearerAuth({ ingest: [], query: [], admin: [] }).count('query')).toBe(0);
  });
});

describe('resolveAuth', () => {
  const lines: string[] = [];
  const logger = createJsonLogger('test', { write: (l) => lines.push(l) });

  it('refuses to run a service without tokens for its scope, naming the way out', () => {
    expect(() => resolveAuth(authConfig({}), ['query'], logger)).toThrow(ValidationError);
    try {
      resolveAuth(authConfig({ ingestTokens: [INGEST] }), ['query'], logger);
      expect.unreachable();
    } catch (error) {
      const issue = (error as ValidationError).issues[0]!;
      expect(issue.path).toBe('auth');
      expect(issue.message).toContain("'query' scope");
      expect(issue.message).toContain('PROVML_AUTH_DISABLED=true');
    }
  });

  it('runs without access control only when told, and says so loudly', () => {
    lines.length = 0;
    expect(resolveAuth(authConfig({ disabled: true }), ['query'], logger)).toBeUndefined();
    expect(lines.map((l) => JSON.parse(l) as { level: string; message: string })).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: expect.stringContaining('ACCESS CONTROL IS DISABLED'),
      }),
    ]);
  });

  it('reads token files (one per line, comments and blank lines skipped) beside listed tokens', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokens-'));
    const file = join(dir, 'query.tokens');
    writeFileSync(file, `# rotated 2025-01\n${QUERY}\n\n  other-query-token-abcdef0123  \n`);
    chmodSync(file, 0o600);
    const resolved = resolveAuth(
      authConfig({ queryTokenFile: file, adminTokens: [ADMIN] }),
      ['query'],
      logger,
    )!;
    expect(resolved.roleOf(QUERY)).toBe('query');
    expect(resolved.roleOf('other-query-token-abcdef0123')).toBe('query');
    expect(resolved.roleOf(ADMIN)).toBe('admin');
    expect(resolved.roleOf('# rotated 2025-01')).toBeUndefined();
  });

  it('names an unreadable or malformed token file without echoing its content', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokens-'));
    expect(() => resolveAuth(authConfig({ ingestTokenFile: join(dir, 'none') }), ['ingest'], logger)).toThrow(
      /cannot read a token file/,
    );
    const bad = join(dir, 'bad');
    writeFileSync(bad, 'short\n');
    try {
      resolveAuth(authConfig({ ingestTokenFile: bad }), ['ingest'], logger);
      expect.unreachable();
    } catch (error) {
      expect(JSON.stringify((error as ValidationError).issues)).not.toContain('short');
    }
  });

  it('takes tokens, files and the switch from the environment', () => {
    const config = resolveServiceConfig(
      {},
      {
        PROVML_INGEST_TOKENS: `${INGEST}, second-ingest-token-0123456`,
        PROVML_QUERY_TOKEN_FILE: '/run/secrets/query',
        PROVML_AUTH_DISABLED: 'false',
        PROVML_PROTECT_METRICS: 'true',
      },
    );
    expect(config.auth).toMatchObject({
      disabled: false,
      ingestTokens: [INGEST, 'second-ingest-token-0123456'],
      queryTokenFile: '/run/secrets/query',
      protectMetrics: true,
    });
    expect(resolveServiceConfig({}, { PROVML_AUTH_DISABLED: 'true' }).auth.disabled).toBe(true);
    for (const name of ['PROVML_INGEST_TOKEN_FILE', 'PROVML_QUERY_TOKEN_FILE', 'PROVML_ADMIN_TOKEN_FILE'])
      expect(SERVICE_ENV).toHaveProperty(name);
  });

  it('refuses weak tokens in the configuration, without echoing them', () => {
    try {
      resolveServiceConfig({ auth: { queryTokens: ['hunter2'] } }, {});
      expect.unreachable();
    } catch (error) {
      expect((error as ValidationError).issues[0]!.path).toBe('auth.queryTokens.0');
      expect(JSON.stringify((error as ValidationError).issues)).not.toContain('hunter2');
    }
  });
});
