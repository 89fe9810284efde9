/** The library's sidecar transport against a real (offline) agent: exports land in the agent's spool, across an agent restart. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { init, SocketCaptureExporter, SpillingCaptureExporter, SpoolReader } from '@provml/capture-agent';
import { silentLogger, type CaptureEvent, type ValidationError } from '@provml/schemas';
import { startAgent, type RunningAgent } from '../src/agentService.ts';
import { resolveServiceConfig } from '@provml/service';
import { AGENT_SPEC } from '../../../deploy/testing/agentTest.ts';

const offlineAgent = (spoolDir: string): Promise<RunningAgent> =>
  startAgent(
    resolveServiceConfig(
      { http: { port: 0 }, agent: { spoolDir, offline: true }, auth: { disabled: true } },
      {},
    ),
    silentLogger,
  );

/** Event ids in a spool, in order. */
function spooledEventIds(dir: string): string[] {
  const reader = new SpoolReader(dir);
  const ids: string[] = [];
  let pos = reader.positionOf(0);
  for (;;) {
    const read = reader.read(pos);
    if (read.records.length === 0) return ids;
    for (const r of read.records) {
      const e = JSON.parse(r.payload.toString()) as { event?: { eventId: string } };
      if (e.event !== undefined) ids.push(e.event.eventId);
    }
    pos = read.next;
  }
}

describe('SocketCaptureExporter with the agent', () => {
  const agents: RunningAgent[] = [];
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.shutdown();
  });

  it('exports into the agent spool, queue size 1, reconnecting to (or spilling while) the restarted agent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-lib-'));
    let agent = await offlineAgent(dir);
    agents.push(agent);
    const errors: Error[] = [];
    const capture = await init({
      spec: AGENT_SPEC,
      env: {},
      queueSize: 1,
      exporter: new SocketCaptureExporter({ path: agent.socketPath }),
      retry: { initialDelayMs: 10, maxDelayMs: 50, deadlineMs: 20_000 },
      onError: (e) => errors.push(e),
    });
    const training = capture.workflowExecution('run-1').begin('training');
    for (let b = 0; b < 20; b++) training.begin('batch').end({ values: { loss: b } });
    await capture.flush();
    await agent.shutdown();
    agents.pop();
    for (let b = 20; b < 40; b++) training.begin('batch').end({ values: { loss: b } });
    agent = await offlineAgent(dir); // the exporter reconnects to the restarted agent
    agents.push(agent);
    training.end();
    const result = await capture.shutdown(20_000);
    expect(result).toMatchObject({ delivered: 82, rejected: 0, dropped: 0, spooled: 0, ok: true });
    // reported at most: the agent was down, and the events went to the spill spool meanwhile
    for (const e of errors) expect(e.message).toMatch(/^capture transport down/);
    const ids = spooledEventIds(dir);
    expect(new Set(ids).size).toBe(82);
  });

  it('counts the events the agent refuses (named by line) as rejected, and delivers the rest of their batch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-lib-'));
    const agent = await offlineAgent(dir);
    agents.push(agent);
    const errors: Error[] = [];
    const spill = new SpillingCaptureExporter(
      new SocketCaptureExporter({ path: agent.socketPath }),
      { workflow: AGENT_SPEC.workflow },
      (e) => errors.push(e),
    );
    expect(await spill.exportSpec(AGENT_SPEC as never)).toEqual({ kind: 'success' });
    const event = (i: number, values: Record<string, number>): CaptureEvent => ({
      eventId: `refused-${i}`,
      workflow: AGENT_SPEC.workflow,
      workflowExecution: 'run-1',
      task: 'batch',
      taskExecution: `b${i}`,
      parentTaskExecution: null,
      phase: 'end',
      time: 1_700_000_000_000_000 + i,
      values,
      dataRefs: [],
      status: 'finished',
      context: {},
    });
    // the client's own check never sends an undeclared name; a receiver that refuses one anyway names its line
    const batch = [0, 1, 2, 3].map((i) => event(i, i === 1 || i === 3 ? { undeclared: i } : { loss: i }));
    expect(await spill.exportEvents(batch)).toEqual({ kind: 'success' });
    await spill.shutdown();
    expect(spill.stats).toMatchObject({ delivered: 2, rejected: 2, spilled: 0, spooled: 0 });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain('["refused-1","refused-3"]');
    expect((errors[0]?.cause as ValidationError).issues[0]).toMatchObject({ line: 2 });
    expect(spooledEventIds(dir)).toEqual(['refused-0', 'refused-2']);
  });
});
