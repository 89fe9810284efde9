/**
 * The query API as a distributed service: the demo lifecycle captured into a real Kafka broker,
 * processed and sunk by the `processor` and `sink` services into a real RDF4J Server, and every REST
 * view and the live feed served by the `query-api` service (its feed a consumer of the events topic).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init } from '@provml/capture-agent';
import { encodeCaptureEvent, silentLogger } from '@provml/schemas';
import { LogCaptureExporter, type KafkaEventLog } from '@provml/log';
import { kafka, unique, until } from '../../../deploy/testing/kafkaTest.ts';
import { rdf4jServices, type Rdf4jServices } from '../../../deploy/testing/rdf4jServices.ts';
import { resolveDemoConfig, runDemo, type DemoReport, DEMO_SPECS } from '@provml/demo';
import { topicNames, type ServiceConfig } from '@provml/service';
import {
  connectLog,
  openStore,
  startProcessor,
  startQueryApi,
  startSink,
  type RunningService,
} from '../../src/services/services.ts';
import { LogIngestTarget } from '@provml/agent';
import type { ExecutionRow, ModelRow, RunRow } from '@provml/query-api';
import { SMALL_DEMO } from '../../../deploy/testing/stack.ts';
import { viewsContract } from '../views/viewsContract.ts';

/** An RDF4J Server of this suite's own (other suites stop theirs when done). */
const RDF4J = { instance: 'rdf4j-views', port: Number(process.env['PROVML_TEST_RDF4J_VIEWS_PORT'] ?? 18093) };

const getJson = async <T>(url: string): Promise<T> => (await (await fetch(url)).json()) as T;

// Skips only when the global test setup could not start Kafka outside CI; under CI=true that setup fails the run instead.
describe.skipIf(kafka.bootstrap === '')(`query API service on Kafka and RDF4J ${kafka.unavailable}`, () => {
  let config: ServiceConfig;
  let services: RunningService[] = [];
  let log: KafkaEventLog;
  let report: DemoReport;
  let dir: string;
  let rdf4j: Rdf4jServices | undefined;
  let unavailable = '';
  let api = '';

  beforeAll(async () => {
    rdf4j = await rdf4jServices('views', RDF4J, { query: { timeoutMs: 20_000 } });
    unavailable = rdf4j.unavailable;
    if (rdf4j.config === undefined) return;
    config = rdf4j.config;
    services = [
      await startProcessor(config, silentLogger),
      await startSink(config, await openStore(config, silentLogger), silentLogger),
    ];
    const query = await startQueryApi(config, await openStore(config, silentLogger), silentLogger);
    services.push(query);
    api = query.url!;

    dir = await mkdtemp(join(tmpdir(), 'provml-views-dist-'));
    log = await connectLog(config, silentLogger);
    const topics = topicNames(config);
    const ingest = new LogIngestTarget(log, encodeCaptureEvent, topics);
    report = await runDemo(
      {
        capture: (spec) =>
          init({
            spec,
            env: {},
            exporter: new LogCaptureExporter(log.producer(), encodeCaptureEvent, topics),
          }),
        annotate: async (turtle, source) => {
          await ingest.publishAnnotations(turtle, source);
          return 1;
        },
      },
      resolveDemoConfig({ ...SMALL_DEMO, seed: 23, outputDir: dir }),
    );
    // the end of a training follows all of its events in its partition: once every training is
    // finished and every model is there, the store holds the whole lifecycle
    const models = report.trainings.reduce((n, t) => n + t.epochResults.length, 0);
    await until(
      async () => {
        const { executions } = await getJson<{ executions: ExecutionRow[] }>(`${api}/v1/executions`);
        const done = executions.filter((e) => e.label === 'training' && e.status === 'finished');
        const m = await getJson<{ models: ModelRow[] }>(`${api}/v1/models`);
        return done.length === report.trainings.length && m.models.length === models;
      },
      'the lifecycle in the store',
      120_000,
    );
  }, 240_000);

  afterAll(async () => {
    for (const s of services.reverse()) await s.shutdown();
    await log?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    await rdf4j?.release();
  }, 60_000);

  it('has its servers', () => {
    expect(unavailable).toBe('');
  });

  viewsContract({ queryUrl: () => api, report: () => report });

  it('exports freshness, load latency and consumer lag from the sink and the processor', async () => {
    const [processor, sink] = services as [RunningService, RunningService];
    const sinkMetrics = await (await fetch(`${sink.url!}/metrics`)).text();
    expect(Number(/^provml_event_to_store_seconds_count (\d+)/m.exec(sinkMetrics)?.[1])).toBeGreaterThan(0);
    expect(sinkMetrics).toContain('provml_sink_lag_records');
    const processorMetrics = await (await fetch(`${processor.url!}/metrics`)).text();
    expect(processorMetrics).toContain('provml_processor_lag_records');
  });

  it('serves the live feed from the events topic: a new run shows up as it happens', async () => {
    const execution = `live-${unique()}`;
    const controller = new AbortController();
    const response = await fetch(`${api}/v1/live?execution=${execution}`, { signal: controller.signal });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const received: { phase: string; task: string; values: Record<string, unknown> }[] = [];
    const reading = (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body! as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (frame.includes('event: capture') && data !== undefined)
            received.push(JSON.parse(data.slice(6)));
        }
      }
    })().catch(() => undefined);
    const capture = await init({
      spec: structuredClone(DEMO_SPECS.training),
      env: {},
      exporter: new LogCaptureExporter(log.producer(), encodeCaptureEvent, topicNames(config)),
    });
    const wf = capture.workflowExecution(execution);
    const training = wf.begin('training', {
      values: { learning_rate: 0.01, epochs: 1, batch_size: 4, hidden_units: 2, seed: 1 },
      dataRefs: [{ name: 'training_set', uri: report.trainings[0]!.trainingSet, store: null }],
    });
    const epoch = training.begin('epoch');
    epoch.begin('batch', { values: { batch_index: 0 } }).end({ values: { batch_loss: 0.5 } });
    await capture.flush();
    await until(() => received.length >= 4, 'the new run on the live feed', 60_000);
    expect(received.map((e) => `${e.task}:${e.phase}`)).toEqual([
      'training:begin',
      'epoch:begin',
      'batch:begin',
      'batch:end',
    ]);
    expect(received[3]!.values).toEqual({ batch_loss: 0.5 });
    controller.abort();
    await reading;
    await capture.shutdown();
    // and the store sees it running
    await until(
      async () =>
        (
          await getJson<{ executions: ExecutionRow[] }>(`${api}/v1/executions?status=running`)
        ).executions.some((e) => e.workflowExecution.endsWith(execution)),
      'the running execution in the store',
      60_000,
    );
  }, 90_000);

  it("gathers a distributed job's ranks into one run, split by rank in the executions and Q4, on RDF4J", async () => {
    const job = `ranks-${unique()}`;
    const seed = 7_000 + Math.floor(Math.random() * 1_000_000);
    const trainingSet = `file:///data/ranks/${job}.npz`;
    for (const rank of [0, 1]) {
      const capture = await init({
        spec: structuredClone(DEMO_SPECS.training),
        env: { RANK: String(rank), WORLD_SIZE: '2', TORCHELASTIC_RUN_ID: job },
        exporter: new LogCaptureExporter(log.producer(), encodeCaptureEvent, topicNames(config)),
      });
      const training = capture.workflowExecution().begin('training', {
        values: { learning_rate: 0.01, epochs: 1, batch_size: 4, hidden_units: 2, seed },
        dataRefs: [{ name: 'training_set', uri: trainingSet, store: null }],
      });
      const epoch = training.begin('epoch');
      epoch.begin('batch', { values: { batch_index: 0 } }).end({ values: { batch_loss: 0.5 } });
      epoch.end({ values: { epoch: 0, loss: 0.5 } });
      training.end({ values: { final_loss: 0.4 + rank / 10 } });
      await capture.shutdown();
    }
    const run = `urn:provml:execution/seismic-training-torchelastic-${job}`;
    const ranked = async (): Promise<ExecutionRow[]> =>
      (await getJson<{ executions: ExecutionRow[] }>(`${api}/v1/executions?limit=10000`)).executions.filter(
        (e) => e.workflowExecution === run && e.status === 'finished',
      );
    await until(async () => (await ranked()).length === 2, 'both ranks in the store', 60_000);
    expect((await ranked()).map((e) => [e.rank, e.worldSize, e.attempt]).sort()).toEqual([
      [0, 2, 0],
      [1, 2, 0],
    ]);
    const { runs } = await getJson<{ runs: RunRow[] }>(`${api}/v1/runs?hp.seed=${seed}`);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.workflowExecution).toBe(run);
    expect(runs[0]!.outputs.final_loss).toBe(0.4); // rank 0's
    expect(runs[0]!.ranks!.map((r) => [r.rank, r.outputs.final_loss])).toEqual([
      [0, 0.4],
      [1, 0.5],
    ]);
    const q4 = await getJson<{ rows: Record<string, string>[] }>(
      `${api}/v1/queries/q4?trainingSet=${encodeURIComponent(trainingSet)}`,
    );
    expect(q4.rows.map((r) => r.rank).sort()).toEqual(['0', '1']);
  }, 90_000);
});
