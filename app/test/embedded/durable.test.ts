/** The embedded process keeps what it acknowledged: SIGKILL mid-ingest, restart on the same data directory, every event that got a 202 is queryable; kept triples of either record format are restored. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedLog, encodeTriples } from '@provml/log';
import { IriMinter } from '@provml/stream-processors';
import {
  send,
  sparqlFrom,
  startEmbedded,
  type EmbeddedProcess,
} from '../../../deploy/testing/embeddedProcess.ts';

const SPEC = {
  workflow: 'durable',
  phase: 'learning',
  tasks: [
    { id: 'training', stage: 'training' },
    { id: 'batch', parent: 'training', outputs: [{ name: 'loss', semantics: 'output-value' }] },
  ],
};

/** One request's events: the begin of a training run and of `batches` batches (end of every batch). */
function events(run: string, batches: number, t0: number): string {
  const base = { workflow: 'durable', workflowExecution: run, values: {}, dataRefs: [], context: {} };
  const lines = [
    { ...base, eventId: `${run}-b`, task: 'training', taskExecution: `${run}-t`, phase: 'begin', time: t0 },
  ];
  for (let b = 0; b < batches; b++) {
    const x = { ...base, task: 'batch', taskExecution: `${run}-${b}`, parentTaskExecution: `${run}-t` };
    lines.push({ ...x, eventId: `${run}-${b}-b`, phase: 'begin', time: t0 + 2 * b + 1 });
    lines.push({
      ...x,
      eventId: `${run}-${b}-e`,
      phase: 'end',
      time: t0 + 2 * b + 2,
      values: { loss: b },
      status: 'finished',
    } as never);
  }
  return lines.map((l) => JSON.stringify(l)).join('\n');
}

/** Task executions with a start time in the store behind `queryUrl`. */
async function started(queryUrl: string): Promise<Set<string>> {
  const answer = await sparqlFrom(
    queryUrl,
    'SELECT ?x WHERE { ?x <http://www.w3.org/ns/prov#startedAtTime> ?t }',
  );
  if (answer.status !== 200) throw new Error(`query: ${answer.status} ${answer.text}`);
  const json = JSON.parse(answer.text) as { results: { bindings: { x: { value: string } }[] } };
  return new Set(json.results.bindings.map((b) => b.x.value));
}

const EX = 'https://example.org/durable/';
const nquad = (i: number): string => `<${EX}s${i}> <${EX}p> "${i}" <${EX}g> .\n`;

describe('embedded process on a data directory', () => {
  let dir: string | undefined;
  let running: EmbeddedProcess | undefined;
  afterEach(async () => {
    await running?.stop('SIGKILL');
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('restores the store from kept triples records of both formats: plain N-Quads (older) and deflated', async () => {
    dir = await mkdtemp(join(tmpdir(), 'provml-formats-'));
    const log = EmbeddedLog.open(dir, { retainedTopics: ['provml.triples'] });
    await log.ensureTopic('provml.triples', 4);
    await log.appendDurable('provml.triples', [
      { key: 'a', value: Buffer.from(nquad(1) + nquad(2)), headers: {} },
      { key: 'a', value: encodeTriples(nquad(3) + nquad(4)), headers: {} },
    ]);
    // what a sink that had loaded both would have committed
    log.commitOffsets('provml-sink', 'provml.triples', log.endOffsets('provml.triples'));
    await log.close();

    running = await startEmbedded(['--data-dir', dir]);
    await running.waitFor(/Restored (\d+) quads/);
    const answer = await sparqlFrom(running.queryUrl, `SELECT ?o WHERE { GRAPH ?g { ?s <${EX}p> ?o } }`);
    expect(answer.status).toBe(200);
    const rows = (JSON.parse(answer.text) as { results: { bindings: { o: { value: string } }[] } }).results;
    expect(rows.bindings.map((b) => b.o.value).sort()).toEqual(['1', '2', '3', '4']);
  }, 120_000);

  it('loses no acknowledged event when killed with SIGKILL mid-ingest', async () => {
    dir = await mkdtemp(join(tmpdir(), 'provml-durable-'));
    running = await startEmbedded(['--data-dir', dir]);
    expect(running.output()).toContain('kept across restarts');
    const spec = await send(`${running.ingestUrl}/v1/workflows`, {
      method: 'POST',
      body: JSON.stringify(SPEC),
      headers: { 'content-type': 'application/json' },
    });
    expect(spec.status).toBe(201);

    // four clients post runs one after another until the process is killed under them
    const acknowledged: string[] = [];
    let sent = 0;
    let stop = false;
    const client = async (c: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const run = `run-${c}-${i}`;
        sent++;
        try {
          const r = await send(`${running!.ingestUrl}/v1/events`, {
            method: 'POST',
            body: events(run, 20, 1_700_000_000_000_000 + i * 1000),
            headers: { 'content-type': 'application/x-ndjson' },
          });
          if (r.status === 202) acknowledged.push(run);
        } catch {
          return; // the connection died with the process: not acknowledged
        }
      }
    };
    const clients = [0, 1, 2, 3].map(client);
    while (acknowledged.length < 40) await new Promise((r) => setTimeout(r, 10));
    const first = running;
    await first.stop('SIGKILL');
    stop = true;
    await Promise.all(clients);
    const acked = [...acknowledged];
    expect(sent).toBeGreaterThan(acked.length); // requests were in flight when it died

    running = await startEmbedded(['--data-dir', dir]);
    const iris = new IriMinter();
    const expected = acked.flatMap((run) => [
      iris.taskExecution(run, `${run}-t`),
      ...Array.from({ length: 20 }, (_, b) => iris.taskExecution(run, `${run}-${b}`)),
    ]);
    const deadline = Date.now() + 60_000;
    let missing = expected;
    while (missing.length > 0 && Date.now() < deadline) {
      const have = await started(running.queryUrl);
      missing = expected.filter((x) => !have.has(x));
      if (missing.length > 0) await new Promise((r) => setTimeout(r, 250));
    }
    expect(missing).toEqual([]);
  }, 240_000);
});
