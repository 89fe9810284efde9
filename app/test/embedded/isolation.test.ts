/**
 * The embedded process's query side with real processes: a query past its deadline on a large store
 * does not take the process down; while four clients run queries that time out, a fifth client's
 * ASK and a REST view answer within a second and the ingest keeps acknowledging; a client gets one
 * heavy query at a time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedLog } from '@provml/log';
import {
  send,
  sparqlFrom,
  startEmbedded,
  type EmbeddedProcess,
} from '../../../deploy/testing/embeddedProcess.ts';

const CARTESIAN = 'SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }';
const TRIPLES = 'provml.triples';
const EX = 'https://example.org/isolation/';

/** Writes `megabytes` of N-Quads with long literals into the triples topic of a data directory. */
async function largeStore(dir: string, megabytes: number): Promise<{ quads: number; chars: number }> {
  const log = EmbeddedLog.open(dir, { retainedTopics: [TRIPLES] });
  await log.ensureTopic(TRIPLES, 4);
  const literal = 'x'.repeat(4000);
  let quads = 0;
  let chars = 0;
  for (let batch = 0; chars < megabytes * 2 ** 20; batch++) {
    const records = Array.from({ length: 4 }, (_, r) => {
      const lines = Array.from(
        { length: 250 },
        (_, i) => `<${EX}s${batch}-${r}-${i}> <${EX}text> "${literal}${i}" <${EX}run-${batch}-${r}> .`,
      ).join('\n');
      quads += 250;
      chars += lines.length;
      return { key: `run-${batch}-${r}`, value: Buffer.from(lines) };
    });
    await log.appendDurable(TRIPLES, records);
  }
  // what a sink that had loaded it all would have committed
  log.commitOffsets('provml-sink', TRIPLES, log.endOffsets(TRIPLES));
  await log.close();
  return { quads, chars };
}

const json = (text: string): { results: { bindings: Record<string, { value: string }>[] } } =>
  JSON.parse(text) as never;

describe('embedded query side', () => {
  let dir: string | undefined;
  let running: EmbeddedProcess | undefined;
  afterEach(async () => {
    await running?.stop('SIGKILL');
    running = undefined;
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('survives a query past its deadline on a store past 1 GiB of literals (larger than a JavaScript string)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'provml-large-'));
    const megabytes = Number(process.env.PROVML_LARGE_STORE_MB ?? 1100);
    const { quads, chars } = await largeStore(dir, megabytes);
    // past 1 GiB of literals, and so past V8's longest string (2^29 - 24 characters): a dump of this
    // store cannot be one string
    expect(chars).toBeGreaterThan(2 ** 30);
    running = await startEmbedded(['--data-dir', dir, '--query-timeout-ms', '2000']);
    // the ingest answers while the store is restored
    await running.waitFor(/Restoring the store/);
    const early = await send(`${running.ingestUrl}/v1/workflows`, {
      method: 'POST',
      body: JSON.stringify({ workflow: 'early', phase: 'learning', tasks: [{ id: 't', stage: 'training' }] }),
      headers: { 'content-type': 'application/json' },
    });
    expect(early.status).toBe(201);
    const restored = await running.waitFor(/Restored (\d+) quads .* in ([\d.]+) s/);
    expect(Number(restored[1])).toBeGreaterThanOrEqual(quads); // and the spec sent meanwhile
    console.log(`large store: ${quads} quads, ${chars} characters; ${restored[0]}`);
    const slow = await sparqlFrom(running.queryUrl, CARTESIAN);
    expect(slow.status).toBe(504);
    expect(JSON.parse(slow.text)).toMatchObject({ error: 'query-timeout' });
    // the other thread answers while the replaced one replays the store
    const ask = await sparqlFrom(running.queryUrl, 'ASK {}');
    expect(ask.status).toBe(200);
    expect(ask.ms).toBeLessThan(1000);
    const count = await sparqlFrom(running.queryUrl, `SELECT (COUNT(*) AS ?n) WHERE { ?s <${EX}text> ?o }`);
    expect(json(count.text).results.bindings[0]!.n!.value).toBe(String(quads));
    expect(running.child.exitCode).toBeNull();
    // the replacement comes back: health is ok again
    const deadline = Date.now() + 120_000;
    let health = await send(`${running.queryUrl}/healthz`, {});
    while (Date.now() < deadline && JSON.parse(health.text).status !== 'ok') {
      await new Promise((r) => setTimeout(r, 500));
      health = await send(`${running.queryUrl}/healthz`, {});
    }
    expect(JSON.parse(health.text)).toMatchObject({ status: 'ok', checks: { queries: null } });
  }, 600_000);

  it('answers a fifth client within 1 s while four clients run queries that time out; ingest keeps flowing', async () => {
    dir = await mkdtemp(join(tmpdir(), 'provml-isolation-'));
    running = await startEmbedded(['--data-dir', dir, '--query-timeout-ms', '4000'], {
      PROVML_HEAVY_QUERY_MS: '300',
    });
    const ingest = running.ingestUrl;
    const annotations = Array.from({ length: 300 }, (_, i) => `<${EX}s${i}> <${EX}p> ${i} .`).join('\n');
    expect(
      (
        await send(`${ingest}/v1/annotations`, {
          method: 'POST',
          body: annotations,
          headers: { 'content-type': 'text/turtle' },
        })
      ).status,
    ).toBe(202);
    const spec = {
      workflow: 'iso',
      phase: 'learning',
      tasks: [{ id: 'training', stage: 'training' }],
    };
    await send(`${ingest}/v1/workflows`, {
      method: 'POST',
      body: JSON.stringify(spec),
      headers: { 'content-type': 'application/json' },
    });
    const queryUrl = running.queryUrl;
    let attacking = true;
    const attackers = [2, 3, 4, 5].map(async (n) => {
      const statuses: number[] = [];
      while (attacking) statuses.push((await sparqlFrom(queryUrl, CARTESIAN, `127.0.0.${n}`)).status);
      return statuses;
    });
    await new Promise((r) => setTimeout(r, 2000));

    // a fifth client: ASK and a view, ten times over several deadlines of the attackers
    const latencies: number[] = [];
    const ingested: number[] = [];
    for (let i = 0; i < 10; i++) {
      const ask = await sparqlFrom(queryUrl, 'ASK {}', '127.0.0.6');
      expect(ask.status).toBe(200);
      const view = await send(`${queryUrl}/v1/executions`, { from: '127.0.0.6' });
      expect(view.status).toBe(200);
      latencies.push(ask.ms, view.ms);
      const post = await send(`${ingest}/v1/events`, {
        method: 'POST',
        body: JSON.stringify({
          eventId: `e${i}`,
          workflow: 'iso',
          workflowExecution: `run-${i}`,
          task: 'training',
          taskExecution: `t${i}`,
          phase: 'begin',
          time: 1_700_000_000_000_000 + i,
        }),
        headers: { 'content-type': 'application/json' },
        from: '127.0.0.7',
      });
      expect(post.status).toBe(202);
      ingested.push(post.ms);
      await new Promise((r) => setTimeout(r, 400));
    }
    // one heavy query per client: a second one while the first runs is refused at once
    const second = await Promise.all([
      sparqlFrom(queryUrl, CARTESIAN, '127.0.0.2'),
      new Promise((r) => setTimeout(r, 800)).then(() => sparqlFrom(queryUrl, CARTESIAN, '127.0.0.2')),
    ]);
    attacking = false;
    const statuses = (await Promise.all(attackers)).flat();
    console.log(
      `fifth client: ASK and /v1/executions max ${Math.max(...latencies).toFixed(0)} ms, ingest max ${Math.max(...ingested).toFixed(0)} ms; attackers: ${statuses.length} answers (${statuses.filter((s) => s === 504).length} × 504, ${statuses.filter((s) => s === 429).length} × 429)`,
    );
    expect(Math.max(...latencies)).toBeLessThan(1000);
    expect(Math.max(...ingested)).toBeLessThan(1000);
    expect(statuses.length).toBeGreaterThanOrEqual(4);
    expect(statuses.every((s) => s === 504 || s === 429)).toBe(true);
    expect(second.map((a) => a.status)).toContain(429);
    // the events posted during the attack are queryable
    const deadline = Date.now() + 30_000;
    let started = 0;
    while (started < 10 && Date.now() < deadline) {
      const answer = await sparqlFrom(
        queryUrl,
        'SELECT (COUNT(*) AS ?n) WHERE { ?x <http://www.w3.org/ns/prov#startedAtTime> ?t }',
      );
      started = Number(json(answer.text).results.bindings[0]!.n!.value);
      if (started < 10) await new Promise((r) => setTimeout(r, 250));
    }
    expect(started).toBe(10);
    const health = JSON.parse((await send(`${queryUrl}/healthz`, {})).text) as { checks: object };
    expect(health.checks).toHaveProperty('queries');
  }, 180_000);
});
