/** `provml replay DIR --http URL`: a spool published to an HTTP ingest becomes queryable; with nothing listening the replay gives up at its bound. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpoolWriter, type SpoolEnvelope } from '@provml/capture-agent';
import type { EmbeddedStack } from '../../src/embedded/EmbeddedStack.ts';
import { AGENT_SPEC, trainingStream } from '../../../deploy/testing/agentTest.ts';
import { freePort } from '../../../deploy/testing/embeddedProcess.ts';
import { PREFIXES, sparql, startStack } from '../../../deploy/testing/stack.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;

/** Runs `provml replay …` as a process (asynchronously: the stack answers from this one). */
function replay(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'app/src/cli/main.ts', 'replay', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A spool holding the spec, two training runs (a NaN loss among them) and one event the spec does not declare. */
async function writeSpool(): Promise<{ dir: string; records: number; events: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'replay-http-'));
  const { lines } = trainingStream(2, 3);
  const events = lines.map((l) => JSON.parse(l) as { event: { values?: Record<string, number> } });
  events[2]!.event.values = { loss: Number.NaN }; // written as "NaN" (contract 1), which the ingest takes
  const bad = { event: { ...events[1]!.event, eventId: 'bad', task: 'no-such-task' } };
  const envelopes: SpoolEnvelope[] = [{ spec: AGENT_SPEC }, ...events.slice(0, 3), bad, ...events.slice(3)];
  const w = SpoolWriter.open(dir);
  await w.append(envelopes);
  await w.close();
  return { dir, records: envelopes.length, events: events.length };
}

interface Execution {
  workflowExecution: string;
  label: string;
  status: string;
}

describe('provml replay --http', () => {
  let stack: EmbeddedStack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.shutdown());

  const trainings = async (): Promise<Execution[]> => {
    await stack.settle();
    const r = await fetch(`${stack.queryUrl}/v1/executions?workflow=agent-crash`);
    expect(r.status).toBe(200);
    return ((await r.json()) as { executions: Execution[] }).executions.filter((e) => e.label === 'training');
  };

  it('publishes a spool to the HTTP ingest: its runs are queryable, a refused event is skipped and counted', async () => {
    const { dir, records, events } = await writeSpool();
    const first = await replay([dir, '--http', stack.ingestUrl]);
    expect(first.stderr).not.toMatch(/"level":"error".*giving up/);
    expect(first.status).toBe(0);
    expect(first.stdout).toContain(`replayed ${records} records`);
    expect(first.stdout).toContain(`${events} events, 1 specs, 0 annotations`);
    expect(first.stdout).toContain('1 refused by the ingest');
    const runs = await trainings();
    expect(runs.map((e) => e.workflowExecution.split('/').pop()).sort()).toEqual(['run-0', 'run-1']);
    expect(runs.every((e) => e.status === 'finished')).toBe(true);
    const nan = await sparql(
      stack.queryUrl,
      `${PREFIXES} SELECT ?v WHERE { ?s ?p ?v FILTER(isLiteral(?v) && DATATYPE(?v) = xsd:double && STR(?v) = "NaN") }`,
    );
    expect(nan.length).toBeGreaterThanOrEqual(1);

    const again = await replay([dir, '--http', stack.ingestUrl]);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`replayed 0 records`);
    expect(again.stdout).toContain(`skipped ${records} already published`);
  }, 60_000);

  it('replays an annotation source and then its withdrawal (an empty document) as DELETE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'replay-http-annotations-'));
    const w = SpoolWriter.open(dir);
    await w.append([
      { annotations: '<https://ex.org/w7> <https://ex.org/depth> "3200" .', source: 'replayed' },
      { annotations: '<https://ex.org/w8> <https://ex.org/depth> "3350" .', source: 'kept' },
    ]);
    await w.append([{ annotations: '', source: 'replayed' }]);
    await w.close();
    const result = await replay([dir, '--http', stack.ingestUrl]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('0 events, 0 specs, 3 annotations');
    await stack.settle();
    const rows = await sparql(
      stack.queryUrl,
      'SELECT ?g ?d WHERE { GRAPH ?g { ?s <https://ex.org/depth> ?d } } ORDER BY ?g',
    );
    expect(rows).toEqual([{ g: 'urn:provml:graph/domain/kept', d: '3350' }]);
  }, 60_000);

  it('gives up when nothing listens: exit 1, a clear message, one log line per back-off step, the cursor kept', async () => {
    const { dir, records } = await writeSpool();
    const port = await freePort();
    const started = performance.now();
    const dead = await replay([dir, '--http', `http://127.0.0.1:${port}`, '--max-wait-s', '2']);
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(dead.status).toBe(1);
    expect(dead.stderr).toMatch(
      /provml: gave up publishing from the spool after 2\.\d s of failed attempts: POST http:\/\/127\.0\.0\.1:\d+\/v1\/workflows: ECONNREFUSED; published stays at record 0/,
    );
    const steps = dead.stderr
      .split('\n')
      .filter((l) => l.includes('publishing from the spool failed; retrying'));
    expect(steps.length).toBeGreaterThanOrEqual(2);
    expect(steps.length).toBeLessThan(40);
    expect(steps.every((l) => /"delayMs":\d+/.test(l))).toBe(true);
    const w = SpoolWriter.open(dir);
    expect(w.stats.published).toBe(0);
    await w.close();

    // a later replay resumes from the cursor and sends everything
    const later = await replay([dir, '--http', stack.ingestUrl]);
    expect(later.status).toBe(0);
    expect(later.stdout).toContain(`replayed ${records} records`);
  }, 60_000);
});
