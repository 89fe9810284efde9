/**
 * The Kafka client as a measured choice (issue 19): kafkajs (what the log package uses) against
 * `@confluentinc/kafka-javascript` (librdkafka behind a KafkaJS-style API), on the same broker, in
 * interleaved repetitions, each run in a fresh child process:
 * - produce: an idempotent producer, acks=-1, `--records` records of ~150 bytes (a capture event's
 *   Avro) sent in awaited batches of `--batch` keyed over `--keys` keys to a topic of 4 partitions;
 * - transform: a consume-transform-produce loop like the processor's (read_committed consumer, one
 *   transaction per fetched batch with its offsets sent in it, ~1.4 KB out per record) over
 *   `--txn-records` records.
 * Each prints records/s and the process CPU (user + system, librdkafka's threads included) per record.
 * The confluent client is not a dependency of the project: it is loaded from `--confluent-path`
 * (a directory where it was installed, e.g. /tmp/kjs-scratch/node_modules/@confluentinc/kafka-javascript).
 * Writes bench/results/<name>.md (followed by bench/results/<name>-notes.md when present).
 * Run: `node --import tsx bench/kafka-client.ts --confluent-path DIR [--reps 3] [--records 200000]
 *       [--txn-records 50000] [--confluent-max-batch=-1] [--confluent-linger-ms N] [--name kafka-client]`
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { RESULTS, fmt, median, table, thisCommand, writeResult } from './lib/report.ts';

const { values: args } = parseArgs({
  options: {
    help: { type: 'boolean', default: false },
    'confluent-path': { type: 'string' },
    reps: { type: 'string', default: '3' },
    records: { type: 'string', default: '200000' },
    'txn-records': { type: 'string', default: '50000' },
    batch: { type: 'string', default: '500' },
    keys: { type: 'string', default: '50' },
    'confluent-max-batch': { type: 'string', default: '-1' },
    'confluent-linger-ms': { type: 'string' },
    name: { type: 'string', default: 'kafka-client' },
    kafka: { type: 'string', default: '127.0.0.1:19092' },
    // child-process mode (internal)
    worker: { type: 'string' },
    client: { type: 'string' },
    topic: { type: 'string' },
    output: { type: 'string' },
    run: { type: 'string' },
  },
});

const USAGE = `Usage: node --import tsx bench/kafka-client.ts --confluent-path DIR [options]
  --confluent-path DIR       where @confluentinc/kafka-javascript is installed (not a project dependency)
  --reps N                   interleaved repetitions per client (default 3)
  --records N                records the idempotent producer sends (default 200000)
  --txn-records N            records through the transactional loop (default 50000)
  --batch N                  records per awaited send (default 500)
  --keys N                   distinct keys (default 50)
  --confluent-max-batch=N    js.consumer.max.batch.size of the confluent consumer (-1: all fetched; default -1)
  --confluent-linger-ms N    linger.ms of the confluent producers (default: librdkafka's, 5)
  --name NAME                results file bench/results/NAME.md (default kafka-client)
  --kafka HOST:PORT          broker (default 127.0.0.1:19092)`;

const BROKER = args.kafka;
const PARTITIONS = 4;
const EVENT_BYTES = 150;
const OUT_BYTES = 1400;
const OUT_CHUNK = 500;
type ClientName = 'kafkajs' | 'confluent';
const CLIENTS: readonly ClientName[] = ['kafkajs', 'confluent'];

/** What one child run measured. */
interface Measured {
  records: number;
  seconds: number;
  cpuUs: number;
  transactions: number;
  load1: number;
}

const loadavg = (): number[] => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);

/** ~150-byte values, the same bytes for both clients. */
function eventValue(i: number): Buffer {
  const b = Buffer.alloc(EVENT_BYTES, 0x61 + (i % 26));
  b.writeUInt32BE(i, 0);
  return b;
}

/** The transform: ~1.4 KB out per record (the processor's N-Quads are 1.3–2.8 KB per event). */
function transform(value: Buffer): Buffer {
  const out = Buffer.alloc(OUT_BYTES);
  for (let at = 0; at < OUT_BYTES; at += value.length) value.copy(out, at);
  return out;
}

const records = (n: number, from: number, keys: number): { key: string; value: Buffer }[] =>
  Array.from({ length: n }, (_, j) => ({ key: `key-${(from + j) % keys}`, value: eventValue(from + j) }));

// ---------------------------------------------------------------- the clients, one shape
/** The KafkaJS-style surface both clients share, as this bench uses it. */
interface Client {
  connectProducer(transactionalId?: string): Promise<Producer>;
  consumer(
    groupId: string,
    topic: string,
    onBatch: (b: Batch) => Promise<void>,
  ): Promise<() => Promise<void>>;
}
interface Producer {
  send(topic: string, messages: { key: Buffer | string | null; value: Buffer }[]): Promise<void>;
  /** One transaction: `work` sends, then the consumed offsets are sent and it commits. */
  transaction(
    work: (send: Producer['send']) => Promise<void>,
    offsets: { groupId: string; consumer: unknown; topic: string; partition: number; offset: string },
  ): Promise<void>;
  disconnect(): Promise<void>;
}
interface Batch {
  topic: string;
  partition: number;
  messages: { key: Buffer | null; value: Buffer | null; offset: string }[];
  consumer: unknown;
}

/** Runs `steps` (sends and offsets) in the open transaction `t`, then commits it; aborts it when a step fails. */
async function commitOrAbort(
  t: { commit(): Promise<void>; abort(): Promise<void> },
  steps: () => Promise<void>,
): Promise<void> {
  try {
    await steps();
    await t.commit();
  } catch (error) {
    await t.abort();
    throw error;
  }
}

/** The consumed offset a transaction commits, as both clients' `sendOffsets` take it. */
const offsetsOf = (o: { topic: string; partition: number; offset: string }) => [
  { topic: o.topic, partitions: [{ partition: o.partition, offset: o.offset }] },
];

function kafkajsClient(): Client {
  const kafka = new kafkajs.Kafka({
    clientId: 'bench-kclient',
    brokers: [BROKER],
    logLevel: process.env['KCLIENT_DEBUG'] ? kafkajs.logLevel.INFO : kafkajs.logLevel.NOTHING,
  });
  return {
    async connectProducer(transactionalId) {
      // as the log package's producers: idempotent, one request in flight, acks from all replicas
      const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, transactionalId });
      await p.connect();
      const send: Producer['send'] = async (topic, messages) =>
        void (await p.send({ topic, acks: -1, messages }));
      return {
        send,
        async transaction(work, o) {
          const t = await p.transaction();
          await commitOrAbort(t, async () => {
            await work(async (topic, messages) => void (await t.send({ topic, acks: -1, messages })));
            await t.sendOffsets({ consumerGroupId: o.groupId, topics: offsetsOf(o) });
          });
        },
        disconnect: () => p.disconnect(),
      };
    },
    async consumer(groupId, topic, onBatch) {
      const c = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 100 });
      c.on(c.events.CRASH, ({ payload }) => {
        process.stderr.write(`kafkajs consumer crashed: ${String(payload.error)}\n`);
        process.exit(1);
      });
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        autoCommit: false,
        eachBatch: async ({ batch }) =>
          onBatch({ topic: batch.topic, partition: batch.partition, messages: batch.messages, consumer: c }),
      });
      return () => c.disconnect();
    },
  };
}

/** The part of `@confluentinc/kafka-javascript`'s KafkaJS API used here (not a dependency: typed by hand). */
interface ConfluentKafkaJS {
  Kafka: new (config: object) => {
    producer(config: object): ConfluentProducer;
    consumer(config: object): ConfluentConsumer;
  };
  logLevel: { NOTHING: number };
}
interface ConfluentProducer {
  connect(): Promise<void>;
  send(record: {
    topic: string;
    messages: { key: Buffer | string | null; value: Buffer }[];
  }): Promise<unknown>;
  transaction(): Promise<unknown>;
  sendOffsets(offsets: {
    consumer: unknown;
    topics: { topic: string; partitions: { partition: number; offset: string }[] }[];
  }): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  disconnect(): Promise<void>;
}
interface ConfluentConsumer {
  connect(): Promise<void>;
  subscribe(subscription: { topics: string[] }): Promise<void>;
  run(config: { eachBatch: (payload: { batch: Omit<Batch, 'consumer'> }) => Promise<void> }): Promise<void>;
  disconnect(): Promise<void>;
}

function confluentClient(path: string): Client {
  const { KafkaJS } = createRequire(join(process.cwd(), 'noop.js'))(path) as { KafkaJS: ConfluentKafkaJS };
  const kafka = new KafkaJS.Kafka({
    kafkaJS: { clientId: 'bench-kclient', brokers: [BROKER], logLevel: KafkaJS.logLevel.NOTHING },
  });
  return {
    async connectProducer(transactionalId) {
      const p = kafka.producer({
        kafkaJS: {
          idempotent: true,
          maxInFlightRequests: 1,
          acks: -1,
          ...(transactionalId === undefined ? {} : { transactionalId }),
        },
        // kafkajs's default partitioner is Java's (murmur2); librdkafka's default is CRC32-based
        partitioner: 'murmur2_random',
        ...(args['confluent-linger-ms'] === undefined
          ? {}
          : { 'linger.ms': Number(args['confluent-linger-ms']) }),
      });
      await p.connect();
      const send: Producer['send'] = async (topic, messages) => void (await p.send({ topic, messages }));
      return {
        send,
        async transaction(work, o) {
          // one transaction at a time per producer: transaction() resolves with the producer itself
          await p.transaction();
          await commitOrAbort(p, async () => {
            await work(send);
            await p.sendOffsets({ consumer: o.consumer, topics: offsetsOf(o) });
          });
        },
        disconnect: () => p.disconnect(),
      };
    },
    async consumer(groupId, topic, onBatch) {
      const c = kafka.consumer({
        kafkaJS: { groupId, fromBeginning: true, autoCommit: false, readUncommitted: false },
        'fetch.wait.max.ms': 100,
        'js.consumer.max.batch.size': Number(args['confluent-max-batch']),
      });
      await c.connect();
      await c.subscribe({ topics: [topic] });
      await c.run({ eachBatch: async ({ batch }) => onBatch({ ...batch, consumer: c }) });
      return () => c.disconnect();
    },
  };
}

const clientOf = (name: ClientName): Client => {
  if (name === 'kafkajs') return kafkajsClient();
  if (args['confluent-path'] === undefined)
    throw new Error('--confluent-path is required for the confluent client');
  return confluentClient(args['confluent-path']);
};

// ---------------------------------------------------------------- child runs
/** Measures from the first record sent (or batch received) to the last acknowledged (or committed). */
function meter(): { start(): void; stop(records: number, transactions: number): Measured } {
  let t0 = 0;
  let c0 = process.cpuUsage();
  return {
    start() {
      t0 = performance.now();
      c0 = process.cpuUsage();
    },
    stop(n, transactions) {
      const cpu = process.cpuUsage(c0);
      return {
        records: n,
        seconds: (performance.now() - t0) / 1000,
        cpuUs: cpu.user + cpu.system,
        transactions,
        load1: loadavg()[0]!,
      };
    },
  };
}

async function produceRun(client: Client, topic: string): Promise<Measured> {
  const total = Number(args.records);
  const batch = Number(args.batch);
  const keys = Number(args.keys);
  const producer = await client.connectProducer();
  const batches = Array.from({ length: Math.ceil(total / batch) }, (_, b) =>
    records(Math.min(batch, total - b * batch), b * batch, keys),
  );
  const m = meter();
  m.start();
  for (const messages of batches) await producer.send(topic, messages);
  const result = m.stop(total, 0);
  await producer.disconnect();
  return result;
}

async function transformRun(
  client: Client,
  name: ClientName,
  input: string,
  output: string,
  run: string,
): Promise<Measured> {
  const total = Number(args['txn-records']);
  const groupId = `bench-kclient-${name}-${run}`;
  const producer = await client.connectProducer(`${groupId}-tx`);
  const m = meter();
  let done = 0;
  let transactions = 0;
  let finish: (r: Measured) => void = () => {};
  const finished = new Promise<Measured>((resolve) => (finish = resolve));
  const stop = await client.consumer(groupId, input, async (batch) => {
    if (batch.messages.length === 0) return;
    if (done === 0 && transactions === 0) m.start();
    const last = batch.messages[batch.messages.length - 1]!;
    await producer.transaction(
      async (send) => {
        const out = batch.messages.map((r) => ({ key: r.key, value: transform(r.value ?? Buffer.alloc(0)) }));
        // sends of ≤ OUT_CHUNK records: kafkajs puts one send's records of a partition in one record
        // batch, and a batch over the broker's message.max.bytes (1 MB) is refused
        for (let at = 0; at < out.length; at += OUT_CHUNK) await send(output, out.slice(at, at + OUT_CHUNK));
      },
      {
        groupId,
        consumer: batch.consumer,
        topic: batch.topic,
        partition: batch.partition,
        offset: String(BigInt(last.offset) + 1n),
      },
    );
    transactions++;
    done += batch.messages.length;
    if (done >= total) finish(m.stop(done, transactions));
  });
  const result = await finished;
  await stop();
  await producer.disconnect();
  return result;
}

async function worker(): Promise<void> {
  const name = args.client as ClientName;
  const client = clientOf(name);
  const result =
    args.worker === 'produce'
      ? await produceRun(client, args.topic!)
      : await transformRun(client, name, args.topic!, args.output!, args.run!);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------- the coordinator
const log = (s: string): void => void process.stderr.write(`[kafka-client] ${s}\n`);

function child(extra: string[]): Promise<Measured> {
  const argv = [
    '--import',
    'tsx',
    process.argv[1]!,
    ...(args['confluent-path'] === undefined ? [] : ['--confluent-path', args['confluent-path']]),
    ...[
      '--records',
      args.records,
      '--txn-records',
      args['txn-records'],
      '--batch',
      args.batch,
      '--keys',
      args.keys,
    ],
    `--confluent-max-batch=${args['confluent-max-batch']}`,
    ...(args['confluent-linger-ms'] === undefined
      ? []
      : ['--confluent-linger-ms', args['confluent-linger-ms']]),
    ...['--kafka', BROKER],
    ...extra,
  ];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 600_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as Measured);
      else reject(new Error(`${extra.join(' ')} exited ${code}: ${out.slice(-500)}`));
    });
  });
}

async function coordinator(): Promise<void> {
  const reps = Number(args.reps);
  const stamp = `${Date.now().toString(36)}-${process.pid}`;
  const kafka = new kafkajs.Kafka({
    clientId: 'bench-kclient-admin',
    brokers: [BROKER],
    logLevel: kafkajs.logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const topic = (t: string): string => `bench-kclient-${stamp}-${t}`;
  const create = (names: string[]): Promise<boolean> =>
    admin.createTopics({
      waitForLeaders: true,
      topics: names.map((t) => ({ topic: t, numPartitions: PARTITIONS, replicationFactor: 1 })),
    });

  // one input for every transactional run, filled once (not measured)
  const input = topic('txn-in');
  await create([input]);
  const filler = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await filler.connect();
  const txnTotal = Number(args['txn-records']);
  for (let at = 0; at < txnTotal; at += 1000)
    await filler.send({
      topic: input,
      acks: -1,
      messages: records(Math.min(1000, txnTotal - at), at, Number(args.keys)),
    });
  await filler.disconnect();

  const results: Record<'produce' | 'transform', Record<ClientName, Measured[]>> = {
    produce: { kafkajs: [], confluent: [] },
    transform: { kafkajs: [], confluent: [] },
  };
  const loads: number[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    const order = rep % 2 === 1 ? CLIENTS : [...CLIENTS].reverse();
    for (const name of order) {
      const t = topic(`p-${name}-${rep}`);
      await create([t]);
      loads.push(loadavg()[0]!);
      const r = await child(['--worker', 'produce', '--client', name, '--topic', t]);
      const offsets = await admin.fetchTopicOffsets(t);
      const written = offsets.reduce((s, o) => s + Number(o.high), 0);
      if (written !== r.records)
        throw new Error(`${name} produce rep ${rep}: ${written} records on the topic, ${r.records} sent`);
      results.produce[name].push(r);
      log(
        `rep ${rep} produce ${name}: ${fmt(r.records / r.seconds)} records/s, ${fmt(r.cpuUs / r.records)} µs CPU/record, load ${r.load1}`,
      );
    }
    for (const name of order) {
      const out = topic(`t-${name}-${rep}`);
      await create([out]);
      loads.push(loadavg()[0]!);
      const run = `${stamp}-${rep}`;
      const r = await child([
        '--worker',
        'transform',
        '--client',
        name,
        '--topic',
        input,
        '--output',
        out,
        '--run',
        run,
      ]);
      const committed = (
        await admin.fetchOffsets({ groupId: `bench-kclient-${name}-${run}`, topics: [input] })
      )
        .flatMap((t) => t.partitions)
        .reduce((s, p) => s + Number(p.offset), 0);
      if (committed !== txnTotal)
        throw new Error(`${name} transform rep ${rep}: ${committed} offsets committed, ${txnTotal} in`);
      results.transform[name].push(r);
      log(
        `rep ${rep} transform ${name}: ${fmt(r.records / r.seconds)} records/s, ${fmt(r.cpuUs / r.records)} µs CPU/record, ${fmt(r.records / r.transactions)} records/transaction, load ${r.load1}`,
      );
    }
  }
  await admin.disconnect();

  const range = (xs: number[]): string =>
    `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
  const rows = (phase: 'produce' | 'transform'): string[][] =>
    CLIENTS.map((name) => {
      const rs = results[phase][name];
      return [
        name,
        range(rs.map((r) => r.records / r.seconds)),
        range(rs.map((r) => r.cpuUs / r.records)),
        ...(phase === 'transform' ? [range(rs.map((r) => r.records / r.transactions))] : []),
        rs.map((r) => fmt(r.load1, 2)).join(', '),
      ];
    });
  const ratio = (phase: 'produce' | 'transform'): string => {
    const rate = (n: ClientName): number => median(results[phase][n].map((r) => r.records / r.seconds));
    const cpu = (n: ClientName): number => median(results[phase][n].map((r) => r.cpuUs / r.records));
    return `confluent/kafkajs: ${fmt(rate('confluent') / rate('kafkajs'))}× the records/s, ${fmt(cpu('confluent') / cpu('kafkajs'))}× the CPU per record`;
  };
  const notes = join(RESULTS, `${args.name}-notes.md`);
  const body = [
    `Medians of ${reps} interleaved repetitions (min–max); each run a fresh child process; CPU is the`,
    `process's user + system time (librdkafka's threads included; the broker's not) over the measured span.`,
    `Settings: kafkajs as the log package sets it (idempotent, maxInFlightRequests 1, acks -1, maxWaitTimeInMs 100,`,
    `default fetch sizes, one eachBatch at a time); confluent the same where its API has them (idempotent, max.in.flight 1,`,
    `acks -1, fetch.wait.max.ms 100, partitioner murmur2_random as kafkajs's), linger.ms ${args['confluent-linger-ms'] ?? "librdkafka's default (5)"},`,
    `js.consumer.max.batch.size ${args['confluent-max-batch']} (kafkajs has neither: it sends at once and hands over what a fetch returned).`,
    `Sends within a transaction go in chunks of ${OUT_CHUNK} records for both (kafkajs would put a whole batch in one record batch over 1 MB).`,
    `Load average (1 min) while the runs went: ${fmt(Math.min(...loads), 2)}–${fmt(Math.max(...loads), 2)} on 2 shared cores.`,
    '',
    `## (a) Idempotent producer, acks=-1: ${args.records} records of ${EVENT_BYTES} B, awaited sends of ${args.batch}, ${args.keys} keys, ${PARTITIONS} partitions`,
    '',
    table(['client', 'records/s', 'CPU µs/record', 'load (1 min) per run'], rows('produce')),
    '',
    ratio('produce'),
    '',
    `## (b) Transactional consume-transform-produce: ${args['txn-records']} records, read_committed, one transaction per batch with sendOffsets, ${OUT_BYTES} B out per record`,
    '',
    table(
      ['client', 'records/s', 'CPU µs/record', 'records/transaction', 'load (1 min) per run'],
      rows('transform'),
    ),
    '',
    ratio('transform'),
    '',
    existsSync(notes) ? readFileSync(notes, 'utf8') : '',
  ].join('\n');
  log(
    `wrote ${await writeResult(args.name, 'Kafka client: kafkajs against @confluentinc/kafka-javascript (issue 19)', thisCommand(), body)}`,
  );
}

if (args.help) process.stdout.write(`${USAGE}\n`);
else if (args.worker !== undefined) await worker();
else await coordinator();
