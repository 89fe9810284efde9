// The spool publisher: in order, by kind, published only after acknowledgement, resuming after a restart, retrying failures.
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SpoolPublisher,
  SpoolWriter,
  type ExportResult,
  type SpoolEnvelope,
  type SpoolPublishPort,
} from '@provml/capture-agent';
import {
  DependencyError,
  parseEventJson,
  silentLogger,
  type CaptureEvent,
  type ProspectiveSpec,
} from '@provml/schemas';

const SPEC = { workflow: 'w', phase: 'learning', tasks: [{ id: 'train' }] };
const event = (i: number): Record<string, unknown> => ({
  eventId: `e${i}`,
  workflow: 'w',
  workflowExecution: 'run-1',
  task: 'train',
  taskExecution: `t${i}`,
  phase: 'begin',
  time: 1_700_000_000_000_000 + i,
});

/** A port that records what it got, fails while `failing` is set, and refuses any batch holding a `refused` event id. */
class RecordingPort implements SpoolPublishPort {
  readonly sent: string[] = [];
  /** The event objects `publishEvents` got. */
  readonly objects: CaptureEvent[] = [];
  readonly batches: number[] = [];
  failing = 0;
  refused = new Set<string>();
  protected answer(what: string[]): Promise<ExportResult> {
    this.batches.push(what.length);
    if (what.some((w) => this.refused.has(w)))
      return Promise.resolve({ kind: 'failure', error: new Error('400 invalid-input') });
    if (this.failing > 0) {
      this.failing--;
      return Promise.resolve({ kind: 'retryable', error: new Error('broker down') });
    }
    this.sent.push(...what);
    return Promise.resolve({ kind: 'success' });
  }
  publishEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    this.objects.push(...events);
    return this.answer(events.map((e) => e.eventId));
  }
  publishSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return this.answer([`spec:${spec.workflow}`]);
  }
  publishAnnotations(turtle: string, source: string | undefined): Promise<ExportResult> {
    return this.answer([`ann:${source ?? ''}:${turtle.length}`]);
  }
}

/** A port that also takes event records as they are (as the agent's socket does), keeping their text. */
class RawPort extends RecordingPort {
  readonly raw: string[] = [];
  publishEventRecords(payloads: readonly Buffer[]): Promise<ExportResult> {
    const texts = payloads.map((p) => p.toString('utf8'));
    this.raw.push(...texts);
    return this.answer(texts.map((t) => (JSON.parse(t) as { event: { eventId: string } }).event.eventId));
  }
}

/** Capture events as the library builds them (defaults filled). */
const captureEvents = (ids: number[]): CaptureEvent[] =>
  ids.map((i) => {
    const parsed = parseEventJson(event(i));
    if (!parsed.ok) throw new Error('bad test event');
    return parsed.event;
  });

const writers: SpoolWriter[] = [];
afterEach(async () => {
  for (const w of writers.splice(0)) await w.close();
});

describe('SpoolPublisher', () => {
  it('publishes every kind in spool order and advances published after acknowledgement', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-pub-'));
    const w = SpoolWriter.open(dir);
    writers.push(w);
    const envelopes: SpoolEnvelope[] = [
      { spec: SPEC },
      { event: event(0) },
      { event: event(1) },
      { annotations: '<a> <b> <c> .', source: 'geo' },
      { event: event(2) },
      { event: { eventId: 'bad' } },
    ];
    await w.append(envelopes);
    const port = new RecordingPort();
    port.failing = 2;
    const p = new SpoolPublisher(w, port, { initialDelayMs: 1, maxDelayMs: 2 });
    await p.drain();
    expect(port.sent).toEqual(['spec:w', 'e0', 'e1', 'ann:geo:13', 'e2']);
    expect(p.stats).toMatchObject({
      events: 3,
      specs: 1,
      annotations: 1,
      invalid: 1,
      retries: 2,
      position: 6,
    });
    expect(readFileSync(join(dir, 'published'), 'utf8')).toBe('6\n');
    expect(w.stats).toMatchObject({ depthRecords: 0, depthBytes: 0 });
  });

  it('drain() while the background loop runs sends every record once (the TS E setting drains at shutdown)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-pub-'));
    const w = SpoolWriter.open(dir);
    writers.push(w);
    const port = new RecordingPort();
    const p = new SpoolPublisher(w, port, { pollMs: 5 });
    p.start();
    for (let round = 0; round < 5; round++) {
      await w.append([0, 1, 2].map((i) => ({ event: event(round * 3 + i) })));
      p.notify();
      await p.drain();
    }
    await p.shutdown();
    expect(port.sent).toEqual([...Array(15).keys()].map((i) => `e${i}`));
  });

  it('resumes from published after a restart and publishes in the background as records arrive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-pub-'));
    const w = SpoolWriter.open(dir, { segmentBytes: 400 });
    await w.append([0, 1, 2].map((i) => ({ event: event(i) })));
    const port = new RecordingPort();
    await new SpoolPublisher(w, port).drain();
    await w.append([3, 4].map((i) => ({ event: event(i) })));
    await w.close(); // a restart: 3 and 4 were never published

    const w2 = SpoolWriter.open(dir, { segmentBytes: 400 });
    writers.push(w2);
    const p2 = new SpoolPublisher(w2, port, { pollMs: 5 });
    p2.start();
    await w2.append([5, 6, 7, 8, 9, 10].map((i) => ({ event: event(i) })));
    p2.notify();
    while (p2.stats.position < 11) await new Promise((r) => setTimeout(r, 5));
    await p2.shutdown();
    expect(port.sent).toEqual([...Array(11).keys()].map((i) => `e${i}`));
    expect(w2.stats.depthRecords).toBe(0);
  });

  it('writes the published cursor at every advance, makes it durable and deletes segments below it at most once per publishedSyncMs; a crash of the process resends nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-pub-'));
    // small segments: each batch of two records (153 bytes each) fills one, so deletions below the cursor show
    const w = SpoolWriter.open(dir, { publishedSyncMs: 60_000, segmentBytes: 320 });
    writers.push(w);
    const port = new RecordingPort();
    const p = new SpoolPublisher(w, port);
    const cursor = (d: string): string => readFileSync(join(d, 'published'), 'utf8');
    await w.append([0, 1].map((i) => ({ event: event(i) })));
    await p.drain();
    expect(cursor(dir)).toBe('2\n'); // the first advance is made durable at once
    const segmentsAfterFirst = readdirSync(join(dir, 'segments')).length;
    for (let round = 1; round < 4; round++) {
      await w.append([0, 1].map((i) => ({ event: event(round * 2 + i) })));
      await p.drain();
      expect(cursor(dir)).toBe(`${(round + 1) * 2}\n`); // written at every advance (not fsynced)
    }
    expect(p.stats.position).toBe(8);
    // no segment deleted below a cursor that is not durable yet: the segments of 2 … 7 are all still there
    expect(readdirSync(join(dir, 'segments')).length).toBe(segmentsAfterFirst + 3);
    // what a crash now leaves on disk: of the process, the kernel's copy of the files; of the machine,
    // possibly the cursor as last made durable (2)
    const crashed = (cursorOnDisk?: string): string => {
      const copy = mkdtempSync(join(tmpdir(), 'spool-crash-'));
      cpSync(dir, copy, { recursive: true });
      rmSync(join(copy, 'LOCK'));
      if (cursorOnDisk !== undefined) writeFileSync(join(copy, 'published'), cursorOnDisk);
      return copy;
    };
    const resentAfter = async (copy: string): Promise<string[]> => {
      const w2 = SpoolWriter.open(copy);
      writers.push(w2);
      const again = new RecordingPort();
      await new SpoolPublisher(w2, again).drain();
      return again.sent;
    };
    const processCrash = crashed();
    const machineCrash = crashed('2\n');
    expect(await resentAfter(processCrash)).toEqual([]); // nothing sent twice
    expect(await resentAfter(machineCrash)).toEqual(['e2', 'e3', 'e4', 'e5', 'e6', 'e7']); // sent twice, none lost
    expect(port.sent).toEqual([...Array(8).keys()].map((i) => `e${i}`));

    await w.close();
    expect(cursor(dir)).toBe('8\n');
    expect(readdirSync(join(dir, 'segments')).length).toBe(1); // the segments below 8 went at the durable write
  });

  it('hands the events this process just appended to the port as they are, without reading the spool back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-pub-'));
    const w = SpoolWriter.open(dir);
    writers.push(w);
    const port = new RawPort();
    const p = new SpoolPublisher(w, port);
    await w.appendEvents(captureEvents([0, 1, 2]));
    await w.appendEvents(captureEvents([3]));
    // the records are on disk (appended, fsynced); take the file away: only memory can send them now
    const segments = join(dir, 'segments');
    for (const f of readdirSync(segments)) rmSync(join(segments, f));
    await p.drain();
    expect(port.sent).toEqual(['e0', 'e1', 'e2', 'e3']);
    // the JSON the library spooled, as it is: each the envelope of its event
    expect(port.raw.map((t) => JSON.parse(t) as unknown)).toEqual(
      captureEvents([0, 1, 2, 3]).map((e) => ({ event: JSON.parse(JSON.stringify(e)) as unknown })),
    );
    expect(p.stats).toMatchObject({ events: 4, invalid: 0, position: 4 });
  }, 10_000);

  it('sends the events the agent validated at ingest as they were validated, without parsing their records again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-pub-'));
    const w = SpoolWriter.open(dir);
    writers.push(w);
    await w.appendEvents(captureEvents([9])); // offline so far: no publisher, nothing kept in memory
    expect(w.appended(0, 10)).toBeUndefined();
    const port = new RecordingPort(); // a port of event objects (the agent's, to Kafka)
    const p = new SpoolPublisher(w, port); // as the agent does: the publisher first, then the ingest
    await p.drain(); // e9, read back from the spool
    const validated = captureEvents([0, 1]);
    const payloads = [
      Buffer.from(JSON.stringify({ spec: SPEC })),
      ...validated.map((e) => Buffer.from(JSON.stringify({ event: e }))),
    ];
    await w.appendPayloads(payloads, [undefined, ...validated]);
    await p.drain();
    expect(port.sent).toEqual(['e9', 'spec:w', 'e0', 'e1']);
    expect(port.objects[0]).not.toBe(captureEvents([9])[0]);
    expect(port.objects[1]).toBe(validated[0]); // the very object: not parsed from the record
    expect(port.objects[2]).toBe(validated[1]);
  });

  it('reads from the spool what memory no longer holds (after a restart), in order, then hands off again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-pub-'));
    const w = SpoolWriter.open(dir);
    await w.appendEvents(captureEvents([0, 1]));
    await w.append([{ event: { eventId: 'bad' } }]); // not checked: decoded, skipped as invalid
    await w.close(); // a restart: nothing published
    const w2 = SpoolWriter.open(dir);
    writers.push(w2);
    const port = new RawPort();
    const p = new SpoolPublisher(w2, port, { pollMs: 5 });
    p.start();
    await w2.appendEvents(captureEvents([2, 3]));
    p.notify();
    await p.drain();
    await p.shutdown();
    expect(port.sent).toEqual(['e0', 'e1', 'e2', 'e3']);
    // e0 and e1 came back from disk (decoded, as any spool), e2 and e3 from memory as they are
    expect(port.raw.map((t) => (JSON.parse(t) as { event: { eventId: string } }).event.eventId)).toEqual([
      'e2',
      'e3',
    ]);
    expect(p.stats).toMatchObject({ events: 4, invalid: 1, position: 5 });
  });

  it('skips and counts records the port refuses for good, halving a refused batch to send the others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-pub-'));
    const w = SpoolWriter.open(dir);
    writers.push(w);
    await w.append([...Array(8).keys()].map((i) => ({ event: event(i) })));
    const port = new RecordingPort();
    port.refused = new Set(['e2', 'e5']);
    const p = new SpoolPublisher(w, port, { initialDelayMs: 1, maxDelayMs: 2 });
    await p.drain();
    expect(port.sent).toEqual(['e0', 'e1', 'e3', 'e4', 'e6', 'e7']);
    expect(p.stats).toMatchObject({ events: 6, refused: 2, retries: 0, position: 8 });
    expect(readFileSync(join(dir, 'published'), 'utf8')).toBe('8\n');
    expect(port.batches.length).toBeLessThan(16); // halving, not one request per event and attempt
  });

  it('gives up after giveUpAfterMs of failed attempts, one log line per back-off step, published unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-pub-'));
    const w = SpoolWriter.open(dir);
    writers.push(w);
    await w.append([{ spec: SPEC }, { event: event(0) }]);
    const port = new RecordingPort();
    port.failing = Infinity;
    const warnings: { message: string; fields: Record<string, unknown> | undefined }[] = [];
    const logger = {
      ...silentLogger,
      warn: (message: string, fields?: Record<string, unknown>) => void warnings.push({ message, fields }),
    };
    const p = new SpoolPublisher(w, port, { initialDelayMs: 20, maxDelayMs: 80, giveUpAfterMs: 300, logger });
    const started = performance.now();
    const error = await p.drain().then(
      () => undefined,
      (e: unknown) => e as DependencyError,
    );
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(DependencyError);
    expect(error?.code).toBe('publish-gave-up');
    expect(error?.message).toMatch(
      /gave up publishing from the spool after \d+\.\d s of failed attempts: broker down/,
    );
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2000);
    expect(warnings.length).toBe(p.stats.retries);
    expect(warnings.length).toBe(port.batches.length - 1); // every attempt but the last is followed by one back-off step
    expect(warnings.every((x) => typeof x.fields?.delayMs === 'number' && x.fields.delayMs <= 80)).toBe(true);
    expect(port.sent).toEqual([]);
    expect(w.stats.published).toBe(0);
  });
});
