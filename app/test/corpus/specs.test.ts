/** Bad-input corpus of prospective specs at `POST /v1/workflows` (`corpus/specs/*.json`): rejected with paths, counted, valid specs around them registered. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TOPICS } from '@provml/log';
import type { EmbeddedStack } from '../../src/embedded/EmbeddedStack.ts';
import { sparql, startStack } from '../../../deploy/testing/stack.ts';
import { fixture, loadCases } from './corpus.ts';
import { postCase } from './httpCorpus.ts';

const cases = loadCases('specs');
const valid = fixture<{ workflow: string }>('specs', 'valid');

describe('bad-input corpus: prospective specs', () => {
  let stack: EmbeddedStack;
  const registered: string[] = [];
  const postValid = async (workflow: string): Promise<void> => {
    const response = await fetch(`${stack.ingestUrl}/v1/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...valid, workflow }),
    });
    expect(response.status).toBe(201);
    registered.push(workflow);
  };

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.shutdown());

  it.each(cases)('$name: $description', async (c) => {
    await postValid(`ok-before-${c.name}`);
    await postCase(stack, '/v1/workflows', DEFAULT_TOPICS.specs, c, 'application/json');
    await postValid(`ok-after-${c.name}`);
  });

  it('registered every valid spec sent around the cases and nothing of the rejected ones', async () => {
    await stack.settle();
    const rows = await sparql(
      stack.queryUrl,
      `SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } FILTER(STRSTARTS(STR(?g), "urn:provml:graph/spec/")) } GROUP BY ?g`,
    );
    expect(rows.map((r) => r.g!.slice('urn:provml:graph/spec/'.length)).sort()).toEqual(
      [...registered].sort(),
    );
    expect(stack.processor.stats.deadLettered).toBe(0);
  });
});
