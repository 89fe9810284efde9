/**
 * Two runs of one workflow whose specs differ (an integration declaring names as they appear, a
 * colleague's script with another version): every name either declared stays valid, at the ingest
 * and in the processor, and after a restart that reads the workflow's last spec record back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  send,
  sparqlFrom,
  startEmbedded,
  type EmbeddedProcess,
} from '../../../deploy/testing/embeddedProcess.ts';

const spec = (outputs: string[]): string =>
  JSON.stringify({
    workflow: 'versions',
    phase: 'learning',
    tasks: [
      { id: 'training', stage: 'training' },
      {
        id: 'epoch',
        parent: 'training',
        outputs: outputs.map((name) => ({ name, semantics: 'evaluation-measure' })),
      },
    ],
  });

/** A run: the training's begin, one epoch ending with `values`, the training's end. */
function run(id: string, values: Record<string, number>, t0: number): string {
  const base = { workflow: 'versions', workflowExecution: id, values: {}, dataRefs: [], context: {} };
  const training = { ...base, task: 'training', taskExecution: `${id}-t` };
  const epoch = { ...base, task: 'epoch', taskExecution: `${id}-e`, parentTaskExecution: `${id}-t` };
  return [
    { ...training, eventId: `${id}-1`, phase: 'begin', time: t0 },
    { ...epoch, eventId: `${id}-2`, phase: 'begin', time: t0 + 1 },
    { ...epoch, eventId: `${id}-3`, phase: 'end', time: t0 + 2, values, status: 'finished' },
    { ...training, eventId: `${id}-4`, phase: 'end', time: t0 + 3, status: 'finished' },
  ]
    .map((e) => JSON.stringify(e))
    .join('\n');
}

const post = async (url: string, body: string): Promise<number> =>
  (await send(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status;

/** The value names recorded in the store, per run. */
async function recorded(queryUrl: string): Promise<string[]> {
  const answer = await sparqlFrom(
    queryUrl,
    `PREFIX provml: <https://w3id.org/provml/ns#>
     SELECT ?run ?name WHERE { GRAPH ?g { ?x provml:hasOutputValue ?v . ?v provml:valueName ?name } BIND(STRAFTER(STR(?g), "execution/") AS ?run) }`,
  );
  if (answer.status !== 200) throw new Error(`query: ${answer.status} ${answer.text}`);
  const rows = (JSON.parse(answer.text) as { results: { bindings: Record<string, { value: string }>[] } })
    .results.bindings;
  return rows.map((r) => `${r.run!.value.split('/').pop()}:${r.name!.value}`).sort();
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('spec versions of one workflow', () => {
  let dir: string | undefined;
  let running: EmbeddedProcess | undefined;
  afterEach(async () => {
    await running?.stop('SIGKILL');
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('keep every name any version declared, across a restart', async () => {
    dir = await mkdtemp(join(tmpdir(), 'provml-spec-versions-'));
    running = await startEmbedded(['--data-dir', dir]);
    const ingest = running.ingestUrl;
    expect(await post(`${ingest}/v1/workflows`, spec(['loss', 'accuracy']))).toBe(201);
    // a second run of the workflow registers a version that declares only its own measure
    expect(await post(`${ingest}/v1/workflows`, spec(['f1']))).toBe(201);
    expect(
      await post(`${ingest}/v1/events`, run('a', { loss: 0.5, accuracy: 0.9 }, 1_700_000_000_000_000)),
    ).toBe(202);
    expect(await post(`${ingest}/v1/events`, run('b', { f1: 0.7 }, 1_700_000_001_000_000))).toBe(202);
    const want = ['a:accuracy', 'a:loss', 'b:f1'];
    await until(async () => (await recorded(running!.queryUrl)).length >= 3, 'three values');
    expect(await recorded(running.queryUrl)).toEqual(want);

    await running.stop('SIGTERM');
    running = await startEmbedded(['--data-dir', dir]);
    // the restarted ingest knows the names of both versions
    expect(
      await post(`${running.ingestUrl}/v1/events`, run('c', { loss: 0.4, f1: 0.8 }, 1_700_000_002_000_000)),
    ).toBe(202);
    await until(async () => (await recorded(running!.queryUrl)).length >= 5, 'five values');
    expect(await recorded(running.queryUrl)).toEqual([...want, 'c:f1', 'c:loss']);
  }, 180_000);
});
