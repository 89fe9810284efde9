/** Bad-input corpus of domain annotations at `POST /v1/annotations` (`corpus/annotations/*.json`): malformed Turtle rejected naming the problem, valid documents around it loaded. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TOPICS } from '@provml/log';
import type { EmbeddedStack } from '../../src/embedded/EmbeddedStack.ts';
import { sparql, startStack } from '../../../deploy/testing/stack.ts';
import { loadCases } from './corpus.ts';
import { postCase } from './httpCorpus.ts';

const cases = loadCases('annotations');

describe('bad-input corpus: domain annotations', () => {
  let stack: EmbeddedStack;
  const loaded: string[] = [];
  // each valid document is a source of its own: posting a source again replaces its document
  const postValid = async (name: string): Promise<void> => {
    const response = await fetch(`${stack.ingestUrl}/v1/annotations?source=corpus-${name}`, {
      method: 'POST',
      headers: { 'content-type': 'text/turtle' },
      body: `<https://ex.org/${name}> <https://w3id.org/provml/ns#annotates> <file:///data/${name}.sgy> .\n`,
    });
    expect(response.status).toBe(202);
    loaded.push(`https://ex.org/${name}`);
  };

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.shutdown());

  it.each(cases)('$name: $description', async (c) => {
    await postValid(`ok-before-${c.name}`);
    await postCase(stack, '/v1/annotations', DEFAULT_TOPICS.annotations, c, 'text/turtle');
    await postValid(`ok-after-${c.name}`);
  });

  it('loaded every valid document sent around the cases into the domain graph', async () => {
    await stack.settle();
    const rows = await sparql(
      stack.queryUrl,
      `SELECT DISTINCT ?a WHERE { GRAPH ?g { ?a <https://w3id.org/provml/ns#annotates> ?d } FILTER(STRSTARTS(STR(?g), "urn:provml:graph/domain/corpus-")) }`,
    );
    expect(rows.map((r) => r.a).sort()).toEqual([...loaded].sort());
    expect(stack.processor.stats.deadLettered).toBe(0);
    expect(stack.sink.stats).toMatchObject({ deadLettered: 0 });
  });
});
