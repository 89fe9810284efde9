/**
 * `provml dlq list|replay`: inspect dead letters and re-publish them to their source topic after a fix.
 *
 * Replays are recorded in a ledger, the compacted topic `<dead-letter topic>.replayed`, keyed by the
 * dead letter's `partition:offset`: a second replay skips what the ledger holds, so it does not
 * duplicate. The ledger is written after the records are re-published (at least once: a replay
 * interrupted between the two may re-publish a record once more on the next run, which the pipeline
 * absorbs, as every IRI is derived from the event's ids). A replayed record carries the header
 * `provml-replay-of: <dlq topic>/<partition>/<offset>` and none of the dead-letter headers.
 */
import { parseArgs } from 'node:util';
import { decodeCaptureEvent, silentLogger, ValidationError, type Logger } from '@provml/schemas';
import {
  DLQ_HEADERS,
  KafkaEventLog,
  decodeTriples,
  isEncodedTriples,
  type ConsumedRecord,
  type ProducedRecord,
} from '@provml/log';
import { requireBroker, resolveServiceConfig, topicNames } from '@provml/service';

/** Header a replayed record carries: where its dead letter was. */
export const REPLAY_HEADER = 'provml-replay-of';

/** The ledger topic of a dead-letter topic. */
export const ledgerTopic = (deadLetters: string): string => `${deadLetters}.replayed`;

/** A dead letter as listed. */
export interface DeadLetter {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  timestamp: number;
  reason: string;
  code: string;
  stage: string;
  sourceTopic: string;
  sourcePartition: number | null;
  sourceOffset: string;
  /** Bytes in the value. */
  size: number;
  /**
   * The value as text when it is printable UTF-8 (a deflated triples record: its N-Quads, after
   * `deflated N-Quads`), else its first 32 bytes in hex.
   */
  preview: string;
  /** What a capture event in it says, when it decodes as one. */
  event?: { eventId: string; workflow: string; workflowExecution: string; task: string; phase: string };
  /** Whether the ledger records it as replayed. */
  replayed: boolean;
}

/** Which dead letters to select; every given field must match. */
export interface DeadLetterFilter {
  code?: string;
  stage?: string;
  sourceTopic?: string;
  /** Tested against the reason header. */
  reason?: RegExp;
  partition?: number;
  /** Offsets within the dead-letter topic, inclusive. */
  fromOffset?: bigint;
  toOffset?: bigint;
  /** Leave out letters already replayed. */
  pending?: boolean;
  /** At most this many, in topic order. */
  limit?: number;
}

/** What a replay did. */
export interface ReplayReport {
  replayed: DeadLetter[];
  /** Selected letters left alone, with why. */
  skipped: { letter: DeadLetter; why: string }[];
}

const PRINTABLE = /^[\t\n\r\x20-\x7e\u00a0-\uffff]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function preview(value: Buffer): string {
  if (isEncodedTriples(value))
    try {
      return `deflated N-Quads ${preview(Buffer.from(decodeTriples(value), 'utf8'))}`;
    } catch {
      // not a triples record after all: hex below
    }
  try {
    const text = utf8.decode(value);
    if (PRINTABLE.test(text)) return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
  } catch {
    // not UTF-8: hex below
  }
  const hex = value
    .subarray(0, 32)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
  return `hex ${hex}${value.length > 32 ? ' …' : ''}`;
}

function decodedEvent(value: Buffer): DeadLetter['event'] {
  try {
    const e = decodeCaptureEvent(value);
    return {
      eventId: e.eventId,
      workflow: e.workflow,
      workflowExecution: e.workflowExecution,
      task: e.task,
      phase: e.phase,
    };
  } catch {
    return undefined;
  }
}

const ledgerKey = (r: { partition: number; offset: string }): string => `${r.partition}:${r.offset}`;

function describe(record: ConsumedRecord, replayed: ReadonlySet<string>): DeadLetter {
  const h = record.headers;
  const sourcePartition = h[DLQ_HEADERS.sourcePartition];
  const event = decodedEvent(record.value);
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    key: record.key,
    timestamp: record.timestamp,
    reason: h[DLQ_HEADERS.reason] ?? '',
    code: h[DLQ_HEADERS.code] ?? '',
    stage: h[DLQ_HEADERS.stage] ?? '',
    sourceTopic: h[DLQ_HEADERS.sourceTopic] ?? '',
    sourcePartition: sourcePartition === undefined ? null : Number(sourcePartition),
    sourceOffset: h[DLQ_HEADERS.sourceOffset] ?? '',
    size: record.value.length,
    preview: preview(record.value),
    ...(event === undefined ? {} : { event }),
    replayed: replayed.has(ledgerKey(record)),
  };
}

function matches(letter: DeadLetter, f: DeadLetterFilter): boolean {
  const offset = BigInt(letter.offset);
  return (
    (f.code === undefined || letter.code === f.code) &&
    (f.stage === undefined || letter.stage === f.stage) &&
    (f.sourceTopic === undefined || letter.sourceTopic === f.sourceTopic) &&
    (f.reason === undefined || f.reason.test(letter.reason)) &&
    (f.partition === undefined || letter.partition === f.partition) &&
    (f.fromOffset === undefined || offset >= f.fromOffset) &&
    (f.toOffset === undefined || offset <= f.toOffset) &&
    (f.pending !== true || !letter.replayed)
  );
}

/** The dead letters of a topic with the ledger's verdict on each. */
async function readDeadLetters(
  log: KafkaEventLog,
  deadLetters: string,
): Promise<{ records: ConsumedRecord[]; letters: DeadLetter[] }> {
  await log.ensureTopic(ledgerTopic(deadLetters), 1, { compacted: true });
  const [records, ledger] = await Promise.all([
    log.readTopic(deadLetters),
    log.readTopic(ledgerTopic(deadLetters)),
  ]);
  const replayed = new Set(ledger.map((r) => r.key ?? ''));
  const letters = records
    .map((r) => describe(r, replayed))
    .sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  return { records, letters };
}

const select = (letters: readonly DeadLetter[], filter: DeadLetterFilter): DeadLetter[] => {
  const out = letters.filter((l) => matches(l, filter));
  return filter.limit === undefined ? out : out.slice(0, filter.limit);
};

/** Lists the dead letters of `deadLetters` that pass `filter`, in partition and offset order. */
export async function listDeadLetters(
  log: KafkaEventLog,
  deadLetters: string,
  filter: DeadLetterFilter = {},
): Promise<DeadLetter[]> {
  return select((await readDeadLetters(log, deadLetters)).letters, filter);
}

/**
 * Re-publishes the selected dead letters to their source topics (same key and value, dead-letter
 * headers dropped, {@link REPLAY_HEADER} added) and records them in the ledger. Letters already in
 * the ledger, or without a source topic, are skipped. `dryRun` reports without publishing.
 */
export async function replayDeadLetters(
  log: KafkaEventLog,
  deadLetters: string,
  filter: DeadLetterFilter = {},
  options: { dryRun?: boolean; logger?: Logger } = {},
): Promise<ReplayReport> {
  const logger = options.logger ?? silentLogger;
  const read = await readDeadLetters(log, deadLetters);
  const records = new Map(read.records.map((r) => [ledgerKey(r), r]));
  const selected = select(read.letters, { ...filter, pending: false });
  const report: ReplayReport = { replayed: [], skipped: [] };
  const bySource = new Map<string, ProducedRecord[]>();
  for (const letter of selected) {
    if (letter.replayed) {
      report.skipped.push({ letter, why: 'already replayed (in the ledger)' });
      continue;
    }
    if (letter.sourceTopic === '') {
      report.skipped.push({ letter, why: `no ${DLQ_HEADERS.sourceTopic} header` });
      continue;
    }
    const record = records.get(ledgerKey(letter))!;
    const headers = Object.fromEntries(
      Object.entries(record.headers).filter(([k]) => !Object.values<string>(DLQ_HEADERS).includes(k)),
    );
    headers[REPLAY_HEADER] = `${deadLetters}/${letter.partition}/${letter.offset}`;
    let list = bySource.get(letter.sourceTopic);
    if (list === undefined) bySource.set(letter.sourceTopic, (list = []));
    list.push({ key: record.key, value: record.value, headers });
    report.replayed.push(letter);
  }
  if (options.dryRun === true || report.replayed.length === 0) return report;
  const producer = log.producer();
  for (const [topic, list] of bySource) await producer.send(topic, list);
  await producer.send(
    ledgerTopic(deadLetters),
    report.replayed.map((l) => ({
      key: ledgerKey(l),
      value: Buffer.from(
        JSON.stringify({
          sourceTopic: l.sourceTopic,
          sourcePartition: l.sourcePartition,
          sourceOffset: l.sourceOffset,
          replayedAt: new Date().toISOString(),
        }),
      ),
    })),
  );
  logger.info('replayed dead letters', { topic: deadLetters, count: report.replayed.length });
  return report;
}

const USAGE = `usage: provml dlq list|replay [--kafka HOST:PORT,...] [--config FILE] [--topic-prefix P]
              [--dlq-topic T] [--code C] [--stage S] [--source-topic T] [--reason REGEX]
              [--partition N] [--from-offset N] [--to-offset N] [--pending] [--limit N] [--json]
              [--dry-run (replay)]

  list     the dead letters: position, reason, code, stage, source topic/partition/offset and a
           preview of the value (text, hex, or the capture event it decodes to)
  replay   re-publishes the selected dead letters to their source topics after a fix; each is
           recorded in <dlq-topic>.replayed, so a second replay skips it`;

/**
 * Runs `provml dlq …` and returns the exit status (0, 1 for a failure, 2 for bad usage).
 * `print` receives the output; Kafka settings come from options, environment and --config.
 */
export async function dlqCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  print: (line: string) => void,
): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== 'list' && action !== 'replay') {
    print(USAGE);
    return action === '--help' || action === 'help' ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string' },
      kafka: { type: 'string' },
      'topic-prefix': { type: 'string' },
      'dlq-topic': { type: 'string' },
      code: { type: 'string' },
      stage: { type: 'string' },
      'source-topic': { type: 'string' },
      reason: { type: 'string' },
      partition: { type: 'string' },
      'from-offset': { type: 'string' },
      'to-offset': { type: 'string' },
      pending: { type: 'boolean', default: false },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const config = resolveServiceConfig(
    { kafka: { brokers: values.kafka?.split(',') }, topics: { prefix: values['topic-prefix'] } },
    env,
    values.config,
  );
  const integer = (name: string, v: string | undefined): bigint | undefined => {
    if (v === undefined) return undefined;
    if (!/^\d{1,18}$/.test(v))
      throw new ValidationError(`--${name} must be a non-negative integer`, [{ path: name, message: v }]);
    return BigInt(v);
  };
  let reason: RegExp | undefined;
  try {
    reason = values.reason === undefined ? undefined : new RegExp(values.reason);
  } catch (error) {
    throw new ValidationError('--reason is not a regular expression', [
      { path: 'reason', message: (error as Error).message },
    ]);
  }
  const partition = integer('partition', values.partition);
  const limit = integer('limit', values.limit);
  const filter: DeadLetterFilter = {
    code: values.code,
    stage: values.stage,
    sourceTopic: values['source-topic'],
    reason,
    partition: partition === undefined ? undefined : Number(partition),
    fromOffset: integer('from-offset', values['from-offset']),
    toOffset: integer('to-offset', values['to-offset']),
    pending: values.pending,
    limit: limit === undefined ? undefined : Number(limit),
  };
  const deadLetters = values['dlq-topic'] ?? topicNames(config).deadLetters;
  await requireBroker(config.kafka.brokers);
  const log = new KafkaEventLog({
    brokers: config.kafka.brokers,
    clientId: 'provml-dlq',
    ssl: config.kafka.ssl,
    sasl: config.kafka.sasl as never,
    replicationFactor: config.topics.replicationFactor,
    minInsyncReplicas: config.topics.minInsyncReplicas,
  });
  try {
    if (action === 'list') {
      const letters = await listDeadLetters(log, deadLetters, filter);
      if (values.json) print(JSON.stringify(letters, null, 2));
      else {
        for (const l of letters) print(formatLetter(l));
        print(`${letters.length} dead letter(s) in ${deadLetters}`);
      }
      return 0;
    }
    const report = await replayDeadLetters(log, deadLetters, filter, { dryRun: values['dry-run'] });
    if (values.json) print(JSON.stringify({ dryRun: values['dry-run'], ...report }, null, 2));
    else {
      const verb = values['dry-run'] ? 'would replay' : 'replayed';
      for (const l of report.replayed) print(`${verb} ${position(l)} → ${l.sourceTopic}`);
      for (const s of report.skipped) print(`skipped ${position(s.letter)}: ${s.why}`);
      print(`${verb} ${report.replayed.length}, skipped ${report.skipped.length}`);
    }
    return 0;
  } finally {
    await log.close();
  }
}

const position = (l: DeadLetter): string => `${l.topic}/${l.partition}@${l.offset}`;

function formatLetter(l: DeadLetter): string {
  const source = `${l.sourceTopic}/${l.sourcePartition ?? '?'}@${l.sourceOffset}`;
  const event =
    l.event === undefined
      ? ''
      : `\n    event    ${l.event.eventId} (${l.event.workflow} / ${l.event.workflowExecution} / ${l.event.task} ${l.event.phase})`;
  return `${position(l)}  ${l.stage} ${l.code}${l.replayed ? '  [replayed]' : ''}  from ${source}
    reason   ${l.reason}
    value    ${l.size} bytes: ${l.preview}${event}`;
}
