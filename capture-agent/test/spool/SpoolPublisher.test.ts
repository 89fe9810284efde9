// The spool publisher: in order, by kind, published only after acknowledgement, resuming after a restart, retrying failures.
import { mkdtempSync, readFileSync } from 'node:fs';
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
import type { CaptureEvent, ProspectiveSpec } from '@provml/schemas';

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

/** A port that records what it got and fails while `failing` is set. */
class RecordingPort implements SpoolPublishPort {
  readonly sent: string[] = [];
  failing = 0;
  private answer(what: string[]): Promise<ExportResult> {
    if (this.failing > 0) {
      this.failing--;
      return Promise.resolve({ kind: 'retryable', error: new Error('broker down') });
    }
    this.sent.push(...what);
    return Promise.resolve({ kind: 'success' });
  }
  publishEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    return this.answer(events.map((e) => e.eventId));
  }
  publishSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return this.answer([`spec:${spec.workflow}`]);
  }
  publishAnnotations(turtle: string, source: string | undefined): Promise<ExportResult> {
    return this.answer([`ann:${source ?? ''}:${turtle.length}`]);
  }
}

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
});
