/** The capture library's delivery against the agent as a real process: stopped and restarted mid-run, absent at exit, hung; nothing blocks the trainer, nothing is lost, the counts are right. */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { init, SocketCaptureExporter, SpoolReader, type Capture, type TaskRun } from '@provml/capture-agent';
import { AGENT_SPEC, startOfflineAgent, stopChild } from '../../../deploy/testing/agentTest.ts';

/** Events of one workflow execution in a spool: how many, and their distinct ids. */
function spooled(dir: string, workflowExecution: string): { count: number; ids: Set<string> } {
  const reader = new SpoolReader(dir);
  const ids = new Set<string>();
  let count = 0;
  let pos = reader.positionOf(0);
  for (;;) {
    const read = reader.read(pos);
    if (read.records.length === 0) return { count, ids };
    for (const r of read.records) {
      const e = JSON.parse(r.payload.toString()) as {
        event?: { eventId: string; workflowExecution: string };
      };
      if (e.event?.workflowExecution !== workflowExecution) continue;
      count++;
      ids.add(e.event.eventId);
    }
    pos = read.next;
  }
}

/**
 * A training loop: each step runs a batch task through the scoped helper (which awaits the queue)
 * and then yields, as a step's own work would. Returns the longest time one step's capture took.
 */
async function train(training: TaskRun, steps: number, from = 0): Promise<number> {
  let longest = 0;
  for (let s = from; s < from + steps; s++) {
    const started = performance.now();
    await training.run('batch', {}, (b) => b.set('loss', 1 / (s + 1)));
    longest = Math.max(longest, performance.now() - started);
    await new Promise((r) => setTimeout(r, 1));
  }
  return longest;
}

const captureTo = (socket: string, errors: Error[], spillDir?: string): Promise<Capture> =>
  init({
    spec: AGENT_SPEC,
    env: {},
    queueSize: 50,
    // a small queue: were exports to wait for the transport, it would fill while the agent is down
    maxQueueSize: 200,
    exporter: new SocketCaptureExporter({ path: socket }),
    spill: { initialDelayMs: 20, maxDelayMs: 200, ...(spillDir === undefined ? {} : { dir: spillDir }) },
    onError: (e) => errors.push(e),
  });

describe('capture delivery with the agent process', () => {
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) {
      c.kill('SIGCONT');
      await stopChild(c, 'SIGKILL');
    }
  });

  it('the agent stopped and restarted mid-run: no step waits, every event arrives once, the counts add up', async () => {
    const spool = mkdtempSync(join(tmpdir(), 'pvd-'));
    const socket = join(spool, 'agent.sock');
    let agent = await startOfflineAgent(spool, 'delivery-restart');
    children.push(agent);
    const errors: Error[] = [];
    const capture = await captureTo(socket, errors);
    const training = capture.workflowExecution('restart').begin('training');
    const longest = [await train(training, 200)];
    await stopChild(agent, 'SIGTERM');
    children.pop();
    longest.push(await train(training, 300, 200)); // the agent is down
    const down = capture.delivered();
    expect(down.spooled).toBeGreaterThan(0);
    expect(down.spoolPath).not.toBeNull();
    agent = await startOfflineAgent(spool, 'delivery-restart');
    children.push(agent);
    longest.push(await train(training, 200, 500));
    training.end();
    const result = await capture.shutdown(30_000);
    const events = 2 + 2 * 700;
    expect(result).toMatchObject({
      delivered: events,
      rejected: 0,
      dropped: 0,
      spooled: 0,
      pending: 0,
      spoolPath: null,
      ok: true,
    });
    expect(capture.stats.dropped).toBe(0);
    // generous: a step that waited for the transport would take the agent's restart, seconds
    expect(Math.max(...longest)).toBeLessThan(250);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^capture transport down/)]);
    expect(existsSync(down.spoolPath!)).toBe(false); // the default spill spool is removed once drained
    await stopChild(agent, 'SIGTERM');
    children.pop();
    const { count, ids } = spooled(spool, 'restart');
    expect(ids.size).toBe(events);
    expect(count).toBe(events);
  }, 120_000);

  it('exit with the agent absent is bounded and keeps the events in the spill spool, which the next capture sends first', async () => {
    const spool = mkdtempSync(join(tmpdir(), 'pvd-'));
    const socket = join(spool, 'agent.sock');
    const errors: Error[] = [];
    const first = await captureTo(socket, errors); // no agent yet: the spec waits in the spill spool too
    const training = first.workflowExecution('absent').begin('training');
    expect(await train(training, 100)).toBeLessThan(250);
    training.end();
    const started = performance.now();
    const left = await first.shutdown();
    expect(performance.now() - started).toBeLessThan(7000); // the default bound is 5 s
    expect(left).toMatchObject({ delivered: 0, rejected: 0, dropped: 0, spooled: 202, ok: false });
    expect(existsSync(left.spoolPath!)).toBe(true);
    expect(errors.at(-1)?.message).toContain(`wait in the spill spool ${left.spoolPath}`);

    const agent = await startOfflineAgent(spool, 'delivery-absent');
    children.push(agent);
    const next = await captureTo(socket, [], left.spoolPath!);
    const again = next.workflowExecution('absent-2').begin('training');
    await train(again, 10);
    again.end();
    const result = await next.shutdown(30_000);
    expect(result).toMatchObject({ delivered: 202 + 22, rejected: 0, dropped: 0, spooled: 0, ok: true });
    await stopChild(agent, 'SIGTERM');
    children.pop();
    expect(spooled(spool, 'absent')).toMatchObject({ count: 202 });
    expect(spooled(spool, 'absent-2')).toMatchObject({ count: 22 });
  }, 120_000);

  it('exit with the agent hung (stopped, its socket open) is bounded too, and nothing is lost', async () => {
    const spool = mkdtempSync(join(tmpdir(), 'pvd-'));
    const socket = join(spool, 'agent.sock');
    const agent = await startOfflineAgent(spool, 'delivery-hung');
    children.push(agent);
    const errors: Error[] = [];
    const capture = await captureTo(socket, errors);
    const training = capture.workflowExecution('hung').begin('training');
    await train(training, 50);
    await capture.flush();
    agent.kill('SIGSTOP');
    expect(await train(training, 100, 50)).toBeLessThan(250);
    training.end();
    const started = performance.now();
    const result = await capture.shutdown();
    expect(performance.now() - started).toBeLessThan(7000);
    // every event is delivered or waits in the spill spool; none is lost
    expect(result.rejected + result.dropped + result.pending).toBe(0);
    expect(result.delivered + result.spooled).toBe(2 + 2 * 150);
    expect(result.spooled).toBeGreaterThan(0);
    expect(result.timedOut).toBe(true);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringContaining('no answer within 2000 ms'),
      expect.stringContaining(`wait in the spill spool ${result.spoolPath}`),
    ]);

    // a shutdown shorter than the time a send waits for its answer: what is in memory goes to disk at the end
    const second = await captureTo(socket, []);
    const again = second.workflowExecution('hung-2').begin('training');
    await train(again, 20);
    again.end();
    const startedShort = performance.now();
    const short = await second.shutdown(1000);
    expect(performance.now() - startedShort).toBeLessThan(3000);
    expect(short).toMatchObject({
      delivered: 0,
      rejected: 0,
      dropped: 0,
      pending: 0,
      spooled: 42,
      timedOut: true,
    });
  }, 120_000);
});
