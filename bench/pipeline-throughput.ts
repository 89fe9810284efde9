/**
 * Pipeline throughput: sustained events per second from many producer processes (the real capture
 * library → Kafka) through a real `provml processor` and `provml sink` service process each into each
 * store, with the offered rate ramped in steps to find the saturation point, and where the CPU goes
 * (per process from /proc, per function from `node --cpu-prof` of the processor and the sink).
 * Writes bench/results/pipeline-throughput.md and .png.
 * Run: `node --import tsx bench/pipeline-throughput.ts [--quick] [--stores a,b] [--rates r1,r2,…]
 *       [--step S] [--producers N] [--reps N] [--variants before,after] [--no-profile]`
 *       (Kafka on 127.0.0.1:19092: `npm run stack:up`). The variants (VARIANTS in lib/pipelineStack.ts)
 *       run interleaved, repetition by repetition, so both see the same machine.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requireBroker } from '@provml/service';
import {
  bucketDelta,
  histogramQuantile,
  type HotFunction,
  KAFKA,
  killAll,
  load1,
  mainProfileIn,
  profileByArea,
  type ReportingChild,
  runBench,
  sleep,
  startTogether,
  summariseProfile,
  waitForQuiet,
} from './lib/pipeline.ts';
import {
  STORE_LABEL,
  VARIANTS,
  drained,
  sampleEverySecond,
  spawnProducers,
  startPipeline,
  stopBenchStores,
  type Sample,
  type StoreKind,
  type Variant,
} from './lib/pipelineStack.ts';
import { measureStages, type StageCosts } from './lib/pipelineStages.ts';
import { plot } from './lib/plot.ts';
import { RESULTS, fmt, median, table, thisCommand, writeResult, helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    stores: { type: 'string' },
    rates: { type: 'string' },
    step: { type: 'string' },
    producers: { type: 'string' },
    reps: { type: 'string' },
    'wait-quiet': { type: 'boolean', default: false },
    variants: { type: 'string', default: 'before,after' },
    'no-profile': { type: 'boolean', default: false },
  },
});
const VARIANT_LIST = args.variants.split(',') as Variant[];
for (const v of VARIANT_LIST) if (!(v in VARIANTS)) throw new Error(`unknown variant ${v}`);
/** The 1-, 5- and 15-minute load averages now, as `uptime` prints them. */
const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ');
const QUICK = args.quick;
const STORES = (
  args.stores ?? (QUICK ? 'oxigraph-embedded' : 'oxigraph-embedded,rdf4j,oxigraph-server')
).split(',') as StoreKind[];
const RATES = (args.rates ?? (QUICK ? '5000,10000,20000' : '2500,5000,10000,15000,20000,30000'))
  .split(',')
  .map(Number);
const STEP_S = Number(args.step ?? (QUICK ? 6 : 12));
const PRODUCERS = Number(args.producers ?? 4);
const REPS = Number(args.reps ?? (QUICK ? 1 : 2));
/** Epochs per training run of each producer: 2 + 10 × 72 = 722 events per workflow execution. */
const EPOCHS = 10;
const log = (s: string): void => void process.stderr.write(`[pipeline-throughput] ${s}\n`);

/** What one step of one run measured. */
interface StepResult {
  offered: number;
  produced: number;
  processed: number;
  sinkRecords: number;
  p50: number;
  p99: number;
  lagEvents: number;
  lagRecords: number;
  cores: Record<string, number>;
}

interface RunResult {
  variant: Variant;
  /** Load averages at the run's start and end. */
  load: [string, string];
  steps: StepResult[];
  drainS: number;
  exported: number;
  processed: number;
  lost: number;
  profiles?: { processor: string; sink: string };
}

/** The sample nearest to (at or after) a time. */
const at = (samples: readonly Sample[], wall: number): Sample =>
  samples.find((s) => s.wall >= wall) ?? samples[samples.length - 1]!;

/** Producer events made by a time since their start (from their per-second ticks). */
function madeBy(kids: readonly ReportingChild[], ms: number): number {
  let sum = 0;
  for (const k of kids) {
    const ticks = k.reports.filter((r) => r.type === 'tick' && (r.t as number) <= ms + 500);
    sum += ticks.length === 0 ? 0 : (ticks[ticks.length - 1]!.made as number);
  }
  return sum;
}

async function runOnce(
  store: StoreKind,
  variant: Variant,
  profileDir: string | undefined,
): Promise<RunResult> {
  const loadAtStart = loadavg();
  const pipeline = await startPipeline('throughput', store, { cpuProfDir: profileDir, variant });
  const kids: ReportingChild[] = [];
  const sampling = sampleEverySecond(pipeline, kids);
  const samples = sampling.samples;
  try {
    kids.push(
      ...spawnProducers(
        pipeline.prefix,
        PRODUCERS,
        RATES.map((rate) => ({ rate, seconds: STEP_S })),
        512,
        EPOCHS,
      ),
    );
    const startAt = await startTogether(kids);
    await sleep(Math.max(0, startAt - Date.now()));
    const done = await Promise.all(kids.map((k) => k.when('done', (RATES.length * STEP_S + 120) * 1000)));
    const exported = done.reduce((s, d) => s + (d.exported as number), 0);
    const lost = done.reduce((s, d) => s + (d.failed as number) + (d.dropped as number), 0);
    const drainStart = performance.now();
    // drained: every exported event processed and no triples record waiting for the sink
    for (;;) {
      const last = samples[samples.length - 1];
      if (last !== undefined && last.processorEvents >= exported && drained(last)) break;
      if (performance.now() - drainStart > 30_000) break;
      await sleep(500);
    }
    const drainS = (performance.now() - drainStart) / 1000;
    await sampling.stop();
    const steps: StepResult[] = RATES.map((rate, i) => {
      // the second half of each step: the pipeline has settled to the new rate (or is falling behind)
      const from = startAt + (i + 0.5) * STEP_S * 1000;
      const to = startAt + (i + 1) * STEP_S * 1000;
      const a = at(samples, from);
      const b = at(samples, to);
      const secs = (b.t - a.t) / 1000;
      const fresh = bucketDelta(a.freshness, b.freshness);
      const cores: Record<string, number> = {};
      for (const k of Object.keys(b.cpu)) cores[k] = ((b.cpu[k] ?? 0) - (a.cpu[k] ?? 0)) / secs;
      return {
        offered: rate,
        produced: (madeBy(kids, to - startAt) - madeBy(kids, from - startAt)) / ((to - from) / 1000),
        processed: (b.processorEvents - a.processorEvents) / secs,
        sinkRecords: (b.sinkRecords - a.sinkRecords) / secs,
        p50: histogramQuantile(fresh, 0.5),
        p99: histogramQuantile(fresh, 0.99),
        lagEvents: b.lag.processor,
        lagRecords: b.lag.sink,
        cores,
      };
    });
    const last = samples[samples.length - 1]!;
    return {
      variant,
      load: [loadAtStart, loadavg()],
      steps,
      drainS,
      exported,
      processed: last.processorEvents,
      lost,
    };
  } finally {
    await sampling.stop();
    for (const k of kids) await k.stop(5000);
    await pipeline.stop();
  }
}

/** The stages whose CPU is read per process, in the order of an event's path. */
const STAGES = ['producers', 'broker', 'processor', 'sink', 'store server'] as const;

/** CPU microseconds per event processed of one stage over a step. */
const usPerEvent = (s: StepResult, stage: string): number =>
  s.processed > 0 ? ((s.cores[stage] ?? NaN) * 1e6) / s.processed : NaN;

/** Whether a step kept up: ≥ 95% of the offered rate processed, freshness p99 ≤ 5 s, lag ≤ 2 s of events. */
const keptUp = (s: StepResult): boolean =>
  s.processed >= 0.95 * s.offered && s.p99 <= 5 && s.lagEvents <= 2 * s.offered;

async function main(): Promise<void> {
  await requireBroker(KAFKA.split(','));
  const loadBefore = args['wait-quiet'] ? await waitForQuiet(1.5, 600_000, log) : load1();
  const stages = await measureStages(QUICK ? 20_000 : 50_000);
  const results = new Map<string, RunResult[]>();
  const profileRoot = await mkdtemp(join(tmpdir(), 'provml-throughput-prof-'));
  const hot = new Map<
    string,
    { processor: HotFunction[]; sink: HotFunction[]; areas: Record<string, [string, number][]> }
  >();
  try {
    for (const store of STORES)
      for (let rep = 0; rep < REPS; rep++)
        for (const variant of VARIANT_LIST) {
          const key = `${store}/${variant}`;
          // the last repetition of the last variant runs with the CPU profiler on (a few % slower)
          const profiled =
            !args['no-profile'] && rep === REPS - 1 && variant === VARIANT_LIST[VARIANT_LIST.length - 1];
          const profileDir = profiled ? join(profileRoot, store) : undefined;
          log(
            `${store} ${variant}: repetition ${rep + 1}/${REPS}${profiled ? ' (profiled)' : ''}; load ${loadavg()}`,
          );
          const r = await runOnce(store, variant, profileDir);
          results.set(key, [...(results.get(key) ?? []), r]);
          for (const s of r.steps)
            log(
              `  offered ${s.offered}/s: produced ${fmt(s.produced)}, processed ${fmt(s.processed)}/s, p99 ${fmt(s.p99)} s, lag ${s.lagEvents} events / ${s.lagRecords} records; CPU µs/event ${STAGES.map((k) => `${k} ${fmt(usPerEvent(s, k), 2)}`).join(', ')}`,
            );
          if (profileDir !== undefined) {
            const summary = async (service: string) => {
              const file = mainProfileIn(join(profileDir, service));
              return file === undefined
                ? { fns: [], areas: [] }
                : { fns: await summariseProfile(file, 12), areas: await profileByArea(file) };
            };
            const [p, s] = [await summary('processor'), await summary('sink')];
            hot.set(key, { processor: p.fns, sink: s.fns, areas: { processor: p.areas, sink: s.areas } });
          }
        }
  } finally {
    killAll();
    await stopBenchStores();
    await rm(profileRoot, { recursive: true, force: true });
  }
  await report(results, hot, loadBefore, stages);
}

async function report(
  results: Map<string, RunResult[]>,
  hot: Map<
    string,
    { processor: HotFunction[]; sink: HotFunction[]; areas: Record<string, [string, number][]> }
  >,
  loadBefore: number,
  stages: StageCosts,
): Promise<void> {
  const processorUs = stages.decodeUs + stages.checkUs + stages.mapUs + stages.serialiseUs + stages.encodeUs;
  const sections: string[] = [];
  const summaryRows: (string | number)[][] = [];
  const datasets: object[] = [];
  const colors = [
    'rgb(37,99,235)',
    'rgb(220,38,38)',
    'rgb(22,163,74)',
    'rgb(202,138,4)',
    'rgb(147,51,234)',
    'rgb(8,145,178)',
  ];
  const stageRows: (string | number)[][] = [];
  // the limit of each stage measured in isolation, µs of CPU per event (— where none is measured)
  const storeLimitUs: Record<StoreKind, number> = {
    'oxigraph-embedded': NaN, // inside the sink's figure
    // bench/results/store-load.md: 10,000-quad loads, quads/s of wall time (one request at a time)
    rdf4j: (stages.quads / 144_525) * 1e6,
    'oxigraph-server': (stages.quads / 78_558) * 1e6,
  };
  for (const [si, [key, runs]] of [...results.entries()].entries()) {
    const [store, variant] = key.split('/') as [StoreKind, Variant];
    const label = `${STORE_LABEL[store]}, ${variant}`;
    const rows = RATES.map((rate, i) => {
      const steps = runs.map((r) => r.steps[i]!);
      const m = (f: (s: StepResult) => number): number => median(steps.map(f));
      const processed = steps.map((s) => s.processed);
      const cores = (k: string): string =>
        fmt(
          m((s) => s.cores[k] ?? NaN),
          2,
        );
      return [
        fmt(rate),
        fmt(m((s) => s.produced)),
        `**${fmt(median(processed))}** (${fmt(Math.min(...processed))}–${fmt(Math.max(...processed))})`,
        fmt(m((s) => s.sinkRecords)),
        fmt(
          m((s) => s.p50),
          2,
        ),
        fmt(
          m((s) => s.p99),
          2,
        ),
        fmt(m((s) => s.lagEvents)),
        steps.every(keptUp) ? 'yes' : steps.some(keptUp) ? 'partly' : 'no',
        `${cores('processor')} / ${cores('sink')} / ${cores('broker')} / ${cores('store server')}`,
      ];
    });
    const sustained = Math.max(
      0,
      ...RATES.map((_, i) => runs.map((r) => r.steps[i]!))
        .filter((steps) => steps.every(keptUp))
        .map((steps) => median(steps.map((s) => s.processed))),
    );
    const peak = Math.max(...RATES.map((_, i) => median(runs.map((r) => r.steps[i]!.processed))));
    const firstMissed = RATES.find((_, i) => !runs.every((r) => keptUp(r.steps[i]!)));
    // CPU per event of each stage at the highest step every repetition kept up (else the first step)
    const at = Math.max(0, ...RATES.map((_, i) => (runs.every((r) => keptUp(r.steps[i]!)) ? i : -1)));
    const limits: Record<(typeof STAGES)[number], number> = {
      producers: stages.captureUs,
      broker: NaN,
      processor: processorUs,
      sink: stages.sinkUs,
      'store server': storeLimitUs[store],
    };
    stageRows.push([
      label,
      fmt(RATES[at]!),
      ...STAGES.map((k) => {
        const us = median(runs.map((r) => usPerEvent(r.steps[at]!, k)));
        return Number.isNaN(us)
          ? '–'
          : `${fmt(us, 2)} (${Number.isNaN(limits[k]) ? '–' : fmt(limits[k], 2)})`;
      }),
      runs.map((r) => r.load[0]).join('; '),
    ]);
    summaryRows.push([
      label,
      `**${fmt(sustained)}**`,
      fmt(peak),
      firstMissed === undefined ? `> ${fmt(RATES[RATES.length - 1]!)}` : fmt(firstMissed),
      sustained >= (store === 'oxigraph-embedded' ? 20_000 : 15_000) ? 'met' : 'missed',
      runs.map((r) => (r.processed >= r.exported ? `${fmt(r.drainS, 2)} s` : 'not within 30 s')).join(', '),
      runs
        .map(
          (r) =>
            `${r.processed >= r.exported ? 'all' : `${r.exported - r.processed} missing`}${r.lost > 0 ? `, ${r.lost} lost` : ''}`,
        )
        .join('; '),
    ]);
    datasets.push({
      label,
      data: RATES.map((rate, i) => ({ x: rate, y: median(runs.map((r) => r.steps[i]!.processed)) })),
      borderColor: colors[si % colors.length],
      backgroundColor: colors[si % colors.length],
    });
    let profile = '';
    const h = hot.get(key);
    if (h !== undefined) {
      const fnTable = (fs: HotFunction[]): string =>
        table(
          ['function', 'where', 'self ms', 'share'],
          fs.map((f) => [`\`${f.name}\``, f.where, fmt(f.selfMs), `${(f.share * 100).toFixed(1)}%`]),
        );
      const areaLine = (a: [string, number][]): string =>
        a
          .slice(0, 8)
          .map(([n, s]) => `${n} ${(s * 100).toFixed(0)}%`)
          .join(', ');
      profile = `
CPU profile of the last repetition (\`node --cpu-prof\`; self time over the whole run, idle left out):

- processor by area: ${areaLine(h.areas['processor'] ?? [])}
- sink by area: ${areaLine(h.areas['sink'] ?? [])}

Processor, top self-time functions:

${fnTable(h.processor)}

Sink, top self-time functions:

${fnTable(h.sink)}
`;
    }
    sections.push(`### ${label}

Load averages (1, 5, 15 min) at the start and end of each repetition: ${runs.map((r) => `${r.load[0]} → ${r.load[1]}`).join('; ')}.

${table(
  [
    'offered events/s',
    'produced/s',
    'processed events/s (min–max)',
    'sink records/s',
    'event→store p50 s',
    'p99 s',
    'processor lag (events)',
    'kept up',
    'CPU cores: processor / sink / broker / store server',
  ],
  rows,
)}
${profile}`);
  }
  datasets.push({
    label: 'offered (y = x)',
    data: RATES.map((r) => ({ x: r, y: r })),
    borderDash: [6, 4],
    borderColor: 'rgb(148,163,184)',
    pointRadius: 0,
  });
  const png = join(RESULTS, 'pipeline-throughput.png');
  await plot(png, {
    type: 'line',
    data: { datasets },
    options: {
      plugins: {
        title: { display: true, text: 'End-to-end throughput vs offered rate (median over repetitions)' },
        legend: { position: 'bottom' },
      },
      scales: {
        x: { type: 'linear', title: { display: true, text: 'offered events/s (all producers)' } },
        y: { title: { display: true, text: 'events/s processed and loaded' } },
      },
    },
  });
  const path = await writeResult(
    'pipeline-throughput',
    'Pipeline throughput: producers → Kafka → processor → sink → store',
    thisCommand(),
    `1-minute load average when the benchmark began: ${loadBefore.toFixed(2)} (2 shared cores; the figures move with it).

**What is measured.** ${PRODUCERS} producer processes, each the real TypeScript capture library
(setting D: queue 512, diskless, online) publishing through \`LogCaptureExporter\` to the local Kafka
broker, offer an exact rate, open loop, of events of a training loop shaped like the paper's Fig. 5
(35 batches per epoch; begin/end of each batch, epoch and training; a loss per batch, loss and
accuracy per epoch, hyperparameters and a training set; ${EPOCHS} epochs per workflow execution).
One \`provml processor\` and one \`provml sink\` run as service processes of their own
(\`node --import tsx app/src/cli/main.ts processor|sink\`, topics with 4 partitions and a prefix of
the run's own), the processor with Kafka transactions (exactly once), the sink committing after the
store acknowledged. The offered rate (all producers together) is ramped: ${RATES.map((r) => fmt(r)).join(', ')} events/s,
${STEP_S} s each. Figures are taken over the second half of each step: events mapped per second by the
processor (\`provml_processor_events_total\`), triples records loaded per second by the sink,
event→store latency p50/p99 from the sink's \`provml_event_to_store_seconds\` histogram (buckets
interpolated), processor lag from the broker at the step's end, and CPU cores used per process from
/proc. A step **kept up** when ≥ 95% of the offered rate was processed, p99 ≤ 5 s and the lag stayed
under 2 s of offered events. Medians over ${REPS} repetition(s) (min–max in brackets); every run ends by
draining and checking that every exported event was processed. The producers share the same 2 cores:
"produced/s" below the offered rate means the producers themselves could not keep up.

## Summary

${table(
  [
    'store',
    'sustained events/s (highest step kept up)',
    'peak processed events/s',
    'saturation (first offered rate not kept up)',
    'goal (≥ 20,000/s embedded, ≥ 15,000/s servers)',
    'drain after the ramp (cap 30 s)',
    'delivered',
  ],
  summaryRows,
)}

![throughput](pipeline-throughput.png)

**Variants** (run interleaved, repetition by repetition, on the same machine): ${VARIANT_LIST.map(
      (v) =>
        `\`${v}\` = ${
          v === 'before'
            ? 'each processor handles one partition batch at a time, one Kafka transaction each, and each sink loads one batch at a time (`PROVML_PROCESSOR_CONCURRENCY=1`, `PROVML_SINK_MAX_IN_FLIGHT=1`: the services as they ran before)'
            : 'the defaults: a processor maps up to 8 partitions at once (kafkajs `partitionsConsumedConcurrently`), each batch in its own transaction on the partition’s producer, the transactions in flight together; a sink keeps its default number of loads in flight (4 for the Oxigraph server, 1 for RDF4J and embedded Oxigraph) and commits offsets in order'
        }`,
    ).join('; ')}.

## CPU per event by stage

CPU microseconds per processed event of each stage's processes (from /proc, at the highest step every
repetition kept up, medians), with in brackets the stage's own cost measured in isolation in this run
(no Kafka, no I/O): producers = capture calls of the training loop + Avro encoding (their kafkajs
produce is not in it); processor = decode, checks, mapping, N-Quads, deflate; sink = inflate + load
into embedded Oxigraph (so for the embedded store the store's work is in the sink's figure); store
server = quads per event ÷ the store's load rate in bench/results/store-load.md (wall time, one load at
a time); the broker has no isolated figure. A stage well above its bracket spends its CPU on the
Kafka client, HTTP and waiting, not on its own work. The last column: load averages (1, 5, 15 min) when
each repetition began (other work shares the 2 cores).

${table(['run', 'step (offered/s)', ...STAGES.map((k) => `${k} µs/event (isolated)`), 'load at start'], stageRows)}

## What limits it

The processor's own per-event work, timed in isolation in this run (no Kafka, no I/O; ${fmt(QUICK ? 20_000 : 50_000)}
events of the same workload, after a warm-up pass): Avro decode ${fmt(stages.decodeUs, 2)} µs, contract and
spec checks ${fmt(stages.checkUs, 2)} µs, mapping ${fmt(stages.mapUs, 2)} µs, N-Quads serialisation
${fmt(stages.serialiseUs, 2)} µs, deflate of the triples records ${fmt(stages.encodeUs, 2)} µs: **${fmt(processorUs, 3)} µs per event**, about
${fmt(1e6 / processorUs, 2)} events/s per core. Each event of
${fmt(stages.avroBytes)} Avro bytes becomes ${fmt(stages.quads, 3)} quads, ${fmt(stages.nquadsBytes)} bytes of N-Quads
(full IRIs and a named graph on every line), **${fmt(stages.triplesBytes)} bytes on the triples topic** once deflated
(records of a workflow execution's events in a batch of 1,000; bench/results/triples-bytes.md measures it on the broker):
at 20,000 events/s the sink reads ${fmt((20_000 * stages.triplesBytes) / 2 ** 20, 3)} MiB/s from the triples topic,
inflates ${fmt((20_000 * stages.nquadsBytes) / 2 ** 20, 3)} MiB/s of N-Quads, parses and loads ${fmt(20_000 * stages.quads, 3)} quads/s into the store.

So the mapping alone is not what limits the pipeline; the rest of each event's path is, and it all runs
on the same 2 cores (shared with other work while this ran): the producers (capture, Avro encoding,
kafkajs produce), the Kafka broker (a JVM), the processor's Kafka client (fetch; per partition batch
one transaction on the partition's producer: one produce request per ~512 KiB, offsets to the
transaction, commit — up to 8 partitions' transactions in flight at once, \`before\`: one after
another; kafkajs computes the record-batch CRC-32C in JavaScript), the sink (fetch, inflate the
records' N-Quads, parse and load them; with the Oxigraph server, up to 4 loads in flight) and, for the
servers, the store process. The CPU columns in the per-store tables and the table above show how the
cores were shared at each step: a stage far above its isolated cost spends the difference in its Kafka
client, HTTP, garbage collection and waiting for a core. Ways forward: more processor and sink
instances on more cores (they are consumer groups: bench/results/scale-out.md), a cheaper load path
into the store servers (Oxigraph's bulk load, \`store.bulkLoad\`), a binary RDF encoding that spares the
sink the N-Quads parse.

## Per store

${sections.join('\n')}
`,
  );
  log(`wrote ${path}`);
}

runBench('pipeline-throughput', main);
