/** SinkService over an EmbeddedLog and a real Oxigraph store: loads, commit-after-ack, retry pauses, poison bisection, shutdown. */
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_TOPICS,
  DLQ_HEADERS,
  EmbeddedLog,
  encodeTriples,
  type ConsumedRecord,
  type ProducedRecord,
} from '@provml/log';
import { selectRows, type TripleStore } from '@provml/stores';
import { SinkService, type SinkOptions } from '@provml/sinks';
import { FaultyStore } from './FaultyStore.ts';

const TRIPLES = DEFAULT_TOPICS.triples;
const DLQ = DEFAULT_TOPICS.deadLetters;
const GROUP = 'provml-sink';
const EX = 'http://example.org/';
const FAST: SinkOptions = { initialBackoffMs: 5, maxBackoffMs: 20 };

/** Polls `condition` until it holds, failing after `timeoutMs` (a bound, not an expected duration). */
async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => setTimeout(resolve, 2));
  }
}

/** One N-Quads line: a distinct quad per `i`, in the named graph of its workflow execution. */
const quad = (i: number, wf: string): string =>
  `<${EX}entity/${i}> <${EX}value> "v${i}" <${EX}graph/${wf}> .`;

/** A record of the triples topic, keyed by workflow execution. */
const tripleRecord = (i: number, wf = `wf-${i % 3}`): ProducedRecord => ({
  key: wf,
  value: Buffer.from(quad(i, wf) + '\n'),
  headers: { 'provml-test': String(i) },
});

const sinks: SinkService[] = [];
/** A sink that is shut down after the test, even when an assertion fails. */
function sinkOf(log: EmbeddedLog, store: TripleStore, options: SinkOptions = FAST): SinkService {
  const sink = new SinkService(log, store, options);
  sinks.push(sink);
  return sink;
}

afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.shutdown()));
});

async function entities(store: TripleStore): Promise<string[]> {
  const rows = await selectRows(store, `SELECT ?s WHERE { ?s <${EX}value> ?v }`);
  return rows.map((r) => r['s']!).sort();
}

const entityIris = (ids: readonly number[]): string[] => ids.map((i) => `${EX}entity/${i}`).sort();

describe('SinkService', () => {
  it('loads records of the triples topic into the store and commits them', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TRIPLES, 3);
    const store = new FaultyStore();
    const sink = sinkOf(log, store);
    log.append(
      TRIPLES,
      Array.from({ length: 10 }, (_, i) => tripleRecord(i)),
    );
    await sink.start();
    await sink.start(); // a second start is a no-op
    await log.producer().send(
      TRIPLES,
      Array.from({ length: 5 }, (_, i) => tripleRecord(10 + i)),
    );

    await waitFor(() => log.lag(GROUP, TRIPLES) === 0, 'lag 0');
    expect(await store.size()).toBe(15);
    expect(await entities(store)).toEqual(entityIris(Array.from({ length: 15 }, (_, i) => i)));
    // quads keep their named graphs
    const graphs = await selectRows(store, `SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g`);
    expect(graphs.map((r) => r['g'])).toEqual([`${EX}graph/wf-0`, `${EX}graph/wf-1`, `${EX}graph/wf-2`]);
    expect(sink.stats.recordsLoaded).toBe(15);
    expect(sink.stats.batchesLoaded).toBeGreaterThan(0);
    expect(sink.stats.bytesLoaded).toBeGreaterThan(0);
    expect(sink.stats.retries).toBe(0);
    expect(sink.stats.deadLettered).toBe(0);
    expect(sink.stats.paused).toBe(false);
    expect(log.records(DLQ)).toEqual([]);
  });

  it('consumes a configured topic with a configured group', async () => {
    const log = new EmbeddedLog();
    const topics = { ...DEFAULT_TOPICS, triples: 'custom.triples', deadLetters: 'custom.dlq' };
    const store = new FaultyStore();
    const sink = sinkOf(log, store, { ...FAST, topics, groupId: 'custom-sink', maxBatchSize: 2 });
    await sink.start();
    log.append('custom.triples', [tripleRecord(1), tripleRecord(2), tripleRecord(3)]);
    log.append(TRIPLES, [tripleRecord(99)]);
    await waitFor(() => log.lag('custom-sink', 'custom.triples') === 0, 'custom topic consumed');
    expect(await entities(store)).toEqual(entityIris([1, 2, 3]));
    expect(log.lag('custom-sink', TRIPLES)).toBe(1);
  });

  it('commits offsets only after the store acknowledged; pauses while it is unavailable', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TRIPLES, 2);
    const store = new FaultyStore();
    store.down = true;
    const sink = sinkOf(log, store);
    await sink.start();
    const ids = Array.from({ length: 12 }, (_, i) => i);
    log.append(
      TRIPLES,
      ids.map((i) => tripleRecord(i)),
    );

    await waitFor(() => sink.stats.paused && sink.stats.retries >= 3, 'several retries');
    expect(log.lag(GROUP, TRIPLES)).toBe(12);
    expect(await store.size()).toBe(0);
    expect(sink.stats.recordsLoaded).toBe(0);
    // still nothing committed a little later, and the sink keeps retrying
    const retries = sink.stats.retries;
    await waitFor(() => sink.stats.retries > retries + 2, 'more retries');
    expect(log.lag(GROUP, TRIPLES)).toBe(12);
    expect(sink.stats.paused).toBe(true);

    store.down = false;
    await waitFor(() => log.lag(GROUP, TRIPLES) === 0, 'lag 0 after recovery');
    expect(sink.stats.paused).toBe(false);
    expect(await entities(store)).toEqual(entityIris(ids));
    expect(sink.stats.recordsLoaded).toBe(12);
    // every record acknowledged exactly once
    const lines = store.acknowledged.flatMap((body) => body.split('\n').filter((l) => l.trim() !== ''));
    expect(lines.sort()).toEqual(ids.map((i) => quad(i, `wf-${i % 3}`)).sort());
    expect(log.records(DLQ)).toEqual([]);
  });

  it('retries a batch for each retryable answer, then loads it once', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TRIPLES, 1);
    log.append(
      TRIPLES,
      Array.from({ length: 6 }, (_, i) => tripleRecord(i, 'wf')),
    );
    const store = new FaultyStore();
    store.failNext = 3;
    const sink = sinkOf(log, store);
    await sink.start();
    await waitFor(() => log.lag(GROUP, TRIPLES) === 0, 'lag 0');
    expect(sink.stats.retries).toBe(3);
    expect(store.attempts).toBe(4);
    expect(store.acknowledged).toHaveLength(1);
    expect(sink.stats.batchesLoaded).toBe(1);
    expect(sink.stats.paused).toBe(false);
    expect(await store.size()).toBe(6);
  });

  it('bisects a poison record out of a batch: dead-lettered with its origin, the valid records loaded', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TRIPLES, 1);
    const valid = Array.from({ length: 9 }, (_, i) => tripleRecord(i, 'wf'));
    const poison: ProducedRecord = {
      key: 'wf',
      value: Buffer.from(`<${EX}entity/bad> <${EX}value> "unterminated <${EX}graph/wf> .\n`),
      headers: { 'provml-test': 'poison' },
    };
    const produced = [...valid.slice(0, 6), poison, ...valid.slice(6)];
    const offsets = log.append(TRIPLES, produced);
    const store = new FaultyStore();
    const sink = sinkOf(log, store);
    await sink.start();

    await waitFor(() => log.lag(GROUP, TRIPLES) === 0, 'lag 0');
    expect(await entities(store)).toEqual(entityIris(Array.from({ length: 9 }, (_, i) => i)));
    expect(await store.size()).toBe(9);

    const dead = log.records(DLQ);
    expect(dead).toHaveLength(1);
    const [letter] = dead as [ConsumedRecord];
    expect(letter.key).toBe('wf');
    expect(letter.value.equals(poison.value)).toBe(true);
    expect(letter.headers[DLQ_HEADERS.sourceTopic]).toBe(TRIPLES);
    expect(letter.headers[DLQ_HEADERS.sourcePartition]).toBe('0');
    expect(letter.headers[DLQ_HEADERS.sourceOffset]).toBe(offsets[6]);
    expect(letter.headers[DLQ_HEADERS.sourceOffset]).toBe('6');
    expect(letter.headers[DLQ_HEADERS.stage]).toBe('load');
    expect(letter.headers[DLQ_HEADERS.reason]).toBeTruthy();
    expect(letter.headers[DLQ_HEADERS.code]).toBeTruthy();
    expect(letter.headers['provml-test']).toBe('poison'); // the original headers travel along
    expect(sink.stats.deadLettered).toBe(1);
    expect(sink.stats.recordsLoaded).toBe(9);
    // the poison was tried on its own before being dead-lettered
    expect(store.failed).toContain(poison.value.toString('utf8'));
  });

  it('splits a refused record into its statements: only the refused one is dead-lettered, its neighbours load', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TRIPLES, 1);
    // one record of a workflow execution: quads of several events, one IRI the store refuses (U+FFFE)
    const lines = [0, 1, 2, 3, 4].map((i) => quad(i, 'wf'));
    const bad = `<${EX}entity/bad\ufffe> <${EX}value> "x" <${EX}graph/wf> .`;
    lines.splice(3, 0, bad);
    const offsets = log.append(TRIPLES, [
      tripleRecord(10, 'wf'),
      { key: 'wf', value: Buffer.from(`${lines.join('\n')}\n`), headers: { 'provml-test': 'mixed' } },
      tripleRecord(11, 'wf'),
    ]);
    const store = new FaultyStore();
    const sink = sinkOf(log, store);
    await sink.start();

    await waitFor(() => log.lag(GROUP, TRIPLES) === 0, 'lag 0');
    expect(await entities(store)).toEqual(entityIris([0, 1, 2, 3, 4, 10, 11]));
    const dead = log.records(DLQ);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.value.toString('utf8')).toBe(`${bad}\n`);
    expect(dead[0]!.headers[DLQ_HEADERS.sourceOffset]).toBe(offsets[1]);
    expect(dead[0]!.headers['provml-test']).toBe('mixed');
    expect(sink.stats).toMatchObject({ deadLettered: 1, recordsLoaded: 3 });
  });

  it('loads both formats of the triples topic in order: deflated (version 1) and plain N-Quads (older records)', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TRIPLES, 1);
    const deflated = (ids: number[]): ProducedRecord => ({
      key: 'wf',
      value: encodeTriples(ids.map((i) => `${quad(i, 'wf')}\n`).join('')),
    });
    log.append(TRIPLES, [tripleRecord(0, 'wf'), deflated([1, 2]), tripleRecord(3, 'wf'), deflated([4])]);
    const store = new FaultyStore();
    const sink = sinkOf(log, store);
    await sink.start();

    await waitFor(() => log.lag(GROUP, TRIPLES) === 0, 'lag 0');
    expect(await entities(store)).toEqual(entityIris([0, 1, 2, 3, 4]));
    expect(sink.stats).toMatchObject({ recordsLoaded: 4, deadLettered: 0 });
  });

  it('dead-letters a deflated record refused in part as its refused statements, and an undecodable one as it is', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TRIPLES, 1);
    const bad = `<${EX}entity/bad\ufffe> <${EX}value> "x" <${EX}graph/wf> .`;
    const mixed = encodeTriples(`${quad(1, 'wf')}\n${bad}\n${quad(2, 'wf')}\n`);
    const corrupt = Buffer.concat([mixed.subarray(0, 2), Buffer.from('no deflate stream')]);
    const offsets = log.append(TRIPLES, [
      { key: 'wf', value: mixed },
      { key: 'wf', value: corrupt },
      tripleRecord(3, 'wf'),
    ]);
    const store = new FaultyStore();
    const sink = sinkOf(log, store);
    await sink.start();

    await waitFor(() => log.lag(GROUP, TRIPLES) === 0, 'lag 0');
    expect(await entities(store)).toEqual(entityIris([1, 2, 3]));
    const dead = log.records(DLQ);
    expect(dead.map((d) => [d.headers[DLQ_HEADERS.sourceOffset], d.headers[DLQ_HEADERS.stage]])).toEqual([
      [offsets[1], 'decode'],
      [offsets[0], 'load'],
    ]);
    expect(dead[0]!.value.equals(corrupt)).toBe(true);
    expect(dead[1]!.value.toString('utf8')).toBe(`${bad}\n`);
    expect(sink.stats).toMatchObject({ deadLettered: 2, recordsLoaded: 2 });
  });

  it('dead-letters every poison record of a batch, across partitions', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TRIPLES, 2);
    const bad = (n: number): ProducedRecord => ({
      key: `wf-${n % 3}`,
      value: Buffer.from(`not N-Quads ${n}\n`),
    });
    const produced = [
      bad(0),
      ...Array.from({ length: 5 }, (_, i) => tripleRecord(i)),
      bad(1),
      ...Array.from({ length: 5 }, (_, i) => tripleRecord(5 + i)),
      bad(2),
    ];
    log.append(TRIPLES, produced);
    const store = new FaultyStore();
    const sink = sinkOf(log, store);
    await sink.start();

    await waitFor(() => log.lag(GROUP, TRIPLES) === 0, 'lag 0');
    expect(await entities(store)).toEqual(entityIris(Array.from({ length: 10 }, (_, i) => i)));
    const dead = log.records(DLQ);
    expect(dead.map((r) => r.value.toString('utf8')).sort()).toEqual([
      'not N-Quads 0\n',
      'not N-Quads 1\n',
      'not N-Quads 2\n',
    ]);
    const sources = log.records(TRIPLES).filter((r) => r.value.toString('utf8').startsWith('not N-Quads'));
    for (const letter of dead) {
      const source = sources.find((r) => r.value.equals(letter.value))!;
      expect(letter.headers[DLQ_HEADERS.sourcePartition]).toBe(String(source.partition));
      expect(letter.headers[DLQ_HEADERS.sourceOffset]).toBe(source.offset);
      expect(letter.headers[DLQ_HEADERS.stage]).toBe('load');
    }
    expect(sink.stats.deadLettered).toBe(3);
  });

  it('shuts down idempotently while the store is down, leaving the unloaded batch uncommitted', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TRIPLES, 2);
    const store = new FaultyStore();
    store.down = true;
    const sink = new SinkService(log, store, FAST);
    await sink.start();
    const ids = Array.from({ length: 8 }, (_, i) => i);
    log.append(
      TRIPLES,
      ids.map((i) => tripleRecord(i)),
    );
    await waitFor(() => sink.stats.paused && sink.stats.retries >= 2, 'the sink to pause');

    await Promise.all([sink.shutdown(), sink.shutdown()]);
    await sink.shutdown();
    expect(log.lag(GROUP, TRIPLES)).toBe(8);
    expect(await store.size()).toBe(0);

    // the shut-down sink takes no more records, even once the store is back
    store.down = false;
    const attempts = store.attempts;
    log.append(TRIPLES, [tripleRecord(100)]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(store.attempts).toBe(attempts);

    // a new member of the group gets the uncommitted records again (at-least-once)
    const next = sinkOf(log, store);
    await next.start();
    await waitFor(() => log.lag(GROUP, TRIPLES) === 0, 'redelivery');
    expect(await entities(store)).toEqual(entityIris([...ids, 100]));
  });

  it('shuts down when never started, and twice after a healthy run', async () => {
    const log = new EmbeddedLog();
    const idle = new SinkService(log, new FaultyStore(), FAST);
    await idle.shutdown();
    await idle.shutdown();

    const store = new FaultyStore();
    const sink = new SinkService(log, store, FAST);
    await sink.start();
    log.append(TRIPLES, [tripleRecord(1)]);
    await waitFor(() => log.lag(GROUP, TRIPLES) === 0, 'lag 0');
    await sink.shutdown();
    await sink.shutdown();
    expect(await store.size()).toBe(1);
  });

  // regression: bytesLoaded once counted UTF-16 code units
  it('counts bytesLoaded in bytes, not UTF-16 code units', async () => {
    const log = new EmbeddedLog();
    const store = new FaultyStore();
    const sink = new SinkService(log, store, FAST);
    const value = Buffer.from(`<${EX}entity/ü> <${EX}value> "zweiter Lauf – ü 🚀" <${EX}graph/wf> .\n`);
    log.append(TRIPLES, [{ key: 'wf', value }]);
    const records = log.records(TRIPLES);
    await sink.loadBatch({ topic: TRIPLES, partition: records[0]!.partition, records }, log.producer());
    expect(await store.size()).toBe(1);
    expect(sink.stats.bytesLoaded).toBe(value.length);
  });

  it('loadBatch can be called directly and waits out retryable answers', async () => {
    const log = new EmbeddedLog();
    const store = new FaultyStore();
    store.failNext = 2;
    const sink = new SinkService(log, store, FAST);
    const records = log.append(TRIPLES, [tripleRecord(1, 'wf'), tripleRecord(2, 'wf')]);
    expect(records).toEqual(['0', '1']);
    const batch = log.records(TRIPLES);
    await sink.loadBatch({ topic: TRIPLES, partition: batch[0]!.partition, records: batch }, log.producer());
    expect(sink.stats.retries).toBe(2);
    expect(await store.size()).toBe(2);
    // loadBatch commits nothing by itself: that is the consumer's job
    expect(log.lag(GROUP, TRIPLES)).toBe(2);
  });
});
