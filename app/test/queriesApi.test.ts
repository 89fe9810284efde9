/** Q1–Q6 as REST endpoints: same answers as the catalogue, parameters bound safely, an OpenAPI document. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerQueries, demoParameters, type DemoReport } from '@provml/demo';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import { VIEWS } from '@provml/query-api';
import { startDemoStack, type DemoStack } from '../../deploy/testing/stack.ts';

describe('parameterized query endpoints', () => {
  let demo: DemoStack;
  let stack: EmbeddedStack;
  let report: DemoReport;

  beforeAll(async () => {
    demo = await startDemoStack();
    ({ stack, report } = demo);
  }, 120_000);
  afterAll(() => demo.close());

  const get = (path: string): Promise<Response> => fetch(`${stack.queryUrl}${path}`);

  it('lists the queries with their parameters', async () => {
    const list = (await (await get('/v1/queries')).json()) as {
      name: string;
      parameters: { name: string; kind: string }[];
    }[];
    expect(list.map((q) => q.name)).toEqual(['q1', 'q2', 'q3', 'q4', 'q5', 'q6']);
    expect(list.find((q) => q.name === 'q5')!.parameters).toEqual([
      { name: 'inlineStart', kind: 'integer' },
      { name: 'inlineEnd', kind: 'integer' },
    ]);
  });

  it('answers each query as the catalogue does', async () => {
    const expected = await answerQueries(stack.store, report);
    const params = demoParameters(report);
    for (const answer of expected) {
      const query = new URLSearchParams(
        Object.entries(params[answer.name]).map(([k, v]): [string, string] => [k, String(v)]),
      );
      const response = await get(`/v1/queries/${answer.name}?${query.toString()}`);
      expect(response.status, answer.name).toBe(200);
      const body = (await response.json()) as { rows: Record<string, string>[] };
      expect(body.rows.length, answer.name).toBeGreaterThan(0);
      if (answer.name !== 'q4' && answer.name !== 'q5') expect(body.rows, answer.name).toEqual(answer.rows);
      else expect(body.rows.length).toBe(answer.rows.length);
    }
  });

  it.each([
    ['an IRI that tries to close the pattern', 'q1', { model: 'file:///x> } UNION { ?s ?p ?o } #' }],
    ['an IRI with a space', 'q1', { model: 'file:///a b' }],
    ['a relative IRI', 'q2', { model: 'models/epoch-1.json' }],
    ['an integer with SPARQL after it', 'q5', { inlineStart: '100 || true', inlineEnd: '131' }],
    ['a literal instead of an integer', 'q6', { inlineStart: '"100"', inlineEnd: '131' }],
    ['a missing parameter', 'q5', { inlineStart: '100' }],
    ['an extra parameter', 'q3', { trainingSet: 'file:///t.pmlt', limit: '5' }],
  ])('refuses %s with a 400 naming the parameter', async (_, name, params) => {
    const before = await stack.store.size();
    const response = await get(
      `/v1/queries/${name}?${new URLSearchParams(params as Record<string, string>).toString()}`,
    );
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; issues: { path: string }[] };
    expect(body.error).toBe('invalid-parameter');
    expect(body.issues.length).toBeGreaterThan(0);
    expect(await stack.store.size()).toBe(before);
  });

  it('answers 404 for an unknown query', async () => {
    expect((await get('/v1/queries/q7')).status).toBe(404);
  });

  it('times every captured event from capture to the store (freshness histogram)', async () => {
    const metrics = await (await get('/metrics')).text();
    const count = Number(/^provml_event_to_store_seconds_count (\d+)/m.exec(metrics)?.[1]);
    expect(count).toBeGreaterThan(0);
    expect(Number(/^provml_event_to_store_seconds_sum (\S+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
  });

  it('serves an OpenAPI document naming every endpoint and parameter', async () => {
    const doc = (await (await get('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, { get?: { parameters?: { name: string; required: boolean }[] } }>;
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const q of ['q1', 'q2', 'q3', 'q4', 'q5', 'q6'])
      expect(doc.paths[`/v1/queries/${q}`]?.get).toBeDefined();
    expect(doc.paths['/v1/queries/q1']!.get!.parameters).toEqual([
      expect.objectContaining({ name: 'model', required: true }),
    ]);
    for (const p of ['/sparql', '/healthz', '/metrics', ...Object.keys(VIEWS)])
      expect(doc.paths[p], p).toBeDefined();
    expect(doc.paths['/v1/models/best']!.get!.parameters).toContainEqual(
      expect.objectContaining({ name: 'trainingSet', required: true }),
    );
  });
});
