/** The library's sidecar transport against a real (offline) agent: exports land in the agent's spool, across an agent restart. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { init, SocketCaptureExporter, SpoolReader } from '@provml/capture-agent';
import { silentLogger, ValidationError } from '@provml/schemas';
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

  it('exports into the agent spool, queue size 1, resending what an agent restart cut off', async () => {
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
    await capture.shutdown();
    expect(errors).toEqual([]);
    expect(capture.stats).toMatchObject({ exported: 82, failed: 0 });
    const ids = spooledEventIds(dir);
    expect(new Set(ids).size).toBe(82);
  });

  it('reports a batch the agent rejects as a failure naming its lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-lib-'));
    const agent = await offlineAgent(dir);
    agents.push(agent);
    const errors: Error[] = [];
    const capture = await init({
      spec: AGENT_SPEC,
      env: {},
      exporter: new SocketCaptureExporter({ path: agent.socketPath }),
      onError: (e) => errors.push(e),
    });
    capture.workflowExecution('run-1').begin('training', { values: { undeclared: 1 } });
    await capture.shutdown();
    expect(capture.stats.failed).toBe(1);
    expect(errors[0]?.cause).toBeInstanceOf(ValidationError);
    expect((errors[0]?.cause as ValidationError).issues[0]).toMatchObject({ line: 1 });
  });
});
