/** The sidecar agent on a real broker: socket and HTTP into the spool, published to Kafka; offline spool and replay; the cap. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { init, SocketCaptureExporter } from '@provml/capture-agent';
import { decodeCaptureEvent, silentLogger } from '@provml/schemas';
import type { ConsumedRecord, KafkaEventLog, TopicNames } from '@provml/log';
import { kafka, kafkaLog, unique, until } from '../../../deploy/testing/kafkaTest.ts';
import { startAgent, type RunningAgent } from '../src/agentService.ts';
import { replaySpool } from '../src/replaySpool.ts';
import { resolveServiceConfig, topicNames } from '@provml/service';
import { AGENT_SPEC, AgentSocketClient, chunk, trainingStream } from '../../../deploy/testing/agentTest.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;

const configFor = (prefix: string, spoolDir: string, agent: Record<string, unknown> = {}) =>
  resolveServiceConfig(
    {
      kafka: { brokers: [kafka.bootstrap] },
      topics: { prefix },
      http: { port: 0 },
      agent: { spoolDir, ...agent },
      auth: { disabled: true },
    },
    {},
  );

/** Event ids on the events topic (with repeats), read until `count` records arrived. */
async function eventIdsOn(log: KafkaEventLog, topics: TopicNames, count: number): Promise<string[]> {
  const out: ConsumedRecord[] = [];
  const c = log.consumer({ groupId: `reader-${unique()}`, topics: [topics.events] });
  void c.run(async (batch) => void out.push(...batch.records));
  try {
    await until(() => out.length >= count, `${count} events on ${topics.events}`);
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await c.stop();
  }
  return out.map((r) => decodeCaptureEvent(r.value).eventId);
}

// Skips only when the global test setup could not start Kafka outside CI; under CI=true that setup fails the run instead.
describe.skipIf(kafka.bootstrap === '')(`sidecar agent on a real broker ${kafka.unavailable}`, () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  const start = async (config: ReturnType<typeof configFor>): Promise<RunningAgent> => {
    const agent = await startAgent(config, silentLogger);
    cleanup.push(() => agent.shutdown());
    return agent;
  };

  it('spools socket and HTTP input before answering, rejects bad batches whole, and publishes in order', async () => {
    const prefix = `agent-${unique()}.`;
    const topics = topicNames(resolveServiceConfig({ topics: { prefix } }, {}));
    const log = await kafkaLog(topics, 4);
    cleanup.push(() => log.close());
    const agent = await start(configFor(prefix, mkdtempSync(join(tmpdir(), 'agent-'))));
    const client = new AgentSocketClient(agent.socketPath);
    await client.connect();
    cleanup.push(() => Promise.resolve(client.close()));
    const { lines, eventIds } = trainingStream(2, 10);
    expect(await client.send([JSON.stringify({ spec: AGENT_SPEC }), ...lines.slice(0, 20)])).toEqual({
      accepted: 21,
    });
    const next = agent.spool.stats.next;
    const bad = await client.send([lines[20]!, '{"event":{"eventId":"x"}}', 'nope', '{"spec":1,"event":2}']);
    expect(bad).toMatchObject({ error: 'invalid-event' });
    const issueLines = (bad as { issues: { line: number }[] }).issues.map((i) => i.line);
    expect(new Set(issueLines)).toEqual(new Set([2, 3, 4]));
    expect(agent.spool.stats.next).toBe(next); // nothing of the bad batch was kept
    for (const batch of chunk(lines.slice(20), 5))
      expect(await client.send(batch)).toEqual({ accepted: batch.length });

    const http = trainingStream(1, 1).lines.map((l) =>
      JSON.stringify((JSON.parse(l) as { event: object }).event),
    );
    const posted = await fetch(`${agent.url}/v1/events`, {
      method: 'POST',
      body: http.map((l) => l.replaceAll('"run-0"', '"http-run"').replaceAll('"0-', '"h-')).join('\n'),
    });
    expect(posted.status).toBe(202);
    const annotated = await fetch(`${agent.url}/v1/annotations?source=geo`, {
      method: 'POST',
      body: '<file:///data/x.sgy> <https://example.org/geo#basin> "Santos" .',
    });
    expect(annotated.status).toBe(202);

    const ids = await eventIdsOn(log, topics, eventIds.length + 4);
    expect(new Set(ids).size).toBe(eventIds.length + 4);
    // one run's events keep their order on its partition
    const run0 = ids.filter((id) => id.startsWith('0-'));
    expect(run0).toEqual(eventIds.filter((id) => id.startsWith('0-')));
    await until(() => agent.spool.stats.depthRecords === 0, 'the spool to drain');
    const metrics = await (await fetch(`${agent.url}/metrics`)).text();
    expect(metrics).toMatch(/^provml_spool_depth_records 0$/m);
    expect(metrics, 'no processor or sink counters in the agent').not.toMatch(
      /^provml_(processor_|sink_records|sink_lag)/m,
    );
    expect(metrics).toMatch(/^provml_agent_records_total\{protocol="socket",outcome="rejected"\} 4$/m);
    expect(metrics).toMatch(/provml_spool_publish_lag_seconds/);
    // the essential process metrics (bench/results/memory.md), not prom-client's whole default collector
    expect(metrics).toMatch(/^provml_process_resident_memory_bytes \d+$/m);
    expect(metrics).toMatch(/^provml_nodejs_heap_size_used_bytes \d+$/m);
    expect(metrics).not.toMatch(/provml_nodejs_gc_duration_seconds|provml_nodejs_eventloop_lag_p99_seconds/);
  });

  it('setting E: the library spools, its publisher ships the records as they are over the socket, across an agent restart; every event reaches Kafka', async () => {
    const prefix = `agent-e-${unique()}.`;
    const topics = topicNames(resolveServiceConfig({ topics: { prefix } }, {}));
    const log = await kafkaLog(topics, 4);
    cleanup.push(() => log.close());
    const agentDir = mkdtempSync(join(tmpdir(), 'agent-'));
    let agent = await startAgent(configFor(prefix, agentDir), silentLogger);
    const capture = await init({
      spec: AGENT_SPEC,
      env: {},
      queueSize: 50,
      spool: { dir: mkdtempSync(join(tmpdir(), 'agent-lib-spool-')) },
      exporter: new SocketCaptureExporter({ path: agent.socketPath }),
    });
    const training = capture.workflowExecution('run-e').begin('training');
    for (let b = 0; b < 100; b++) training.begin('batch').end({ values: { loss: b } });
    await capture.flush();
    await agent.shutdown(); // the publisher retries, its spool grows
    for (let b = 100; b < 200; b++) training.begin('batch').end({ values: { loss: b } });
    await capture.flush();
    agent = await start(configFor(prefix, agentDir));
    training.end();
    expect(await capture.shutdown(30_000)).toMatchObject({ dropped: 0, rejected: 0, ok: true });
    const ids = await eventIdsOn(log, topics, 402);
    expect(new Set(ids).size).toBe(402);
    await until(() => agent.spool.stats.depthRecords === 0, 'the agent spool to drain');
  });

  it('offline: only spools; replay publishes it once with a summary, and a second replay sends nothing', async () => {
    const prefix = `offline-${unique()}.`;
    const topics = topicNames(resolveServiceConfig({ topics: { prefix } }, {}));
    const log = await kafkaLog(topics, 4);
    cleanup.push(() => log.close());
    const dir = mkdtempSync(join(tmpdir(), 'agent-offline-'));
    const config = configFor(prefix, dir, { offline: true });
    const agent = await startAgent(config, silentLogger);
    const client = new AgentSocketClient(agent.socketPath);
    await client.connect();
    const { lines, eventIds } = trainingStream(3, 20);
    expect(await client.send([JSON.stringify({ spec: AGENT_SPEC }), ...lines])).toEqual({
      accepted: lines.length + 1,
    });
    client.close();
    await agent.shutdown();

    const first = await replaySpool(dir, config, silentLogger);
    expect(first).toMatchObject({
      done: lines.length + 1,
      events: lines.length,
      specs: 1,
      alreadyPublished: 0,
    });
    // the command: progress on stderr, the summary on stdout, nothing sent twice
    const cli = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'app/src/cli/main.ts',
        'replay',
        dir,
        '--kafka',
        kafka.bootstrap,
        '--topic-prefix',
        prefix,
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(cli.status).toBe(0);
    expect(cli.stderr).toMatch(/\] +100% 0\/0 records/);
    expect(cli.stdout).toContain('replayed 0 records');
    expect(cli.stdout).toContain(`skipped ${lines.length + 1} already published`);
    const ids = await eventIdsOn(log, topics, eventIds.length);
    expect(ids.sort()).toEqual([...eventIds].sort());
  });

  it('answers spool-full on the socket and 503 over HTTP when the cap holds (policy reject)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-full-'));
    const agent = await start(configFor(`full-${unique()}.`, dir, { offline: true, maxBytes: 4096 }));
    const client = new AgentSocketClient(agent.socketPath);
    await client.connect();
    cleanup.push(() => Promise.resolve(client.close()));
    const { lines } = trainingStream(1, 40);
    expect(await client.send([JSON.stringify({ spec: AGENT_SPEC }), ...lines.slice(0, 10)])).toEqual({
      accepted: 11,
    });
    expect(await client.send(lines.slice(10))).toMatchObject({ error: 'spool-full' });
    const http = await fetch(`${agent.url}/v1/events`, {
      method: 'POST',
      body: lines
        .slice(10)
        .map((l) => JSON.stringify((JSON.parse(l) as { event: object }).event))
        .join('\n'),
    });
    expect(http.status).toBe(503);
    expect(await http.json()).toMatchObject({ error: 'spool-full' });
  });
});
