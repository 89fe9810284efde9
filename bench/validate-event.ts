/**
 * Validation cost per capture event: µs per event of `parseEventJson` (the fast accept path, then the
 * zod schema) against `parseEventWithSchema` (the zod schema alone, the path every event took before
 * the fast path), on events as the ingest gets them from `JSON.parse`: a training batch's begin and
 * end with 2–3 values, an event with data references (one with a digest), and an event with an ISO
 * time, which the fast path leaves to the schema (the cost of trying it first). Each repetition runs
 * both functions in turn over a pool of distinct events; the table gives medians over repetitions.
 * Writes bench/results/validate-event.md.
 * Run: `node --import tsx bench/validate-event.ts [--quick] [--events 200000] [--reps 7]`.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { microsToIso, parseEventJson, parseEventWithSchema, type EventCheck } from '@provml/schemas';
import { fmt, median, table, thisCommand, writeResult, helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    events: { type: 'string' },
    reps: { type: 'string' },
  },
});
const EVENTS = Number(args.events ?? (args.quick ? 20_000 : 200_000));
const REPS = Number(args.reps ?? (args.quick ? 3 : 7));
const POOL = 1024;
const T0 = 1_767_225_600_000_000;

/** The same event as JSON text gives after `JSON.parse`. */
const asParsed = (e: object): unknown => JSON.parse(JSON.stringify(e));

const ids = (i: number) => ({
  eventId: `0f8e2c1a-7b3d-4e5f-9a10-${String(i).padStart(12, '0')}`,
  workflow: 'seismic-facies-training',
  workflowExecution: 'wfe-2026-12-07-001',
  task: 'batch',
  taskExecution: `batch-${i}`,
  parentTaskExecution: `epoch-${i >> 6}`,
});

/** A batch's begin (one value) and end (three values), alternately. */
const batchEvent = (i: number): unknown =>
  asParsed(
    i % 2 === 0
      ? { ...ids(i), phase: 'begin', time: T0 + i * 1000, values: { batch_index: i } }
      : {
          ...ids(i),
          phase: 'end',
          time: T0 + i * 1000 + 731,
          values: { loss: 1 / (1 + i), accuracy: 0.5 + i / 4096, learning_rate: 0.001 },
          status: 'finished',
          context: { host: 'gpu-node-17', pid: '48213' },
        },
  );

/** An epoch's end with two values and two data references, one with a content digest. */
const refsEvent = (i: number): unknown =>
  asParsed({
    ...ids(i),
    task: 'epoch',
    phase: 'end',
    time: T0 + i * 1000,
    values: { loss: 1 / (1 + i), accuracy: 0.9 },
    dataRefs: [
      { name: 'training_set', uri: 'file:///lustre/seismic/tiles/train.npz', store: 'lustre' },
      {
        name: 'model',
        uri: `s3://models/facies/unet-${i}.pt`,
        store: 's3',
        digest: `sha256:${i.toString(16).padStart(64, '0')}`,
      },
    ],
    status: 'finished',
  });

/** The batch end with its time as ISO-8601 text: not the common shape, so the schema decides. */
const isoEvent = (i: number): unknown => {
  const e = batchEvent(i | 1) as Record<string, unknown>;
  return { ...e, time: microsToIso(e['time'] as number) };
};

/** µs per event of `check` over `events` calls, cycling through `pool`. */
function time(check: (raw: unknown) => EventCheck, pool: readonly unknown[], events: number): number {
  let ok = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < events; i++) if (check(pool[i % pool.length]).ok) ok++;
  const us = Number(process.hrtime.bigint() - start) / 1000 / events;
  if (ok !== events) throw new Error(`only ${ok} of ${events} events were accepted`);
  return us;
}

const cases = [
  ['training batch begin/end, 1–3 values', batchEvent],
  ['epoch end, 2 values, 2 data refs (1 digest)', refsEvent],
  ['batch end with an ISO time (schema path)', isoEvent],
] as const;

const rows: (string | number)[][] = [];
for (const [name, make] of cases) {
  const pool = Array.from({ length: POOL }, (_, i) => make(i));
  for (const raw of pool) {
    const a = parseEventJson(raw);
    const b = parseEventWithSchema(raw);
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${name}: the two paths differ`);
  }
  time(parseEventWithSchema, pool, EVENTS / 4); // warm-up
  time(parseEventJson, pool, EVENTS / 4);
  const before: number[] = [];
  const after: number[] = [];
  for (let r = 0; r < REPS; r++) {
    before.push(time(parseEventWithSchema, pool, EVENTS));
    after.push(time(parseEventJson, pool, EVENTS));
  }
  const b = median(before);
  const a = median(after);
  console.log(`${name}: before ${fmt(b)} µs, after ${fmt(a)} µs`);
  rows.push([
    name,
    fmt(b),
    `${fmt(Math.min(...before))}–${fmt(Math.max(...before))}`,
    fmt(a),
    `${fmt(Math.min(...after))}–${fmt(Math.max(...after))}`,
    `${fmt(b / a, 2)}×`,
  ]);
}

const uptime = spawnSync('uptime', { encoding: 'utf8' }).stdout.trim();
const body = `
\`uptime\` at the end: \`${uptime}\`

${EVENTS.toLocaleString('en-US')} validations per repetition over a pool of ${POOL} distinct events
(objects as \`JSON.parse\` gives them), ${REPS} repetitions, the two paths in turn; µs per event, median
and range over repetitions. *Before* is \`parseEventWithSchema\`, the zod schema alone (what
\`parseEventJson\` ran for every event before the fast path); *after* is \`parseEventJson\`:
\`acceptEventFast\` (\`schemas/src/acceptEventFast.ts\`), then the schema when it cannot prove the
event valid. Both give the same answer for every event here (checked before timing), and
\`schemas/test/acceptEventFast.test.ts\` checks that on generated valid and broken events.

${table(['event', 'before µs', 'range', 'after µs', 'range', 'speed-up'], rows)}

The ISO-time row is the price of an event the fast path does not take: the check runs, gives up,
and the schema runs as before.
`;
console.log(
  await writeResult(
    'validate-event',
    'Capture event validation: fast accept path vs zod',
    thisCommand(),
    body,
  ),
);
