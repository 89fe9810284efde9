/** The durable embedded log: records, offsets and group positions survive a close or a crash; large records; reading a topic back. */
import { mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedLog, type ConsumedRecord, type LogConsumer } from '@provml/log';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provml-durable-log-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const rec = (key: string | null, value: string | Buffer, headers?: Record<string, string>) => ({
  key,
  value: typeof value === 'string' ? Buffer.from(value) : value,
  headers,
});

/** Consumes until `n` records arrived, then stops; returns them. */
async function take(consumer: LogConsumer, n: number): Promise<ConsumedRecord[]> {
  const got: ConsumedRecord[] = [];
  const done = consumer.run(async (batch) => {
    got.push(...batch.records);
    if (got.length >= n) void consumer.stop();
    return Promise.resolve();
  });
  const deadline = Date.now() + 5000;
  while (got.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await consumer.stop();
  await done;
  return got;
}

/** Every LOCK file under `root`, as a process killed with SIGKILL leaves them (with its dead pid). */
async function lockFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir(root)) {
    const path = join(root, name);
    if ((await stat(path)).isDirectory()) found.push(...(await lockFiles(path)));
    else if (name === 'LOCK') found.push(path);
  }
  return found;
}

describe('EmbeddedLog.open (durable)', () => {
  it('keeps records, headers, keys, offsets and group positions across a close', async () => {
    const log = EmbeddedLog.open(dir, { releaseConsumed: true });
    await log.ensureTopic('events', 2);
    await log.ensureTopic('specs', 1, { compacted: true });
    const offsets = await log.appendDurable(
      'events',
      Array.from({ length: 10 }, (_, i) => rec(`wf-${i % 3}`, `e${i}`, { n: String(i) })),
    );
    await log.appendDurable('specs', [rec('a', 'spec-a'), rec(null, 'spec-null-key')]);
    const first = await take(log.consumer({ groupId: 'g', topics: ['events'], maxBatchSize: 2 }), 4);
    expect(first.length).toBeGreaterThanOrEqual(4);
    const ends = log.endOffsets('events');
    await log.close();

    const again = EmbeddedLog.open(dir, { releaseConsumed: true });
    try {
      expect(again.endOffsets('events')).toEqual(ends);
      // the group resumes after what it committed: together, every record exactly once
      const rest = await take(again.consumer({ groupId: 'g', topics: ['events'] }), 10 - first.length);
      const all = [...first, ...rest].map((r) => r.value.toString()).sort();
      expect(all).toEqual(Array.from({ length: 10 }, (_, i) => `e${i}`).sort());
      const e7 = [...first, ...rest].find((r) => r.value.toString() === 'e7')!;
      expect(e7).toMatchObject({ key: 'wf-1', headers: { n: '7' }, topic: 'events' });
      expect(offsets).toContain(e7.offset);
      // a compacted topic is held whole, a new group reads it from the start
      expect(again.records('specs').map((r) => [r.key, r.value.toString()])).toEqual([
        ['a', 'spec-a'],
        [null, 'spec-null-key'],
      ]);
      // appends go on after the old end
      await again.appendDurable('events', [rec('wf-0', 'e10')]);
      expect(again.lag('g', 'events')).toBe(1);
    } finally {
      await again.close();
    }
  });

  it('stores records larger than a spool record in pieces; offsets skip the pieces', async () => {
    const log = EmbeddedLog.open(dir);
    await log.ensureTopic('annotations', 1, { compacted: true });
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'x');
    big.write('start', 0);
    big.write('end', big.length - 3);
    const [o1, o2, o3] = await log.appendDurable('annotations', [
      rec('s', 'small'),
      rec('b', big),
      rec('t', 'tiny'),
    ]);
    expect(Number(o2) - Number(o1)).toBe(1);
    expect(Number(o3) - Number(o2)).toBe(4); // four pieces of at most 1 MiB
    const seen = await take(log.consumer({ groupId: 'g', topics: ['annotations'] }), 3);
    expect(log.lag('g', 'annotations')).toBe(0);
    expect(seen.map((r) => r.value.length)).toEqual([5, big.length, 4]);
    await log.close();

    const again = EmbeddedLog.open(dir);
    try {
      const held = again.records('annotations');
      expect(held.map((r) => r.offset)).toEqual([o1, o2, o3]);
      expect(held[1]!.value.equals(big)).toBe(true);
      expect(again.lag('g', 'annotations')).toBe(0);
      const read: ConsumedRecord[] = [];
      for await (const batch of again.readAll('annotations', 1024)) read.push(...batch);
      expect(read.map((r) => r.key)).toEqual(['s', 'b', 't']);
    } finally {
      await again.close();
    }
  });

  it('after a crash (locks of a dead process, a torn last write) keeps every record written whole', async () => {
    const log = EmbeddedLog.open(dir);
    await log.ensureTopic('triples', 1);
    await log.appendDurable(
      'triples',
      Array.from({ length: 5 }, (_, i) => rec('x', `<urn:s${i}> <urn:p> "${i}" <urn:g> .\n`)),
    );
    // a crash: nothing is closed; the last record is half written
    const segments = join(dir, 'topics', 'triples', '0', 'segments');
    const [segment] = await readdir(segments);
    const path = join(segments, segment!);
    await truncate(path, (await stat(path)).size - 10);
    for (const lock of await lockFiles(dir))
      await import('node:fs/promises').then((fs) => fs.writeFile(lock, '999999999\n'));

    const again = EmbeddedLog.open(dir);
    try {
      expect(again.records('triples').map((r) => r.value.toString().slice(0, 8))).toEqual([
        '<urn:s0>',
        '<urn:s1>',
        '<urn:s2>',
        '<urn:s3>',
      ]);
      expect(again.endOffsets('triples')).toEqual([4]);
    } finally {
      await again.close();
    }
  });

  it('refuses a directory a live process holds', async () => {
    const log = EmbeddedLog.open(dir);
    try {
      expect(() => EmbeddedLog.open(dir)).toThrow(/in use by another live process \(pid \d+\)/);
    } finally {
      await log.close();
    }
  });

  it('holds retained topics whole on disk but releases them from memory; forgets groups it does not persist', async () => {
    const log = EmbeddedLog.open(dir, {
      releaseConsumed: true,
      retainedTopics: ['triples'],
      persistGroup: (g) => !g.startsWith('live-'),
    });
    await log.ensureTopic('triples', 2);
    await log.appendDurable(
      'triples',
      Array.from({ length: 20 }, (_, i) => rec(`k${i}`, `q${i}`)),
    );
    await take(log.consumer({ groupId: 'sink', topics: ['triples'] }), 20);
    expect(log.records('triples')).toEqual([]);
    const read: string[] = [];
    for await (const batch of log.readAll('triples')) read.push(...batch.map((r) => r.value.toString()));
    expect(read.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `q${i}`).sort());
    await take(log.consumer({ groupId: 'live-1', topics: ['triples'] }), 0);
    await log.close();

    const again = EmbeddedLog.open(dir, {
      releaseConsumed: true,
      retainedTopics: ['triples'],
      persistGroup: (g) => !g.startsWith('live-'),
    });
    try {
      expect(again.lag('sink', 'triples')).toBe(0);
      expect(again.lag('live-1', 'triples')).toBe(20);
      expect(again.records('triples')).toEqual([]);
      expect(again.diskBytes()).toBeGreaterThan(0);
    } finally {
      await again.close();
    }
  });
});

describe('EmbeddedLog.readAll (in memory)', () => {
  it('reads a retained topic whole after every group committed', async () => {
    const log = new EmbeddedLog({ releaseConsumed: true, retainedTopics: ['triples'] });
    await log.ensureTopic('triples', 3);
    log.append(
      'triples',
      Array.from({ length: 30 }, (_, i) => rec(`k${i}`, `q${i}`)),
    );
    await take(log.consumer({ groupId: 'sink', topics: ['triples'] }), 30);
    let batches = 0;
    const read: string[] = [];
    for await (const batch of log.readAll('triples', 8)) {
      batches++;
      read.push(...batch.map((r) => r.value.toString()));
    }
    expect(read.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `q${i}`).sort());
    expect(batches).toBeGreaterThan(3);
  });
});
