// The spill spool in front of a transport: down → spilled, back → drained in order, then direct again; a directory held by a live writer; a full spill spool.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  SpillingCaptureExporter,
  SpoolWriter,
  type CaptureExporter,
  type ExportResult,
} from '@provml/capture-agent';
import type { CaptureEvent, ProspectiveSpec } from '@provml/schemas';

const SPEC = { workflow: 'spill', phase: 'learning', tasks: [{ id: 'training' }] } as ProspectiveSpec;

/** A transport that is up or down at the test's word, recording what it took, in order. */
class SwitchableTransport implements CaptureExporter {
  up = true;
  readonly taken: string[] = [];
  specs = 0;
  calls = 0;

  exportSpec(): Promise<ExportResult> {
    if (!this.up) return Promise.resolve({ kind: 'retryable', error: new Error('down') });
    this.specs++;
    return Promise.resolve({ kind: 'success' });
  }

  exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    this.calls++;
    if (!this.up) return Promise.resolve({ kind: 'retryable', error: new Error('down') });
    this.taken.push(...events.map((e) => e.eventId));
    return Promise.resolve({ kind: 'success' });
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const events = (from: number, n: number): CaptureEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    eventId: `e${from + i}`,
    workflow: 'spill',
    workflowExecution: 'run',
    task: 'training',
    taskExecution: `t${from + i}`,
    parentTaskExecution: null,
    phase: 'begin',
    time: 1_700_000_000_000_000 + from + i,
    values: { note: 'x'.repeat(100) },
    dataRefs: [],
    status: null,
    context: {},
  }));

const ids = (from: number, n: number): string[] => events(from, n).map((e) => e.eventId);

describe('SpillingCaptureExporter', () => {
  it('spills while the transport is down, drains in capture order when it is back, then sends directly again', async () => {
    const transport = new SwitchableTransport();
    const errors: Error[] = [];
    const spill = new SpillingCaptureExporter(
      transport,
      { workflow: 'spill', initialDelayMs: 5, maxDelayMs: 20 },
      (e) => errors.push(e),
    );
    await spill.exportSpec(SPEC);
    await spill.exportEvents(events(0, 3));
    transport.up = false;
    await spill.exportEvents(events(3, 3)); // fails: spilled
    transport.up = true;
    await spill.exportEvents(events(6, 3)); // the spill spool holds older events: spilled behind them
    expect(spill.stats).toMatchObject({ delivered: 3, spilled: 6 });
    const dir = spill.spoolPath!;
    expect(await spill.flush(Date.now() + 10_000)).toBe(false);
    expect(transport.taken).toEqual(ids(0, 9));
    const calls = transport.calls;
    await spill.exportEvents(events(9, 1)); // drained: straight to the transport
    expect(transport.calls).toBe(calls + 1);
    await spill.shutdown();
    expect(spill.stats).toMatchObject({ delivered: 10, rejected: 0, dropped: 0, spooled: 0 });
    expect(transport.specs).toBe(2); // once directly, once from the spill spool (specs are idempotent)
    expect(existsSync(dir)).toBe(false);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^capture transport down \(down\)/)]);
  });

  it('a spill directory held by a live writer is left alone: the spill goes to a directory of its own', async () => {
    const held = mkdtempSync(join(tmpdir(), 'spill-held-'));
    const other = SpoolWriter.open(held);
    try {
      const transport = new SwitchableTransport();
      transport.up = false;
      const spill = new SpillingCaptureExporter(transport, { workflow: 'spill', dir: held }, () => undefined);
      await spill.exportSpec(SPEC);
      await spill.exportEvents(events(0, 2));
      expect(spill.spoolPath).not.toBe(held);
      expect(spill.stats).toMatchObject({ spilled: 2, spooled: 2 });
      await spill.shutdown(Date.now() + 200);
      expect(existsSync(spill.spoolPath!)).toBe(true); // kept: it holds undelivered events
    } finally {
      await other.close();
    }
  });

  it('what does not fit in a full spill spool is dropped and counted, never blocking', async () => {
    const transport = new SwitchableTransport();
    transport.up = false;
    const errors: Error[] = [];
    const spill = new SpillingCaptureExporter(
      transport,
      { workflow: 'spill', dir: mkdtempSync(join(tmpdir(), 'spill-full-')), maxBytes: 2000 },
      (e) => errors.push(e),
    );
    await spill.exportSpec(SPEC);
    for (let i = 0; i < 10; i++) await spill.exportEvents(events(i * 2, 2));
    const s = spill.stats;
    expect(s.dropped).toBeGreaterThan(0);
    expect(s.spilled + s.dropped).toBe(20);
    expect(errors.some((e) => /could not be written to the spill spool/.test(e.message))).toBe(true);
    await spill.shutdown(Date.now() + 200);
  });
});
