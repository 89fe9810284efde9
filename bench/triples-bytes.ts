/**
 * Bytes per event on the triples topic, read from the broker. The demo's capture events and the
 * pipeline benchmark's (the Fig. 5 training loop) go through the real Kafka broker to real processors
 * that run while the events are produced, one per triples encoding, each writing its own triples topic:
 * plain N-Quads (the format before the compact one), plain N-Quads in gzip-compressed Kafka batches, and
 * the compact records (N-Quads deflated with the vocabulary dictionary, `log/src/triplesRecord.ts`).
 * Each topic is measured twice: the bytes of its log segments in the broker's log directory (record
 * batches, headers and transaction markers included) and the key + value + header bytes of its records
 * as a read_committed consumer gets them. Writes bench/results/triples-bytes.md.
 * Run: `node --import tsx bench/triples-bytes.ts [--quick] [--events N] [--kafka HOST:PORT]`.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { init, type Capture } from '@provml/capture-agent';
import { resolveDemoConfig, runDemo } from '@provml/demo';
import {
  ANNOTATION_SOURCE_HEADER,
  KafkaEventLog,
  LogCaptureExporter,
  createTopics,
  decodeTriples,
  encodeTriples,
  type ConsumedRecord,
  type TopicNames,
} from '@provml/log';
import { decodeCaptureEvent, encodeCaptureEvent } from '@provml/schemas';
import { ProcessorService } from '@provml/stream-processors';
import { load1 } from './lib/pipeline.ts';
import { BENCH_SPEC, Fig5Loop } from './lib/pipelineWorkload.ts';
import { fmt, table, thisCommand, writeResult, helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    events: { type: 'string' },
    kafka: { type: 'string', default: '127.0.0.1:19092' },
  },
});
const PIPELINE_EVENTS = Number(args.events ?? (args.quick ? 5_000 : 50_000));
const PARTITIONS = 4;
const BROKERS = [args.kafka];

/** A way of writing the triples topic. */
interface Variant {
  name: string;
  triplesEncoding: 'deflate' | 'nquads';
  compression: 'none' | 'gzip';
}
const VARIANTS: readonly Variant[] = [
  { name: 'N-Quads (before)', triplesEncoding: 'nquads', compression: 'none' },
  { name: 'N-Quads, Kafka gzip batches', triplesEncoding: 'nquads', compression: 'gzip' },
  { name: 'deflated records (after)', triplesEncoding: 'deflate', compression: 'none' },
];

/** What was measured of one triples topic. */
interface Measured {
  workload: string;
  variant: string;
  events: number;
  segmentBytes: number;
  records: number;
  valueBytes: number;
  keyHeaderBytes: number;
  /** Encoding cost (µs per event) of the topic's N-Quads, and decoding cost of its values. */
  encodeUs: number;
  decodeUs: number;
  load: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The broker's log directories (its `log.dirs`), as it reports them. */
async function brokerLogDirs(log: KafkaEventLog): Promise<string[]> {
  const admin = await log.adminClient();
  const { brokers } = await admin.describeCluster();
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: brokers.map((b) => ({
      type: kafkajs.ConfigResourceTypes.BROKER,
      name: String(b.nodeId),
      configNames: ['log.dirs'],
    })),
  });
  return described.resources.flatMap((r) =>
    r.configEntries.flatMap((e) => (e.configName === 'log.dirs' ? e.configValue.split(',') : [])),
  );
}

/** Bytes of a topic's log segment files (`*.log`) in the broker's log directories. */
async function segmentBytes(dirs: readonly string[], topic: string): Promise<number> {
  let bytes = 0;
  for (const dir of dirs)
    for (let p = 0; p < PARTITIONS; p++) {
      const partition = join(dir, `${topic}-${p}`);
      const files = await readdir(partition).catch(() => [] as string[]);
      for (const f of files) if (f.endsWith('.log')) bytes += (await stat(join(partition, f))).size;
    }
  return bytes;
}

/** Every committed record of a topic. */
async function readTopic(log: KafkaEventLog, topic: string): Promise<ConsumedRecord[]> {
  const records: ConsumedRecord[] = [];
  await log.tableReader(topic).catchUp((r) => records.push(r));
  return records;
}

const utf8 = (s: string | null): number => (s === null ? 0 : Buffer.byteLength(s, 'utf8'));

/** A processor per variant, each writing its own triples topic, all reading `topics`' inputs. */
async function startProcessors(
  topics: TopicNames,
): Promise<{ variant: Variant; log: KafkaEventLog; processor: ProcessorService; triples: string }[]> {
  const running = [];
  for (const [i, variant] of VARIANTS.entries()) {
    const log = new KafkaEventLog({ brokers: BROKERS, compression: variant.compression });
    const triples = `${topics.triples}.${i}`;
    await log.ensureTopic(triples, PARTITIONS);
    const processor = new ProcessorService(log, {
      decodeEvent: decodeCaptureEvent,
      topics: { ...topics, triples },
      groupId: `${topics.triples}.processor.${i}`,
      triplesEncoding: variant.triplesEncoding,
    });
    await processor.start();
    running.push({ variant, log, processor, triples });
  }
  return running;
}

/** Produces a workload's events (and specs, annotations) with the processors running; measures each topic. */
async function measure(
  workload: string,
  produce: (producer: KafkaEventLog, topics: TopicNames) => Promise<number>,
): Promise<Measured[]> {
  const id = randomBytes(4).toString('hex');
  const topics: TopicNames = {
    events: `bench.tb.${id}.events`,
    specs: `bench.tb.${id}.specs`,
    annotations: `bench.tb.${id}.annotations`,
    triples: `bench.tb.${id}.triples`,
    deadLetters: `bench.tb.${id}.dlq`,
  };
  const producer = new KafkaEventLog({ brokers: BROKERS });
  await createTopics(producer, topics, PARTITIONS);
  const dirs = await brokerLogDirs(producer);
  const running = await startProcessors(topics);
  const events = await produce(producer, topics);
  console.log(`${workload}: ${events} events produced`);
  for (const r of running)
    await until(
      () => r.processor.stats.eventsProcessed + r.processor.stats.deadLettered >= events,
      `${workload} ${r.variant.name}`,
    );
  for (const r of running) await r.processor.shutdown();
  await sleep(1000); // the last transactions' markers
  const out: Measured[] = [];
  for (const r of running) {
    const records = await readTopic(producer, r.triples);
    const texts = records.map((x) => decodeTriples(x.value));
    let t = performance.now();
    for (const text of texts) encodeTriples(text);
    const encodeUs = ((performance.now() - t) * 1000) / events;
    t = performance.now();
    for (const x of records) decodeTriples(x.value);
    const decodeUs = ((performance.now() - t) * 1000) / events;
    out.push({
      workload,
      variant: r.variant.name,
      events,
      segmentBytes: await segmentBytes(dirs, r.triples),
      records: records.length,
      valueBytes: records.reduce((s, x) => s + x.value.length, 0),
      keyHeaderBytes: records.reduce(
        (s, x) => s + utf8(x.key) + Object.entries(x.headers).reduce((h, [k, v]) => h + utf8(k) + utf8(v), 0),
        0,
      ),
      encodeUs: r.variant.triplesEncoding === 'deflate' ? encodeUs : 0,
      decodeUs: r.variant.triplesEncoding === 'deflate' ? decodeUs : 0,
      load: load1(),
    });
    await r.log.close();
  }
  const avro = await segmentBytes(dirs, topics.events);
  console.log(`${workload}: events topic ${fmt(avro / events)} bytes per event (Avro, segments)`);
  await producer.close();
  return out;
}

/** A capture session whose events go to the events topic through Kafka. */
const captureOnto = (producer: KafkaEventLog, topics: TopicNames, spec: unknown): Promise<Capture> =>
  init({ spec, env: {}, exporter: new LogCaptureExporter(producer.producer(), encodeCaptureEvent, topics) });

const results: Measured[] = [];
const started = performance.now();

results.push(
  ...(await measure('demo', async (producer, topics) => {
    const outputDir = await mkdtemp(join(tmpdir(), 'provml-triples-bytes-'));
    const sessions: Capture[] = [];
    try {
      const report = await runDemo(
        {
          capture: async (spec) => {
            const c = await captureOnto(producer, topics, spec);
            sessions.push(c);
            return c;
          },
          annotate: async (turtle, source) => {
            await producer
              .producer()
              .send(topics.annotations, [
                { key: source, value: Buffer.from(turtle), headers: { [ANNOTATION_SOURCE_HEADER]: source } },
              ]);
            return 0;
          },
        },
        resolveDemoConfig({ outputDir }),
      );
      return report.events;
    } finally {
      for (const c of sessions) await c.shutdown();
      await rm(outputDir, { recursive: true, force: true });
    }
  })),
);

results.push(
  ...(await measure('pipeline benchmark (Fig. 5 loop)', async (producer, topics) => {
    const capture = await captureOnto(producer, topics, BENCH_SPEC);
    const loop = new Fig5Loop(capture, 10, `tb-${randomBytes(3).toString('hex')}`);
    for (let i = 0; i < PIPELINE_EVENTS; i++) {
      loop.step();
      if (i % 1000 === 999) await sleep(0); // let the exporter drain
    }
    await capture.shutdown();
    return PIPELINE_EVENTS;
  })),
);

const rows = results.map((m) => [
  m.workload,
  m.variant,
  m.events.toLocaleString('en-US'),
  `**${fmt(m.segmentBytes / m.events)}**`,
  fmt(m.valueBytes / m.events),
  fmt(m.keyHeaderBytes / m.events),
  fmt(m.events / m.records),
  m.encodeUs === 0 ? '–' : fmt(m.encodeUs),
  m.decodeUs === 0 ? '–' : fmt(m.decodeUs),
  m.load.toFixed(1),
]);
const body = `
**What is measured.** Each workload's capture events (Avro) are produced to a fresh events topic on
the real broker while three processors (\`ProcessorService\`, one consumer group each, ${PARTITIONS}
partitions) map them, each to its own triples topic in one way: plain N-Quads (what processors wrote
before the compact format), plain N-Quads with the producer's Kafka batches gzip-compressed (kafkajs'
built-in codec; the broker keeps them compressed), and the compact records (\`triplesEncoding:
'deflate'\`, the default: N-Quads deflated per record, zlib level 1, with the PROV-ML vocabulary
dictionary). The
specs' and annotations' triples records are on the same topics and counted. **segment bytes / event**
is the size of the topic's log segment files in the broker's log directory (record batch headers,
keys, headers and transaction markers included) divided by the events; **value bytes / event** the
values a read_committed consumer gets; **key + headers** the rest of each record as it gets them;
**events / record** how many events one triples record holds (one record per workflow execution and
processor batch). Encode and decode are the deflate and inflate cost of the compact records, µs per
event, timed on this process's thread after the run (the load average next to them: the machine was
shared). The demo is the default \`provml demo\` configuration; the pipeline benchmark's events are
${PIPELINE_EVENTS.toLocaleString('en-US')} steps of its Fig. 5 loop (10 epochs of 35 batches per run),
produced as fast as the capture library exports them. Took ${((performance.now() - started) / 1000).toFixed(0)} s.

${table(
  [
    'workload',
    'triples topic',
    'events',
    'segment bytes / event',
    'value bytes / event',
    'key + headers / event',
    'events / record',
    'encode µs / event',
    'decode µs / event',
    'load (1 min)',
  ],
  rows,
)}
`;
console.log(body);
const path = await writeResult('triples-bytes', 'Bytes per event on the triples topic', thisCommand(), body);
console.log(`wrote ${path}`);
