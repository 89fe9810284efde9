// The spool on disk: append and read back, segments, recovery of torn tails and corrupt middle segments, caps, the lock.
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeEnvelope,
  SpoolReader,
  SpoolWriter,
  segmentName,
  type SpoolEnvelope,
} from '@provml/capture-agent';
import { SpoolFullError, SpoolLockedError, type CaptureEvent } from '@provml/schemas';
import { bootId, formatLock, parseLock, processStart } from '../../src/spool/spoolFiles.ts';

const dirs: string[] = [];
const open: SpoolWriter[] = [];
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'spool-'));
  dirs.push(d);
  return d;
};
const openSpool = (dir: string, options = {}): SpoolWriter => {
  const w = SpoolWriter.open(dir, options);
  open.push(w);
  return w;
};
afterEach(async () => {
  for (const w of open.splice(0)) await w.close();
});

const ev = (i: number): SpoolEnvelope => ({ event: { eventId: `e${i}`, pad: 'x'.repeat(40) } });
const ids = (dir: string, from = 0): string[] => {
  const r = new SpoolReader(dir);
  const out: string[] = [];
  let pos = r.positionOf(from);
  for (;;) {
    const read = r.read(pos, { maxRecords: 7 });
    if (read.records.length === 0 && read.skipped === 0) return out;
    for (const rec of read.records)
      out.push((JSON.parse(rec.payload.toString()) as { event: { eventId: string } }).event.eventId);
    pos = read.next;
  }
};
const segs = (dir: string): string[] => readdirSync(join(dir, 'segments')).sort();

describe('SpoolWriter and SpoolReader', () => {
  it('appends batches across segments and reads them back in order from any sequence number', async () => {
    const dir = fresh();
    const w = openSpool(dir, { segmentBytes: 300 });
    const r1 = await w.append([ev(0), ev(1), ev(2)]);
    const r2 = await w.append([ev(3), ev(4), ev(5), ev(6), ev(7)]);
    expect(r1).toEqual({ first: 0, count: 3 });
    expect(r2).toEqual({ first: 3, count: 5 });
    expect(segs(dir).length).toBeGreaterThan(1);
    expect(segs(dir)[0]).toBe(segmentName(0));
    expect(ids(dir)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7']);
    expect(ids(dir, 5)).toEqual(['e5', 'e6', 'e7']);
    expect(w.stats).toMatchObject({ appendedRecords: 8, depthRecords: 8, next: 8, published: 0 });
    await w.close();
    // reopening continues the sequence
    const w2 = openSpool(dir, { segmentBytes: 300 });
    expect((await w2.append([ev(8)])).first).toBe(8);
    expect(ids(dir)).toHaveLength(9);
  });

  it('writes a batch as the records encodeEnvelope frames, also with non-ASCII text, NaN and across segments', async () => {
    const batches: SpoolEnvelope[][] = [
      [ev(0), ev(1), { event: { eventId: 'e2', values: { loss: NaN, best: -Infinity } } }],
      [{ event: { eventId: 'e3', note: 'épochs ✓ 😀' } }, ev(4)],
      [],
      [{ spec: { workflow: 'w' } }, { annotations: '<a> <b> <c> .', source: 'x' }],
    ];
    for (const segmentBytes of [1 << 20, 120]) {
      const dir = fresh();
      const w = openSpool(dir, { segmentBytes });
      for (const b of batches) await w.append(b);
      const written = Buffer.concat(segs(dir).map((s) => readFileSync(join(dir, 'segments', s))));
      expect(written.equals(Buffer.concat(batches.flat().map(encodeEnvelope)))).toBe(true);
      expect(w.stats).toMatchObject({ appendedRecords: 7, next: 7 });
    }
  });

  it('appendEvents writes the bytes append writes for the same events as event envelopes (ASCII, non-ASCII, NaN)', async () => {
    const run = {
      workflow: 'w',
      workflowExecution: 'run',
      parentTaskExecution: null,
      dataRefs: [],
      context: {},
    };
    const event = (eventId: string, values: Record<string, number>, task = 'batch'): CaptureEvent => ({
      ...run,
      ...{ eventId, task, taskExecution: `t-${eventId}`, values },
      ...{ phase: 'end', time: 1_700_000_000_000_000, status: 'finished' },
    });
    const batches = [
      [event('e0', { loss: 0.5 }), event('e1', { loss: NaN })],
      [event('e2', { best: -Infinity }, 'épochs ✓'), event('e3', {})],
    ];
    const viaEvents = fresh();
    const viaEnvelopes = fresh();
    const a = openSpool(viaEvents);
    const b = openSpool(viaEnvelopes);
    for (const batch of batches) {
      await a.appendEvents(batch);
      await b.append(batch.map((e) => ({ event: e })));
    }
    const bytes = (dir: string): Buffer => readFileSync(join(dir, 'segments', segs(dir)[0]!));
    expect(bytes(viaEvents).equals(bytes(viaEnvelopes))).toBe(true);
    expect(ids(viaEvents)).toEqual(['e0', 'e1', 'e2', 'e3']);
  });

  it('truncates a torn write at the end of the last segment and goes on from there', async () => {
    const dir = fresh();
    const w = openSpool(dir);
    await w.append([ev(0), ev(1)]);
    await w.close();
    const last = join(dir, 'segments', segmentName(0));
    appendFileSync(last, Buffer.from([0, 0, 0, 50, 1, 2, 3, 4, 0x7b])); // a record cut short
    const w2 = openSpool(dir);
    expect(w2.stats.tornBytes).toBe(9);
    expect((await w2.append([ev(2)])).first).toBe(2);
    expect(ids(dir)).toEqual(['e0', 'e1', 'e2']);
  });

  it('moves the rest of a corrupt earlier segment to corrupt/ and reads on from the next segment', async () => {
    const dir = fresh();
    const w = openSpool(dir, { segmentBytes: 200 });
    await w.append([0, 1, 2, 3, 4, 5, 6, 7].map(ev));
    await w.close();
    const first = segs(dir)[0]!;
    const path = join(dir, 'segments', first);
    const bytes = readFileSync(path);
    const recordSize = bytes.length / 2; // two records of equal size in the first segment
    bytes[recordSize + 12]! ^= 0xff; // the second record's payload
    writeFileSync(path, bytes);
    const w2 = openSpool(dir, { segmentBytes: 200 });
    expect(w2.stats).toMatchObject({ corruptTails: 1, corruptBytes: recordSize });
    expect(readdirSync(join(dir, 'corrupt'))).toEqual([`${first}.${recordSize}.corrupt`]);
    expect(ids(dir)).toEqual(['e0', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7']);
    const read = new SpoolReader(dir).read(
      { sequence: 1, segment: 0, offset: recordSize },
      { maxRecords: 1 },
    );
    expect(read.skipped).toBe(1);
    expect(read.records[0]!.sequence).toBe(2);
  });

  it('rejects a batch over the cap (policy reject) and keeps nothing of it', async () => {
    const dir = fresh();
    const size = encodeEnvelope(ev(0)).length;
    const w = openSpool(dir, { maxBytes: Math.floor(5.5 * size) });
    await w.append([0, 1, 2, 3, 4].map(ev));
    await expect(w.append([5, 6, 7, 8, 9].map(ev))).rejects.toBeInstanceOf(SpoolFullError);
    await expect(w.append([ev(5)])).rejects.toMatchObject({ code: 'spool-full', retriable: true });
    expect(w.stats).toMatchObject({ rejectedBatches: 2, next: 5 });
    // once published, there is room again
    w.markPublished(new SpoolReader(dir).positionOf(5));
    await w.append([5, 6, 7].map(ev));
    expect(ids(dir, 5)).toEqual(['e5', 'e6', 'e7']);
  });

  it('drops the oldest unpublished segment (policy drop-oldest), counting what it dropped', async () => {
    const dir = fresh();
    const w = openSpool(dir, { maxBytes: 600, segmentBytes: 200, policy: 'drop-oldest' });
    for (let i = 0; i < 12; i++) await w.append([ev(i)]);
    const stats = w.stats;
    expect(stats.droppedRecords).toBeGreaterThan(0);
    expect(stats.depthBytes).toBeLessThanOrEqual(600);
    expect(stats.published).toBe(stats.droppedRecords);
    const kept = ids(dir, stats.published);
    expect(kept).toEqual([...Array(12).keys()].slice(stats.droppedRecords).map((i) => `e${i}`));
    expect(readFileSync(join(dir, 'published'), 'utf8').trim()).toBe(String(stats.published));
  });

  it('advances published atomically, deletes wholly published segments, and resumes there', async () => {
    const dir = fresh();
    const w = openSpool(dir, { segmentBytes: 200 });
    await w.append([0, 1, 2, 3, 4, 5].map(ev));
    const before = segs(dir).length;
    w.markPublished(new SpoolReader(dir).positionOf(4));
    expect(segs(dir).length).toBeLessThan(before);
    expect(readFileSync(join(dir, 'published'), 'utf8')).toBe('4\n');
    expect(w.stats.depthRecords).toBe(2);
    await w.close();
    const w2 = openSpool(dir, { segmentBytes: 200 });
    expect(w2.publishedPosition.sequence).toBe(4);
    expect(w2.stats).toMatchObject({ depthRecords: 2, published: 4, next: 6 });
  });

  it('holds the LOCK against a second writer and takes over a lock whose process is gone', async () => {
    const dir = fresh();
    const w = openSpool(dir);
    expect(readFileSync(join(dir, 'LOCK'), 'utf8').split('\n')[0]).toBe(String(process.pid));
    expect(() => SpoolWriter.open(dir)).toThrow(SpoolLockedError);
    await w.close();
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(join(dir, 'LOCK'), `${dead}\n`);
    const w2 = openSpool(dir);
    expect(readFileSync(join(dir, 'LOCK'), 'utf8').split('\n')[0]).toBe(String(process.pid));
    await w2.append([ev(0)]);
  });

  // skipped only off CI on systems without /proc (process start times are read from /proc/<pid>/stat)
  it.skipIf(processStart(process.pid) === undefined && process.env.CI !== 'true')(
    'takes over a LOCK naming a live pid of another boot or start, or our own pid it does not hold',
    async () => {
      const dir = fresh();
      const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
      try {
        const pid = sleeper.pid!;
        await new Promise((r) => sleeper.once('spawn', r));
        const start = processStart(pid)!;
        for (const stale of [`boot=another-boot start=${start}`, `boot=${bootId()} start=1`]) {
          writeFileSync(join(dir, 'LOCK'), `${pid}\n${stale}\n`);
          await openSpool(dir).close();
        }
        // the process that wrote it still runs: refused
        writeFileSync(join(dir, 'LOCK'), formatLock({ pid, boot: bootId(), start }));
        expect(() => SpoolWriter.open(dir)).toThrow(`locked by live process ${pid}`);
      } finally {
        sleeper.kill('SIGKILL');
      }
      // our own pid in a LOCK this process does not hold: an earlier process had our pid (PID 1 again)
      writeFileSync(join(dir, 'LOCK'), `${process.pid}\n`);
      const w = openSpool(dir);
      expect(parseLock(readFileSync(join(dir, 'LOCK'), 'utf8'))).toEqual({
        pid: process.pid,
        boot: bootId(),
        start: processStart(process.pid),
      });
      await w.close();
    },
  );

  it('writes segments readable by their owner only (0600)', async () => {
    const dir = fresh();
    const w = openSpool(dir, { segmentBytes: 200 });
    for (let i = 0; i < 6; i++) await w.append([ev(i)]);
    const names = readdirSync(join(dir, 'segments'));
    expect(names.length).toBeGreaterThan(1);
    expect(new Set(names.map((n) => statSync(join(dir, 'segments', n)).mode & 0o777))).toEqual(
      new Set([0o600]),
    );
  });

  it('honours fsync interval and never: what a publisher may read follows the policy', async () => {
    const never = openSpool(fresh(), { fsync: 'never' });
    await never.append([ev(0)]);
    expect(never.durableEnd).toBe(1);
    const interval = openSpool(fresh(), { fsync: 'interval', fsyncIntervalMs: 10 });
    await interval.append([ev(0), ev(1)]);
    await interval.flush();
    expect(interval.durableEnd).toBe(2);
  });
});
