/**
 * Per-event cost of the capture library's background hot paths, without a broker or a disk flush:
 * Avro single-object encoding + LogCaptureExporter (a producer that drops records), and spool record
 * framing + append (fsync `never`). µs per event, median of 7 repetitions; for the before/after of
 * bench/results/fig5.md. Run: `node --import tsx bench/fig5-hotpath.ts [--events 200000]`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SpoolWriter } from '@provml/capture-agent';
import { encodeCaptureEvent, type CaptureEvent } from '@provml/schemas';
import { LogCaptureExporter } from '@provml/log';
import { median, helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' } } });
const N = Number(values.events);
const BATCH = 32;

const event = (i: number): CaptureEvent => ({
  eventId: `a1b2c3d4e5f6.e${i.toString(36)}`,
  workflow: 'fig5-training',
  workflowExecution: 'fig5-training-mwus0hbp-a1b2c3d4e5f60',
  task: 'batch',
  taskExecution: `a1b2c3d4e5f6.t${(i >> 1).toString(36)}`,
  parentTaskExecution: 'a1b2c3d4e5f6.t1',
  phase: i % 2 === 0 ? 'begin' : 'end',
  time: 1_764_000_000_000_000 + i,
  values: i % 2 === 0 ? {} : { loss: i / 1e6 },
  dataRefs: [],
  status: i % 2 === 0 ? null : 'finished',
  context: {},
});
const batches: CaptureEvent[][] = [];
for (let i = 0; i < N; i += BATCH) batches.push(Array.from({ length: BATCH }, (_, j) => event(i + j)));

async function time(fn: () => Promise<void>): Promise<number> {
  const results: number[] = [];
  await fn(); // warm-up
  for (let r = 0; r < 7; r++) {
    const t = performance.now();
    await fn();
    results.push(((performance.now() - t) * 1000) / N);
  }
  return median(results);
}

let sent = 0;
const exporter = new LogCaptureExporter(
  {
    send: (_topic, records) => {
      sent += records.length;
      return Promise.resolve();
    },
  },
  encodeCaptureEvent,
);
const kafka = await time(async () => {
  for (const b of batches) await exporter.exportEvents(b);
});
const work = await mkdtemp(join(tmpdir(), 'hotpath-'));
let k = 0;
const spool = await time(async () => {
  const w = SpoolWriter.open(join(work, `s${k++}`), { fsync: 'never' });
  for (const b of batches) await w.append(b.map((e) => ({ event: e })));
  await w.close();
});
await rm(work, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({ events: N, batch: BATCH, avroExportUs: +kafka.toFixed(3), spoolAppendUs: +spool.toFixed(3), sent })}\n`,
);
