/** The byte limit of answers through the query API: 422 result-too-large naming the limit, whatever the format; smaller answers pass. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedStack } from '../../src/embedded/EmbeddedStack.ts';
import { startStack } from '../../../deploy/testing/stack.ts';

const EX = 'https://example.org/bytes/';
/** 100 literals of ~1 kB: about 110 kB as SPARQL JSON, well within the row limit. */
const TURTLE = Array.from(
  { length: 100 },
  (_, i) => `<${EX}s${i}> <${EX}text> "${'y'.repeat(1000)}${i}" .`,
).join('\n');

async function post(stack: EmbeddedStack, query: string, accept = 'application/sparql-results+json') {
  const response = await fetch(`${stack.queryUrl}/sparql`, {
    method: 'POST',
    headers: { 'content-type': 'application/sparql-query', accept },
    body: query,
  });
  return { status: response.status, text: await response.text() };
}

describe('answer byte limit', () => {
  let stack: EmbeddedStack;
  beforeAll(async () => {
    stack = await startStack({ maxResultBytes: 50_000 });
    await stack.annotate(TURTLE);
    await stack.settle();
  }, 60_000);
  afterAll(() => stack.shutdown());

  it.each([
    ['SELECT as JSON', `SELECT ?o WHERE { ?s <${EX}text> ?o }`, 'application/sparql-results+json'],
    ['SELECT as CSV', `SELECT ?o WHERE { ?s <${EX}text> ?o }`, 'text/csv'],
    ['CONSTRUCT as Turtle', `CONSTRUCT WHERE { ?s <${EX}text> ?o }`, 'text/turtle'],
    ['DESCRIBE', `DESCRIBE ?s WHERE { ?s <${EX}text> ?o }`, 'application/n-triples'],
  ])('refuses %s over the limit with 422 naming it', async (_what, query, accept) => {
    const answer = await post(stack, query, accept);
    expect(answer.status).toBe(422);
    expect(JSON.parse(answer.text)).toMatchObject({ error: 'result-too-large' });
    expect(JSON.parse(answer.text).message).toContain('50000 bytes');
  });

  it('answers within the limit, and keeps answering', async () => {
    const some = await post(stack, `SELECT ?o WHERE { ?s <${EX}text> ?o } LIMIT 10`);
    expect(some.status).toBe(200);
    expect(JSON.parse(some.text).results.bindings).toHaveLength(10);
    const views = await fetch(`${stack.queryUrl}/v1/executions`);
    expect(views.status).toBe(200);
  });
});
