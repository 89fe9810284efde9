/**
 * Access control over HTTP on the real services: the query API (embedded store, no live feed) and the
 * sidecar agent (offline spool). 401 with WWW-Authenticate without a valid token, 403 for the wrong
 * scope, admin-only SERVICE, the agent's socket local-only, and no secret in any log line.
 */
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import express from 'express';
import { createJsonLogger, silentLogger } from '@provml/schemas';
import { BearerAuth, resolveServiceConfig } from '@provml/service';
import { startAgent, type RunningAgent, createIngestApp, type IngestTarget } from '@provml/agent';
import { openStore, startQueryApi, type RunningService } from '../../src/services/services.ts';

const INGEST = 'ingest-token-0123456789abcdef';
const QUERY = 'query-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef';
const TOKENS = { ingestTokens: [INGEST], queryTokens: [QUERY], adminTokens: [ADMIN] };
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

const SPEC = JSON.stringify({
  workflow: 'auth',
  phase: 'learning',
  tasks: [{ id: 'training', stage: 'training' }],
});

describe('query API access control', () => {
  let service: RunningService;
  let url = '';
  const lines: string[] = [];
  beforeAll(async () => {
    const config = resolveServiceConfig(
      { store: { kind: 'oxigraph-embedded' }, http: { port: 0 }, query: { live: false }, auth: TOKENS },
      {},
    );
    const logger = createJsonLogger('provml.query-api', { level: 'debug', write: (l) => lines.push(l) });
    service = await startQueryApi(config, await openStore(config, logger), logger);
    url = service.url!;
  });
  afterAll(() => service.shutdown());

  const ask = (path: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { headers });

  it('answers 401 with a Bearer challenge and a JSON error without a token', async () => {
    for (const path of [
      '/sparql?query=ASK%7B%7D',
      '/v1/queries',
      '/openapi.json',
      '/dashboard/',
      '/v1/nope',
    ]) {
      const response = await ask(path);
      expect(response.status, path).toBe(401);
      expect(response.headers.get('www-authenticate'), path).toBe('Bearer realm="provml", scope="query"');
      expect(await response.json(), path).toMatchObject({ error: 'unauthorized' });
    }
  });

  it('answers 401 invalid-token for an unknown token', async () => {
    const response = await ask('/sparql?query=ASK%7B%7D', bearer(`${QUERY}-but-not`));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(await response.json()).toEqual({
      error: 'invalid-token',
      message: 'the bearer token is not valid',
    });
  });

  it('answers 403 insufficient_scope for an ingest token', async () => {
    const response = await ask('/v1/queries', bearer(INGEST));
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(await response.json()).toMatchObject({ error: 'forbidden' });
  });

  it('serves query and admin tokens; health and metrics stay open', async () => {
    for (const token of [QUERY, ADMIN]) {
      const response = await ask('/sparql?query=ASK%7B%7D', {
        ...bearer(token),
        accept: 'application/sparql-results+json',
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ boolean: true });
      expect((await ask('/v1/queries', bearer(token))).status).toBe(200);
    }
    expect((await ask('/healthz')).status).toBe(200);
    expect((await ask('/metrics')).status).toBe(200);
  });

  it('lets only an admin token use SERVICE', async () => {
    const q = encodeURIComponent('SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }');
    const asQuery = await ask(`/sparql?query=${q}`, bearer(QUERY));
    expect(asQuery.status).toBe(403);
    expect(await asQuery.json()).toMatchObject({ error: 'forbidden-operation' });
    const asAdmin = await ask(`/sparql?query=${q}`, bearer(ADMIN));
    // past the guard: the store itself then fails to reach the (closed) remote endpoint
    expect(asAdmin.status).not.toBe(403);
    expect(asAdmin.status).not.toBe(401);
  });

  it('never logs a token', () => {
    expect(lines.join('\n')).not.toMatch(/token-0123456789abcdef/);
  });
});

describe('query API with protected metrics', () => {
  it('asks a token for /metrics when protectMetrics is set', async () => {
    const config = resolveServiceConfig(
      {
        store: { kind: 'oxigraph-embedded' },
        http: { port: 0 },
        query: { live: false },
        auth: { ...TOKENS, protectMetrics: true },
      },
      {},
    );
    const service = await startQueryApi(config, await openStore(config, silentLogger), silentLogger);
    try {
      expect((await fetch(`${service.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${service.url}/metrics`, { headers: bearer(QUERY) })).status).toBe(200);
      expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    } finally {
      await service.shutdown();
    }
  });

  it('refuses to start without tokens', async () => {
    const config = resolveServiceConfig(
      { store: { kind: 'oxigraph-embedded' }, http: { port: 0 }, query: { live: false } },
      {},
    );
    const store = await openStore(config, silentLogger);
    await expect(startQueryApi(config, store, silentLogger)).rejects.toThrow(
      /access control is not configured/,
    );
    await store.close();
  });
});

describe('agent access control', () => {
  let agent: RunningAgent;
  beforeAll(async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'auth-agent-'));
    agent = await startAgent(
      resolveServiceConfig({ http: { port: 0 }, agent: { spoolDir, offline: true }, auth: TOKENS }, {}),
      silentLogger,
    );
  });
  afterAll(() => agent.shutdown());

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${agent.url}${path}`, { method: 'POST', headers, body });

  it('needs an ingest or admin token on every ingest route', async () => {
    for (const path of ['/v1/events', '/v1/workflows', '/v1/annotations']) {
      const response = await post(path, SPEC);
      expect(response.status, path).toBe(401);
      expect(response.headers.get('www-authenticate'), path).toContain('scope="ingest"');
      expect((await post(path, SPEC, bearer(QUERY))).status, path).toBe(403);
    }
    expect(agent.spool.stats.appendedRecords).toBe(0);
    expect((await post('/v1/workflows', SPEC, bearer(INGEST))).status).toBe(201);
    expect((await post('/v1/workflows', SPEC, bearer(ADMIN))).status).toBe(201);
    expect((await fetch(`${agent.url}/metrics`)).status).toBe(200);
  });

  it('keeps its socket local: mode 0660', () => {
    expect(statSync(agent.socketPath).mode & 0o777).toBe(0o660);
  });
});

describe('ingest app access control', () => {
  it('mounts the ingest scope at the top when given tokens', async () => {
    const published: number[] = [];
    const target: IngestTarget = {
      spec: () => undefined,
      refreshSpecs: () => Promise.resolve(),
      publishSpec: () => Promise.resolve(void published.push(1)),
      publishEvents: () => Promise.resolve(),
      publishAnnotations: () => Promise.resolve(),
      annotationOwner: () => Promise.resolve(undefined),
    };
    const app = express().use(
      createIngestApp({
        target,
        logger: silentLogger,
        auth: new BearerAuth({ ingest: [INGEST], query: [QUERY], admin: [] }),
      }),
    );
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const post = (headers: Record<string, string>) =>
        fetch(`${base}/v1/workflows`, { method: 'POST', headers, body: SPEC });
      expect((await post({})).status).toBe(401);
      expect((await post(bearer(QUERY))).status).toBe(403);
      expect(published).toEqual([]);
      expect((await post(bearer(INGEST))).status).toBe(201);
      expect(published).toEqual([1]);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });
});
