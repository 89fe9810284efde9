/** Bad-input corpus at the HTTP ingest (`corpus/ingest/*.json`): each case rejected whole and counted, valid events around it stored. */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TOPICS } from '@provml/log';
import type { EmbeddedStack } from '../../src/embedded/EmbeddedStack.ts';
import { sparql, startStack } from '../../../deploy/testing/stack.ts';
import { fixture, loadCases, metricValue, requestBody, scrape } from './corpus.ts';

interface IngestExpect {
  status: number;
  error?: string;
  issue?: { path: string; line?: number; message: string };
  counter?: { name: string; labels: Record<string, string> };
  accepted?: number;
  processor?: { unmatchedEnds: number };
  ask?: string;
  select?: string;
  rows?: Record<string, string>[];
  /** The capped issue report: issues returned, their count, whether parsing went to the end. */
  report?: { issues: number; issueCount: number; complete: boolean };
  /** Largest answer body, in bytes. */
  maxAnswerBytes?: number;
}

const cases = loadCases('ingest');
const base = fixture<Record<string, unknown>>('ingest', 'event');

describe('bad-input corpus: HTTP ingest', () => {
  let stack: EmbeddedStack;
  const valid: string[] = [];
  const post = (
    path: string,
    body: Uint8Array,
    type = 'application/x-ndjson',
    headers: Record<string, string> = {},
  ): Promise<Response> =>
    fetch(`${stack.ingestUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': type, ...headers },
      body,
    });
  const ended = (): number => stack.log.endOffsets(DEFAULT_TOPICS.events).reduce((a, b) => a + b, 0);

  /** A begin and an end of a valid run, sent around each case. */
  const sendValid = async (run: string): Promise<void> => {
    const events = (['begin', 'end'] as const).map((phase, i) => ({
      ...base,
      eventId: `${run}-${phase}`,
      workflowExecution: run,
      phase,
      time: Number(base.time) + i * 1_000_000,
      ...(phase === 'begin'
        ? { values: { lr: 0.01 }, dataRefs: [{ name: 'data', uri: `file:///data/${run}.npz` }] }
        : { values: { loss: 0.5 }, status: 'finished' }),
    }));
    const response = await post('/v1/events', Buffer.from(events.map((e) => JSON.stringify(e)).join('\n')));
    expect(response.status, await response.clone().text()).toBe(202);
    valid.push(run);
  };

  beforeAll(async () => {
    stack = await startStack();
    const spec = await post('/v1/workflows', Buffer.from(JSON.stringify(fixture('ingest', 'spec'))));
    expect(spec.status).toBe(201);
  });
  afterAll(() => stack.shutdown());

  it('holds at least 50 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
  });

  it.each(cases)('$name: $description', async (c) => {
    const expected = c.expect as IngestExpect;
    await sendValid(`ok-before-${c.name}`);
    // `gzip: true` compresses the body; `headers` adds request headers (Content-Encoding)
    const body = c.gzip === true ? gzipSync(requestBody(c, base)) : requestBody(c, base);
    const counterBefore =
      expected.counter === undefined
        ? 0
        : metricValue(await scrape(stack.queryUrl), expected.counter.name, expected.counter.labels);
    const unmatchedBefore = stack.processor.stats.unmatchedEnds;
    const offsetsBefore = ended();
    for (let i = 0; i < Number(c.repeat ?? 1); i++) {
      const response = await post(
        '/v1/events',
        body,
        (c.contentType as string | undefined) ?? undefined,
        (c.headers as Record<string, string> | undefined) ?? {},
      );
      const answer = await response.text();
      const json = JSON.parse(answer) as {
        error?: string;
        accepted?: number;
        issues?: { path: string; line?: number; message: string }[];
        issueCount?: number;
        complete?: boolean;
      };
      expect(response.status, answer.slice(0, 2000)).toBe(expected.status);
      if (expected.maxAnswerBytes !== undefined)
        expect(Buffer.byteLength(answer)).toBeLessThanOrEqual(expected.maxAnswerBytes);
      if (expected.report !== undefined)
        expect({ issues: json.issues?.length, issueCount: json.issueCount, complete: json.complete }).toEqual(
          expected.report,
        );
      if (expected.error !== undefined) expect(json.error).toBe(expected.error);
      if (expected.accepted !== undefined) expect(json.accepted).toBe(expected.accepted);
      if (expected.issue !== undefined) {
        const want = expected.issue;
        const issue = json.issues?.find(
          (x) => x.path === want.path && (want.line === undefined || x.line === want.line),
        );
        expect(issue, JSON.stringify(json.issues).slice(0, 2000)).toBeDefined();
        expect(issue!.message).toMatch(new RegExp(want.message));
      }
    }
    if (expected.status >= 400)
      expect(ended(), 'nothing of a rejected request is published').toBe(offsetsBefore);
    if (expected.counter !== undefined) {
      const after = metricValue(await scrape(stack.queryUrl), expected.counter.name, expected.counter.labels);
      expect(after - counterBefore).toBe(1);
    }
    await stack.settle();
    if (expected.processor !== undefined)
      expect(stack.processor.stats.unmatchedEnds - unmatchedBefore).toBe(expected.processor.unmatchedEnds);
    if (expected.ask !== undefined) {
      const response = await fetch(`${stack.queryUrl}/sparql`, {
        method: 'POST',
        headers: { 'content-type': 'application/sparql-query', accept: 'application/sparql-results+json' },
        body: expected.ask,
      });
      expect(((await response.json()) as { boolean: boolean }).boolean).toBe(true);
    }
    if (expected.select !== undefined)
      expect(await sparql(stack.queryUrl, expected.select)).toEqual(expected.rows);
    await sendValid(`ok-after-${c.name}`);
    const health = await fetch(`${stack.ingestUrl}/healthz`);
    expect(health.status).toBe(200);
  });

  it('stored every valid run sent around the cases, each once, and nothing of the rejected ones', async () => {
    await stack.settle();
    const rows = await sparql(
      stack.queryUrl,
      `SELECT ?run (COUNT(?start) AS ?n) WHERE {
         GRAPH ?g { ?tex <http://www.w3.org/ns/prov#startedAtTime> ?start }
         BIND(STRBEFORE(STRAFTER(STR(?tex), "urn:provml:execution/"), "/") AS ?run)
         FILTER(STRSTARTS(?run, "ok-"))
       } GROUP BY ?run`,
    );
    expect(rows.map((r) => r.run).sort()).toEqual([...valid].sort());
    expect(rows.every((r) => r.n === '1')).toBe(true);
    const bad = await sparql(
      stack.queryUrl,
      'SELECT (COUNT(*) AS ?n) WHERE { GRAPH <urn:provml:graph/execution/bad-run> { ?s ?p ?o } }',
    );
    expect(bad).toEqual([{ n: '0' }]);
    expect(stack.processor.stats.deadLettered).toBe(0);
  });
});
