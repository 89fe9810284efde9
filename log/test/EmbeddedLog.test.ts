/** EmbeddedLog: partitioning, offsets, consumer-group positions, at-least-once delivery, wake-ups, fairness and table reads. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  EmbeddedLog,
  partitionFor,
  type ConsumedRecord,
  type LogConsumer,
  type ProducedRecord,
  type RecordBatch,
} from '@provml/log';

const TOPIC = 'test.topic';

/** Polls `condition` until it holds, failing after `timeoutMs` (a bound, not an expected duration). */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => setTimeout(resolve, 2));
  }
}

/** Resolves after the current macrotask and every microtask it queued, without using setTimeout. */
const afterPendingWork = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** A key that `partitionFor` places on `partition` among `partitions`. */
function keyOn(partition: number, partitions: number, prefix = 'wf'): string {
  for (let i = 0; i < 10_000; i++) {
    const key = `${prefix}-${i}`;
    if (partitionFor(key, partitions) === partition) return key;
  }
  throw new Error(`no key found for partition ${partition}`);
}

const rec = (key: string | null, value: string, headers?: Record<string, string>): ProducedRecord =>
  headers === undefined ? { key, value: Buffer.from(value) } : { key, value: Buffer.from(value), headers };

const text = (r: ConsumedRecord): string => r.value.toString('utf8');

/** Runs a consumer that collects every record; returns the collection and the run promise. */
function collect(
  consumer: LogConsumer,
  onBatch?: (batch: RecordBatch) => Promise<void> | void,
): { records: ConsumedRecord[]; batches: RecordBatch[]; done: Promise<void> } {
  const records: ConsumedRecord[] = [];
  const batches: RecordBatch[] = [];
  const done = consumer.run(async (batch) => {
    await onBatch?.(batch);
    batches.push(batch);
    records.push(...batch.records);
  });
  return { records, batches, done };
}

/** Checks that records, per partition, are exactly offsets 0..n-1 in order. */
function expectPerPartitionOrder(records: readonly ConsumedRecord[], endOffsets: readonly number[]): void {
  endOffsets.forEach((end, p) => {
    const offsets = records.filter((r) => r.partition === p).map((r) => r.offset);
    expect(offsets).toEqual(Array.from({ length: end }, (_, i) => String(i)));
  });
}

const running: LogConsumer[] = [];
/** Registers a consumer so it is stopped after the test even when an assertion fails. */
function track(consumer: LogConsumer): LogConsumer {
  running.push(consumer);
  return consumer;
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(running.splice(0).map((c) => c.stop()));
});

describe('EmbeddedLog producing', () => {
  it('keeps records with the same key on one partition, in order, with consecutive offsets', async () => {
    const log = new EmbeddedLog({ defaultPartitions: 4 });
    await log.ensureTopic(TOPIC, 4);
    const key = 'workflow-execution-42';
    const expected = partitionFor(key, 4);

    const first = log.append(TOPIC, [rec(key, 'a'), rec(key, 'b')]);
    await log.producer().send(TOPIC, [rec(key, 'c')]);
    const last = log.append(TOPIC, [rec(key, 'd')]);

    expect(first).toEqual(['0', '1']);
    expect(last).toEqual(['3']);
    const records = log.records(TOPIC);
    expect(records.map((r) => r.partition)).toEqual([expected, expected, expected, expected]);
    expect(records.map((r) => r.offset)).toEqual(['0', '1', '2', '3']);
    expect(records.map(text)).toEqual(['a', 'b', 'c', 'd']);
    expect(log.endOffsets(TOPIC)).toEqual([0, 1, 2, 3].map((p) => (p === expected ? 4 : 0)));
  });

  it('places keys as Kafka does and numbers offsets per partition', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TOPIC, 3);
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'a', 'b'];
    const offsets = log.append(
      TOPIC,
      keys.map((k, i) => rec(k, String(i))),
    );
    const seen = new Map<number, number>();
    keys.forEach((k, i) => {
      const p = partitionFor(k, 3);
      const next = seen.get(p) ?? 0;
      seen.set(p, next + 1);
      expect(offsets[i]).toBe(String(next));
    });
    for (const r of log.records(TOPIC)) expect(r.partition).toBe(partitionFor(r.key!, 3));
  });

  it('spreads null keys round-robin over the partitions', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TOPIC, 4);
    log.append(
      TOPIC,
      Array.from({ length: 6 }, (_, i) => rec(null, `n${i}`)),
    );
    await log.producer().send(TOPIC, [rec(null, 'n6'), rec(null, 'n7')]);
    expect(log.endOffsets(TOPIC)).toEqual([2, 2, 2, 2]);
    const byPartition = [0, 1, 2, 3].map((p) =>
      log
        .records(TOPIC)
        .filter((r) => r.partition === p)
        .map(text),
    );
    expect(byPartition).toEqual([
      ['n0', 'n4'],
      ['n1', 'n5'],
      ['n2', 'n6'],
      ['n3', 'n7'],
    ]);
  });

  it('keeps headers, key and a timestamp on each record', () => {
    const log = new EmbeddedLog();
    const before = Date.now();
    log.append(TOPIC, [rec('k', 'v', { h: '1' }), rec(null, 'w')]);
    const [withHeaders, withoutHeaders] = [...log.records(TOPIC)].sort((a, b) =>
      text(a).localeCompare(text(b)),
    );
    expect(withHeaders).toMatchObject({ topic: TOPIC, key: 'k', headers: { h: '1' } });
    expect(withoutHeaders).toMatchObject({ topic: TOPIC, key: null, headers: {} });
    expect(withHeaders!.timestamp).toBeGreaterThanOrEqual(before);
  });

  it('creates topics with the partition count asked for, once; appends to an unknown topic use the default', async () => {
    const log = new EmbeddedLog({ defaultPartitions: 5 });
    await log.ensureTopic('three', 3);
    await log.ensureTopic('one', 1);
    expect(log.endOffsets('three')).toEqual([0, 0, 0]);
    expect(log.endOffsets('one')).toEqual([0]);

    log.append('three', [rec('x', '1')]);
    await log.ensureTopic('three', 8); // already there: neither resized nor emptied
    expect(log.endOffsets('three')).toHaveLength(3);
    expect(log.records('three')).toHaveLength(1);

    log.append('auto', [rec(null, 'a')]);
    expect(log.endOffsets('auto')).toHaveLength(5);
    expect(log.endOffsets('missing')).toEqual([]);
    expect(log.records('missing')).toEqual([]);
  });
});

describe('EmbeddedLog consumer groups', () => {
  it('gives a group every record exactly once, in per-partition order', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TOPIC, 4);
    const produced = Array.from({ length: 60 }, (_, i) => rec(`wf-${i % 7}`, `v${i}`));
    log.append(TOPIC, produced.slice(0, 30));
    const { records } = collect(track(log.consumer({ groupId: 'g', topics: [TOPIC], maxBatchSize: 4 })));
    log.append(TOPIC, produced.slice(30));

    await waitFor(() => records.length >= 60, '60 records');
    await afterPendingWork();
    expect(records).toHaveLength(60);
    expect(new Set(records.map(text)).size).toBe(60);
    expectPerPartitionOrder(records, log.endOffsets(TOPIC));
    // per key, values arrive in production order
    for (let k = 0; k < 7; k++) {
      const values = records.filter((r) => r.key === `wf-${k}`).map(text);
      const sent = produced.filter((r) => r.key === `wf-${k}`).map((r) => r.value.toString());
      expect(values).toEqual(sent);
    }
    expect(log.lag('g', TOPIC)).toBe(0);
  });

  it('hands batches of one partition no larger than maxBatchSize', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TOPIC, 2);
    log.append(
      TOPIC,
      Array.from({ length: 25 }, (_, i) => rec(`k${i}`, `v${i}`)),
    );
    const { records, batches } = collect(
      track(log.consumer({ groupId: 'g', topics: [TOPIC], maxBatchSize: 3 })),
    );
    await waitFor(() => records.length >= 25, '25 records');
    for (const b of batches) {
      expect(b.topic).toBe(TOPIC);
      expect(b.records.length).toBeGreaterThan(0);
      expect(b.records.length).toBeLessThanOrEqual(3);
      for (const r of b.records) expect(r.partition).toBe(b.partition);
      const offsets = b.records.map((r) => Number(r.offset));
      expect(offsets).toEqual(offsets.map((_, i) => offsets[0]! + i));
    }
  });

  it('keeps the committed position across a stop; a new consumer of the group resumes after it', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TOPIC, 2);
    log.append(
      TOPIC,
      Array.from({ length: 10 }, (_, i) => rec(`k${i}`, `old${i}`)),
    );
    const first = log.consumer({ groupId: 'g', topics: [TOPIC] });
    const a = collect(first);
    await waitFor(() => a.records.length >= 10, 'first 10');
    await first.stop();
    await a.done;
    expect(log.lag('g', TOPIC)).toBe(0);

    log.append(
      TOPIC,
      Array.from({ length: 5 }, (_, i) => rec(`k${i}`, `new${i}`)),
    );
    expect(log.lag('g', TOPIC)).toBe(5);
    const b = collect(track(log.consumer({ groupId: 'g', topics: [TOPIC] })));
    await waitFor(() => b.records.length >= 5, 'next 5');
    await afterPendingWork();
    expect(b.records.map(text).sort()).toEqual(['new0', 'new1', 'new2', 'new3', 'new4']);
    expect(log.lag('g', TOPIC)).toBe(0);
  });

  it('does not commit a batch whose handler rejects; the group gets it again (at-least-once)', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TOPIC, 1);
    log.append(TOPIC, [rec('k', 'a'), rec('k', 'b'), rec('k', 'c')]);

    const failing = log.consumer({ groupId: 'g', topics: [TOPIC], maxBatchSize: 2 });
    const seen: string[][] = [];
    let calls = 0;
    const outcome = failing.run((batch) => {
      calls++;
      seen.push(batch.records.map(text));
      // the first batch succeeds, the second fails
      return calls === 1 ? Promise.resolve() : Promise.reject(new Error('handler failed'));
    });
    await expect(outcome).rejects.toThrow('handler failed');
    await failing.stop();
    expect(seen).toEqual([['a', 'b'], ['c']]);
    expect(log.lag('g', TOPIC)).toBe(1);

    const retry = collect(track(log.consumer({ groupId: 'g', topics: [TOPIC] })));
    await waitFor(() => retry.records.length >= 1, 'redelivery');
    await afterPendingWork();
    expect(retry.records.map((r) => [r.offset, text(r)])).toEqual([['2', 'c']]);
    expect(log.lag('g', TOPIC)).toBe(0);
  });

  it('gives each of two groups every record', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TOPIC, 3);
    log.append(
      TOPIC,
      Array.from({ length: 20 }, (_, i) => rec(i % 4 === 0 ? null : `k${i}`, `v${i}`)),
    );
    const one = collect(track(log.consumer({ groupId: 'one', topics: [TOPIC], maxBatchSize: 5 })));
    const two = collect(track(log.consumer({ groupId: 'two', topics: [TOPIC], maxBatchSize: 7 })));
    await waitFor(() => one.records.length >= 20 && two.records.length >= 20, 'both groups');
    await afterPendingWork();
    const all = Array.from({ length: 20 }, (_, i) => `v${i}`).sort();
    expect(one.records.map(text).sort()).toEqual(all);
    expect(two.records.map(text).sort()).toEqual(all);
    expectPerPartitionOrder(one.records, log.endOffsets(TOPIC));
    expectPerPartitionOrder(two.records, log.endOffsets(TOPIC));
  });

  it('consumes several topics with one group', async () => {
    const log = new EmbeddedLog();
    log.append('t1', [rec('a', '1a'), rec('b', '1b')]);
    log.append('t2', [rec('a', '2a')]);
    const { records } = collect(track(log.consumer({ groupId: 'g', topics: ['t1', 't2'] })));
    await waitFor(() => records.length >= 3, 'both topics');
    expect(records.map((r) => `${r.topic}:${text(r)}`).sort()).toEqual(['t1:1a', 't1:1b', 't2:2a']);
    expect(log.lag('g', 't1')).toBe(0);
    expect(log.lag('g', 't2')).toBe(0);
  });

  it('counts uncommitted records in lag(), per group and topic', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TOPIC, 1);
    await log.ensureTopic('spread', 3);
    expect(log.lag('g', TOPIC)).toBe(0);
    expect(log.lag('g', 'missing')).toBe(0);
    log.append(
      TOPIC,
      Array.from({ length: 7 }, (_, i) => rec('k', `v${i}`)),
    );
    log.append(
      'spread',
      Array.from({ length: 9 }, (_, i) => rec(null, `s${i}`)),
    );
    expect(log.lag('g', TOPIC)).toBe(7);
    expect(log.lag('g', 'spread')).toBe(9);

    // a handler that holds its third batch: two batches (of 2) committed, the three others not
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const consumer = track(log.consumer({ groupId: 'g', topics: [TOPIC], maxBatchSize: 2 }));
    const done = consumer.run(async () => {
      calls++;
      if (calls === 3) await blocked;
    });
    try {
      await waitFor(() => calls >= 3, 'the third batch');
      expect(log.lag('g', TOPIC)).toBe(3);
      expect(log.lag('other', TOPIC)).toBe(7);
      expect(log.lag('g', 'spread')).toBe(9);
    } finally {
      release();
    }
    await waitFor(() => log.lag('g', TOPIC) === 0, 'lag 0');
    log.append(TOPIC, [rec('k', 'late')]);
    await waitFor(() => log.lag('g', TOPIC) === 0, 'lag 0 after a late record');
    expect(log.lag('other', TOPIC)).toBe(8);
    await consumer.stop();
    await done;
  });

  it('wakes a waiting consumer when records are appended, with no timer involved', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TOPIC, 2);
    const { records } = collect(track(log.consumer({ groupId: 'g', topics: [TOPIC] })));
    await afterPendingWork(); // the consumer is now waiting on an empty log

    // With timers frozen, a consumer that polls on a timer would never see the record.
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval'] });
    log.append(TOPIC, [rec('k', 'wake')]);
    await afterPendingWork();
    expect(records.map(text)).toEqual(['wake']);

    await log.producer().send(TOPIC, [rec('k', 'again')]);
    await afterPendingWork();
    expect(records.map(text)).toEqual(['wake', 'again']);
    vi.useRealTimers();
  });

  it.each([
    [0, 1],
    [1, 0],
  ])(
    'serves partitions fairly: a lone record on partition %i is not starved by a busy partition %i',
    async (lonePartition, busyPartition) => {
      const log = new EmbeddedLog();
      await log.ensureTopic(TOPIC, 2);
      const busyKey = keyOn(busyPartition, 2, 'busy');
      const loneKey = keyOn(lonePartition, 2, 'lone');
      const busy = 40;
      log.append(
        TOPIC,
        Array.from({ length: busy }, (_, i) => rec(busyKey, `busy${i}`)),
      );
      log.append(TOPIC, [rec(loneKey, 'lone')]);

      const { records } = collect(track(log.consumer({ groupId: 'g', topics: [TOPIC], maxBatchSize: 1 })));
      await waitFor(() => records.length >= busy + 1, 'every record');
      const loneAt = records.findIndex((r) => text(r) === 'lone');
      expect(records[loneAt]!.partition).toBe(lonePartition);
      // handled before all the busy ones (in fact within the first round over the two partitions)
      expect(loneAt).toBeLessThan(busy);
      expect(loneAt).toBeLessThanOrEqual(1);
    },
  );

  it('keeps serving a partition that receives records while another is busy', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TOPIC, 2);
    const busyKey = keyOn(0, 2, 'busy');
    const lateKey = keyOn(1, 2, 'late');
    log.append(
      TOPIC,
      Array.from({ length: 30 }, (_, i) => rec(busyKey, `busy${i}`)),
    );
    const order: string[] = [];
    const consumer = track(log.consumer({ groupId: 'g', topics: [TOPIC], maxBatchSize: 1 }));
    const done = consumer.run(async (batch) => {
      order.push(...batch.records.map(text));
      if (order.length === 5) log.append(TOPIC, [rec(lateKey, 'late')]);
      await Promise.resolve();
    });
    await waitFor(() => order.length >= 31, 'every record');
    expect(order.indexOf('late')).toBeLessThan(30);
    await consumer.stop();
    await done;
  });

  it('resolves stop() while the consumer is idle, and run() then returns', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TOPIC, 2);
    const consumer = log.consumer({ groupId: 'g', topics: [TOPIC] });
    let handled = 0;
    const done = consumer.run(() => {
      handled++;
      return Promise.resolve();
    });
    await afterPendingWork();
    await consumer.stop();
    await expect(done).resolves.toBeUndefined();
    await consumer.stop(); // a second stop is harmless

    // a stopped consumer takes nothing more
    log.append(TOPIC, [rec('k', 'after stop')]);
    await afterPendingWork();
    expect(handled).toBe(0);
    expect(log.lag('g', TOPIC)).toBe(1);
  });

  it('resolves stop() before run() was called', async () => {
    const log = new EmbeddedLog();
    await expect(log.consumer({ groupId: 'g', topics: [TOPIC] }).stop()).resolves.toBeUndefined();
  });

  it('stops after the batch in hand and commits it', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(TOPIC, 1);
    log.append(TOPIC, [rec('k', 'a'), rec('k', 'b'), rec('k', 'c')]);
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const consumer = log.consumer({ groupId: 'g', topics: [TOPIC], maxBatchSize: 1 });
    const done = consumer.run(async () => {
      calls++;
      await blocked;
    });
    await waitFor(() => calls === 1, 'the first batch');
    const stopped = consumer.stop();
    release();
    await stopped;
    await done;
    expect(calls).toBe(1);
    expect(log.lag('g', TOPIC)).toBe(2);
  });
});

describe('EmbeddedLog table reader', () => {
  it('applies only the records appended since the previous catch-up', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic('specs', 3);
    const reader = log.tableReader('specs');
    const applied: string[] = [];
    const apply = (r: ConsumedRecord): void => void applied.push(text(r));

    await reader.catchUp(apply);
    expect(applied).toEqual([]);

    log.append('specs', [rec('wf-a', 'a1'), rec('wf-b', 'b1'), rec('wf-c', 'c1')]);
    await reader.catchUp(apply);
    expect(applied.sort()).toEqual(['a1', 'b1', 'c1']);

    applied.length = 0;
    await reader.catchUp(apply);
    expect(applied).toEqual([]);

    log.append('specs', [rec('wf-a', 'a2'), rec('wf-a', 'a3')]);
    await reader.catchUp(apply);
    expect(applied).toEqual(['a2', 'a3']);

    // independent readers each start from the beginning; readers do not touch group positions
    const fresh: string[] = [];
    await log.tableReader('specs').catchUp((r) => void fresh.push(text(r)));
    expect(fresh.sort()).toEqual(['a1', 'a2', 'a3', 'b1', 'c1']);
    expect(log.lag('g', 'specs')).toBe(5);
  });

  it('reads a topic created after the reader', async () => {
    const log = new EmbeddedLog({ defaultPartitions: 2 });
    const reader = log.tableReader('later');
    const applied: string[] = [];
    await reader.catchUp((r) => void applied.push(text(r)));
    log.append('later', [rec(null, 'x'), rec(null, 'y')]);
    await reader.catchUp((r) => void applied.push(text(r)));
    expect(applied.sort()).toEqual(['x', 'y']);
  });
});

describe('EmbeddedLog retention (releaseConsumed)', () => {
  it('releases records every consuming group has committed, keeps compacted topics whole, keeps offsets', async () => {
    const log = new EmbeddedLog({ defaultPartitions: 1, releaseConsumed: true });
    await log.ensureTopic('table', 1, { compacted: true });
    log.append(
      'events',
      [1, 2, 3].map((n) => ({ key: 'k', value: Buffer.from(String(n)) })),
    );
    log.append('table', [{ key: 'k', value: Buffer.from('spec') }]);
    const a = log.consumer({ groupId: 'a', topics: ['events', 'table'] });
    const b = log.consumer({ groupId: 'b', topics: ['events'] });
    const seenA: string[] = [];
    const seenB: string[] = [];
    const runA = a.run(async (batch) => void seenA.push(...batch.records.map((r) => r.offset)));
    const deadline = Date.now() + 5000;
    while (seenA.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(log.records('events')).toHaveLength(3); // group b has not committed yet
    const runB = b.run(async (batch) => void seenB.push(...batch.records.map((r) => r.offset)));
    while ((seenB.length < 3 || log.records('events').length > 0) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    expect(seenB).toEqual(['0', '1', '2']);
    expect(log.records('events')).toHaveLength(0);
    expect(log.records('table')).toHaveLength(1);
    expect(log.endOffsets('events')).toEqual([3]);
    expect(log.append('events', [{ key: 'k', value: Buffer.from('4') }])).toEqual(['3']);
    await a.stop();
    await b.stop();
    await Promise.all([runA, runB]);
  });
});
