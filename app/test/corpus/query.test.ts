/**
 * Bad-input corpus of the query API (`corpus/query/*.json`): injection through REST parameters,
 * updates, LOAD and SERVICE through /sparql, enormous, deep and slow queries. Each gets its status
 * and error code; the endpoint keeps answering and the data stays as it was.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@provml/schemas';
import type { EmbeddedStack } from '../../src/embedded/EmbeddedStack.ts';
import { createQueryApp } from '@provml/query-api';
import { sparql, startStack } from '../../../deploy/testing/stack.ts';
import { expand, loadCases } from './corpus.ts';

interface QueryRequest {
  method: 'GET' | 'POST';
  path: string;
  /** Query-string parameters. */
  query?: Record<string, unknown>;
  /** A raw query string, for repeated parameters. */
  search?: string;
  /** An application/sparql-query body. */
  sparql?: unknown;
  /** A form body. */
  form?: Record<string, unknown>;
  body?: string;
  contentType?: string;
  /** Sent to an endpoint with small limits (1 s timeout, 1000 rows). */
  limits?: boolean;
}

const cases = loadCases('query');
const DATA =
  '<https://ex.org/corpus-well> <https://w3id.org/provml/ns#annotates> <file:///data/corpus.sgy> .\n';
const CHECK = 'SELECT ?a WHERE { ?a <https://w3id.org/provml/ns#annotates> <file:///data/corpus.sgy> }';

describe('bad-input corpus: query API', () => {
  let stack: EmbeddedStack;
  let limited: Server;
  let limitedUrl: string;

  beforeAll(async () => {
    stack = await startStack();
    await stack.annotate(DATA, 'corpus');
    await stack.settle();
    limited = createQueryApp({
      store: stack.store,
      registry: stack.metrics.registry,
      logger: silentLogger,
      queryTimeoutMs: 1000,
      maxResultRows: 1000,
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => limited.once('listening', resolve));
    limitedUrl = `http://127.0.0.1:${(limited.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    limited?.closeAllConnections();
    await new Promise((resolve) => limited?.close(resolve));
    await stack.shutdown();
  });

  // a case with `pending` states a contract the code does not meet yet (the reason names file and behaviour)
  it.each(cases)('$name: $description', async (c) => {
    if (typeof c.pending === 'string') return void console.warn(`pending ${c.name}: ${c.pending}`);
    const r = c.request as QueryRequest;
    const expected = c.expect as { status: number | number[]; error?: string };
    const base = r.limits === true ? limitedUrl : stack.queryUrl;
    const search =
      r.search ??
      (r.query === undefined
        ? ''
        : `?${new URLSearchParams(Object.entries(expand(r.query) as Record<string, string>)).toString()}`);
    const init: RequestInit = { method: r.method, headers: { accept: 'application/sparql-results+json' } };
    if (r.sparql !== undefined) {
      init.body = String(expand(r.sparql));
      init.headers = { ...init.headers, 'content-type': 'application/sparql-query' };
    } else if (r.form !== undefined) {
      init.body = new URLSearchParams(expand(r.form) as Record<string, string>).toString();
      init.headers = { ...init.headers, 'content-type': 'application/x-www-form-urlencoded' };
    } else if (r.body !== undefined) {
      init.body = r.body;
      init.headers = { ...init.headers, 'content-type': r.contentType ?? 'text/plain' };
    }
    const response = await fetch(`${base}${r.path}${search}`, init);
    const text = await response.text();
    const statuses = Array.isArray(expected.status) ? expected.status : [expected.status];
    expect(statuses, text.slice(0, 500)).toContain(response.status);
    if (expected.error !== undefined)
      expect((JSON.parse(text) as { error: string }).error).toBe(expected.error);
    // the endpoint still answers, and the data is as it was
    expect(await sparql(base, CHECK)).toEqual([{ a: 'https://ex.org/corpus-well' }]);
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
  });

  it('left the store as it was: nothing inserted, deleted or loaded', async () => {
    const rows = await sparql(stack.queryUrl, 'SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { <urn:x> ?p ?o } }');
    expect(rows).toEqual([{ n: '0' }]);
    expect(await sparql(stack.queryUrl, CHECK)).toHaveLength(1);
  });
});
