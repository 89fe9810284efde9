/** Runs HTTP corpus cases against an embedded stack: status, error, issue, counter, nothing published. */
import { expect } from 'vitest';
import type { EmbeddedStack } from '../../src/embedded/EmbeddedStack.ts';
import { metricValue, requestBody, scrape, type CorpusCase } from './corpus.ts';

/** The `expect` block of an HTTP case. */
export interface HttpExpect {
  status: number;
  error?: string;
  issue?: { path: string; line?: number; message: string };
  counter?: { name: string; labels: Record<string, string> };
}

/**
 * Posts one case to `path` (plus the case's `query`; a case with `method: "DELETE"` is sent so, without
 * a body), checks the answer against its `expect` block, that the counter grew by one and that
 * nothing reached `topic`.
 */
export async function postCase(
  stack: EmbeddedStack,
  path: string,
  topic: string,
  c: CorpusCase,
  type: string,
): Promise<void> {
  const expected = c.expect as HttpExpect;
  const ended = (): number => stack.log.endOffsets(topic).reduce((a, b) => a + b, 0);
  const counter = async (): Promise<number> =>
    expected.counter === undefined
      ? 0
      : metricValue(await scrape(stack.queryUrl), expected.counter.name, expected.counter.labels);
  const before = await counter();
  const offsets = ended();
  const method = (c.method as string | undefined) ?? 'POST';
  const response = await fetch(`${stack.ingestUrl}${path}${(c.query as string | undefined) ?? ''}`, {
    method,
    headers: method === 'POST' ? { 'content-type': type } : {},
    body: method === 'POST' ? requestBody(c) : undefined,
  });
  const json = (await response.json()) as {
    error?: string;
    issues?: { path: string; line?: number; message: string }[];
  };
  expect(response.status, JSON.stringify(json).slice(0, 2000)).toBe(expected.status);
  if (expected.error !== undefined) expect(json.error).toBe(expected.error);
  if (expected.issue !== undefined) {
    const want = expected.issue;
    const issue = json.issues?.find(
      (x) => x.path === want.path && (want.line === undefined || x.line === want.line),
    );
    expect(issue, JSON.stringify(json.issues).slice(0, 2000)).toBeDefined();
    expect(issue!.message).toMatch(new RegExp(want.message));
  }
  if (expected.status >= 400) expect(ended(), 'nothing of a rejected request is published').toBe(offsets);
  if (expected.counter !== undefined) expect((await counter()) - before).toBe(1);
}
