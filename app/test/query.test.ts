/** The SPARQL 1.1 Protocol endpoint, health and metrics of the query API. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import { startStack } from '../../deploy/testing/stack.ts';

const SELECT =
  'SELECT ?label WHERE { ?w a <https://w3id.org/provml/ns#Workflow> ; <http://www.w3.org/2000/01/rdf-schema#label> ?label }';

describe('query API', () => {
  let stack: EmbeddedStack;
  let url: string;

  beforeAll(async () => {
    stack = await startStack();
    url = stack.queryUrl;
    const response = await fetch(`${stack.ingestUrl}/v1/workflows`, {
      method: 'POST',
      body: JSON.stringify({
        workflow: 'q',
        name: 'Query test',
        phase: 'data-curation',
        tasks: [{ id: 'a' }],
      }),
    });
    expect(response.status).toBe(201);
    await stack.settle();
  });
  afterAll(() => stack.shutdown());

  const labels = async (response: Response): Promise<string[]> => {
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/sparql-results+json');
    const json = (await response.json()) as { results: { bindings: { label: { value: string } }[] } };
    return json.results.bindings.map((b) => b.label.value);
  };

  it('answers GET with ?query=', async () => {
    expect(await labels(await fetch(`${url}/sparql?query=${encodeURIComponent(SELECT)}`))).toEqual([
      'Query test',
    ]);
  });

  it('answers POST with a form body', async () => {
    const body = new URLSearchParams({ query: SELECT });
    expect(await labels(await fetch(`${url}/sparql`, { method: 'POST', body }))).toEqual(['Query test']);
  });

  it('answers POST with an application/sparql-query body', async () => {
    const response = await fetch(`${url}/sparql`, {
      method: 'POST',
      headers: { 'content-type': 'application/sparql-query' },
      body: SELECT,
    });
    expect(await labels(response)).toEqual(['Query test']);
  });

  it('negotiates CSV for SELECT and N-Triples or Turtle for CONSTRUCT', async () => {
    const csv = await fetch(`${url}/sparql?query=${encodeURIComponent(SELECT)}`, {
      headers: { accept: 'text/csv' },
    });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(await csv.text()).toBe('label\r\nQuery test\r\n');
    const construct = 'CONSTRUCT { ?w ?p ?o } WHERE { ?w a <https://w3id.org/provml/ns#Workflow> ; ?p ?o }';
    const nt = await fetch(`${url}/sparql?query=${encodeURIComponent(construct)}`);
    expect(nt.headers.get('content-type')).toContain('application/n-triples');
    expect(await nt.text()).toContain(
      '<urn:provml:workflow/q> <http://www.w3.org/2000/01/rdf-schema#label> "Query test" .',
    );
    const ttl = await fetch(`${url}/sparql?query=${encodeURIComponent(construct)}`, {
      headers: { accept: 'text/turtle' },
    });
    expect(ttl.headers.get('content-type')).toContain('text/turtle');
  });

  it('sees the union of all named graphs as the default graph', async () => {
    const graphs = await fetch(
      `${url}/sparql?query=${encodeURIComponent('SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }')}`,
    );
    const json = (await graphs.json()) as { results: { bindings: { g: { value: string } }[] } };
    expect(json.results.bindings.map((b) => b.g.value)).toContain('urn:provml:graph/spec/q');
  });

  it('refuses updates, as a query or through the update parameter', async () => {
    const asUpdate = await fetch(`${url}/sparql`, {
      method: 'POST',
      headers: { 'content-type': 'application/sparql-update' },
      body: 'INSERT DATA { <urn:a> <urn:b> <urn:c> }',
    });
    expect(asUpdate.status).toBe(403);
    const asForm = await fetch(`${url}/sparql`, {
      method: 'POST',
      body: new URLSearchParams({ update: 'CLEAR ALL' }),
    });
    expect(asForm.status).toBe(403);
    const asQuery = await fetch(`${url}/sparql?query=${encodeURIComponent('DELETE WHERE { ?s ?p ?o }')}`);
    expect(asQuery.status).toBe(403);
    expect(((await asQuery.json()) as { error: string }).error).toBe('read-only');
    expect(await stack.store.size()).toBeGreaterThan(0);
  });

  it('explains a missing query, a syntax error and an oversized query', async () => {
    const missing = await fetch(`${url}/sparql`);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toBe('missing-query');
    const syntax = await fetch(`${url}/sparql?query=${encodeURIComponent('SELECT WHERE {')}`);
    expect(syntax.status).toBe(400);
    expect(((await syntax.json()) as { error: string; message: string }).error).toBe('invalid-query');
    const huge = await fetch(`${url}/sparql`, {
      method: 'POST',
      headers: { 'content-type': 'application/sparql-query' },
      body: `SELECT * WHERE { ?s ?p ?o } # ${'x'.repeat(200_000)}`,
    });
    expect(huge.status).toBe(413);
  });

  it('reports health and Prometheus metrics of every component', async () => {
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    for (const name of [
      'provml_processor_quads_total',
      'provml_sink_records_total',
      'provml_sink_lag_records',
      'provml_query_duration_seconds_bucket',
      'provml_ingest_total',
      'provml_process_resident_memory_bytes',
    ])
      expect(metrics).toContain(name);
    expect(metrics).toMatch(/provml_ingest_total\{route="workflows",outcome="accepted"\} 1/);
    expect(metrics).toContain('provml_event_to_store_seconds_bucket');
    expect(Number(/^provml_sink_load_duration_seconds_count (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
  });
});
