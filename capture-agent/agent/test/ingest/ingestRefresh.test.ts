// POST /v1/events waits for the broker's specs only when the specs this agent knows refuse the body.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSpec, encodeCaptureEvent, silentLogger } from '@provml/schemas';
import { DEFAULT_TOPICS, EmbeddedLog } from '@provml/log';
import { createIngestApp } from '../../src/ingest/createIngestApp.ts';
import { LogIngestTarget } from '../../src/ingest/IngestTarget.ts';
import { listenIngest } from '../../src/ingest/ingestServer.ts';

const spec = (workflow: string, measure: string) => ({
  workflow,
  phase: 'learning',
  tasks: [{ id: 'epoch', outputs: [{ name: measure, semantics: 'evaluation-measure' }] }],
});
let n = 0;
const event = (workflow: string, measure: string): string =>
  JSON.stringify({
    eventId: `e${++n}`,
    workflow,
    workflowExecution: 'run-1',
    task: 'epoch',
    taskExecution: `t${n}`,
    phase: 'end',
    time: 1_700_000_000_000_000 + n,
    values: { [measure]: 0.5 },
  });

/** The agent's target, counting how often the ingest asks it to catch up with the broker's specs. */
class CountingTarget extends LogIngestTarget {
  refreshes = 0;
  override refreshSpecs(): Promise<void> {
    this.refreshes++;
    return super.refreshSpecs();
  }
}

describe('POST /v1/events and the specs registered elsewhere', () => {
  const log = new EmbeddedLog();
  const target = new CountingTarget(log, encodeCaptureEvent);
  /** Another agent on the same log. */
  const other = new LogIngestTarget(log, encodeCaptureEvent);
  let server: Server;
  let url = '';
  const post = async (path: string, body: string): Promise<number> =>
    (await fetch(`${url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } }))
      .status;

  beforeAll(async () => {
    await log.ensureTopic(DEFAULT_TOPICS.specs, 1);
    await log.ensureTopic(DEFAULT_TOPICS.events, 1);
    server = await listenIngest(
      createIngestApp({ target, logger: silentLogger }),
      0,
      '127.0.0.1',
      {},
      silentLogger,
    );
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await log.close();
  });

  it('accepts events of a workflow it knows without asking the broker', async () => {
    expect(await post('/v1/workflows', JSON.stringify(spec('here', 'loss')))).toBe(201);
    target.refreshes = 0; // publishing a spec catches up itself (its versions added up)
    expect(await post('/v1/events', `${event('here', 'loss')}\n${event('here', 'loss')}\n`)).toBe(202);
    expect(await post('/v1/events', event('here', 'loss'))).toBe(202);
    expect(target.refreshes).toBe(0);
  });

  it('catches up once for a workflow, or a version of one, registered through another agent', async () => {
    await other.publishSpec(compileSpec(spec('elsewhere', 'loss')));
    expect(await post('/v1/events', event('elsewhere', 'loss'))).toBe(202);
    expect(target.refreshes).toBe(1);
    await other.publishSpec(compileSpec(spec('here', 'accuracy'))); // a later version of 'here'
    expect(await post('/v1/events', event('here', 'accuracy'))).toBe(202);
    expect(target.refreshes).toBe(2);
    expect(await post('/v1/events', event('nowhere', 'loss'))).toBe(400);
    expect(target.refreshes).toBe(3);
  });
});
