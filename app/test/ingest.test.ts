/** The HTTP ingest contract: events from another program become queryable; bad input is rejected whole, naming line and problem. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TOPICS } from '@provml/log';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import { PREFIXES, sparql, startStack } from '../../deploy/testing/stack.ts';

const run = promisify(execFile);

const SPEC = {
  workflow: 'ingest-test',
  phase: 'learning',
  tasks: [
    {
      id: 'train',
      stage: 'training',
      inputs: [
        { name: 'lr', semantics: 'hyperparameter' },
        { name: 'data', semantics: 'dataset-reference' },
      ],
      outputs: [{ name: 'loss', semantics: 'evaluation-measure' }],
    },
  ],
};

const event = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  eventId: `e-${Math.random().toString(36).slice(2)}`,
  workflow: 'ingest-test',
  workflowExecution: 'bad-run',
  task: 'train',
  taskExecution: 't1',
  phase: 'begin',
  time: 1_767_225_600_000_000,
  ...over,
});

describe('HTTP ingest', () => {
  let stack: EmbeddedStack;
  const post = (path: string, body: string | Uint8Array, type = 'application/json'): Promise<Response> =>
    fetch(`${stack.ingestUrl}${path}`, { method: 'POST', headers: { 'content-type': type }, body });

  beforeAll(async () => {
    stack = await startStack();
    expect((await post('/v1/workflows', JSON.stringify(SPEC))).status).toBe(201);
  });
  afterAll(() => stack.shutdown());

  it('makes events posted by another program, for a workflow it registered, queryable with PROV-O lineage', async () => {
    const { stdout } = await run('python3', [
      new URL('./fixtures/post_events.py', import.meta.url).pathname,
      stack.ingestUrl,
    ]);
    expect(stdout).toContain("(201, {'workflow': 'py-filter', 'tasks': 1})");
    expect(stdout).toContain("(202, {'accepted': 2})");
    await stack.settle();
    const rows = await sparql(
      stack.queryUrl,
      `${PREFIXES}
      SELECT ?activity ?start ?end ?duration ?threshold ?kept ?store ?host WHERE {
        ?version prov:specializationOf <s3://bucket/clean/a.csv> ;
                 prov:wasGeneratedBy ?activity ; prov:wasDerivedFrom <s3://bucket/raw/a.csv> ;
                 provml:storedIn/rdfs:label ?store .
        ?activity prov:used <s3://bucket/raw/a.csv> ; prov:startedAtTime ?start ; prov:endedAtTime ?end ;
                  provml:durationSeconds ?duration ; provml:hostName ?host ;
                  provml:hasInputValue [ provml:valueName "threshold" ; prov:value ?threshold ] ;
                  provml:hasOutputValue [ provml:valueName "kept" ; prov:value ?kept ] .
      }`,
    );
    expect(rows).toHaveLength(1);
    const r = rows[0]!;
    expect(r.activity).toBe('urn:provml:execution/py-run-1/py-t1');
    expect(Date.parse(r.end!)).toBe(Date.parse('2030-01-01T00:00:01.250Z'));
    expect(Number(r.threshold)).toBe(0.5);
    expect(Number(r.kept)).toBe(17);
    expect(r.store).toBe('s3://bucket');
    expect(r.host).toBe('py-host');
    expect(Number(r.duration)).toBeCloseTo((Date.parse(r.end!) - Date.parse(r.start!)) / 1000, 2);
  });

  it('accepts a JSON array as well as NDJSON, all or nothing, answering 202 with the count', async () => {
    const body = JSON.stringify([
      event({
        workflowExecution: 'array-run',
        values: { lr: 0.1 },
        dataRefs: [{ name: 'data', uri: 'file:///d/a.npz' }],
      }),
      event({ workflowExecution: 'array-run', phase: 'end', values: { loss: 0.3 }, status: 'finished' }),
    ]);
    const response = await post('/v1/events', body);
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ accepted: 2 });
  });

  const cases: { name: string; body: string | Uint8Array; line?: number; path: string; message: RegExp }[] = [
    { name: 'body that is not JSON', body: '{"eventId": "x", ', line: 1, path: '', message: /not JSON/ },
    { name: 'wrong type', body: JSON.stringify(event({ phase: 7 })), line: 1, path: 'phase', message: /./ },
    {
      name: 'missing field',
      body: JSON.stringify({ ...event(), taskExecution: undefined }),
      line: 1,
      path: 'taskExecution',
      message: /expected string/,
    },
    {
      name: 'unknown workflow',
      body: JSON.stringify(event({ workflow: 'nope' })),
      line: 1,
      path: 'workflow',
      message: /unknown workflow 'nope'/,
    },
    {
      name: 'unknown task',
      body: JSON.stringify(event({ task: 'nope' })),
      line: 1,
      path: 'task',
      message: /unknown task 'nope'/,
    },
    {
      name: 'relative data URI',
      body: JSON.stringify(event({ dataRefs: [{ name: 'data', uri: 'data/x.npz' }] })),
      line: 1,
      path: 'dataRefs.0.uri',
      message: /absolute URI/,
    },
    {
      name: 'URI with a space',
      body: JSON.stringify(event({ dataRefs: [{ name: 'data', uri: 'file:///a b.npz' }] })),
      line: 1,
      path: 'dataRefs.0.uri',
      message: /absolute URI/,
    },
    {
      name: 'undeclared value',
      body: JSON.stringify(event({ values: { momentum: 0.9 } })),
      line: 1,
      path: 'values.momentum',
      message: /not declared/,
    },
    {
      name: 'object as a value',
      body: JSON.stringify(event({ values: { lr: { a: 1 } } })),
      line: 1,
      path: 'values.lr',
      message: /./,
    },
    {
      name: 'bad time',
      body: JSON.stringify(event({ time: 'yesterday' })),
      line: 1,
      path: 'time',
      message: /ISO-8601/,
    },
    { name: 'invalid UTF-8', body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), path: '', message: /UTF-8/ },
    { name: 'empty body', body: '', path: '', message: /no body/ },
    {
      name: 'a bad line among good ones (NDJSON)',
      body: [
        JSON.stringify(event()),
        JSON.stringify(event({ phase: 'middle' })),
        JSON.stringify(event()),
      ].join('\n'),
      line: 2,
      path: 'phase',
      message: /./,
    },
    {
      name: 'duplicate eventId in one request',
      body: [
        JSON.stringify(event({ eventId: 'dup' })),
        JSON.stringify(event({ eventId: 'dup', phase: 'end' })),
      ].join('\n'),
      line: 2,
      path: 'eventId',
      message: /duplicate of line 1/,
    },
  ];

  it.each(cases)(
    'rejects $name with a 400 naming line and problem, storing nothing',
    async ({ body, line, path, message }) => {
      const ended = (): number => stack.log.endOffsets(DEFAULT_TOPICS.events).reduce((a, b) => a + b, 0);
      const before = ended();
      const response = await post('/v1/events', body, 'application/x-ndjson');
      expect(response.status).toBe(400);
      const json = (await response.json()) as {
        error: string;
        issues: { line?: number; path: string; message: string }[];
      };
      expect(json.error).toBe('invalid-input');
      const issue = json.issues.find((i) => i.path === path && (line === undefined || i.line === line));
      expect(issue, JSON.stringify(json.issues)).toBeDefined();
      expect(issue!.message).toMatch(message);
      expect(ended()).toBe(before);
    },
  );

  it('stores nothing of a rejected request', async () => {
    await stack.settle();
    const rows = await sparql(
      stack.queryUrl,
      `SELECT (COUNT(*) AS ?n) WHERE { GRAPH <urn:provml:graph/execution/bad-run> { ?s ?p ?o } }`,
    );
    expect(rows).toEqual([{ n: '0' }]);
  });

  it('rejects an invalid spec with the path of each problem', async () => {
    const response = await post(
      '/v1/workflows',
      JSON.stringify({
        workflow: 'w',
        phase: 'learning',
        tasks: [{ id: 'a', parent: 'b', inputs: [{ name: 'x', semantics: 'magic' }] }],
      }),
    );
    expect(response.status).toBe(400);
    const json = (await response.json()) as { issues: { path: string }[] };
    expect(json.issues.map((i) => i.path)).toContain('tasks.0.inputs.0.semantics');
  });

  it('accepts a spec as YAML', async () => {
    const response = await post(
      '/v1/workflows',
      'workflow: yaml-wf\nphase: data-curation\ntasks:\n  - id: clean\n',
      'application/yaml',
    );
    expect(response.status).toBe(201);
  });

  it('rejects malformed Turtle annotations naming the line, and loads valid ones into the domain graph', async () => {
    const bad = await post(
      '/v1/annotations',
      '@prefix ex: <https://ex.org/> .\nex:a ex:b "unterminated .\n',
      'text/turtle',
    );
    expect(bad.status).toBe(400);
    const json = (await bad.json()) as { issues: { line?: number; message: string }[] };
    expect(json.issues[0]!.line).toBe(2);
    const good = await post(
      '/v1/annotations?source=wells',
      '@prefix ex: <https://ex.org/> .\n@prefix provml: <https://w3id.org/provml/ns#> .\nex:well7 ex:depth 3200 ; provml:annotates <file:///d/well7.las> .\n',
      'text/turtle',
    );
    expect(good.status).toBe(202);
    await stack.settle();
    const rows = await sparql(
      stack.queryUrl,
      `${PREFIXES} SELECT ?g ?a WHERE { GRAPH ?g { <file:///d/well7.las> provml:hasDomainAnnotation ?a } }`,
    );
    expect(rows).toEqual([{ g: 'urn:provml:graph/domain/wells', a: 'https://ex.org/well7' }]);
  });
});
