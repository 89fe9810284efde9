/** `/sparql` policy and limits: SERVICE and updates refused, deadlines and result-size limits reported clearly, formats made exactly. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import { startStack } from '../../deploy/testing/stack.ts';

const EX = 'https://example.org/limits/';

/** 300 annotation triples: enough for a slow cartesian product, small enough to load at once. */
const TURTLE = Array.from({ length: 300 }, (_, i) => `<${EX}s${i}> <${EX}p> ${i} .`).join('\n');

async function post(stack: EmbeddedStack, query: string, accept = 'application/sparql-results+json') {
  const response = await fetch(`${stack.queryUrl}/sparql`, {
    method: 'POST',
    headers: { 'content-type': 'application/sparql-query', accept },
    body: query,
  });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

describe('/sparql limits and policy', () => {
  let stack: EmbeddedStack;

  beforeAll(async () => {
    stack = await startStack({ queryTimeoutMs: 400, maxResultRows: 50 });
    await stack.annotate(TURTLE);
    await stack.settle();
  }, 60_000);
  afterAll(() => stack.shutdown());

  it('stops a query at the deadline with 504 query-timeout, then answers the next one', async () => {
    const slow = await post(stack, 'SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }');
    expect(slow.status).toBe(504);
    expect(JSON.parse(slow.text)).toMatchObject({ error: 'query-timeout' });
    expect(JSON.parse(slow.text).message).toContain('400 ms');
    const next = await post(stack, `SELECT (COUNT(*) AS ?n) WHERE { ?s <${EX}p> ?o }`);
    expect(next.status).toBe(200);
    expect(JSON.parse(next.text).results.bindings[0].n.value).toBe('300');
  });

  it('refuses an answer over the row limit with 422 result-too-large; a LIMIT within it passes', async () => {
    const big = await post(stack, `SELECT ?s WHERE { ?s <${EX}p> ?o }`);
    expect(big.status).toBe(422);
    expect(JSON.parse(big.text)).toMatchObject({ error: 'result-too-large' });
    expect(JSON.parse(big.text).message).toContain('50 solutions');
    const paged = await post(stack, `SELECT ?s WHERE { ?s <${EX}p> ?o } ORDER BY ?s LIMIT 50 OFFSET 10`);
    expect(paged.status).toBe(200);
    expect(JSON.parse(paged.text).results.bindings).toHaveLength(50);
    const graph = await post(stack, `CONSTRUCT WHERE { ?s <${EX}p> ?o }`, 'text/turtle');
    expect(graph.status).toBe(422);
    expect(JSON.parse(graph.text).message).toContain('triples');
  });

  it.each([
    ['SERVICE', `SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }`, 'forbidden-operation'],
    [
      'SERVICE nested in OPTIONAL',
      `SELECT * WHERE { ?s ?p ?o OPTIONAL { SERVICE SILENT <http://127.0.0.1:9/> { ?s ?q ?r } } }`,
      'forbidden-operation',
    ],
    ['LOAD', 'LOAD <http://127.0.0.1:9/data.ttl>', 'read-only'],
    ['DROP', 'DROP ALL', 'read-only'],
    ['INSERT DATA', `INSERT DATA { <${EX}x> <${EX}p> 1 }`, 'read-only'],
  ])('refuses %s with 403', async (_what, query, error) => {
    const answer = await post(stack, query);
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text)).toMatchObject({ error });
    expect(
      JSON.parse((await post(stack, `SELECT (COUNT(*) AS ?n) WHERE { ?s <${EX}p> ?o }`)).text).results
        .bindings[0].n.value,
    ).toBe('300');
  });

  it('says where a syntax error is', async () => {
    const answer = await post(stack, 'SELECT ?s WHERE { ?s ?p ');
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toMatchObject({ error: 'invalid-query' });
    expect(JSON.parse(answer.text).message).toMatch(/line 1/i);
  });

  it('answers SELECT as CSV, TSV and XML, and ASK as XML', async () => {
    const q = `SELECT ?s ?o WHERE { ?s <${EX}p> ?o FILTER(?o < 2) } ORDER BY ?o`;
    const csv = await post(stack, q, 'text/csv');
    expect(csv.type).toContain('text/csv');
    expect(csv.text).toBe(`s,o\r\n${EX}s0,0\r\n${EX}s1,1\r\n`);
    const tsv = await post(stack, q, 'text/tab-separated-values');
    expect(tsv.text).toBe(
      `?s\t?o\n<${EX}s0>\t"0"^^<http://www.w3.org/2001/XMLSchema#integer>\n<${EX}s1>\t"1"^^<http://www.w3.org/2001/XMLSchema#integer>\n`,
    );
    const xml = await post(stack, q, 'application/sparql-results+xml');
    expect(xml.text).toContain(`<binding name="s"><uri>${EX}s0</uri></binding>`);
    const ask = await post(stack, `ASK { <${EX}s1> <${EX}p> 1 }`, 'application/sparql-results+xml');
    expect(ask.text).toContain('<boolean>true</boolean>');
  });
});

describe('/sparql with SERVICE allowed by the administrator', () => {
  let stack: EmbeddedStack;
  beforeAll(async () => {
    stack = await startStack({ allowService: 'true' });
  });
  afterAll(() => stack.shutdown());

  it('lets SERVICE through to the store (here: an endpoint that is not there, SILENT)', async () => {
    const answer = await post(
      stack,
      'SELECT * WHERE { SERVICE SILENT <http://127.0.0.1:9/sparql> { ?s ?p ?o } }',
    );
    expect(answer.status).not.toBe(403);
  });
});

describe('nesting depth before parsing', () => {
  it('counts groups and brackets outside strings, IRIs and comments', async () => {
    const { nestingDepth } = await import('@provml/query-api');
    expect(nestingDepth('SELECT * WHERE { ?s ?p ?o FILTER((?o > 1)) }')).toBe(3);
    expect(nestingDepth('SELECT * WHERE { ?s ?p "{{{{((((" . # {{{{{\n ?s <urn:a(b> ?x }')).toBe(1);
    expect(nestingDepth(`SELECT * WHERE { ?s ?p '''}}} {{{ ''' }`)).toBe(1);
  });

  it('refuses a deeply nested query at once, and keeps answering', async () => {
    const stack = await startStack();
    try {
      const deep = `SELECT * WHERE ${'{ '.repeat(20_000)}?s ?p ?o${' }'.repeat(20_000)}`;
      const answer = await post(stack, deep);
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.text)).toMatchObject({ error: 'invalid-query' });
      expect(JSON.parse(answer.text).message).toContain('20000 deep');
      expect((await post(stack, 'ASK {}')).status).toBe(200);
    } finally {
      await stack.shutdown();
    }
  });
});
