/**
 * `/sparql` policy and limits: SERVICE and updates refused (also behind `\u` escapes), deadlines and
 * result-size limits reported clearly, formats made exactly, parsing off the event loop with a deadline.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@provml/schemas';
import { createStore, QueryError, type TripleStore } from '@provml/stores';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import {
  createQueryApp,
  guardQuery,
  ParserBusyError,
  QueryTooComplexError,
  SparqlParseWorker,
} from '@provml/query-api';
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

describe('the guard reads what the store will read', () => {
  const policy = { allowService: false, maxResultRows: 50 };
  let parser: SparqlParseWorker;
  beforeAll(() => {
    parser = new SparqlParseWorker();
  });
  afterAll(() => parser.close());

  it('forwards the query generated from the checked parse, never the text it was given', async () => {
    const given = 'SELECT ?s WHERE { ?s ?p "a \\\\u0022 b" } LIMIT 10';
    const guarded = await guardQuery(given, policy, parser);
    expect(guarded.text).not.toBe(given);
    expect(guarded.text).toContain('"a \\\\u0022 b"');
    expect(guarded.text).toMatch(/LIMIT 10$/);
  });

  it('applies the LIMIT check to the query with its escapes decoded', async () => {
    const hidden = await guardQuery('SELECT * WHERE { ?s ?p ?o } #\\u000aLIMIT 5\n', policy, parser);
    expect(hidden.text).toMatch(/LIMIT 5$/);
    const none = await guardQuery('SELECT * WHERE { ?s ?p "\\u0041" }', policy, parser);
    expect(none.text).toMatch(/"A"[\s\S]*LIMIT 51$/);
    // LIMIT 100 to a store that decodes first, a syntax error to one that does not: capped at 51
    const tooLarge = await guardQuery('SELECT * WHERE { ?s ?p ?o } LIMIT 1\\u00300', policy, parser);
    expect(tooLarge.text).toMatch(/LIMIT 51$/);
  });

  it('refuses SERVICE and updates that \\u escapes hide from a parser that decodes them late', async () => {
    const service = String.raw`SELECT * WHERE { BIND("\u0022 AS ?z) SERVICE <http://127.0.0.1:9/> { ?x ?p ?o } } LIMIT 10 #" AS ?x) } LIMIT 10`;
    await expect(guardQuery(service, policy, parser)).rejects.toMatchObject({ code: 'forbidden-operation' });
    // to sparqljs a comment (no query at all), to RDF4J a DROP ALL
    await expect(guardQuery('#\\u000aDROP ALL', policy, parser)).rejects.toMatchObject({ code: 'read-only' });
    // an update then a query is neither
    const mixed = '#\\u000aDROP ALL\nSELECT * WHERE { ?s ?p ?o }';
    await expect(guardQuery(mixed, policy, parser)).rejects.toBeInstanceOf(QueryError);
  });
});

describe('parsing off the event loop, with a deadline', () => {
  /** Longest wait for /healthz while `pending` is unanswered (polled every 50 ms), and the answer. */
  async function healthWhile(
    url: string,
    pending: Promise<Response>,
  ): Promise<{ worstMs: number; answer: Response }> {
    let done = false;
    const answered = pending.finally(() => {
      done = true;
    });
    let worstMs = 0;
    let polls = 0;
    while (!done || polls < 3) {
      const started = performance.now();
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      worstMs = Math.max(worstMs, performance.now() - started);
      polls++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return { worstMs, answer: await answered };
  }

  const ask = (url: string, query: string): Promise<Response> =>
    fetch(`${url}/sparql`, {
      method: 'POST',
      headers: { 'content-type': 'application/sparql-query', accept: 'application/sparql-results+json' },
      body: query,
    });

  let store: TripleStore;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    store = await createStore({ store: 'oxigraph-embedded' });
    // no nesting check here: the parse deadline alone must hold
    server = createQueryApp({
      store,
      registry: new Registry(),
      logger: silentLogger,
      parseTimeoutMs: 1000,
      maxQueryNesting: Number.MAX_SAFE_INTEGER,
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await store.close();
  });

  it("refuses the probe's 16 kB query (8000 groups after ex:a\\#) at once; /healthz answers meanwhile", async () => {
    const stack = await startStack();
    try {
      const probe = `PREFIX ex: <http://e/> SELECT * WHERE { ?s ex:a\\# ?o .${'{'.repeat(8000)}${'}'.repeat(8000)} }`;
      const started = performance.now();
      const { worstMs, answer } = await healthWhile(stack.queryUrl, ask(stack.queryUrl, probe));
      expect(performance.now() - started).toBeLessThan(5000);
      expect(worstMs).toBeLessThan(1000);
      expect(answer.status).toBe(400);
      expect(await answer.json()).toMatchObject({
        error: 'invalid-query',
        message: expect.stringContaining('8001 deep'),
      });
    } finally {
      await stack.shutdown();
    }
  });

  it('stops a parse past its deadline on its own thread with 400 query-too-complex; /healthz answers meanwhile', async () => {
    const deep = `SELECT * WHERE ${'{ '.repeat(20_000)}?s ?p ?o${' }'.repeat(20_000)}`;
    const started = performance.now();
    const { worstMs, answer } = await healthWhile(url, ask(url, deep));
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(worstMs).toBeLessThan(1000);
    expect(answer.status).toBe(400);
    const body = (await answer.json()) as { error: string; message: string };
    expect(body).toMatchObject({ error: 'query-too-complex' });
    expect(body.message).toContain('1000 ms');
    // a new thread parses the next query
    expect((await ask(url, 'ASK {}')).status).toBe(200);
  });

  it('refuses a query when more wait than the parser accepts (ParserBusyError: 503 busy)', async () => {
    const parser = new SparqlParseWorker({ timeoutMs: 3000, maxWaiting: 1 });
    try {
      await parser.parse('ASK {}', { limitAtMost: 10 }); // the thread is up: the next query goes to it at once
      const deep = `SELECT * WHERE ${'{ '.repeat(20_000)}?s ?p ?o${' }'.repeat(20_000)}`;
      const first = parser.parse(deep, { limitAtMost: 10 }).catch((error: unknown) => error);
      const second = parser.parse('ASK {}', { limitAtMost: 10 });
      await expect(parser.parse('ASK {}', { limitAtMost: 10 })).rejects.toBeInstanceOf(ParserBusyError);
      expect(await first).toBeInstanceOf(QueryTooComplexError);
      expect(await second).toMatchObject({ type: 'query', form: 'ASK' });
      expect(parser.restarts).toBe(1);
    } finally {
      await parser.close();
    }
  });
});

describe('the byte limit of every answer', () => {
  let stack: EmbeddedStack;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    stack = await startStack();
    await stack.annotate(TURTLE);
    await stack.settle();
    server = createQueryApp({
      store: stack.store,
      registry: new Registry(),
      logger: silentLogger,
      maxResultBytes: 2000,
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await stack.shutdown();
  });

  const get = async (path: string, accept = 'application/json') => {
    const response = await fetch(`${url}${path}`, { headers: { accept } });
    return { status: response.status, json: (await response.json()) as { error?: string; message?: string } };
  };

  it.each([
    ['SELECT as JSON', `SELECT ?s ?o WHERE { ?s <${EX}p> ?o }`, 'application/sparql-results+json'],
    ['SELECT asked as CSV', `SELECT ?o WHERE { ?s <${EX}p> ?o } LIMIT 40`, 'text/csv'],
    ['CONSTRUCT as Turtle', `CONSTRUCT WHERE { ?s <${EX}p> ?o }`, 'text/turtle'],
    ['DESCRIBE', `DESCRIBE ?s WHERE { ?s <${EX}p> ?o }`, 'application/n-triples'],
  ])('refuses %s past the limit with 422 result-too-large naming it', async (_what, query, accept) => {
    const answer = await get(`/sparql?query=${encodeURIComponent(query)}`, accept);
    expect(answer.status, JSON.stringify(answer.json)).toBe(422);
    expect(answer.json.error).toBe('result-too-large');
    expect(answer.json.message).toContain('more than 2000 bytes');
  });

  it('answers within the limit', async () => {
    const answer = await get(
      `/sparql?query=${encodeURIComponent(`SELECT ?o WHERE { ?s <${EX}p> ?o } LIMIT 3`)}`,
    );
    expect(answer.status).toBe(200);
  });

  it('holds for the views and the query catalogue too', async () => {
    const small = createQueryApp({
      store: stack.store,
      registry: new Registry(),
      logger: silentLogger,
      maxResultBytes: 1,
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => small.once('listening', resolve));
    const at = `http://127.0.0.1:${(small.address() as AddressInfo).port}`;
    try {
      for (const path of ['/v1/runs', '/v1/queries/q6?inlineStart=1&inlineEnd=2']) {
        const response = await fetch(`${at}${path}`);
        expect(response.status, path).toBe(422);
        expect(await response.json()).toMatchObject({ error: 'result-too-large' });
      }
    } finally {
      small.closeAllConnections();
      await new Promise((resolve) => small.close(resolve));
    }
  });
});
