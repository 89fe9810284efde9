// The paper's capture settings A–F as plain options of init: queue size, diskful or diskless, online or offline.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ExporterPublishPort,
  init,
  InMemoryCaptureExporter,
  SpoolPublisher,
  SpoolWriter,
} from '@provml/capture-agent';
import { ValidationError } from '@provml/schemas';

const SPEC = {
  workflow: 'settings',
  phase: 'learning',
  tasks: [
    { id: 'training', stage: 'training' },
    { id: 'batch', parent: 'training', outputs: [{ name: 'loss', semantics: 'output-value' }] },
  ],
};

const SETTINGS = {
  A: { queueSize: 1, diskful: false, offline: false },
  B: { queueSize: 1, diskful: true, offline: false },
  C: { queueSize: 1, diskful: true, offline: true },
  D: { queueSize: 50, diskful: false, offline: false },
  E: { queueSize: 50, diskful: true, offline: false },
  F: { queueSize: 50, diskful: true, offline: true },
} as const;

async function run(setting: keyof typeof SETTINGS) {
  const s = SETTINGS[setting];
  const dir = mkdtempSync(join(tmpdir(), `capture-${setting}-`));
  const exporter = new InMemoryCaptureExporter();
  const capture = await init({
    spec: SPEC,
    env: {},
    queueSize: s.queueSize,
    ...(s.offline ? {} : { exporter }),
    ...(s.diskful ? { spool: { dir, fsync: 'batch' as const }, offline: s.offline } : {}),
  });
  const training = capture.workflowExecution('run-1').begin('training');
  for (let b = 0; b < 120; b++) training.begin('batch').end({ values: { loss: 1 / (b + 1) } });
  training.end();
  await capture.shutdown();
  return { dir, exporter, capture };
}

describe('capture settings A–F', () => {
  for (const setting of Object.keys(SETTINGS) as (keyof typeof SETTINGS)[])
    it(`setting ${setting}: ${JSON.stringify(SETTINGS[setting])}`, async () => {
      const s = SETTINGS[setting];
      const { dir, exporter, capture } = await run(setting);
      expect(capture.stats.exported).toBe(242);
      if (s.queueSize === 1 && !s.diskful) expect(new Set(exporter.batches)).toEqual(new Set([1]));
      if (s.offline) {
        expect(exporter.events).toHaveLength(0);
        // replaying the spool later publishes the spec and every event, once
        const writer = SpoolWriter.open(dir);
        expect(writer.stats.depthRecords).toBe(243);
        const replayed = new InMemoryCaptureExporter();
        await new SpoolPublisher(writer, new ExporterPublishPort(replayed)).drain();
        await writer.close();
        expect(replayed.specs.map((x) => x.workflow)).toEqual(['settings']);
        expect(new Set(replayed.events.map((e) => e.eventId)).size).toBe(242);
      } else {
        expect(exporter.specs.map((x) => x.workflow)).toEqual(['settings']);
        expect(exporter.events).toHaveLength(242);
        expect(new Set(exporter.events.map((e) => e.eventId)).size).toBe(242);
        if (s.diskful) expect(capture.spoolStats?.spool.depthRecords).toBe(0);
      }
    });

  it('refuses offline without a spool, and no exporter when online', async () => {
    await expect(init({ spec: SPEC, offline: true })).rejects.toBeInstanceOf(ValidationError);
    await expect(init({ spec: SPEC })).rejects.toBeInstanceOf(ValidationError);
  });
});
