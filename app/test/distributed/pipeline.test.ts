/** Distributed mode on a real Kafka broker: capture → events topic → processors → triples topic → sink → store. */
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryCaptureExporter, init, MultiCaptureExporter, type Capture } from '@provml/capture-agent';
import { decodeCaptureEvent, encodeCaptureEvent, type CaptureEvent } from '@provml/schemas';
import { OxigraphEmbeddedStore, selectRows } from '@provml/stores';
import { SinkService } from '@provml/sinks';
import {
  DLQ_HEADERS,
  LogCaptureExporter,
  type ConsumedRecord,
  type KafkaEventLog,
  type TopicNames,
} from '@provml/log';
import { ProcessorService } from '@provml/stream-processors';
import {
  kafka,
  kafkaLog,
  startsPerExecution,
  testTopics,
  unique,
  until,
} from '../../../deploy/testing/kafkaTest.ts';

const SPEC = {
  workflow: 'dist',
  phase: 'learning',
  tasks: [
    { id: 'training', stage: 'training', inputs: [{ name: 'lr', semantics: 'hyperparameter' }] },
    { id: 'batch', parent: 'training', outputs: [{ name: 'loss', semantics: 'output-value' }] },
  ],
};

/** Reads every committed record of a topic (read_committed) until `count` arrived. */
async function readAll(log: KafkaEventLog, topic: string, count: number): Promise<ConsumedRecord[]> {
  const out: ConsumedRecord[] = [];
  const c = log.consumer({ groupId: `reader-${unique()}`, topics: [topic] });
  void c.run(async (batch) => void out.push(...batch.records));
  try {
    await until(() => out.length >= count, `${count} records on ${topic}`);
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await c.stop();
  }
  return out;
}

// Skips only when the global test setup could not start Kafka outside CI; under CI=true that setup fails the run instead.
describe.skipIf(kafka.bootstrap === '')(`distributed pipeline on a real broker ${kafka.unavailable}`, () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function pipeline(topics: TopicNames, processors = 1) {
    const logs: KafkaEventLog[] = [];
    const services: ProcessorService[] = [];
    for (let i = 0; i < processors; i++) {
      const log = await kafkaLog(topics, 3, `p${i}-${unique()}`);
      logs.push(log);
    }
    const group = `processor-${unique()}`;
    const startProcessor = async (i: number): Promise<ProcessorService> => {
      const p = new ProcessorService(logs[i]!, { decodeEvent: decodeCaptureEvent, topics, groupId: group });
      services[i] = p;
      await p.start();
      return p;
    };
    const store = new OxigraphEmbeddedStore();
    const sinkLog = await kafkaLog(topics, 3);
    const sink = new SinkService(sinkLog, store, { topics, groupId: `sink-${unique()}` });
    await sink.start();
    cleanup.push(async () => {
      await sink.shutdown();
      for (const p of services) await p?.shutdown();
      for (const l of [...logs, sinkLog]) await l.close();
    });
    return { logs, services, startProcessor, store, sink, sinkLog };
  }

  async function session(
    log: KafkaEventLog,
    topics: TopicNames,
    copy: InMemoryCaptureExporter,
  ): Promise<Capture> {
    const c = await init({
      spec: SPEC,
      env: {},
      maxBatchSize: 50,
      exporter: new MultiCaptureExporter([
        new LogCaptureExporter(log.producer(), encodeCaptureEvent, topics),
        copy,
      ]),
    });
    cleanup.push(async () => void (await c.shutdown()));
    return c;
  }

  it('brings events of concurrent producers into the store exactly once, keeping each run’s order', async () => {
    const topics = testTopics();
    const { startProcessor, store, sinkLog } = await pipeline(topics);
    await startProcessor(0);
    const copy = new InMemoryCaptureExporter();
    const producers = 4;
    const batches = 40;
    await Promise.all(
      Array.from({ length: producers }, async (_, i) => {
        const c = await session(sinkLog, topics, copy);
        const run = c.workflowExecution(`run-${i}`);
        const training = run.begin('training', { values: { lr: 0.1 * (i + 1) } });
        for (let b = 0; b < batches; b++) {
          training.begin('batch').end({ values: { loss: 1 / (b + 1) } });
          if (b % 10 === 0) await new Promise((r) => setImmediate(r));
        }
        training.end();
        await c.flush();
      }),
    );
    const executions = producers * (batches + 1);
    const countEnded = async (): Promise<number> =>
      Number(
        (
          await selectRows(
            store,
            'SELECT (COUNT(DISTINCT ?x) AS ?n) WHERE { ?x <http://www.w3.org/ns/prov#endedAtTime> ?t }',
          )
        )[0]!.n,
      );
    await until(
      async () => (await countEnded()) === executions,
      `${executions} ended executions in the store`,
    );

    const rows = await selectRows(
      store,
      `SELECT ?x (COUNT(?s) AS ?starts) (COUNT(?e) AS ?ends) WHERE {
         ?x <http://www.w3.org/ns/prov#startedAtTime> ?s ; <http://www.w3.org/ns/prov#endedAtTime> ?e } GROUP BY ?x`,
    );
    expect(rows).toHaveLength(executions);
    expect(rows.every((r) => r.starts === '1' && r.ends === '1')).toBe(true);

    const triples = await readAll(sinkLog, topics.triples, 1);
    const starts = startsPerExecution(triples);
    expect(starts.size).toBe(executions);
    expect([...starts.values()].every((n) => n === 1)).toBe(true);

    const events = (await readAll(sinkLog, topics.events, copy.events.length)).map((r) =>
      decodeCaptureEvent(r.value),
    );
    expect(events).toHaveLength(copy.events.length);
    for (let i = 0; i < producers; i++) {
      const order = (list: CaptureEvent[]) =>
        list.filter((e) => e.workflowExecution === `run-${i}`).map((e) => e.eventId);
      expect(order(events)).toEqual(order(copy.events));
    }
  });

  it('sends malformed records to the dead-letter topic with the reason and keeps going', async () => {
    const topics = testTopics();
    const { startProcessor, store, sinkLog } = await pipeline(topics);
    await startProcessor(0);
    const copy = new InMemoryCaptureExporter();
    const c = await session(sinkLog, topics, copy);
    const good = encodeCaptureEvent({
      eventId: 'x',
      workflow: 'dist',
      workflowExecution: 'poison-run',
      task: 'training',
      taskExecution: 'tx',
      parentTaskExecution: null,
      phase: 'begin',
      time: 1_700_000_000_000_000,
      values: {},
      dataRefs: [],
      status: null,
      context: {},
    });
    const unknownSchema = Buffer.from(good);
    unknownSchema[5] = unknownSchema[5]! ^ 0xff;
    await sinkLog.producer().send(topics.events, [
      { key: 'poison-run', value: Buffer.from('garbage bytes, not Avro') },
      {
        key: 'poison-run',
        value: Buffer.concat([Buffer.from([0x00, 0x00, 0x00, 0x00, 0x07]), good.subarray(10)]),
      },
      { key: 'poison-run', value: unknownSchema },
    ]);
    const run = c.workflowExecution('after-poison');
    run.begin('training').end();
    await c.flush();
    const dead = await readAll(sinkLog, topics.deadLetters, 3);
    expect(dead).toHaveLength(3);
    for (const d of dead) {
      expect(d.headers[DLQ_HEADERS.sourceTopic]).toBe(topics.events);
      expect(d.headers[DLQ_HEADERS.stage]).toBe('decode');
      expect(d.headers[DLQ_HEADERS.sourceOffset]).toMatch(/^\d+$/);
    }
    expect(dead.map((d) => d.headers[DLQ_HEADERS.reason]).join('\n')).toMatch(/fingerprint/);
    await until(
      async () =>
        (await selectRows(store, 'SELECT ?x WHERE { ?x <http://www.w3.org/ns/prov#endedAtTime> ?t }'))
          .length === 1,
      'the valid event after the poison',
    );
  });

  it('shares partitions between two processors of one group and loses or repeats nothing across rebalances', async () => {
    const topics = testTopics();
    const { startProcessor, services, sinkLog, store } = await pipeline(topics, 2);
    const copy = new InMemoryCaptureExporter();
    const c = await session(sinkLog, topics, copy);
    const wave = async (name: string, runs: number) => {
      for (let i = 0; i < runs; i++) {
        const run = c.workflowExecution(`${name}-${i}`);
        const t = run.begin('training');
        for (let b = 0; b < 5; b++) t.begin('batch').end({ values: { loss: b } });
        t.end();
      }
      await c.flush();
    };
    await startProcessor(0);
    await wave('one', 12);
    await startProcessor(1); // rebalance: the second member takes some partitions
    await wave('two', 12);
    await until(
      () => services[0]!.stats.eventsProcessed + services[1]!.stats.eventsProcessed >= 24 * 12,
      'both waves',
    );
    await services[0]!.shutdown(); // rebalance: the survivor takes everything
    await wave('three', 12);
    const executions = 36 * 6;
    await until(
      async () =>
        Number(
          (
            await selectRows(
              store,
              'SELECT (COUNT(DISTINCT ?x) AS ?n) WHERE { ?x <http://www.w3.org/ns/prov#endedAtTime> ?t }',
            )
          )[0]!.n,
        ) === executions,
      'all executions in the store',
      90_000,
    );
    expect(services[0]!.stats.eventsProcessed).toBeGreaterThan(0);
    expect(services[1]!.stats.eventsProcessed).toBeGreaterThan(0);
    const starts = startsPerExecution(await readAll(sinkLog, topics.triples, 1));
    expect(starts.size).toBe(executions);
    expect([...starts.entries()].filter(([, n]) => n !== 1)).toEqual([]);
  });
});
