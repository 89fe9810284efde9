/** A training whose trainer died (begun, never ended) is marked failed in the graph after the configured silence; finished runs are untouched. */
import { DEMO_SPECS } from '@provml/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import type { ExecutionRow, EpochTiming } from '@provml/query-api';
import { PREFIXES, sparql, startStack } from '../../deploy/testing/stack.ts';

const spec = async (): Promise<unknown> => Promise.resolve(structuredClone(DEMO_SPECS.training));

describe('unfinished work', () => {
  let stack: EmbeddedStack;
  beforeAll(async () => {
    stack = await startStack({ incompleteAfterMs: 600 });
  });
  afterAll(() => stack.shutdown());

  it('closes a killed run as failed after the silence, and keeps its batches measurable', async () => {
    const capture = await stack.capture({ spec: await spec(), env: {} });
    const values = { learning_rate: 0.1, epochs: 2, batch_size: 4, hidden_units: 2, seed: 1 };
    const dataRefs = [{ name: 'training_set', uri: 'file:///data/killed.npz', store: null }];
    // a run that finishes, and one whose trainer is killed in its second batch
    const ok = capture.workflowExecution('finished-run').begin('training', { values, dataRefs });
    ok.begin('epoch').end({ values: { epoch: 0, loss: 1, accuracy: 0.5 } });
    ok.end({ values: { final_loss: 1, final_accuracy: 0.5 } });
    const killed = capture.workflowExecution('killed-run').begin('training', { values, dataRefs });
    const epoch = killed.begin('epoch');
    epoch.begin('batch', { values: { batch_index: 0 } }).end({ values: { batch_loss: 0.9 } });
    epoch.begin('batch', { values: { batch_index: 1 } }); // never ends
    await capture.flush();
    await stack.settle();

    const executions = async (): Promise<ExecutionRow[]> =>
      ((await (await fetch(`${stack.queryUrl}/v1/executions`)).json()) as { executions: ExecutionRow[] })
        .executions;
    const killedRow = async (): Promise<ExecutionRow | undefined> =>
      (await executions()).find((e) => e.workflowExecution.endsWith('killed-run'));
    expect((await killedRow())?.status).toBe('running');

    const deadline = Date.now() + 20_000;
    while ((await killedRow())?.status !== 'failed') {
      if (Date.now() > deadline) throw new Error('the killed run was not closed');
      await new Promise((r) => setTimeout(r, 100));
      await stack.settle();
    }
    expect((await executions()).find((e) => e.workflowExecution.endsWith('finished-run'))?.status).toBe(
      'finished',
    );
    expect(stack.processor.stats.incompleteClosed).toBe(3); // batch, epoch, training
    const reasons = await sparql(
      stack.queryUrl,
      `${PREFIXES} SELECT ?reason WHERE { ?x provml:contextKey "provml_incomplete" ; prov:value ?reason }`,
    );
    expect(reasons).toHaveLength(3);
    expect(reasons[0]!.reason).toContain('no end captured');
    // the epoch is closed, so timing sees it with its one finished batch (the open one has no duration)
    const row = (await killedRow())!;
    const timing = (await (
      await fetch(`${stack.queryUrl}/v1/timing?execution=${encodeURIComponent(row.execution)}`)
    ).json()) as { epochs: EpochTiming[] };
    expect(timing.epochs).toHaveLength(1);
    expect(timing.epochs[0]!.ended).not.toBeNull();
    const metrics = await (await fetch(`${stack.queryUrl}/metrics`)).text();
    expect(metrics).toMatch(/provml_processor_incomplete_closed_total 3/);
  }, 40_000);
});
